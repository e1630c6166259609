#include "tests/attestation/test_pki.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/attestation/internal.h"
#include "common/attestation/tdx.h"

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
  static std::map<int, std::unique_ptr<SnpTestPki>> instances;  // freed at exit (clean ASan runs)
  auto& pki = instances[rsa_bits];
  if (pki == nullptr) pki.reset(new SnpTestPki(rsa_bits));
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

// ---------------------------------------------------------------------------------------------
// TDX

namespace cairn::attestation::testing {
namespace {

Bytes Seq(std::initializer_list<Bytes> items) {
  Bytes body;
  for (const auto& i : items) body.insert(body.end(), i.begin(), i.end());
  return Tlv(0x30, body);
}
Bytes SeqOf(const std::vector<Bytes>& items) {
  Bytes body;
  for (const auto& i : items) body.insert(body.end(), i.begin(), i.end());
  return Tlv(0x30, body);
}
Bytes SgxOid(std::initializer_list<int> arcs) {
  Bytes o = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};
  for (int a : arcs) o.push_back(static_cast<std::uint8_t>(a));
  return Tlv(0x06, o);
}

// Raw r ‖ s (32 + 32 bytes) ECDSA P-256 / SHA-256 signature.
Bytes SignP256(EVP_PKEY* key, ByteSpan message) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  PKI_CHECK(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1);
  std::size_t len = 0;
  PKI_CHECK(EVP_DigestSign(ctx, nullptr, &len, message.data(), message.size()) == 1);
  Bytes der(len);
  PKI_CHECK(EVP_DigestSign(ctx, der.data(), &len, message.data(), message.size()) == 1);
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  PKI_CHECK(sig != nullptr);
  Bytes out(64);
  PKI_CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(sig), out.data(), 32) == 32);
  PKI_CHECK(BN_bn2binpad(ECDSA_SIG_get0_s(sig), out.data() + 32, 32) == 32);
  ECDSA_SIG_free(sig);
  return out;
}

Bytes RawP256Public(EVP_PKEY* key) {
  unsigned char buf[65];
  std::size_t len = 0;
  PKI_CHECK(EVP_PKEY_get_octet_string_param(key, "pub", buf, sizeof(buf), &len) == 1);
  PKI_CHECK(len == 65 && buf[0] == 0x04);
  return Bytes(buf + 1, buf + 65);
}

std::string Pem(X509* x) {
  BIO* bio = BIO_new(BIO_s_mem());
  PKI_CHECK(PEM_write_bio_X509(bio, x) == 1);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return s;
}

Bytes MakeCrl(const KeyCert& issuer, std::time_t this_update, std::time_t next_update, const std::vector<long>& revoked) {
  X509_CRL* crl = X509_CRL_new();
  PKI_CHECK(X509_CRL_set_version(crl, 1));
  PKI_CHECK(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.cert.get())));
  ASN1_TIME* tu = ASN1_TIME_set(nullptr, this_update);
  ASN1_TIME* nu = ASN1_TIME_set(nullptr, next_update);
  PKI_CHECK(X509_CRL_set1_lastUpdate(crl, tu) && X509_CRL_set1_nextUpdate(crl, nu));
  for (long serial : revoked) {
    X509_REVOKED* r = X509_REVOKED_new();
    ASN1_INTEGER* s = ASN1_INTEGER_new();
    PKI_CHECK(ASN1_INTEGER_set(s, serial));
    PKI_CHECK(X509_REVOKED_set_serialNumber(r, s));
    PKI_CHECK(X509_REVOKED_set_revocationDate(r, tu));
    PKI_CHECK(X509_CRL_add0_revoked(crl, r));
    ASN1_INTEGER_free(s);
  }
  PKI_CHECK(X509_CRL_sort(crl));
  PKI_CHECK(X509_CRL_sign(crl, issuer.key.get(), EVP_sha256()) > 0);
  unsigned char* der = nullptr;
  int len = i2d_X509_CRL(crl, &der);
  PKI_CHECK(len > 0);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  X509_CRL_free(crl);
  ASN1_TIME_free(tu);
  ASN1_TIME_free(nu);
  return out;
}

constexpr std::uint16_t kQeIsvSvn = 8;

}  // namespace

TdxTestPki& TdxTestPki::Get() {
  static TdxTestPki pki;
  return pki;
}

TdxTestPki::TdxTestPki() {
  valid_from = T("2020-01-01");
  valid_to = T("2040-01-01");
  for (std::size_t i = 0; i < 16; ++i) cpu_svn[i] = static_cast<std::uint8_t>(i < 8 ? 3 : 0);
  root = MakeCert({"Test SGX Root CA", valid_from, valid_to, {}, true, 1}, GenerateEc("P-256"), nullptr, SigAlg::kEcdsaSha256);
  pck_ca = MakeCert({"Test SGX PCK Platform CA", valid_from, valid_to, {}, true, 2}, GenerateEc("P-256"), &root, SigAlg::kEcdsaSha256);
  tcb_signer = MakeCert({"Test SGX TCB Signing", valid_from, valid_to, {}, false, 3}, GenerateEc("P-256"), &root, SigAlg::kEcdsaSha256);
  std::vector<Bytes> tcb_items;
  for (int i = 1; i <= 16; ++i) tcb_items.push_back(Seq({SgxOid({2, i}), DerInteger(cpu_svn[i - 1])}));
  tcb_items.push_back(Seq({SgxOid({2, 17}), DerInteger(pce_svn)}));
  tcb_items.push_back(Seq({SgxOid({2, 18}), DerOctetString(cpu_svn)}));
  Bytes sgx = Seq({Seq({SgxOid({1}), DerOctetString(Bytes(16, 0x5A))}),
                   Seq({SgxOid({2}), SeqOf(tcb_items)}),
                   Seq({SgxOid({3}), DerOctetString(Bytes{0, 0})}),
                   Seq({SgxOid({4}), DerOctetString(fmspc)}),
                   Seq({SgxOid({5}), Tlv(0x0A, Bytes{0})})});
  pck = MakeCert({"Test SGX PCK Certificate", valid_from, valid_to, {{"1.2.840.113741.1.13.1", sgx}}, false, 77},
                 GenerateEc("P-256"), &pck_ca, SigAlg::kEcdsaSha256);
  attestation_key = GenerateEc("P-256");
  root_crl_der = MakeCrl(root, valid_from, valid_to, {});
  pck_crl_der = MakeCrl(pck_ca, valid_from, valid_to, {});
}

std::string TdxTestPki::PckChainPem() const {
  return Pem(pck.cert.get()) + Pem(pck_ca.cert.get()) + Pem(root.cert.get());
}

Bytes TdxTestPki::MakeQuote(const TdxQuoteSpec& spec) const {
  Bytes q(internal::kTdxHeaderBytes, 0);
  q[0] = static_cast<std::uint8_t>(spec.version);
  q[2] = 2;      // ECDSA P-256
  q[4] = 0x81;   // TDX
  std::memcpy(q.data() + 12, internal::kIntelQeVendorId.data(), 16);
  std::size_t body_size = internal::kTdxBody10Bytes;
  if (spec.version == 5) {
    body_size = spec.v5_body_type == 3 ? internal::kTdxBody15Bytes : internal::kTdxBody10Bytes;
    q.push_back(static_cast<std::uint8_t>(spec.v5_body_type));
    q.push_back(0);
    Bytes size(4);
    internal::StoreLe32(size.data(), static_cast<std::uint32_t>(body_size));
    q.insert(q.end(), size.begin(), size.end());
  }
  const std::size_t body = q.size();
  q.resize(body + body_size, 0);
  std::memcpy(q.data() + body + internal::kTdOffTeeTcbSvn, spec.tee_tcb_svn.data(), 16);
  internal::StoreLe64(q.data() + body + internal::kTdOffTdAttributes, spec.td_attributes);
  std::memset(q.data() + body + internal::kTdOffMrTd, spec.mrtd_fill, 48);
  for (int i = 0; i < 4; ++i) std::memset(q.data() + body + internal::kTdOffRtmr0 + 48 * i, 0x40 + i, 48);
  std::memcpy(q.data() + body + internal::kTdOffReportData, spec.report_data.data(), 64);
  const std::size_t signed_bytes = q.size();

  // Signature data.
  Bytes sig = SignP256(attestation_key.get(), ByteSpan(q).first(signed_bytes));
  Bytes att_pub = RawP256Public(attestation_key.get());
  Bytes auth_data(32, 0xA5);
  Bytes qe(internal::kTdxQeReportBytes, 0);
  qe[internal::kQeOffAttributes] = 0x15;
  std::copy(spec.qe_mrsigner.begin(), spec.qe_mrsigner.end(), qe.begin() + internal::kQeOffMrSigner);
  internal::StoreLe16(qe.data() + internal::kQeOffIsvProdId, spec.qe_isv_prod_id);
  internal::StoreLe16(qe.data() + internal::kQeOffIsvSvn, spec.qe_isv_svn);
  Bytes pre = att_pub;
  pre.insert(pre.end(), auth_data.begin(), auth_data.end());
  auto h = internal::Sha256Of(pre);
  std::memcpy(qe.data() + internal::kQeOffReportData, h.data(), 32);
  if (spec.break_qe_binding) qe[internal::kQeOffReportData] ^= 1;
  Bytes qe_sig = SignP256(pck.key.get(), qe);
  const std::string chain = PckChainPem();

  Bytes cert6;
  cert6.insert(cert6.end(), qe.begin(), qe.end());
  cert6.insert(cert6.end(), qe_sig.begin(), qe_sig.end());
  cert6.push_back(static_cast<std::uint8_t>(auth_data.size()));
  cert6.push_back(0);
  cert6.insert(cert6.end(), auth_data.begin(), auth_data.end());
  cert6.push_back(5);
  cert6.push_back(0);
  Bytes n(4);
  internal::StoreLe32(n.data(), static_cast<std::uint32_t>(chain.size()));
  cert6.insert(cert6.end(), n.begin(), n.end());
  cert6.insert(cert6.end(), chain.begin(), chain.end());

  Bytes sigdata = sig;
  sigdata.insert(sigdata.end(), att_pub.begin(), att_pub.end());
  sigdata.push_back(6);
  sigdata.push_back(0);
  internal::StoreLe32(n.data(), static_cast<std::uint32_t>(cert6.size()));
  sigdata.insert(sigdata.end(), n.begin(), n.end());
  sigdata.insert(sigdata.end(), cert6.begin(), cert6.end());
  internal::StoreLe32(n.data(), static_cast<std::uint32_t>(sigdata.size()));
  q.insert(q.end(), n.begin(), n.end());
  q.insert(q.end(), sigdata.begin(), sigdata.end());
  return q;
}

std::string TdxTestPki::MakeCollateral(const std::string& status, std::uint16_t required_pce_svn,
                                       const std::vector<std::string>& advisories, bool tamper_tcb_info,
                                       std::time_t next_update, const std::string& fmspc_hex) const {
  return Collateral(status, required_pce_svn, advisories, tamper_tcb_info, next_update, fmspc_hex, nullptr);
}

std::string TdxTestPki::MakeCollateralWith(const std::function<void(nlohmann::json&, nlohmann::json&)>& edit) const {
  return Collateral("UpToDate", 11, {}, false, 0, "B0C06F000000", edit);
}

std::string TdxTestPki::Collateral(const std::string& status, std::uint16_t required_pce_svn,
                                   const std::vector<std::string>& advisories, bool tamper_tcb_info,
                                   std::time_t next_update, const std::string& fmspc_hex,
                                   const std::function<void(nlohmann::json&, nlohmann::json&)>& edit) const {
  auto components = [](int svn) {
    nlohmann::json arr = nlohmann::json::array();
    for (int i = 0; i < 16; ++i) arr.push_back({{"svn", i < 8 ? svn : 0}});
    return arr;
  };
  const std::string issue = FormatRfc3339(Clock::WallTime(std::chrono::seconds(T("2025-01-01"))));
  const std::string next = FormatRfc3339(Clock::WallTime(std::chrono::seconds(next_update ? next_update : T("2030-01-01"))));
  nlohmann::json level = {{"tcb", {{"sgxtcbcomponents", components(1)}, {"pcesvn", required_pce_svn}, {"tdxtcbcomponents", components(0)}}},
                          {"tcbDate", "2024-03-13T00:00:00Z"}, {"tcbStatus", status}};
  if (!advisories.empty()) level["advisoryIDs"] = advisories;
  nlohmann::json old = {{"tcb", {{"sgxtcbcomponents", components(0)}, {"pcesvn", 0}, {"tdxtcbcomponents", components(0)}}},
                        {"tcbDate", "2018-01-04T00:00:00Z"}, {"tcbStatus", "OutOfDate"}, {"advisoryIDs", {"INTEL-SA-00001"}}};
  nlohmann::json tcb = {{"id", "TDX"}, {"version", 3}, {"issueDate", issue}, {"nextUpdate", next},
                        {"fmspc", fmspc_hex}, {"pceId", "0000"}, {"tcbType", 0}, {"tcbEvaluationDataNumber", 17},
                        {"tcbLevels", {level, old}}};
  nlohmann::json qe = {{"id", "TD_QE"}, {"version", 2}, {"issueDate", issue}, {"nextUpdate", next},
                       {"miscselect", "00000000"}, {"miscselectMask", "FFFFFFFF"},
                       {"attributes", "11000000000000000000000000000000"}, {"attributesMask", "FBFFFFFFFFFFFFFF0000000000000000"},
                       {"mrsigner", HexEncode(internal::kIntelTdQeMrSigner)}, {"isvprodid", 2},
                       {"tcbEvaluationDataNumber", 17},
                       {"tcbLevels", {{{"tcb", {{"isvsvn", kQeIsvSvn}}}, {"tcbDate", "2024-03-13T00:00:00Z"}, {"tcbStatus", "UpToDate"}}}}};
  if (edit) edit(tcb, qe);
  std::string tcb_text = tcb.dump();
  std::string qe_text = qe.dump();
  Bytes tcb_sig = SignP256(tcb_signer.key.get(), AsBytes(tcb_text));
  Bytes qe_sig = SignP256(tcb_signer.key.get(), AsBytes(qe_text));
  if (tamper_tcb_info) {
    auto pos = tcb_text.find("\"tcbType\":0");
    tcb_text.replace(pos, 11, "\"tcbType\":1");
  }
  const std::string issuer = Pem(tcb_signer.cert.get()) + Pem(root.cert.get());
  nlohmann::json bundle = {{"tcb_info", tcb_text}, {"tcb_info_signature", HexEncode(tcb_sig)},
                           {"tcb_info_issuer_chain", issuer}, {"qe_identity", qe_text},
                           {"qe_identity_signature", HexEncode(qe_sig)}, {"qe_identity_issuer_chain", issuer},
                           {"root_ca_crl", HexEncode(root_crl_der)}, {"pck_crl", HexEncode(pck_crl_der)},
                           {"pck_crl_issuer_chain", Pem(pck_ca.cert.get()) + Pem(root.cert.get())}};
  return bundle.dump();
}

Policy TdxTestPki::MakePolicy() const {
  Policy p;
  p.platforms = {Platform::kTdx};
  p.extra_roots = {internal::Sha256Of(root.der)};
  p.tdx.mrtd = {Bytes(48, 0x33)};
  p.tdx.accepted_tcb_status = {"UpToDate", "Unknown"};
  return p;
}

}  // namespace cairn::attestation::testing
