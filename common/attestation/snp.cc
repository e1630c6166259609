// AMD SEV-SNP report verification: the certificate chain ARK → ASK → VCEK (or ARK → ASVK → VLEK,
// RSASSA-PSS/SHA-384), the ECDSA P-384 report signature, the binding between the VCEK and the
// report (hwID = CHIP_ID, TCB extensions = REPORTED_TCB), and the participant's policy.
#include "common/attestation/snp.h"

#include <algorithm>
#include <cstring>

#include <openssl/obj_mac.h>

#include "common/attestation/internal.h"
#include "common/attestation/x509.h"

namespace cairn::attestation::internal {

std::string_view SnpProductName(SnpProduct p) {
  switch (p) {
    case SnpProduct::kMilan: return "Milan";
    case SnpProduct::kGenoa: return "Genoa";
    case SnpProduct::kTurin: return "Turin";
    case SnpProduct::kUnknown: break;
  }
  return "unknown";
}

SnpProduct SnpReport::cpuid_product() const {
  if (version < 3 || cpuid_family == 0) return SnpProduct::kUnknown;
  if (cpuid_family == 0x19) {
    if (cpuid_model <= 0x0F) return SnpProduct::kMilan;
    if ((cpuid_model >= 0x10 && cpuid_model <= 0x1F) || (cpuid_model >= 0xA0 && cpuid_model <= 0xAF)) {
      return SnpProduct::kGenoa;
    }
  }
  if (cpuid_family == 0x1A && cpuid_model <= 0x1F) return SnpProduct::kTurin;
  return SnpProduct::kUnknown;
}

Result<SnpReport> ParseSnpReport(ByteSpan b) {
  if (b.size() != kSnpReportBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                std::to_string(b.size()) + " bytes, expected " + std::to_string(kSnpReportBytes) +
                    (b.size() < kSnpReportBytes ? " (truncated)" : " (oversized)"));
  }
  SnpReport r;
  const std::uint8_t* p = b.data();
  r.version = LoadLe32(p + kSnpOffVersion);
  if (r.version < 2 || r.version > 5) {
    return Fail(ErrorCode::kInvalidArgument,
                "report version " + std::to_string(r.version) + " at offset 0x0 is not one of 2..5");
  }
  r.guest_svn = LoadLe32(p + kSnpOffGuestSvn);
  r.policy = LoadLe64(p + kSnpOffPolicy);
  r.vmpl = LoadLe32(p + kSnpOffVmpl);
  r.signature_algo = LoadLe32(p + kSnpOffSigAlgo);
  r.current_tcb = LoadLe64(p + kSnpOffCurrentTcb);
  r.platform_info = LoadLe64(p + kSnpOffPlatformInfo);
  r.signer_info = LoadLe32(p + kSnpOffSignerInfo);
  std::memcpy(r.report_data.data(), p + kSnpOffReportData, 64);
  std::memcpy(r.measurement.data(), p + kSnpOffMeasurement, 48);
  std::memcpy(r.host_data.data(), p + kSnpOffHostData, 32);
  std::memcpy(r.id_key_digest.data(), p + kSnpOffIdKeyDigest, 48);
  std::memcpy(r.author_key_digest.data(), p + kSnpOffAuthorKeyDigest, 48);
  r.reported_tcb = LoadLe64(p + kSnpOffReportedTcb);
  if (r.version >= 3) {
    r.cpuid_family = p[kSnpOffCpuidFamily];
    r.cpuid_model = p[kSnpOffCpuidModel];
    r.cpuid_stepping = p[kSnpOffCpuidStepping];
  }
  std::memcpy(r.chip_id.data(), p + kSnpOffChipId, 64);
  r.committed_tcb = LoadLe64(p + kSnpOffCommittedTcb);
  r.launch_tcb = LoadLe64(p + kSnpOffLaunchTcb);
  std::memcpy(r.sig_r.data(), p + kSnpSigROffset, kSnpSigComponentBytes);
  std::memcpy(r.sig_s.data(), p + kSnpSigSOffset, kSnpSigComponentBytes);
  return r;
}

SnpTcb DecodeSnpTcb(std::uint64_t raw, SnpProduct product) {
  auto byte = [&](int i) { return static_cast<std::uint8_t>(raw >> (8 * i)); };
  SnpTcb t;
  if (product == SnpProduct::kTurin) {
    t.fmc = byte(0);
    t.bootloader = byte(1);
    t.tee = byte(2);
    t.snp = byte(3);
    t.microcode = byte(7);
  } else {
    t.bootloader = byte(0);
    t.tee = byte(1);
    t.snp = byte(6);
    t.microcode = byte(7);
  }
  return t;
}

std::uint64_t EncodeSnpTcb(const SnpTcb& t, SnpProduct product) {
  auto at = [](std::uint8_t v, int i) { return static_cast<std::uint64_t>(v) << (8 * i); };
  if (product == SnpProduct::kTurin) {
    return at(t.fmc, 0) | at(t.bootloader, 1) | at(t.tee, 2) | at(t.snp, 3) | at(t.microcode, 7);
  }
  return at(t.bootloader, 0) | at(t.tee, 1) | at(t.snp, 6) | at(t.microcode, 7);
}

std::string FormatSnpTcb(const SnpTcb& t, SnpProduct product) {
  std::string s = "bootloader " + std::to_string(t.bootloader) + ", tee " + std::to_string(t.tee) +
                  ", snp " + std::to_string(t.snp) + ", microcode " + std::to_string(t.microcode);
  if (product == SnpProduct::kTurin) s += ", fmc " + std::to_string(t.fmc);
  return s;
}

std::optional<Bytes> DecodeHwid(ByteSpan v) {
  auto sized = [](std::size_t n) { return n == 64 || n == 8; };
  // DER OCTET STRING (the newer encoding): 04 <len> <bytes>.
  if (v.size() >= 2 && v[0] == 0x04 && v[1] == v.size() - 2 && sized(v.size() - 2)) {
    return Bytes(v.begin() + 2, v.end());
  }
  if (sized(v.size())) return Bytes(v.begin(), v.end());  // raw (legacy)
  return std::nullopt;
}

namespace {

SnpProduct ProductFromName(std::string_view name) {
  if (name.find("Milan") != std::string_view::npos) return SnpProduct::kMilan;
  if (name.find("Genoa") != std::string_view::npos) return SnpProduct::kGenoa;
  if (name.find("Turin") != std::string_view::npos) return SnpProduct::kTurin;
  return SnpProduct::kUnknown;
}

std::string Hex64Short(ByteSpan b) {
  std::string h = HexEncode(b);
  return h.size() > 32 ? h.substr(0, 32) + "…" : h;
}

// The chain found among the given certificates.
struct SnpChain {
  std::vector<Cert> certs;
  int leaf = -1, intermediate = -1, root = -1;
};

void AssembleChain(SnpChain& c, SnpSigningKey key) {
  // Leaf: an EC P-384 certificate; prefer the one whose CN matches the signing key.
  const std::string want = key == SnpSigningKey::kVlek ? "VLEK" : "VCEK";
  for (std::size_t i = 0; i < c.certs.size(); ++i) {
    if (EcCurveNid(PublicKey(c.certs[i].x509.get())) != NID_secp384r1) continue;
    if (c.leaf < 0 || c.certs[i].subject_cn.find(want) != std::string::npos) c.leaf = static_cast<int>(i);
  }
  if (c.leaf < 0) return;
  X509* leaf = c.certs[c.leaf].x509.get();
  for (std::size_t i = 0; i < c.certs.size(); ++i) {
    X509* x = c.certs[i].x509.get();
    if (static_cast<int>(i) == c.leaf || IsSelfIssued(x)) continue;
    if (IssuedBy(leaf, x)) {
      c.intermediate = static_cast<int>(i);
      break;
    }
  }
  if (c.intermediate < 0) return;
  X509* inter = c.certs[c.intermediate].x509.get();
  for (std::size_t i = 0; i < c.certs.size(); ++i) {
    X509* x = c.certs[i].x509.get();
    if (IsSelfIssued(x) && IssuedBy(inter, x)) {
      c.root = static_cast<int>(i);
      break;
    }
  }
}

}  // namespace

Verdict VerifySevSnp(const Evidence& evidence, const Policy& policy, const VerifyOptions& options) {
  Verdict v;
  Checks checks(v);
  const SevSnpPolicy& pol = policy.sev_snp;
  CheckPlatformAllowed(Platform::kSevSnp, policy, checks);

  // --- Structure.
  const ByteSpan bytes = evidence.report;
  if (bytes.size() != kSnpReportBytes) {
    checks.Add("report-size", false,
               std::to_string(bytes.size()) + " bytes, expected " + std::to_string(kSnpReportBytes) +
                   (bytes.size() < kSnpReportBytes ? " (truncated)" : " (oversized)"));
    return v;
  }
  checks.Add("report-size", true, "1184 bytes");
  auto parsed = ParseSnpReport(bytes);
  if (!parsed) {
    checks.Add("report-version", false, parsed.error().message());
    return v;
  }
  const SnpReport& r = *parsed;
  checks.Add("report-version", true, "version " + std::to_string(r.version));
  checks.Add("signature-algorithm", r.signature_algo == 1,
             "SIGNATURE_ALGO " + std::to_string(r.signature_algo) +
                 (r.signature_algo == 1 ? " (ECDSA P-384 with SHA-384)" : " is not 1 (ECDSA P-384 with SHA-384)"));
  v.measurement.assign(r.measurement.begin(), r.measurement.end());
  v.report_data = r.report_data;

  // --- Signing key kind.
  const SnpSigningKey key_kind = r.signing_key();
  const bool vlek = key_kind == SnpSigningKey::kVlek;
  if (key_kind != SnpSigningKey::kVcek && key_kind != SnpSigningKey::kVlek) {
    checks.Add("signing-key", false,
               "SIGNING_KEY " + std::to_string(static_cast<int>(key_kind)) +
                   " in signer info (0x48 bits 2-4) is neither VCEK (0) nor VLEK (1)");
  } else if (vlek && !pol.allow_vlek) {
    checks.Add("signing-key", false, "report is VLEK-signed and [sev-snp] allow_vlek = false");
  } else {
    checks.Add("signing-key", true, vlek ? "VLEK (signer info bits 2-4 = 1)" : "VCEK (signer info bits 2-4 = 0)");
  }

  // --- Certificates and chain.
  SnpChain chain;
  bool certs_ok = true;
  std::string cert_detail;
  if (evidence.certificates.size() > kMaxCertificates) {
    certs_ok = false;
    cert_detail = std::to_string(evidence.certificates.size()) + " certificates exceed the limit of " +
                  std::to_string(kMaxCertificates);
  } else {
    for (std::size_t i = 0; i < evidence.certificates.size(); ++i) {
      auto c = ParseDerCertificate(evidence.certificates[i]);
      if (!c) {
        certs_ok = false;
        cert_detail = "certificate " + std::to_string(i) + ": " + c.error().message();
        break;
      }
      cert_detail += (cert_detail.empty() ? "" : ", ") + c->subject_cn;
      chain.certs.push_back(std::move(*c));
    }
  }
  if (certs_ok && chain.certs.empty()) {
    certs_ok = false;
    cert_detail = "no certificates given: a VCEK/VLEK and its ASK/ASVK and ARK are needed "
                  "(from the auxblob certificate table, or --certs)";
  }
  checks.Add("certificates", certs_ok, certs_ok ? "parsed: " + cert_detail : cert_detail);
  if (certs_ok) AssembleChain(chain, key_kind);

  X509* leaf = chain.leaf >= 0 ? chain.certs[chain.leaf].x509.get() : nullptr;
  X509* inter = chain.intermediate >= 0 ? chain.certs[chain.intermediate].x509.get() : nullptr;
  X509* root = chain.root >= 0 ? chain.certs[chain.root].x509.get() : nullptr;
  if (certs_ok) {
    std::string missing;
    if (!leaf) missing = "no VCEK/VLEK (an EC P-384 certificate)";
    else if (!inter) missing = "no ASK/ASVK issued the " + chain.certs[chain.leaf].subject_cn +
                               " (issuer " + chain.certs[chain.leaf].issuer_cn + ")";
    else if (!root) missing = "no self-signed ARK issued " + chain.certs[chain.intermediate].subject_cn;
    checks.Add("chain-complete", missing.empty(),
               missing.empty() ? chain.certs[chain.root].subject_cn + " → " +
                                     chain.certs[chain.intermediate].subject_cn + " → " +
                                     chain.certs[chain.leaf].subject_cn
                               : missing);
  }

  SnpProduct product = SnpProduct::kUnknown;
  if (root) {
    std::string name;
    bool pinned = IsPinnedRoot(chain.certs[chain.root].fingerprint, policy, Platform::kSevSnp, &name);
    checks.Add("root-pinned", pinned,
               pinned ? "ARK " + HexEncode(chain.certs[chain.root].fingerprint) + " is " + name
                      : "unknown root: ARK SHA-256 " + HexEncode(chain.certs[chain.root].fingerprint) +
                            " is not pinned (built-in list or extra_roots)");
  }
  if (leaf && inter && root) {
    // Algorithms: AMD signs ARK, ASK/ASVK and VCEK/VLEK with RSASSA-PSS over SHA-384.
    std::string algos;
    bool algos_ok = true;
    for (int idx : {chain.root, chain.intermediate, chain.leaf}) {
      int pk = 0, md = 0;
      std::string a = SignatureAlgorithm(chain.certs[idx].x509.get(), &pk, &md);
      algos += (algos.empty() ? "" : ", ") + chain.certs[idx].subject_cn + " " + a;
      algos_ok &= pk == NID_rsassaPss && md == NID_sha384;
    }
    checks.Add("chain-algorithms", algos_ok,
               algos + (algos_ok ? "" : " (every certificate must be RSASSA-PSS/SHA-384)"));
    bool s_root = SignatureVerifies(root, root);
    checks.Add("ark-signature", s_root,
               chain.certs[chain.root].subject_cn + (s_root ? " self-signature is valid" : " self-signature is INVALID"));
    bool s_inter = SignatureVerifies(inter, root);
    checks.Add("intermediate-signature", s_inter,
               chain.certs[chain.intermediate].subject_cn +
                   (s_inter ? " is validly signed by " : " signature does not verify with ") +
                   chain.certs[chain.root].subject_cn);
    bool s_leaf = SignatureVerifies(leaf, inter);
    checks.Add("leaf-signature", s_leaf,
               chain.certs[chain.leaf].subject_cn +
                   (s_leaf ? " is validly signed by " : " signature does not verify with ") +
                   chain.certs[chain.intermediate].subject_cn);
    // Validity at the verification instant.
    std::string vdetail;
    bool valid = true;
    const std::time_t at = ToTimeT(options.at);
    for (int idx : {chain.root, chain.intermediate, chain.leaf}) {
      std::string d;
      bool ok = ValidAt(chain.certs[idx].x509.get(), at, &d);
      if (!ok) {
        valid = false;
        vdetail = chain.certs[idx].subject_cn + " " + d + " at " + FormatRfc3339(options.at);
        break;
      }
    }
    checks.Add("certificate-validity", valid,
               valid ? "ARK, intermediate and leaf are valid at " + FormatRfc3339(options.at) : vdetail);

    // The leaf kind must match the signer info: a VLEK chain for a VLEK-signed report.
    const bool leaf_is_vlek = chain.certs[chain.leaf].subject_cn.find("VLEK") != std::string::npos ||
                              chain.certs[chain.intermediate].subject_cn.find("VLEK") != std::string::npos;
    bool kind_ok = leaf_is_vlek == vlek;
    checks.Add("leaf-kind", kind_ok,
               "report is " + std::string(vlek ? "VLEK" : "VCEK") + "-signed, leaf certificate " +
                   chain.certs[chain.leaf].subject_cn + " issued by " +
                   chain.certs[chain.intermediate].subject_cn);

    // Product: from the VCEK product name, cross-checked with the report's CPUID and the ARK.
    std::string pname;
    if (auto pn = ExtensionValue(leaf, kOidProductName)) pname = DerString(*pn);
    SnpProduct from_cert = ProductFromName(pname);
    SnpProduct from_ark = ProductFromName(chain.certs[chain.root].subject_cn);
    SnpProduct from_cpuid = r.cpuid_product();
    product = from_cert != SnpProduct::kUnknown ? from_cert : from_ark;
    bool prod_ok = product != SnpProduct::kUnknown &&
                   (from_ark == SnpProduct::kUnknown || from_ark == product) &&
                   (from_cpuid == SnpProduct::kUnknown || from_cpuid == product);
    checks.Add("product", prod_ok,
               "certificate product \"" + pname + "\", ARK " + chain.certs[chain.root].subject_cn +
                   ", report CPUID " +
                   (from_cpuid == SnpProduct::kUnknown ? std::string("not given")
                                                       : std::string(SnpProductName(from_cpuid))) +
                   (prod_ok ? " → " + std::string(SnpProductName(product)) : ": inconsistent"));
  }
  if (product == SnpProduct::kUnknown) product = r.cpuid_product();
  if (product == SnpProduct::kUnknown) product = SnpProduct::kMilan;  // v2 layout default

  // --- The report signature (ECDSA P-384 over SHA-384 of bytes 0x000..0x29F).
  if (leaf) {
    std::array<std::uint8_t, kSnpSigComponentBytes> rbe{}, sbe{};
    std::reverse_copy(r.sig_r.begin(), r.sig_r.end(), rbe.begin());
    std::reverse_copy(r.sig_s.begin(), r.sig_s.end(), sbe.begin());
    bool sig_ok = EcdsaVerifyRaw(PublicKey(leaf), EVP_sha384(), bytes.first(kSnpSignedBytes), rbe, sbe);
    checks.Add("report-signature", sig_ok,
               std::string("ECDSA P-384/SHA-384 over bytes 0x000..0x29F ") +
                   (sig_ok ? "verifies with " : "does NOT verify with ") + chain.certs[chain.leaf].subject_cn);

    // CHIP_ID = hwID (VCEK only; VLEKs are not chip-bound, MASK_CHIP_ID zeroes CHIP_ID).
    if (vlek) {
      checks.Add("chip-id", true, "VLEK-signed: not bound to a chip, CHIP_ID not compared");
    } else if (r.mask_chip_key()) {
      checks.Add("chip-id", true, "MASK_CHIP_KEY set: CHIP_ID is masked, not compared");
    } else {
      auto ext = ExtensionValue(leaf, kOidHwid);
      auto hwid = ext ? DecodeHwid(*ext) : std::nullopt;
      if (!hwid) {
        checks.Add("chip-id", false, ext ? "VCEK hwID extension is neither 64 nor 8 bytes (raw or DER)"
                                         : "VCEK has no hwID extension (1.3.6.1.4.1.3704.1.4)");
      } else {
        bool eq = std::equal(hwid->begin(), hwid->end(), r.chip_id.begin()) &&
                  AllZero(ByteSpan(r.chip_id).subspan(hwid->size()));
        checks.Add("chip-id", eq,
                   "CHIP_ID " + Hex64Short(r.chip_id) + (eq ? " equals" : " differs from") +
                       " the VCEK hwID " + Hex64Short(*hwid) + " (" + std::to_string(hwid->size()) +
                       " bytes" + (ext->size() == hwid->size() ? ", raw" : ", DER") + ")");
      }
    }

    // VCEK/VLEK TCB extensions = REPORTED_TCB.
    const SnpTcb rep = DecodeSnpTcb(r.reported_tcb, product);
    struct Spl { const char* oid; const char* name; std::uint8_t want; };
    std::vector<Spl> spls = {{kOidBlSpl, "bootloader", rep.bootloader},
                             {kOidTeeSpl, "tee", rep.tee},
                             {kOidSnpSpl, "snp", rep.snp},
                             {kOidUcodeSpl, "microcode", rep.microcode}};
    if (product == SnpProduct::kTurin) spls.push_back({kOidFmcSpl, "fmc", rep.fmc});
    std::string mism;
    for (const auto& s : spls) {
      auto ext = ExtensionValue(leaf, s.oid);
      auto val = ext ? DerSmallInteger(*ext) : std::nullopt;
      if (!val && ext && ext->size() == 1) val = (*ext)[0];
      if (!val) {
        mism += std::string(mism.empty() ? "" : "; ") + s.name + " extension missing";
      } else if (*val != s.want) {
        mism += std::string(mism.empty() ? "" : "; ") + s.name + " " + std::to_string(*val) +
                " in certificate vs " + std::to_string(s.want) + " in REPORTED_TCB";
      }
    }
    checks.Add("tcb-extensions", mism.empty(),
               mism.empty() ? "certificate TCB equals REPORTED_TCB (" + FormatSnpTcb(rep, product) + ")"
                            : mism);
  } else {
    checks.Add("report-signature", false, "no VCEK/VLEK certificate to verify the report with");
  }

  // --- Policy.
  const SnpTcb reported = DecodeSnpTcb(r.reported_tcb, product);
  char tcb_hex[32];
  std::snprintf(tcb_hex, sizeof(tcb_hex), "0x%016llx", static_cast<unsigned long long>(r.reported_tcb));
  v.tcb = std::string(SnpProductName(product)) + " REPORTED_TCB " + tcb_hex +
          " (" + FormatSnpTcb(reported, product) + ")";

  char pol_hex[32];
  std::snprintf(pol_hex, sizeof(pol_hex), "0x%llx", static_cast<unsigned long long>(r.policy));
  checks.Add("guest-policy", (r.policy & kSnpPolicyReserved1) != 0,
             std::string("POLICY ") + pol_hex +
                 ((r.policy & kSnpPolicyReserved1) ? "" : ": reserved bit 17 must be 1"));
  const bool debug = r.policy & kSnpPolicyDebug;
  checks.Add("debug", !debug || pol.allow_debug,
             std::string("DEBUG (policy bit 19) is ") + (debug ? "set" : "clear") +
                 (debug && !pol.allow_debug ? ": debugging lets the host read guest memory; allow_debug = false" : ""));
  const bool ma = r.policy & kSnpPolicyMigrateMa;
  checks.Add("migration-agent", !ma || pol.allow_migration_agent,
             std::string("MIGRATE_MA (policy bit 18) is ") + (ma ? "set" : "clear") +
                 (ma && !pol.allow_migration_agent ? ": allow_migration_agent = false" : ""));
  const bool smt = r.policy & kSnpPolicySmt;
  checks.Add("smt", !smt || pol.allow_smt,
             std::string("SMT (policy bit 16) is ") + (smt ? "allowed" : "not allowed") +
                 (smt && !pol.allow_smt ? ": allow_smt = false" : ""));
  if (pol.require_single_socket) {
    const bool ss = r.policy & kSnpPolicySingleSocket;
    checks.Add("single-socket", ss, std::string("SINGLE_SOCKET (policy bit 20) is ") + (ss ? "set" : "clear") +
                                        (ss ? "" : ": require_single_socket = true"));
  }
  checks.Add("vmpl", r.vmpl <= pol.max_vmpl,
             "VMPL " + std::to_string(r.vmpl) + (r.vmpl <= pol.max_vmpl ? " ≤ " : " > ") + "max_vmpl " +
                 std::to_string(pol.max_vmpl));
  {
    const SnpTcb& m = pol.min_tcb;
    std::string low;
    auto cmp = [&](const char* n, std::uint8_t have, std::uint8_t want) {
      if (have < want) low += std::string(low.empty() ? "" : ", ") + n + " " + std::to_string(have) + " < " + std::to_string(want);
    };
    cmp("bootloader", reported.bootloader, m.bootloader);
    cmp("tee", reported.tee, m.tee);
    cmp("snp", reported.snp, m.snp);
    cmp("microcode", reported.microcode, m.microcode);
    if (product == SnpProduct::kTurin) cmp("fmc", reported.fmc, m.fmc);
    checks.Add("min-tcb", low.empty(),
               low.empty() ? "REPORTED_TCB (" + FormatSnpTcb(reported, product) + ") meets min_tcb"
                           : "REPORTED_TCB below min_tcb: " + low);
  }
  checks.Add("guest-svn", r.guest_svn >= pol.min_guest_svn,
             "GUEST_SVN " + std::to_string(r.guest_svn) + (r.guest_svn >= pol.min_guest_svn ? " ≥ " : " < ") +
                 "min_guest_svn " + std::to_string(pol.min_guest_svn));
  CheckMeasurement("measurement", "[sev-snp] measurements", r.measurement, pol.measurements, checks);
  if (!pol.host_data.empty()) {
    bool ok = OneOf(r.host_data, pol.host_data);
    checks.Add("host-data", ok, "HOST_DATA " + HexEncode(r.host_data) + (ok ? " is allowed" : " is not in host_data"));
  }
  if (!pol.id_key_digests.empty()) {
    bool ok = OneOf(r.id_key_digest, pol.id_key_digests);
    checks.Add("id-key-digest", ok,
               "ID_KEY_DIGEST " + HexEncode(r.id_key_digest) + (ok ? " is allowed" : " is not in id_key_digests"));
  }
  CheckReportData(r.report_data, options, checks);
  return v;
}

}  // namespace cairn::attestation::internal
