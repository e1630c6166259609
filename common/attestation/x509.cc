#include "common/attestation/x509.h"

#include <cstring>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "common/core/file.h"

namespace cairn::attestation {
namespace internal {

namespace {
struct BioDeleter { void operator()(BIO* b) const { BIO_free(b); } };
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

std::string NameCn(const X509_NAME* name) {
  if (name == nullptr) return "";
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return "";
  const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, idx);
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(e);
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}
}  // namespace

std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL detail" : out;
}

Sha256Fingerprint Sha256Of(ByteSpan data) {
  Sha256Fingerprint out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

Result<Cert> ParseDerCertificate(ByteSpan der) {
  if (der.size() > kMaxCertificateBytes) {
    return Fail(ErrorCode::kOutOfRange, "certificate of " + std::to_string(der.size()) +
                                            " bytes exceeds the " +
                                            std::to_string(kMaxCertificateBytes) + "-byte limit");
  }
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (x == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "not a DER X.509 certificate (" + OpenSslErrors() + ")");
  }
  Cert c;
  c.x509.reset(x);
  if (p != der.data() + der.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "certificate has " + std::to_string(der.data() + der.size() - p) + " trailing bytes");
  }
  c.der.assign(der.begin(), der.end());
  c.subject_cn = NameCn(X509_get_subject_name(x));
  c.issuer_cn = NameCn(X509_get_issuer_name(x));
  c.fingerprint = Sha256Of(der);
  return c;
}

std::optional<Bytes> ExtensionValue(X509* x, const char* dotted_oid) {
  ASN1_OBJECT* obj = OBJ_txt2obj(dotted_oid, 1);
  if (obj == nullptr) {
    ERR_clear_error();
    return std::nullopt;
  }
  int idx = X509_get_ext_by_OBJ(x, obj, -1);
  ASN1_OBJECT_free(obj);
  if (idx < 0) return std::nullopt;
  X509_EXTENSION* ext = X509_get_ext(x, idx);
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
  const unsigned char* d = ASN1_STRING_get0_data(data);
  return Bytes(d, d + ASN1_STRING_length(data));
}

std::optional<std::uint64_t> DerSmallInteger(ByteSpan der) {
  if (der.size() < 3 || der[0] != 0x02 || der[1] != der.size() - 2 || der.size() > 11) return std::nullopt;
  if (der[2] & 0x80) return std::nullopt;  // negative
  // Nine content bytes fit 64 bits only with a leading zero (the sign octet of a value ≥ 2^63).
  if (der.size() == 11 && der[2] != 0) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 2; i < der.size(); ++i) v = (v << 8) | der[i];
  return v;
}

std::string DerString(ByteSpan der) {
  if (der.size() >= 2 && (der[0] == 0x16 || der[0] == 0x0C || der[0] == 0x13) && der[1] < 0x80 &&
      der[1] == der.size() - 2) {
    return std::string(reinterpret_cast<const char*>(der.data() + 2), der.size() - 2);
  }
  return std::string(reinterpret_cast<const char*>(der.data()), der.size());
}

bool IsSelfIssued(X509* x) {
  return X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
}

bool IssuedBy(X509* x, X509* issuer) {
  return X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(issuer)) == 0;
}

bool SignatureVerifies(X509* x, X509* issuer) {
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  if (key == nullptr) {
    ERR_clear_error();
    return false;
  }
  int rc = X509_verify(x, key);
  ERR_clear_error();
  return rc == 1;
}

std::string SignatureAlgorithm(X509* x, int* pk_nid, int* md_nid) {
  int md = NID_undef, pk = NID_undef, secbits = 0;
  std::uint32_t flags = 0;
  if (!X509_get_signature_info(x, &md, &pk, &secbits, &flags)) {
    ERR_clear_error();
  }
  // For RSASSA-PSS X509_get_signature_info reports the PSS digest and pk = rsassaPss.
  int sig_nid = X509_get_signature_nid(x);
  if (sig_nid == NID_rsassaPss) pk = NID_rsassaPss;
  if (pk_nid) *pk_nid = pk;
  if (md_nid) *md_nid = md;
  std::string pk_name = pk == NID_rsassaPss ? "RSASSA-PSS"
                        : pk == NID_rsaEncryption ? "RSA-PKCS1"
                        : pk == NID_X9_62_id_ecPublicKey ? "ECDSA"
                                                         : OBJ_nid2sn(pk) ? OBJ_nid2sn(pk) : "?";
  const char* md_name = OBJ_nid2sn(md);
  return pk_name + "/" + (md_name ? md_name : "?");
}

std::string FormatAsn1Time(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || !ASN1_TIME_to_tm(t, &tm)) return "?";
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool ValidAt(X509* x, std::time_t at, std::string* detail) {
  const ASN1_TIME* nb = X509_get0_notBefore(x);
  const ASN1_TIME* na = X509_get0_notAfter(x);
  std::string window = FormatAsn1Time(nb) + " .. " + FormatAsn1Time(na);
  std::time_t t = at;
  int before = X509_cmp_time(nb, &t);  // -1: nb < t (good)
  int after = X509_cmp_time(na, &t);   // 1: na > t (good)
  if (before == 0 || after == 0) {
    ERR_clear_error();
    if (detail) *detail = "unreadable validity " + window;
    return false;
  }
  if (before > 0) {
    if (detail) *detail = "not yet valid (valid " + window + ")";
    return false;
  }
  if (after < 0) {
    if (detail) *detail = "expired (valid " + window + ")";
    return false;
  }
  if (detail) *detail = "valid " + window;
  return true;
}

EVP_PKEY* PublicKey(X509* x) { return X509_get0_pubkey(x); }

int EcCurveNid(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return NID_undef;
  char name[64] = {0};
  std::size_t len = 0;
  if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len)) {
    ERR_clear_error();
    return NID_undef;
  }
  return OBJ_sn2nid(name) != NID_undef ? OBJ_sn2nid(name) : EC_curve_nist2nid(name);
}

bool EcdsaVerifyRaw(EVP_PKEY* key, const EVP_MD* md, ByteSpan message, ByteSpan r_be, ByteSpan s_be) {
  if (key == nullptr) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(r_be.data(), static_cast<int>(r_be.size()), nullptr);
  BIGNUM* s = BN_bin2bn(s_be.data(), static_cast<int>(s_be.size()), nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || !ECDSA_SIG_set0(sig, r, s)) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    ERR_clear_error();
    return false;
  }
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (der_len <= 0) {
    ERR_clear_error();
    return false;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, der, static_cast<std::size_t>(der_len), message.data(),
                             message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  ERR_clear_error();
  return ok;
}

Result<EvpPkeyPtr> P256KeyFromRaw(ByteSpan xy) {
  if (xy.size() != 64) return Fail(ErrorCode::kInvalidArgument, "P-256 public key must be 64 bytes");
  unsigned char point[65];
  point[0] = 0x04;
  std::memcpy(point + 1, xy.data(), 64);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  bool ok = bld && ctx &&
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) &&
            (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY_CTX_free(ctx);
  if (!ok || key == nullptr) {
    EVP_PKEY_free(key);
    return Fail(ErrorCode::kInvalidArgument, "not a P-256 point (" + OpenSslErrors() + ")");
  }
  // EVP_PKEY_fromdata does not check that the point is on the curve: do it.
  EVP_PKEY_CTX* check = EVP_PKEY_CTX_new(key, nullptr);
  bool on_curve = check && EVP_PKEY_public_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  if (!on_curve) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return Fail(ErrorCode::kInvalidArgument, "attestation key is not a point on P-256");
  }
  return EvpPkeyPtr(key);
}

Result<X509CrlPtr> ParseCrl(ByteSpan data) {
  X509_CRL* crl = nullptr;
  if (data.size() > 10 && std::memcmp(data.data(), "-----BEGIN", 10) == 0) {
    BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
  } else {
    const unsigned char* p = data.data();
    crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(data.size()));
  }
  if (crl == nullptr) return Fail(ErrorCode::kInvalidArgument, "not a CRL (" + OpenSslErrors() + ")");
  return X509CrlPtr(crl);
}

bool CrlSignatureVerifies(X509_CRL* crl, X509* issuer) {
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  bool ok = key != nullptr &&
            X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) == 0 &&
            X509_CRL_verify(crl, key) == 1;
  ERR_clear_error();
  return ok;
}

bool CrlCurrentAt(X509_CRL* crl, std::time_t at, std::string* detail) {
  const ASN1_TIME* tu = X509_CRL_get0_lastUpdate(crl);
  const ASN1_TIME* nu = X509_CRL_get0_nextUpdate(crl);
  std::string window = FormatAsn1Time(tu) + " .. " + FormatAsn1Time(nu);
  std::time_t t = at;
  if (tu == nullptr || X509_cmp_time(tu, &t) > 0) {
    if (detail) *detail = "not yet issued (" + window + ")";
    return false;
  }
  if (nu != nullptr && X509_cmp_time(nu, &t) < 0) {
    if (detail) *detail = "expired (" + window + ")";
    return false;
  }
  if (detail) *detail = "current (" + window + ")";
  return true;
}

bool IsRevoked(X509_CRL* crl, X509* x) {
  X509_REVOKED* rev = nullptr;
  int rc = X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(x));
  ERR_clear_error();
  return rc == 1;
}

std::time_t ToTimeT(Clock::WallTime t) {
  return static_cast<std::time_t>(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

}  // namespace internal

Result<std::vector<Bytes>> ParseCertificates(ByteSpan data, std::string_view source_name) {
  std::vector<Bytes> out;
  const std::string src(source_name);
  std::string_view text = AsChars(data);
  if (text.find("-----BEGIN") != std::string_view::npos) {
    internal::BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    while (true) {
      X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
      if (x == nullptr) {
        unsigned long err = ERR_peek_last_error();
        if (ERR_GET_REASON(err) == PEM_R_NO_START_LINE && !out.empty()) {
          ERR_clear_error();
          break;
        }
        return Fail(ErrorCode::kInvalidArgument,
                    src + ": PEM certificate " + std::to_string(out.size() + 1) +
                        " is unreadable (" + internal::OpenSslErrors() + ")");
      }
      unsigned char* der = nullptr;
      int len = i2d_X509(x, &der);
      X509_free(x);
      if (len <= 0) return Fail(ErrorCode::kInternal, src + ": i2d_X509 failed");
      out.emplace_back(der, der + len);
      OPENSSL_free(der);
      if (out.size() > kMaxCertificates) {
        return Fail(ErrorCode::kOutOfRange, src + ": more than " + std::to_string(kMaxCertificates) +
                                                " certificates");
      }
    }
    return out;
  }
  // DER: one or several concatenated certificates.
  const unsigned char* p = data.data();
  const unsigned char* end = data.data() + data.size();
  while (p < end) {
    const unsigned char* start = p;
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(end - p));
    if (x == nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  src + ": neither PEM nor DER certificates (at byte " +
                      std::to_string(start - data.data()) + ": " + internal::OpenSslErrors() + ")");
    }
    X509_free(x);
    out.emplace_back(start, p);
    if (out.size() > kMaxCertificates) {
      return Fail(ErrorCode::kOutOfRange,
                  src + ": more than " + std::to_string(kMaxCertificates) + " certificates");
    }
  }
  if (out.empty()) return Fail(ErrorCode::kInvalidArgument, src + ": no certificate in an empty file");
  return out;
}

Result<std::vector<Bytes>> ReadCertificateFile(const std::filesystem::path& path) {
  CAIRN_ASSIGN_OR_RETURN(Bytes data, ReadFileBytes(path, 1u << 20));
  return ParseCertificates(data, path.string());
}

}  // namespace cairn::attestation
