#include "tests/attestation/test_pki.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/attestation/internal.h"

namespace cairn::attestation::testing {

namespace {
[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "test PKI: %s failed: %s\n", what, internal::OpenSslErrors().c_str());
  std::abort();
}
#define PKI_CHECK(expr) \
  do {                  \
    if (!(expr)) Die(#expr); \
  } while (false)

Bytes Der(X509* x) {
  unsigned char* p = nullptr;
  int len = i2d_X509(x, &p);
  PKI_CHECK(len > 0);
  Bytes out(p, p + len);
  OPENSSL_free(p);
  return out;
}

void SetCn(X509_NAME* name, const std::string& cn) {
  PKI_CHECK(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("Cairn Test"), -1, -1, 0));
  PKI_CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0));
}

Bytes DerLength(std::size_t n) {
  if (n < 0x80) return {static_cast<std::uint8_t>(n)};
  if (n < 0x100) return {0x81, static_cast<std::uint8_t>(n)};
  return {0x82, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
}
Bytes Tlv(std::uint8_t tag, ByteSpan value) {
  Bytes out{tag};
  Bytes len = DerLength(value.size());
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

void SignWith(X509* x, EVP_PKEY* key, SigAlg alg) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = (alg == SigAlg::kEcdsaSha256) ? EVP_sha256() : EVP_sha384();
  PKI_CHECK(EVP_DigestSignInit(ctx, &pctx, md, nullptr, key) == 1);
  if (alg == SigAlg::kRsaPssSha384) {
    PKI_CHECK(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
    PKI_CHECK(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) == 1);
    PKI_CHECK(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) == 1);
  }
  PKI_CHECK(X509_sign_ctx(x, ctx) > 0);
  EVP_MD_CTX_free(ctx);
}
}  // namespace

EvpPkeyPtr GenerateRsa(int bits) {
  EVP_PKEY* k = EVP_RSA_gen(static_cast<unsigned>(bits));
  PKI_CHECK(k != nullptr);
  return EvpPkeyPtr(k);
}

EvpPkeyPtr EvpPkeyDup(EVP_PKEY* key) {
  PKI_CHECK(EVP_PKEY_up_ref(key) == 1);
  return EvpPkeyPtr(key);
}

EvpPkeyPtr GenerateEc(const char* curve) {
  EVP_PKEY* k = EVP_EC_gen(curve);
  PKI_CHECK(k != nullptr);
  return EvpPkeyPtr(k);
}

Bytes DerInteger(std::uint64_t v) {
  Bytes body;
  do {
    body.insert(body.begin(), static_cast<std::uint8_t>(v & 0xFF));
    v >>= 8;
  } while (v != 0);
  if (body[0] & 0x80) body.insert(body.begin(), 0);
  return Tlv(0x02, body);
}
Bytes DerOctetString(ByteSpan b) { return Tlv(0x04, b); }
Bytes DerIa5String(std::string_view s) { return Tlv(0x16, AsBytes(s)); }

std::time_t T(const char* rfc3339) { return internal::ToTimeT(*ParseRfc3339(rfc3339)); }

KeyCert MakeCert(const CertSpec& spec, EvpPkeyPtr subject_key, const KeyCert* issuer, SigAlg alg) {
  X509Ptr x(X509_new());
  PKI_CHECK(X509_set_version(x.get(), 2));
  PKI_CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x.get()), spec.serial));
  SetCn(X509_get_subject_name(x.get()), spec.subject_cn);
  PKI_CHECK(X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer->cert.get())
                                                 : X509_get_subject_name(x.get())));
  PKI_CHECK(ASN1_TIME_set(X509_getm_notBefore(x.get()), spec.not_before));
  PKI_CHECK(ASN1_TIME_set(X509_getm_notAfter(x.get()), spec.not_after));
  PKI_CHECK(X509_set_pubkey(x.get(), subject_key.get()));
  if (spec.ca) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer->cert.get() : x.get(), x.get(), nullptr, nullptr, 0);
    X509_EXTENSION* bc = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    PKI_CHECK(bc != nullptr);
    PKI_CHECK(X509_add_ext(x.get(), bc, -1));
    X509_EXTENSION_free(bc);
  }
  for (const auto& e : spec.extensions) {
    ASN1_OBJECT* obj = OBJ_txt2obj(e.oid.c_str(), 1);
    PKI_CHECK(obj != nullptr);
    ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
    PKI_CHECK(ASN1_OCTET_STRING_set(os, e.der_value.data(), static_cast<int>(e.der_value.size())));
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, obj, 0, os);
    PKI_CHECK(ext != nullptr);
    PKI_CHECK(X509_add_ext(x.get(), ext, -1));
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
  }
  SignWith(x.get(), issuer ? issuer->key.get() : subject_key.get(), alg);
  KeyCert kc;
  kc.der = Der(x.get());
  kc.cert = std::move(x);
  kc.key = std::move(subject_key);
  return kc;
}

// ---------------------------------------------------------------------------------------------
// SEV-SNP

SnpTestPki& SnpTestPki::Get(int rsa_bits) {
  static std::map<int, SnpTestPki*> instances;
  auto& pki = instances[rsa_bits];
  if (pki == nullptr) pki = new SnpTestPki(rsa_bits);
  return *pki;
}

SnpTestPki::SnpTestPki(int rsa_bits) {
  valid_from = T("2020-01-01");
  valid_to = T("2040-01-01");
  ark = MakeCert({"ARK-Milan", valid_from, valid_to, {}, true, 1}, GenerateRsa(rsa_bits), nullptr,
                 SigAlg::kRsaPssSha384);
  ask = MakeCert({"SEV-Milan", valid_from, valid_to, {}, true, 2}, GenerateRsa(rsa_bits), &ark,
                 SigAlg::kRsaPssSha384);
  asvk = MakeCert({"SEV-VLEK-Milan", valid_from, valid_to, {}, true, 3}, GenerateRsa(rsa_bits), &ark,
                  SigAlg::kRsaPssSha384);
  chip_id.resize(64);
  for (std::size_t i = 0; i < 64; ++i) chip_id[i] = static_cast<std::uint8_t>(0xC0 ^ (i * 7));
  vcek = MakeVcek(DefaultVcekSpec());
  VcekSpec vs = DefaultVcekSpec();
  vs.vlek = true;
  vlek = MakeVcek(vs);
}

VcekSpec SnpTestPki::DefaultVcekSpec() const {
  VcekSpec s;
  s.hwid = chip_id;
  s.tcb = tcb;
  return s;
}

KeyCert SnpTestPki::MakeVcek(const VcekSpec& spec) const {
  CertSpec cs;
  cs.subject_cn = spec.vlek ? "SEV-VLEK" : "SEV-VCEK";
  cs.not_before = spec.not_before ? spec.not_before : valid_from;
  cs.not_after = spec.not_after ? spec.not_after : valid_to;
  cs.serial = 10;
  cs.extensions.push_back({internal::kOidStructVersion, DerInteger(1)});
  cs.extensions.push_back({internal::kOidProductName, DerIa5String(spec.product)});
  cs.extensions.push_back({internal::kOidBlSpl, DerInteger(spec.tcb.bootloader)});
  cs.extensions.push_back({internal::kOidTeeSpl, DerInteger(spec.tcb.tee)});
  cs.extensions.push_back({internal::kOidSnpSpl, DerInteger(spec.tcb.snp)});
  cs.extensions.push_back({internal::kOidUcodeSpl, DerInteger(spec.tcb.microcode)});
  if (spec.include_fmc) cs.extensions.push_back({internal::kOidFmcSpl, DerInteger(spec.tcb.fmc)});
  if (!spec.vlek) {
    cs.extensions.push_back({internal::kOidHwid, spec.hwid_der ? DerOctetString(spec.hwid) : spec.hwid});
  }
  return MakeCert(cs, GenerateEc("P-384"), spec.vlek ? &asvk : &ask, SigAlg::kRsaPssSha384);
}

Bytes SnpTestPki::BaseReportUnsigned(std::uint32_t version) const {
  Bytes r(internal::kSnpReportBytes, 0);
  internal::StoreLe32(r.data() + internal::kSnpOffVersion, version);
  internal::StoreLe32(r.data() + internal::kSnpOffGuestSvn, 1);
  internal::StoreLe64(r.data() + internal::kSnpOffPolicy, 0x30000);
  internal::StoreLe32(r.data() + internal::kSnpOffVmpl, 0);
  internal::StoreLe32(r.data() + internal::kSnpOffSigAlgo, 1);
  const std::uint64_t t = internal::EncodeSnpTcb(tcb, internal::SnpProduct::kMilan);
  internal::StoreLe64(r.data() + internal::kSnpOffCurrentTcb, t);
  internal::StoreLe64(r.data() + internal::kSnpOffReportedTcb, t);
  internal::StoreLe64(r.data() + internal::kSnpOffCommittedTcb, t);
  internal::StoreLe64(r.data() + internal::kSnpOffLaunchTcb, t);
  std::memset(r.data() + internal::kSnpOffReportData, 0x22, 64);
  std::memset(r.data() + internal::kSnpOffMeasurement, 0x11, 48);
  if (version >= 3) {
    r[internal::kSnpOffCpuidFamily] = 0x19;  // Milan: family 19h, model 01h
    r[internal::kSnpOffCpuidModel] = 0x01;
    r[internal::kSnpOffCpuidStepping] = 0x01;
  }
  std::memcpy(r.data() + internal::kSnpOffChipId, chip_id.data(), 64);
  return r;
}

void SnpTestPki::SignReport(Bytes& report, EVP_PKEY* key) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  PKI_CHECK(EVP_DigestSignInit(ctx, nullptr, EVP_sha384(), nullptr, key) == 1);
  std::size_t len = 0;
  PKI_CHECK(EVP_DigestSign(ctx, nullptr, &len, report.data(), internal::kSnpSignedBytes) == 1);
  Bytes der(len);
  PKI_CHECK(EVP_DigestSign(ctx, der.data(), &len, report.data(), internal::kSnpSignedBytes) == 1);
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  PKI_CHECK(sig != nullptr);
  std::uint8_t be[48];
  std::memset(report.data() + internal::kSnpSigROffset, 0, 0x4A0 - internal::kSnpSigROffset);
  PKI_CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(sig), be, 48) == 48);
  for (int i = 0; i < 48; ++i) report[internal::kSnpSigROffset + i] = be[47 - i];
  PKI_CHECK(BN_bn2binpad(ECDSA_SIG_get0_s(sig), be, 48) == 48);
  for (int i = 0; i < 48; ++i) report[internal::kSnpSigSOffset + i] = be[47 - i];
  ECDSA_SIG_free(sig);
}

Evidence SnpTestPki::MakeEvidence() const {
  Evidence e;
  e.platform = Platform::kSevSnp;
  e.report = BaseReportUnsigned();
  SignReport(e.report, vcek.key.get());
  e.certificates = {vcek.der, ask.der, ark.der};
  return e;
}

Evidence SnpTestPki::MakeVlekEvidence() const {
  Evidence e;
  e.platform = Platform::kSevSnp;
  e.report = BaseReportUnsigned();
  internal::StoreLe32(e.report.data() + internal::kSnpOffSignerInfo, 1u << 2);  // SIGNING_KEY = VLEK
  std::memset(e.report.data() + internal::kSnpOffChipId, 0, 64);
  SignReport(e.report, vlek.key.get());
  e.certificates = {vlek.der, asvk.der, ark.der};
  return e;
}

Policy SnpTestPki::MakePolicy() const {
  Policy p;
  p.platforms = {Platform::kSevSnp};
  p.extra_roots = {internal::Sha256Of(ark.der)};
  p.sev_snp.measurements = {Bytes(48, 0x11)};
  p.sev_snp.min_tcb = tcb;
  return p;
}

}  // namespace cairn::attestation::testing
