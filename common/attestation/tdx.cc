// Intel TDX quote verification (DCAP): PCK chain to the pinned Intel SGX Root CA, QE report signed
// by the PCK leaf, attestation key bound in the QE report, quote signed by the attestation key; with
// collateral, TCB info and QE identity signatures over their exact JSON bytes, CRLs, FMSPC and the
// TCB level → status; then the participant's policy (debug, MRTD, RTMRs, TCB status, advisories).
#include "common/attestation/tdx.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

#include "common/attestation/internal.h"
#include "common/attestation/x509.h"

namespace cairn::attestation::internal {

namespace {

std::string Hex16(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof(b), "0x%016llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

Result<TdxQuote> ParseTdxQuote(ByteSpan q, std::string* failed_check) {
  auto fail = [&](const char* check, std::string msg) -> Result<TdxQuote> {
    if (failed_check) *failed_check = check;
    return Fail(ErrorCode::kInvalidArgument, std::move(msg));
  };
  if (q.size() > kMaxReportBytes) {
    return fail("report-size", std::to_string(q.size()) + " bytes exceeds the " +
                                   std::to_string(kMaxReportBytes) + "-byte limit (oversized)");
  }
  if (q.size() < kTdxHeaderBytes) {
    return fail("report-size", std::to_string(q.size()) + " bytes: shorter than the 48-byte header (truncated)");
  }
  TdxQuote t;
  const std::uint8_t* p = q.data();
  t.version = LoadLe16(p);
  t.att_key_type = LoadLe16(p + 2);
  t.tee_type = LoadLe32(p + 4);
  std::memcpy(t.qe_vendor_id.data(), p + 12, 16);
  if (t.version != 4 && t.version != 5) {
    return fail("report-version", "quote version " + std::to_string(t.version) + " at offset 0 is not 4 or 5");
  }
  if (t.tee_type != kTdxTeeType) {
    return fail("report-version", "TEE type " + Hex16(t.tee_type) + " at offset 4 is not 0x81 (TDX)");
  }
  if (t.att_key_type != kTdxAttKeyEcdsaP256) {
    return fail("report-version", "attestation key type " + std::to_string(t.att_key_type) +
                                      " at offset 2 is not 2 (ECDSA P-256)");
  }
  std::size_t off = kTdxHeaderBytes;
  if (t.version == 4) {
    t.body_type = 2;
    t.body_size = kTdxBody10Bytes;
  } else {
    if (q.size() < off + 6) return fail("report-size", "truncated in the v5 body descriptor at offset 48");
    t.body_type = LoadLe16(p + off);
    const std::uint32_t size = LoadLe32(p + off + 2);
    if (t.body_type != 2 && t.body_type != 3) {
      return fail("report-version", "v5 body type " + std::to_string(t.body_type) +
                                        " at offset 48 is not 2 (TD report 1.0) or 3 (TD report 1.5)");
    }
    const std::size_t want = t.body_type == 2 ? kTdxBody10Bytes : kTdxBody15Bytes;
    if (size != want) {
      return fail("report-format", "v5 body size " + std::to_string(size) + " at offset 50 does not match body type " +
                                       std::to_string(t.body_type) + " (" + std::to_string(want) + ")");
    }
    t.body_size = want;
    off += 6;
  }
  t.body_offset = off;
  if (q.size() < off + t.body_size + 4) {
    return fail("report-size", std::to_string(q.size()) + " bytes: truncated in the TD report body");
  }
  const std::uint8_t* b = p + off;
  std::memcpy(t.tee_tcb_svn.data(), b + kTdOffTeeTcbSvn, 16);
  std::memcpy(t.mr_seam.data(), b + kTdOffMrSeam, 48);
  std::memcpy(t.mr_signer_seam.data(), b + kTdOffMrSignerSeam, 48);
  t.seam_attributes = LoadLe64(b + kTdOffSeamAttributes);
  t.td_attributes = LoadLe64(b + kTdOffTdAttributes);
  t.xfam = LoadLe64(b + kTdOffXfam);
  std::memcpy(t.mr_td.data(), b + kTdOffMrTd, 48);
  std::memcpy(t.mr_config_id.data(), b + kTdOffMrConfigId, 48);
  std::memcpy(t.mr_owner.data(), b + kTdOffMrOwner, 48);
  std::memcpy(t.mr_owner_config.data(), b + kTdOffMrOwnerConfig, 48);
  for (int i = 0; i < 4; ++i) std::memcpy(t.rtmr[i].data(), b + kTdOffRtmr0 + 48 * i, 48);
  std::memcpy(t.report_data.data(), b + kTdOffReportData, 64);
  off += t.body_size;
  t.signed_bytes = off;

  const std::uint32_t sig_len = LoadLe32(p + off);
  off += 4;
  if (sig_len > q.size() - off) {
    return fail("report-size", "signature data length " + std::to_string(sig_len) + " at offset " +
                                   std::to_string(off - 4) + " runs past the end (" +
                                   std::to_string(q.size()) + " bytes: truncated)");
  }
  const std::size_t sig_end = off + sig_len;
  t.trailing_bytes = q.size() - sig_end;
  auto need = [&](std::size_t n, const char* what) -> bool {
    if (off + n > sig_end) {
      if (failed_check) *failed_check = "report-format";
      return false;
    }
    (void)what;
    return true;
  };
  if (!need(128 + 6, "signature")) return fail("report-format", "signature data too short for signature, key and certification header");
  std::memcpy(t.signature.data(), p + off, 64);
  std::memcpy(t.attestation_key.data(), p + off + 64, 64);
  off += 128;
  const std::uint16_t cert_type = LoadLe16(p + off);
  const std::uint32_t cert_size = LoadLe32(p + off + 2);
  off += 6;
  if (cert_type != 6) {
    return fail("report-format", "certification data type " + std::to_string(cert_type) + " at offset " +
                                     std::to_string(off - 6) + " is not 6 (QE report certification data)");
  }
  if (cert_size > sig_end - off) return fail("report-format", "certification data size " + std::to_string(cert_size) + " runs past the signature data");
  const std::size_t cert_end = off + cert_size;
  if (off + kTdxQeReportBytes + 64 + 2 > cert_end) return fail("report-format", "certification data too short for the QE report");
  t.qe_report.assign(p + off, p + off + kTdxQeReportBytes);
  off += kTdxQeReportBytes;
  std::memcpy(t.qe_report_signature.data(), p + off, 64);
  off += 64;
  const std::uint16_t auth_len = LoadLe16(p + off);
  off += 2;
  if (auth_len > cert_end - off) return fail("report-format", "QE auth data length " + std::to_string(auth_len) + " runs past the certification data");
  t.qe_auth_data.assign(p + off, p + off + auth_len);
  off += auth_len;
  if (off + 6 > cert_end) return fail("report-format", "no nested certification data after the QE auth data");
  const std::uint16_t inner_type = LoadLe16(p + off);
  const std::uint32_t inner_size = LoadLe32(p + off + 2);
  off += 6;
  if (inner_type != 5) {
    return fail("report-format", "nested certification data type " + std::to_string(inner_type) +
                                     " is not 5 (PCK certificate chain, PEM)");
  }
  if (inner_size > cert_end - off) return fail("report-format", "PCK chain size " + std::to_string(inner_size) + " runs past the certification data");
  t.pck_chain_pem.assign(reinterpret_cast<const char*>(p + off), inner_size);
  return t;
}

std::optional<std::string_view> RawJsonMember(std::string_view s, std::string_view key) {
  std::size_t i = 0;
  auto ws = [&] { while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i; };
  // Returns the end of a string starting at s[i] == '"', or npos.
  auto string_end = [&](std::size_t at) -> std::size_t {
    for (std::size_t j = at + 1; j < s.size(); ++j) {
      if (s[j] == '\\') ++j;
      else if (s[j] == '"') return j + 1;
    }
    return std::string_view::npos;
  };
  ws();
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  ++i;
  while (true) {
    ws();
    if (i >= s.size() || s[i] != '"') return std::nullopt;
    std::size_t kend = string_end(i);
    if (kend == std::string_view::npos) return std::nullopt;
    std::string_view k = s.substr(i + 1, kend - i - 2);
    i = kend;
    ws();
    if (i >= s.size() || s[i] != ':') return std::nullopt;
    ++i;
    ws();
    const std::size_t vstart = i;
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        std::size_t e = string_end(i);
        if (e == std::string_view::npos) return std::nullopt;
        i = e;
        if (depth == 0) break;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0) break;
        --depth;
        if (depth == 0) { ++i; break; }
      } else if (c == ',' && depth == 0) break;
      ++i;
    }
    std::size_t vend = i;
    while (vend > vstart && (s[vend - 1] == ' ' || s[vend - 1] == '\n' || s[vend - 1] == '\r' || s[vend - 1] == '\t')) --vend;
    if (k == key) return s.substr(vstart, vend - vstart);
    ws();
    if (i >= s.size()) return std::nullopt;
    if (s[i] == ',') { ++i; continue; }
    return std::nullopt;  // '}' — not found
  }
}

Result<std::string> MergeCollateralJson(const std::vector<std::pair<std::string, std::string>>& named) {
  nlohmann::json bundle = nlohmann::json::object();
  for (const auto& [name, text] : named) {
    if (text.size() > kMaxCollateralBytes) {
      return Fail(ErrorCode::kOutOfRange, name + ": collateral larger than " + std::to_string(kMaxCollateralBytes) + " bytes");
    }
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return Fail(ErrorCode::kInvalidArgument, name + ": collateral is not a JSON object");
    }
    if (j.contains("tcbInfo") || j.contains("enclaveIdentity")) {
      const bool tcb = j.contains("tcbInfo");
      auto raw = RawJsonMember(text, tcb ? "tcbInfo" : "enclaveIdentity");
      if (!raw || !j.contains("signature") || !j["signature"].is_string()) {
        return Fail(ErrorCode::kInvalidArgument, name + ": Intel PCS " + (tcb ? "TCB info" : "enclave identity") +
                                                     " needs an object and a \"signature\" string");
      }
      bundle[tcb ? "tcb_info" : "qe_identity"] = std::string(*raw);
      bundle[tcb ? "tcb_info_signature" : "qe_identity_signature"] = j["signature"];
      continue;
    }
    bool any = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
      static const std::vector<std::string> kKeys = {
          "tcb_info", "tcb_info_signature", "tcb_info_issuer_chain", "qe_identity", "qe_identity_signature",
          "qe_identity_issuer_chain", "root_ca_crl", "pck_crl", "pck_crl_issuer_chain", "pck_certificate_chain"};
      if (std::find(kKeys.begin(), kKeys.end(), it.key()) == kKeys.end()) {
        return Fail(ErrorCode::kInvalidArgument, name + ": unknown collateral key \"" + it.key() + "\"");
      }
      if (!it.value().is_string()) {
        return Fail(ErrorCode::kInvalidArgument, name + ": collateral key \"" + it.key() + "\" must be a string");
      }
      bundle[it.key()] = it.value();
      any = true;
    }
    if (!any) return Fail(ErrorCode::kInvalidArgument, name + ": no collateral keys in this JSON");
  }
  return bundle.dump();
}

// ---------------------------------------------------------------------------------------------
// DER walking for the PCK certificate's SGX extensions.

namespace {

struct DerCursor {
  ByteSpan data;
  std::size_t pos = 0;
  bool Next(std::uint8_t& tag, ByteSpan& value) {
    if (pos + 2 > data.size()) return false;
    tag = data[pos];
    std::size_t len = data[pos + 1];
    std::size_t hdr = 2;
    if (len & 0x80) {
      std::size_t n = len & 0x7F;
      if (n == 0 || n > 3 || pos + 2 + n > data.size()) return false;
      len = 0;
      for (std::size_t k = 0; k < n; ++k) len = (len << 8) | data[pos + 2 + k];
      hdr += n;
    }
    if (pos + hdr + len > data.size()) return false;
    value = data.subspan(pos + hdr, len);
    pos += hdr + len;
    return true;
  }
};

// The SGX OID arc 1.2.840.113741.1.13.1, DER-encoded.
constexpr std::uint8_t kSgxArc[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};

// The arcs after 1.2.840.113741.1.13.1 ({2, 17} for ".2.17"); empty when not under it.
std::vector<int> SgxSubArcs(ByteSpan oid) {
  if (oid.size() <= sizeof(kSgxArc) || std::memcmp(oid.data(), kSgxArc, sizeof(kSgxArc)) != 0) return {};
  std::vector<int> arcs;
  for (std::size_t i = sizeof(kSgxArc); i < oid.size(); ++i) {
    if (oid[i] & 0x80) return {};  // all the arcs used here are < 128
    arcs.push_back(oid[i]);
  }
  return arcs;
}

std::optional<std::uint64_t> DerUint(ByteSpan v) {
  if (v.empty() || v.size() > 8 || (v[0] & 0x80)) return std::nullopt;
  std::uint64_t x = 0;
  for (auto c : v) x = (x << 8) | c;
  return x;
}

}  // namespace

Result<PckExtensions> ParsePckExtensions(ByteSpan der) {
  auto bad = [](std::string what) {
    return Fail(ErrorCode::kInvalidArgument, "PCK certificate SGX extension: " + what);
  };
  PckExtensions out;
  DerCursor top{der};
  std::uint8_t tag = 0;
  ByteSpan seq;
  if (!top.Next(tag, seq) || tag != 0x30) return bad("not a SEQUENCE");
  DerCursor items{seq};
  ByteSpan item;
  bool have_tcb = false, have_fmspc = false;
  while (items.Next(tag, item)) {
    if (tag != 0x30) return bad("entry is not a SEQUENCE");
    DerCursor kv{item};
    ByteSpan oid, value;
    std::uint8_t vtag = 0;
    if (!kv.Next(tag, oid) || tag != 0x06 || !kv.Next(vtag, value)) return bad("malformed entry");
    auto arcs = SgxSubArcs(oid);
    if (arcs.size() != 1) continue;
    if (arcs[0] == 2 && vtag == 0x30) {  // TCB
      DerCursor comps{value};
      ByteSpan comp;
      while (comps.Next(tag, comp)) {
        DerCursor c{comp};
        ByteSpan coid, cval;
        std::uint8_t ctag = 0;
        if (tag != 0x30 || !c.Next(tag, coid) || tag != 0x06 || !c.Next(ctag, cval)) return bad("malformed TCB entry");
        auto carcs = SgxSubArcs(coid);
        if (carcs.size() != 2 || carcs[0] != 2) continue;
        const int n = carcs[1];
        if (n >= 1 && n <= 16 && ctag == 0x02) {
          auto v = DerUint(cval);
          if (!v || *v > 255) return bad("TCB component " + std::to_string(n) + " out of range");
          out.sgx_tcb_components[n - 1] = static_cast<std::uint8_t>(*v);
        } else if (n == 17 && ctag == 0x02) {
          auto v = DerUint(cval);
          if (!v || *v > 65535) return bad("PCESVN out of range");
          out.pce_svn = static_cast<std::uint16_t>(*v);
        } else if (n == 18 && ctag == 0x04 && cval.size() == 16) {
          std::memcpy(out.cpu_svn.data(), cval.data(), 16);
        }
      }
      have_tcb = true;
    } else if (arcs[0] == 3 && vtag == 0x04) {
      out.pce_id.assign(value.begin(), value.end());
    } else if (arcs[0] == 4 && vtag == 0x04) {
      if (value.size() != 6) return bad("FMSPC is not 6 bytes");
      out.fmspc.assign(value.begin(), value.end());
      have_fmspc = true;
    }
  }
  if (!have_tcb) return bad("no TCB entry (1.2.840.113741.1.13.1.2)");
  if (!have_fmspc) return bad("no FMSPC entry (1.2.840.113741.1.13.1.4)");
  return out;
}

// ---------------------------------------------------------------------------------------------

namespace {

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Intel's convergence: an OutOfDate QE or TDX module makes the platform OutOfDate (keeping
// "ConfigurationNeeded"); Revoked anywhere is Revoked.
std::string Converge(const std::string& platform, const std::string& other) {
  if (other == "Revoked" || platform == "Revoked") return "Revoked";
  if (other == "OutOfDate" || other == "OutOfDateConfigurationNeeded") {
    if (platform == "UpToDate" || platform == "SWHardeningNeeded") return "OutOfDate";
    if (platform == "ConfigurationNeeded" || platform == "ConfigurationAndSWHardeningNeeded") {
      return "OutOfDateConfigurationNeeded";
    }
  }
  return platform;
}

Result<Bytes> HexField(const nlohmann::json& j, const char* key, std::size_t want) {
  if (!j.contains(key) || !j[key].is_string()) {
    return Fail(ErrorCode::kInvalidArgument, std::string("missing string \"") + key + "\"");
  }
  auto b = HexDecode(j[key].get<std::string>());
  if (!b || (want && b->size() != want)) {
    return Fail(ErrorCode::kInvalidArgument, std::string("\"") + key + "\" is not " + std::to_string(want) + " bytes of hex");
  }
  return b;
}

bool MaskedEqual(ByteSpan value, ByteSpan expected, ByteSpan mask) {
  if (value.size() != expected.size() || value.size() != mask.size()) return false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if ((value[i] & mask[i]) != (expected[i] & mask[i])) return false;
  }
  return true;
}

std::vector<Cert> PemChain(const std::string& pem, std::string_view name, std::string* error) {
  std::vector<Cert> out;
  auto ders = ParseCertificates(AsBytes(pem), name);
  if (!ders) {
    if (error) *error = ders.error().message();
    return out;
  }
  for (const auto& d : *ders) {
    auto c = ParseDerCertificate(d);
    if (!c) {
      if (error) *error = std::string(name) + ": " + c.error().message();
      return {};
    }
    out.push_back(std::move(*c));
  }
  return out;
}

std::string AdvisoriesOf(const nlohmann::json& level, std::vector<std::string>& out) {
  std::string s;
  if (level.contains("advisoryIDs") && level["advisoryIDs"].is_array()) {
    for (const auto& a : level["advisoryIDs"]) {
      if (!a.is_string()) continue;
      out.push_back(a.get<std::string>());
      s += (s.empty() ? "" : ", ") + a.get<std::string>();
    }
  }
  return s;
}

// Parses "issueDate"/"nextUpdate" and checks the window.
bool JsonWindow(const nlohmann::json& j, Clock::WallTime at, std::string* detail, Clock::WallTime* issued) {
  if (!j.contains("issueDate") || !j.contains("nextUpdate") || !j["issueDate"].is_string() ||
      !j["nextUpdate"].is_string()) {
    *detail = "no issueDate/nextUpdate";
    return false;
  }
  auto a = ParseRfc3339(j["issueDate"].get<std::string>());
  auto b = ParseRfc3339(j["nextUpdate"].get<std::string>());
  if (!a || !b) {
    *detail = "unreadable issueDate/nextUpdate";
    return false;
  }
  if (issued) *issued = *a;
  const std::string window = FormatRfc3339(*a) + " .. " + FormatRfc3339(*b);
  if (at < *a) {
    *detail = "not yet issued at " + FormatRfc3339(at) + " (" + window + ")";
    return false;
  }
  if (at > *b) {
    *detail = "expired at " + FormatRfc3339(at) + " (" + window + ")";
    return false;
  }
  *detail = "current (" + window + ")";
  return true;
}

// Verifies the JSON signature (hex r ‖ s, P-256/SHA-256) with `signer`.
bool JsonSignatureVerifies(std::string_view signed_text, const std::string& sig_hex, X509* signer) {
  auto sig = HexDecode(sig_hex);
  if (!sig || sig->size() != 64) return false;
  return EcdsaVerifyRaw(PublicKey(signer), EVP_sha256(), AsBytes(signed_text), ByteSpan(*sig).first(32),
                        ByteSpan(*sig).subspan(32));
}

}  // namespace

Verdict VerifyTdx(const Evidence& evidence, const Policy& policy, const VerifyOptions& options) {
  Verdict v;
  Checks checks(v);
  const TdxPolicy& pol = policy.tdx;
  CheckPlatformAllowed(Platform::kTdx, policy, checks);

  std::string failed;
  auto parsed = ParseTdxQuote(evidence.report, &failed);
  if (!parsed) {
    checks.Add(failed.empty() ? "report-format" : failed, false, parsed.error().message());
    return v;
  }
  const TdxQuote& q = *parsed;
  checks.Add("report-size", true,
             std::to_string(evidence.report.size()) + " bytes" +
                 (q.trailing_bytes ? " (" + std::to_string(q.trailing_bytes) + " trailing bytes after the signature data, ignored)" : ""));
  checks.Add("report-version", true,
             "quote v" + std::to_string(q.version) + ", TD report " + (q.body_type == 3 ? "1.5" : "1.0") +
                 ", ECDSA P-256 attestation key, TEE type 0x81");
  const bool vendor_ok = q.qe_vendor_id == kIntelQeVendorId;
  checks.Add("qe-vendor", vendor_ok,
             "QE vendor id " + HexEncode(q.qe_vendor_id) + (vendor_ok ? " (Intel)" : " is not Intel's 939a7233f79c4ca9940a0db3957f0607"));
  v.measurement.assign(q.mr_td.begin(), q.mr_td.end());
  v.report_data = q.report_data;
  v.tcb = "TEE_TCB_SVN " + HexEncode(q.tee_tcb_svn);

  // --- PCK chain from certification data type 5.
  std::string chain_err;
  std::vector<Cert> chain = PemChain(q.pck_chain_pem, "PCK chain in the quote", &chain_err);
  const std::time_t at = ToTimeT(options.at);
  Cert* pck = nullptr;
  Cert* pck_ca = nullptr;
  Cert* root = nullptr;
  if (chain.empty()) {
    checks.Add("pck-chain", false, chain_err.empty() ? "no certificates in the PCK chain" : chain_err);
  } else {
    // The leaf is the certificate that issued no other (Intel emits it first, but order is not
    // trusted); then its issuer and the root, by name.
    for (auto& c : chain) {
      bool issues_another = false;
      for (auto& o : chain) issues_another |= (&o != &c) && IssuedBy(o.x509.get(), c.x509.get());
      if (!issues_another && !IsSelfIssued(c.x509.get())) {
        pck = &c;
        break;
      }
    }
    if (pck == nullptr) pck = &chain[0];
    for (auto& c : chain) {
      if (&c != pck && IssuedBy(pck->x509.get(), c.x509.get()) && !IsSelfIssued(c.x509.get())) pck_ca = &c;
    }
    for (auto& c : chain) {
      if (IsSelfIssued(c.x509.get()) && pck_ca && IssuedBy(pck_ca->x509.get(), c.x509.get())) root = &c;
    }
    std::string detail;
    if (!pck_ca) detail = "no PCK CA issued " + pck->subject_cn;
    else if (!root) detail = "no self-signed root issued " + pck_ca->subject_cn;
    checks.Add("pck-chain", detail.empty(),
               detail.empty() ? root->subject_cn + " → " + pck_ca->subject_cn + " → " + pck->subject_cn : detail);
  }
  if (pck && pck_ca && root) {
    std::string name;
    const bool pinned = IsPinnedRoot(root->fingerprint, policy, Platform::kTdx, &name);
    checks.Add("root-pinned", pinned,
               pinned ? "root " + HexEncode(root->fingerprint) + " is " + name
                      : "unknown root: SHA-256 " + HexEncode(root->fingerprint) + " is not pinned (built-in list or extra_roots)");
    const bool s_root = SignatureVerifies(root->x509.get(), root->x509.get());
    const bool s_ca = SignatureVerifies(pck_ca->x509.get(), root->x509.get());
    const bool s_pck = SignatureVerifies(pck->x509.get(), pck_ca->x509.get());
    checks.Add("pck-chain-signatures", s_root && s_ca && s_pck,
               std::string("root self-signature ") + (s_root ? "valid" : "INVALID") + ", " + pck_ca->subject_cn +
                   (s_ca ? " valid" : " INVALID") + ", " + pck->subject_cn + (s_pck ? " valid" : " INVALID"));
    std::string vdetail;
    bool valid = true;
    for (Cert* c : {root, pck_ca, pck}) {
      std::string d;
      if (!ValidAt(c->x509.get(), at, &d)) {
        valid = false;
        vdetail = c->subject_cn + " " + d + " at " + FormatRfc3339(options.at);
        break;
      }
    }
    checks.Add("certificate-validity", valid, valid ? "PCK chain valid at " + FormatRfc3339(options.at) : vdetail);
  }

  // --- QE report signed by the PCK leaf; attestation key bound in the QE report; quote signature.
  if (pck) {
    const bool qe_sig = EcdsaVerifyRaw(PublicKey(pck->x509.get()), EVP_sha256(), q.qe_report,
                                       ByteSpan(q.qe_report_signature).first(32),
                                       ByteSpan(q.qe_report_signature).subspan(32));
    checks.Add("qe-report-signature", qe_sig,
               std::string("QE report ") + (qe_sig ? "is signed by " : "signature does NOT verify with ") + pck->subject_cn);
  } else {
    checks.Add("qe-report-signature", false, "no PCK certificate to verify the QE report with");
  }
  {
    const std::uint8_t* qr = q.qe_report.data();
    const bool signer_ok = std::equal(kIntelTdQeMrSigner.begin(), kIntelTdQeMrSigner.end(), qr + kQeOffMrSigner);
    const int prod = LoadLe16(qr + kQeOffIsvProdId);
    const bool ok = signer_ok && prod == kTdQeIsvProdId;
    checks.Add("qe-signer", ok,
               ok ? std::string("QE report MRSIGNER and ISVPRODID 2 are Intel's TD quoting enclave's")
                  : "QE report MRSIGNER " + HexEncode(ByteSpan(qr + kQeOffMrSigner, 32)) + ", ISVPRODID " +
                        std::to_string(prod) + " is not Intel's TD quoting enclave (MRSIGNER " +
                        HexEncode(kIntelTdQeMrSigner) + ", ISVPRODID 2): another enclave on the host signed this quote");
  }
  {
    Bytes preimage(q.attestation_key.begin(), q.attestation_key.end());
    preimage.insert(preimage.end(), q.qe_auth_data.begin(), q.qe_auth_data.end());
    std::array<std::uint8_t, 32> h{};
    SHA256(preimage.data(), preimage.size(), h.data());
    const std::uint8_t* rd = q.qe_report.data() + kQeOffReportData;
    const bool bound = std::memcmp(rd, h.data(), 32) == 0 && AllZero(ByteSpan(rd + 32, 32));
    checks.Add("attestation-key-binding", bound,
               bound ? "QE REPORTDATA = SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes"
                     : "QE REPORTDATA " + HexEncode(ByteSpan(rd, 64)) + " does not bind the attestation key (expected " +
                           HexEncode(h) + " then zeros)");
  }
  {
    auto key = P256KeyFromRaw(q.attestation_key);
    const bool ok = key && EcdsaVerifyRaw(key->get(), EVP_sha256(), ByteSpan(evidence.report).first(q.signed_bytes),
                                          ByteSpan(q.signature).first(32), ByteSpan(q.signature).subspan(32));
    checks.Add("quote-signature", ok,
               !key ? key.error().message()
                    : std::string("ECDSA P-256 over header and TD report (") + std::to_string(q.signed_bytes) +
                          " bytes) " + (ok ? "verifies" : "does NOT verify") + " with the attestation key");
  }

  // --- PCK extensions: FMSPC, PCESVN, TCB components.
  std::optional<PckExtensions> pck_ext;
  if (pck) {
    auto ext = ExtensionValue(pck->x509.get(), kOidSgxExtensions);
    auto parsed_ext = ext ? ParsePckExtensions(*ext)
                          : Result<PckExtensions>(Fail(ErrorCode::kInvalidArgument, "PCK certificate has no SGX extension"));
    checks.Add("pck-extensions", parsed_ext.has_value(),
               parsed_ext ? "FMSPC " + HexEncode(parsed_ext->fmspc) + ", PCESVN " + std::to_string(parsed_ext->pce_svn)
                          : parsed_ext.error().message());
    if (parsed_ext) {
      pck_ext = *parsed_ext;
      v.tcb += ", FMSPC " + HexEncode(pck_ext->fmspc) + ", PCESVN " + std::to_string(pck_ext->pce_svn);
    }
  }

  // --- Collateral.
  // The participant's pinned collateral, when it has some, replaces what the host sent: otherwise
  // the host chooses which (still current) TCB info, QE identity and CRLs the verdict rests on.
  std::string status = "Unknown";
  const bool pinned_collateral = !pol.pinned_collateral.empty();
  const Bytes& collateral = pinned_collateral ? pol.pinned_collateral : evidence.collateral;
  if (pinned_collateral) {
    checks.Add("collateral-source", true,
               "the policy's [tdx] collateral (" + std::to_string(collateral.size()) + " bytes); the " +
                   std::to_string(evidence.collateral.size()) + " bytes of collateral in the evidence are not used");
  }
  if (collateral.empty()) {
    checks.Warn("no TDX collateral: TCB status is Unknown (platform patch level and revocation not checked)");
  } else {
    auto bundle_text = MergeCollateralJson({{"collateral", std::string(AsChars(collateral))}});
    nlohmann::json bundle;
    if (bundle_text) bundle = nlohmann::json::parse(*bundle_text, nullptr, false);
    const bool format_ok = bundle_text && bundle.is_object() && bundle.contains("tcb_info") &&
                           bundle.contains("tcb_info_signature");
    checks.Add("collateral-format", format_ok,
               format_ok ? std::string("TCB info") + (bundle.contains("qe_identity") ? ", QE identity" : "") +
                               (bundle.contains("root_ca_crl") ? ", root CA CRL" : "") + (bundle.contains("pck_crl") ? ", PCK CRL" : "")
                         : (bundle_text ? "collateral has no tcb_info and tcb_info_signature" : bundle_text.error().message()));
    if (format_ok) {
      try {
        // Signers: the issuer chains in the bundle and any certificate the operator gave.
        std::vector<Cert> signers;
        for (const char* k : {"tcb_info_issuer_chain", "qe_identity_issuer_chain", "pck_crl_issuer_chain"}) {
          if (bundle.contains(k)) {
            std::string e;
            auto cs = PemChain(bundle[k].get<std::string>(), k, &e);
            for (auto& c : cs) signers.push_back(std::move(c));
          }
        }
        if (evidence.certificates.size() > kMaxCertificates) {
          checks.Add("certificates", false, std::to_string(evidence.certificates.size()) +
                                                " certificates exceed the limit of " + std::to_string(kMaxCertificates));
        } else {
          for (const auto& d : evidence.certificates) {
            auto c = ParseDerCertificate(d);
            if (c) signers.push_back(std::move(*c));
          }
        }
        // A signer must chain to a pinned root and be valid at `at`.
        auto verify_json = [&](const char* check, const std::string& text, const std::string& sig) {
          std::string detail = "no certificate in the collateral or --certs verifies the signature";
          bool ok = false;
          for (auto& s : signers) {
            if (IsSelfIssued(s.x509.get()) || !JsonSignatureVerifies(text, sig, s.x509.get())) continue;
            // Find its issuer: a pinned root among the signers or the PCK chain's root.
            X509* issuer_root = nullptr;
            Sha256Fingerprint fp{};
            for (auto& r : signers) {
              if (IsSelfIssued(r.x509.get()) && IssuedBy(s.x509.get(), r.x509.get())) { issuer_root = r.x509.get(); fp = r.fingerprint; }
            }
            if (!issuer_root && root && IssuedBy(s.x509.get(), root->x509.get())) { issuer_root = root->x509.get(); fp = root->fingerprint; }
            std::string vd;
            if (!issuer_root) { detail = s.subject_cn + " verifies, but no root issued it"; continue; }
            if (!IsPinnedRoot(fp, policy, Platform::kTdx, nullptr)) { detail = s.subject_cn + " chains to an unpinned root " + HexEncode(fp); continue; }
            if (!SignatureVerifies(s.x509.get(), issuer_root)) { detail = s.subject_cn + " is not validly signed by its root"; continue; }
            if (!ValidAt(s.x509.get(), at, &vd)) { detail = s.subject_cn + " " + vd; continue; }
            ok = true;
            detail = "ECDSA P-256 over the exact JSON bytes verifies with " + s.subject_cn + " (pinned root)";
            break;
          }
          checks.Add(check, ok, detail);
          return ok;
        };
        const std::string tcb_text = bundle["tcb_info"].get<std::string>();
        verify_json("tcb-info-signature", tcb_text, bundle["tcb_info_signature"].get<std::string>());
        const nlohmann::json tcb = nlohmann::json::parse(tcb_text);
        std::string wdetail;
        Clock::WallTime issued{};
        const bool tcb_current = JsonWindow(tcb, options.at, &wdetail, &issued);
        checks.Add("tcb-info-validity", tcb_current, "TCB info " + wdetail);
        if (policy.max_evidence_age) {
          auto age = std::chrono::duration_cast<std::chrono::seconds>(options.at - issued);
          checks.Add("evidence-age", age <= *policy.max_evidence_age,
                     "TCB info issued " + std::to_string(age.count()) + " s before the verification time (limit " +
                         std::to_string(policy.max_evidence_age->count()) + " s)");
        }
        // TCB recovery: Intel raises tcbEvaluationDataNumber, and collateral from before a recovery
        // stays inside its issueDate..nextUpdate window for weeks.
        auto check_evaluation_number = [&](const char* what, const nlohmann::json& j) {
          if (pol.min_tcb_evaluation_data_number == 0) return;
          const bool has = j.contains("tcbEvaluationDataNumber") && j["tcbEvaluationDataNumber"].is_number_unsigned();
          const std::uint64_t n = has ? j["tcbEvaluationDataNumber"].get<std::uint64_t>() : 0;
          const bool ok = has && n >= pol.min_tcb_evaluation_data_number;
          checks.Add("tcb-evaluation-data-number", ok,
                     std::string(what) + (has ? " tcbEvaluationDataNumber " + std::to_string(n) : " has no tcbEvaluationDataNumber") +
                         (ok ? " ≥ " : " < ") + "min_tcb_evaluation_data_number " +
                         std::to_string(pol.min_tcb_evaluation_data_number) + (ok ? "" : ": collateral from before a TCB recovery"));
        };
        check_evaluation_number("TCB info", tcb);
        const bool is_tdx = tcb.value("id", std::string()) == "TDX";
        checks.Add("tcb-info-kind", is_tdx, "TCB info id \"" + tcb.value("id", std::string()) + "\", version " +
                                                std::to_string(tcb.value("version", 0)) + (is_tdx ? "" : " (expected id TDX)"));

        // CRLs.
        std::string crl_detail;
        bool crl_ok = true;
        auto check_crl = [&](const char* key, X509* issuer, std::vector<X509*> subjects) {
          if (!bundle.contains(key)) return;
          const std::string text = bundle[key].get<std::string>();
          auto der = HexDecode(text);
          auto crl = der ? ParseCrl(*der) : ParseCrl(AsBytes(text));
          std::string d;
          if (!crl) { crl_ok = false; crl_detail += std::string(key) + ": " + crl.error().message() + "; "; return; }
          if (!issuer || !CrlSignatureVerifies(crl->get(), issuer)) { crl_ok = false; crl_detail += std::string(key) + ": signature does not verify; "; return; }
          if (!CrlCurrentAt(crl->get(), at, &d)) { crl_ok = false; crl_detail += std::string(key) + " " + d + "; "; return; }
          for (X509* s : subjects) {
            // Serial numbers are unique per issuer only: look up certificates this CRL's issuer signed.
            if (s && IssuedBy(s, issuer) && IsRevoked(crl->get(), s)) { crl_ok = false; crl_detail += std::string(key) + ": a certificate of the chain is REVOKED; "; return; }
          }
          crl_detail += std::string(key) + " " + d + ", nothing revoked; ";
        };
        std::vector<X509*> root_subjects = {pck_ca ? pck_ca->x509.get() : nullptr};
        for (auto& s : signers) if (!IsSelfIssued(s.x509.get())) root_subjects.push_back(s.x509.get());
        check_crl("root_ca_crl", root ? root->x509.get() : nullptr, root_subjects);
        check_crl("pck_crl", pck_ca ? pck_ca->x509.get() : nullptr, {pck ? pck->x509.get() : nullptr});
        // Both CRLs are part of Intel's collateral: without them a revoked PCK, PCK CA or TCB
        // signing certificate would pass.
        std::string missing;
        for (const char* k : {"root_ca_crl", "pck_crl"}) {
          if (!bundle.contains(k)) missing += std::string(missing.empty() ? "" : " and ") + k;
        }
        if (!missing.empty()) {
          if (pol.allow_missing_crls) {
            crl_detail += "no " + missing + " in the collateral: revocation not fully checked (allow_missing_crls = true); ";
            checks.Warn("TDX collateral has no " + missing + ": certificate revocation was not fully checked");
          } else {
            crl_ok = false;
            crl_detail += "the collateral has no " + missing + ": a revoked PCK chain or collateral signer would go unnoticed "
                          "(set [tdx] allow_missing_crls = true to accept that); ";
          }
        }
        if (crl_detail.size() >= 2) crl_detail.resize(crl_detail.size() - 2);
        checks.Add("crl", crl_ok, crl_detail);

        // FMSPC and PCE ID.
        std::string platform_status = "Unknown";
        std::vector<std::string> advisories;
        if (pck_ext) {
          const std::string fmspc = Upper(HexEncode(pck_ext->fmspc));
          const std::string want = Upper(tcb.value("fmspc", std::string()));
          checks.Add("fmspc", fmspc == want, "PCK FMSPC " + fmspc + (fmspc == want ? " matches" : " differs from") + " TCB info FMSPC " + want);
          const std::string pce_id = Upper(HexEncode(pck_ext->pce_id));
          const std::string want_pce = Upper(tcb.value("pceId", std::string()));
          checks.Add("pce-id", pce_id == want_pce,
                     "PCK PCE ID " + pce_id + (pce_id == want_pce ? " matches" : " differs from") + " TCB info pceId " + want_pce);
          // The first TCB level whose SGX components, PCESVN and TDX components are ≤ the platform's.
          const bool module_versioned = q.tee_tcb_svn[1] > 0;
          std::string level_detail = "no TCB level matches the platform (status Unknown)";
          bool matched = false;
          for (const auto& level : tcb.at("tcbLevels")) {
            const auto& t = level.at("tcb");
            bool ok = t.at("pcesvn").get<int>() <= pck_ext->pce_svn;
            const auto& sgx = t.at("sgxtcbcomponents");
            for (std::size_t i = 0; ok && i < 16 && i < sgx.size(); ++i) ok = sgx[i].at("svn").get<int>() <= pck_ext->sgx_tcb_components[i];
            const auto& tdxc = t.at("tdxtcbcomponents");
            for (std::size_t i = module_versioned ? 2 : 0; ok && i < 16 && i < tdxc.size(); ++i) ok = tdxc[i].at("svn").get<int>() <= q.tee_tcb_svn[i];
            if (!ok) continue;
            platform_status = level.at("tcbStatus").get<std::string>();
            std::string adv = AdvisoriesOf(level, advisories);
            level_detail = "platform TCB level " + level.value("tcbDate", std::string()) + " → " + platform_status +
                           " (PCESVN " + std::to_string(pck_ext->pce_svn) + ", level needs " + std::to_string(t.at("pcesvn").get<int>()) + ")" +
                           (adv.empty() ? "" : ", advisories " + adv);
            matched = true;
            break;
          }
          status = platform_status;
          // TDX module identity (TCB info v3, module major version > 0).
          if (matched && module_versioned && tcb.contains("tdxModuleIdentities")) {
            char id[16];
            std::snprintf(id, sizeof(id), "TDX_%02X", q.tee_tcb_svn[1]);
            std::string module_status = "";
            std::string mdetail = std::string("no TDX module identity ") + id + " in TCB info";
            for (const auto& m : tcb["tdxModuleIdentities"]) {
              if (m.value("id", std::string()) != id) continue;
              auto mrsigner = HexField(m, "mrsigner", 48);
              auto attrs = HexField(m, "attributes", 8);
              auto mask = HexField(m, "attributesMask", 8);
              std::array<std::uint8_t, 8> seam{};
              StoreLe64(seam.data(), q.seam_attributes);
              const bool id_ok = mrsigner && attrs && mask && std::equal(mrsigner->begin(), mrsigner->end(), q.mr_signer_seam.begin()) &&
                                 MaskedEqual(seam, *attrs, *mask);
              if (!id_ok) { mdetail = std::string(id) + ": MRSIGNERSEAM or SEAM attributes do not match"; module_status = "Unknown"; break; }
              for (const auto& level : m.at("tcbLevels")) {
                if (level.at("tcb").at("isvsvn").get<int>() <= q.tee_tcb_svn[0]) {
                  module_status = level.at("tcbStatus").get<std::string>();
                  AdvisoriesOf(level, advisories);
                  break;
                }
              }
              if (module_status.empty()) module_status = "Unknown";
              mdetail = std::string(id) + " SVN " + std::to_string(q.tee_tcb_svn[0]) + " → " + module_status;
              break;
            }
            if (module_status.empty()) module_status = "Unknown";
            level_detail += "; TDX module " + mdetail;
            status = module_status == "Unknown" ? "Unknown" : Converge(status, module_status);
          }
          checks.Add("tcb-level", matched, level_detail);
        } else {
          checks.Add("fmspc", false, "no PCK certificate extensions to compare the FMSPC with");
        }

        // QE identity.
        if (!bundle.contains("qe_identity") || !bundle.contains("qe_identity_signature")) {
          checks.Add("qe-identity", false,
                     "the collateral has TCB info but no QE identity (qe_identity and qe_identity_signature): the "
                     "quoting enclave's identity and patch level cannot be checked");
        } else {
          const std::string qe_text = bundle["qe_identity"].get<std::string>();
          verify_json("qe-identity-signature", qe_text, bundle["qe_identity_signature"].get<std::string>());
          const nlohmann::json qid = nlohmann::json::parse(qe_text);
          std::string qd;
          const bool qe_current = JsonWindow(qid, options.at, &qd, nullptr);
          checks.Add("qe-identity-validity", qe_current, "QE identity " + qd);
          const std::uint8_t* qr = q.qe_report.data();
          auto misc = HexField(qid, "miscselect", 4);
          auto misc_mask = HexField(qid, "miscselectMask", 4);
          auto attrs = HexField(qid, "attributes", 16);
          auto attrs_mask = HexField(qid, "attributesMask", 16);
          auto mrsigner = HexField(qid, "mrsigner", 32);
          std::array<std::uint8_t, 4> misc_be{};  // the JSON writes the u32 big-endian
          const std::uint32_t m = LoadLe32(qr + kQeOffMiscSelect);
          for (int i = 0; i < 4; ++i) misc_be[i] = static_cast<std::uint8_t>(m >> (24 - 8 * i));
          const int prod = LoadLe16(qr + kQeOffIsvProdId);
          const int svn = LoadLe16(qr + kQeOffIsvSvn);
          std::string mismatch;
          if (!misc || !misc_mask || !MaskedEqual(misc_be, *misc, *misc_mask)) mismatch += "MISCSELECT; ";
          if (!attrs || !attrs_mask || !MaskedEqual(ByteSpan(qr + kQeOffAttributes, 16), *attrs, *attrs_mask)) mismatch += "ATTRIBUTES; ";
          if (!mrsigner || !std::equal(mrsigner->begin(), mrsigner->end(), qr + kQeOffMrSigner)) mismatch += "MRSIGNER; ";
          if (qid.value("isvprodid", -1) != prod) mismatch += "ISVPRODID; ";
          if (qid.value("id", std::string()) != "TD_QE") mismatch += "identity id \"" + qid.value("id", std::string()) + "\" (expected TD_QE); ";
          check_evaluation_number("QE identity", qid);
          // A QE older than every level Intel lists is treated as revoked (as Intel's QVL does),
          // never as "Unknown", which would leave the platform's status standing.
          std::string qe_status = "Revoked";
          bool level_found = false;
          for (const auto& level : qid.at("tcbLevels")) {
            if (level.at("tcb").at("isvsvn").get<int>() <= svn) {
              qe_status = level.at("tcbStatus").get<std::string>();
              AdvisoriesOf(level, advisories);
              level_found = true;
              break;
            }
          }
          if (mismatch.empty()) {
            checks.Add("qe-identity", true, "QE report matches the Intel QE identity; ISVSVN " + std::to_string(svn) + " → " + qe_status +
                                                (level_found ? "" : " (below every TCB level of the QE identity)"));
            status = Converge(status, qe_status);
          } else {
            mismatch.resize(mismatch.size() - 2);
            checks.Add("qe-identity", false, "QE report does not match the Intel QE identity: " + mismatch);
          }
        }
        std::sort(advisories.begin(), advisories.end());
        advisories.erase(std::unique(advisories.begin(), advisories.end()), advisories.end());
        v.advisory_ids = advisories;
      } catch (const nlohmann::json::exception& e) {
        checks.Add("collateral-format", false, std::string("collateral JSON has an unexpected shape: ") + e.what());
        status = "Unknown";
      }
    }
  }
  v.tcb_status = status;

  // --- Policy.
  const std::uint64_t tud = q.td_attributes & kTdAttributesTud;
  const bool debug = tud != 0;
  checks.Add("debug", !debug || pol.allow_debug,
             "TD_ATTRIBUTES " + Hex16(q.td_attributes) + ": DEBUG (bit 0) is " + ((tud & kTdAttributesDebug) ? "set" : "clear") +
                 ((tud & ~kTdAttributesDebug) ? ", other TUD (debug) bits 1-7 are set" : "") +
                 (debug && !pol.allow_debug ? ": a debug TD lets the host read its memory; allow_debug = false" : ""));
  const bool migratable = q.td_attributes & kTdAttributesMigratable;
  checks.Add("migration", !migratable || pol.allow_migration,
             std::string("TD_ATTRIBUTES MIGRATABLE (bit 29) is ") + (migratable ? "set" : "clear") +
                 (migratable && !pol.allow_migration
                      ? ": a migration TD this verifier does not see could move the TD's keys to another platform; allow_migration = false"
                      : ""));
  CheckMeasurement("mrtd", "[tdx] mrtd", q.mr_td, pol.mrtd, checks);
  for (int i = 0; i < 4; ++i) {
    if (pol.rtmr[i].empty()) continue;
    const bool ok = OneOf(q.rtmr[i], pol.rtmr[i]);
    checks.Add("rtmr" + std::to_string(i), ok,
               "RTMR" + std::to_string(i) + " " + HexEncode(q.rtmr[i]) + (ok ? " is" : " is not") + " one of the allowed [tdx] rtmr" + std::to_string(i));
  }
  struct Pin { const char* check; const char* field; const Mr48& value; const std::vector<Bytes>& allowed; };
  for (const Pin& pin : {Pin{"mr-config-id", "MRCONFIGID", q.mr_config_id, pol.mr_config_id},
                         Pin{"mr-owner", "MROWNER", q.mr_owner, pol.mr_owner},
                         Pin{"mr-owner-config", "MROWNERCONFIG", q.mr_owner_config, pol.mr_owner_config}}) {
    if (pin.allowed.empty()) continue;
    const bool ok = OneOf(pin.value, pin.allowed);
    checks.Add(pin.check, ok, std::string(pin.field) + " " + HexEncode(pin.value) + (ok ? " is" : " is not") + " allowed");
  }
  if (pol.min_pce_svn > 0) {
    const bool ok = pck_ext && pck_ext->pce_svn >= pol.min_pce_svn;
    checks.Add("min-pce-svn", ok, pck_ext ? "PCESVN " + std::to_string(pck_ext->pce_svn) + (ok ? " ≥ " : " < ") + "min_pce_svn " + std::to_string(pol.min_pce_svn)
                                          : "PCESVN unknown (no PCK extensions)");
  }
  {
    const bool ok = std::find(pol.accepted_tcb_status.begin(), pol.accepted_tcb_status.end(), status) != pol.accepted_tcb_status.end();
    std::string accepted;
    for (const auto& s : pol.accepted_tcb_status) accepted += (accepted.empty() ? "" : ", ") + s;
    checks.Add("tcb-status", ok, "TCB status " + status + (ok ? " is" : " is not") + " in accepted_tcb_status [" + accepted + "]" +
                                     (status == "Unknown" && !ok ? " (verify with collateral, or accept \"Unknown\")" : ""));
  }
  if (!pol.forbidden_advisory_ids.empty()) {
    std::string hit;
    for (const auto& a : v.advisory_ids) {
      if (std::find(pol.forbidden_advisory_ids.begin(), pol.forbidden_advisory_ids.end(), a) != pol.forbidden_advisory_ids.end()) {
        hit += (hit.empty() ? "" : ", ") + a;
      }
    }
    checks.Add("advisories", hit.empty(), hit.empty() ? "no forbidden advisory applies" : "forbidden advisories apply: " + hit);
  }
  CheckReportData(q.report_data, options, checks);
  return v;
}

}  // namespace cairn::attestation::internal
