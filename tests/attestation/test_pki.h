// A test key hierarchy made with OpenSSL at run time, standing in for AMD's and Intel's:
//  - SEV-SNP: ARK → ASK → VCEK and ARK → ASVK → VLEK (RSA with RSASSA-PSS/SHA-384, VCEK/VLEK
//    ECDSA P-384), and reports signed by the VCEK/VLEK with little-endian R/S.
//  - TDX: root → PCK CA → PCK leaf (ECDSA P-256), a TCB signing certificate, CRLs, a QE key, an
//    attestation key, quotes v4/v5 and a collateral JSON bundle signed by the TCB signing key.
// Shared by the tests and the benchmark (no GoogleTest in here). Not thread-safe.
#pragma once

#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/attestation/attestation.h"
#include "common/attestation/snp.h"
#include "common/attestation/tdx.h"
#include "common/attestation/x509.h"

namespace cairn::attestation::testing {

using internal::EvpPkeyPtr;
using internal::X509Ptr;

struct KeyCert {
  EvpPkeyPtr key;
  X509Ptr cert;
  Bytes der;
};

enum class SigAlg { kRsaPssSha384, kRsaPkcs1Sha384, kEcdsaSha256, kEcdsaSha384 };

struct Extension {
  std::string oid;
  Bytes der_value;  // the extnValue contents
};

struct CertSpec {
  std::string subject_cn;
  std::time_t not_before = 0;
  std::time_t not_after = 0;
  std::vector<Extension> extensions;
  bool ca = false;
  long serial = 1;
};

EvpPkeyPtr GenerateRsa(int bits);
EvpPkeyPtr EvpPkeyDup(EVP_PKEY* key);  // another reference to the same key
EvpPkeyPtr GenerateEc(const char* curve);  // "P-384", "P-256"
// Signs a certificate for `subject_key` with `issuer` (nullptr = self-signed with subject_key).
KeyCert MakeCert(const CertSpec& spec, EvpPkeyPtr subject_key, const KeyCert* issuer, SigAlg alg);

Bytes DerInteger(std::uint64_t v);
Bytes DerOctetString(ByteSpan b);
Bytes DerIa5String(std::string_view s);

std::time_t T(const char* rfc3339);  // test times

// ------------------------------------------------------------------------------------------
// SEV-SNP

struct VcekSpec {
  Bytes hwid;                    // 64 (Milan/Genoa) or 8 (Turin) bytes
  bool hwid_der = false;         // new encoding: DER OCTET STRING
  SnpTcb tcb;
  std::string product = "Milan-B0";
  bool include_fmc = false;      // Turin
  std::time_t not_before = 0, not_after = 0;  // 0 = the hierarchy's defaults
  bool vlek = false;             // VLEK (signed by the ASVK, no hwID)
};

class SnpTestPki {
 public:
  // Built once per process and RSA size (RSA key generation is slow: ~0.7 s per 2048-bit key on
  // the project's machines, so tests use 1024-bit keys; the benchmark uses AMD's 4096).
  // Product "Milan" names.
  static SnpTestPki& Get(int rsa_bits = 1024);

  KeyCert ark, ask, asvk, vcek, vlek;
  Bytes chip_id;     // 64 random bytes; the VCEK's hwID
  SnpTcb tcb{3, 0, 8, 115, 0};
  std::time_t valid_from = 0, valid_to = 0;  // 2020-01-01 .. 2040-01-01

  // Default evidence: a v3 Milan report with MEASUREMENT 0x11.., REPORT_DATA 0x22..,
  // policy 0x30000 (SMT, reserved bit), VMPL 0, signed by the VCEK; chain VCEK, ASK, ARK.
  Bytes BaseReportUnsigned(std::uint32_t version = 3) const;
  static void SignReport(Bytes& report, EVP_PKEY* key);
  Evidence MakeEvidence() const;
  Evidence MakeVlekEvidence() const;
  // A VCEK/VLEK with custom extensions and validity, signed by the ASK (or ASVK for VLEK).
  KeyCert MakeVcek(const VcekSpec& spec) const;
  VcekSpec DefaultVcekSpec() const;
  Policy MakePolicy() const;  // accepts MakeEvidence(): platforms sev-snp, extra root = test ARK

 private:
  explicit SnpTestPki(int rsa_bits);
};

// ------------------------------------------------------------------------------------------
// TDX

struct TdxQuoteSpec {
  std::uint16_t version = 4;          // 4 or 5
  std::uint16_t v5_body_type = 2;     // 2 = TD 1.0, 3 = TD 1.5
  std::uint64_t td_attributes = 0;    // bit 0 = DEBUG
  std::uint8_t mrtd_fill = 0x33;
  ReportData report_data{};
  std::array<std::uint8_t, 16> tee_tcb_svn{};  // TEE TCB SVN in the body
  bool break_qe_binding = false;      // QE report data does not hash the attestation key
  // The QE report's identity: Intel's TD QE unless a test forges another enclave's report.
  std::array<std::uint8_t, 32> qe_mrsigner = internal::kIntelTdQeMrSigner;
  std::uint16_t qe_isv_prod_id = 2;
  std::uint16_t qe_isv_svn = 8;       // the test QE identity's only level needs 8
};

class TdxTestPki {
 public:
  static TdxTestPki& Get();

  KeyCert root, pck_ca, pck, tcb_signer;
  EvpPkeyPtr attestation_key;         // P-256, signs quotes
  Bytes root_crl_der, pck_crl_der;
  Bytes fmspc = {0xb0, 0xc0, 0x6f, 0x00, 0x00, 0x00};
  std::uint16_t pce_svn = 11;
  std::array<std::uint8_t, 16> cpu_svn{};  // PCK SGX TCB components
  std::time_t valid_from = 0, valid_to = 0;

  Bytes MakeQuote(const TdxQuoteSpec& spec) const;
  // The PEM chain PCK leaf, PCK CA, root (certification data type 5).
  std::string PckChainPem() const;
  // A collateral bundle (JSON) whose TCB info says `status` for the platform's TCB.
  // `tee_tcb_svn_required`: the TDX TCB components a level requires.
  std::string MakeCollateral(const std::string& status, std::uint16_t required_pce_svn,
                             const std::vector<std::string>& advisories, bool tamper_tcb_info = false,
                             std::time_t next_update = 0, const std::string& fmspc_hex = "B0C06F000000") const;
  // The same, after `edit` changed the TCB info and QE identity JSON (signed after the edit).
  std::string MakeCollateralWith(const std::function<void(nlohmann::json& tcb_info, nlohmann::json& qe_identity)>& edit) const;
  Policy MakePolicy() const;  // platforms tdx, extra root = test root, accepts UpToDate and Unknown

 private:
  std::string Collateral(const std::string& status, std::uint16_t required_pce_svn, const std::vector<std::string>& advisories,
                         bool tamper_tcb_info, std::time_t next_update, const std::string& fmspc_hex,
                         const std::function<void(nlohmann::json&, nlohmann::json&)>& edit) const;
  TdxTestPki();
};

}  // namespace cairn::attestation::testing
