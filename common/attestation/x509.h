// OpenSSL 3 adapters for the verifiers: certificates, signatures, CRLs. Internal; every OpenSSL
// failure becomes a false/Error here, nothing throws, and OpenSSL's error queue is cleared.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/attestation/attestation.h"

namespace cairn::attestation::internal {

struct X509Deleter { void operator()(X509* x) const { X509_free(x); } };
struct EvpPkeyDeleter { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct X509CrlDeleter { void operator()(X509_CRL* c) const { X509_CRL_free(c); } };
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using X509CrlPtr = std::unique_ptr<X509_CRL, X509CrlDeleter>;

// A parsed certificate with its DER bytes.
struct Cert {
  Bytes der;
  X509Ptr x509;
  std::string subject_cn;
  std::string issuer_cn;
  Sha256Fingerprint fingerprint{};
};

// Parses one DER certificate (the whole buffer must be consumed).
Result<Cert> ParseDerCertificate(ByteSpan der);
// The OpenSSL error queue as text (and cleared), for messages.
std::string OpenSslErrors();

Sha256Fingerprint Sha256Of(ByteSpan data);

// The contents of the extnValue OCTET STRING of the extension with this dotted OID.
std::optional<Bytes> ExtensionValue(X509* x, const char* dotted_oid);
// A DER INTEGER (small, non-negative) inside an extension; nullopt when not one.
std::optional<std::uint64_t> DerSmallInteger(ByteSpan der);
// The string of a DER IA5String / UTF8String / PrintableString, or the raw bytes as text.
std::string DerString(ByteSpan der);

// Whether subject and issuer names are equal.
bool IsSelfIssued(X509* x);
// Whether `x`'s issuer name equals `issuer`'s subject name.
bool IssuedBy(X509* x, X509* issuer);
// X509_verify with the issuer's public key (RSA-PSS parameters come from the certificate).
bool SignatureVerifies(X509* x, X509* issuer);

// "RSASSA-PSS/SHA-384", "ECDSA/SHA-256", …; and the raw NIDs.
std::string SignatureAlgorithm(X509* x, int* pk_nid = nullptr, int* md_nid = nullptr);

// notBefore ≤ at ≤ notAfter. `detail` gets "valid 2022-09-24 .. 2029-09-24" or the reason.
bool ValidAt(X509* x, std::time_t at, std::string* detail);
std::string FormatAsn1Time(const ASN1_TIME* t);

// The public key, and its kind: curve NID for EC keys (NID_secp384r1, NID_X9_62_prime256v1),
// or EVP_PKEY_RSA.
EVP_PKEY* PublicKey(X509* x);
int EcCurveNid(EVP_PKEY* key);  // NID_undef when not EC

// ECDSA over `message` with digest `md`; (r, s) big-endian, each padded or not.
bool EcdsaVerifyRaw(EVP_PKEY* key, const EVP_MD* md, ByteSpan message, ByteSpan r_be, ByteSpan s_be);
// An EC P-256 public key from 64 raw bytes (X ‖ Y).
Result<EvpPkeyPtr> P256KeyFromRaw(ByteSpan xy);

// CRLs (DER or PEM).
Result<X509CrlPtr> ParseCrl(ByteSpan data);
// Whether the CRL's signature verifies with the issuer's key and `at` is within
// thisUpdate..nextUpdate.
bool CrlSignatureVerifies(X509_CRL* crl, X509* issuer);
bool CrlCurrentAt(X509_CRL* crl, std::time_t at, std::string* detail);
bool IsRevoked(X509_CRL* crl, X509* x);

std::time_t ToTimeT(Clock::WallTime t);

}  // namespace cairn::attestation::internal
