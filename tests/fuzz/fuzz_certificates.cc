// fuzz_certificates: the attestation module's certificate and CRL parsing on arbitrary bytes:
// ParseCertificates (PEM bundles or one DER certificate), ParseDerCertificate and the extension
// readers the SNP/TDX verifiers use on it, ParseCrl (DER or PEM), DecodeBinaryOrHex and
// ParseRfc3339. Property: every certificate ParseCertificates returns parses as DER.
#include <cstddef>
#include <cstdint>

#include "common/attestation/attestation.h"
#include "common/attestation/snp.h"
#include "common/attestation/x509.h"
#include "tests/fuzz/fuzz_util.h"

using namespace cairn;
namespace ai = cairn::attestation::internal;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan input(data, size);
  if (auto certs = attestation::ParseCertificates(input, "fuzz")) {
    for (const Bytes& der : *certs) {
      auto cert = ai::ParseDerCertificate(der);
      fuzz::FuzzCheck(cert.has_value() || der.size() > attestation::kMaxCertificateBytes,
                      "ParseCertificates returned a certificate ParseDerCertificate refuses");
    }
  }
  if (auto cert = ai::ParseDerCertificate(input)) {
    X509* x = cert->x509.get();
    (void)ai::SignatureAlgorithm(x);
    (void)ai::IsSelfIssued(x);
    std::string detail;
    (void)ai::ValidAt(x, ai::ToTimeT(fuzz::FuzzInstant()), &detail);
    if (EVP_PKEY* key = ai::PublicKey(x)) (void)ai::EcCurveNid(key);
    // The extensions the SNP VCEK and TDX PCK checks read.
    for (const char* oid : {ai::kOidStructVersion, ai::kOidProductName, ai::kOidBlSpl, ai::kOidTeeSpl,
                            ai::kOidSnpSpl, ai::kOidUcodeSpl, ai::kOidFmcSpl, ai::kOidHwid,
                            "1.2.840.113741.1.13.1" /* Intel SGX extensions of the PCK */}) {
      if (auto v = ai::ExtensionValue(x, oid)) {
        (void)ai::DerSmallInteger(*v);
        (void)ai::DerString(*v);
      }
    }
  }
  (void)ai::ParseCrl(input);
  (void)attestation::DecodeBinaryOrHex(input);
  (void)attestation::ParseRfc3339(AsChars(input));
  return 0;
}
