// Intel TDX DCAP quotes (v4 and v5, TD report 1.0 and 1.5) and collateral bundles. Internal;
// tests use it to build and inspect quotes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/attestation/attestation.h"

namespace cairn::attestation::internal {

constexpr std::size_t kTdxHeaderBytes = 48;
constexpr std::size_t kTdxBody10Bytes = 584;  // TD report 1.0
constexpr std::size_t kTdxBody15Bytes = 648;  // TD report 1.5
constexpr std::size_t kTdxQeReportBytes = 384;
constexpr std::uint32_t kTdxTeeType = 0x81;
constexpr std::uint16_t kTdxAttKeyEcdsaP256 = 2;
inline constexpr std::array<std::uint8_t, 16> kIntelQeVendorId = {
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

// Offsets inside the TD report body.
constexpr std::size_t kTdOffTeeTcbSvn = 0x00;
constexpr std::size_t kTdOffMrSeam = 0x10;
constexpr std::size_t kTdOffMrSignerSeam = 0x40;
constexpr std::size_t kTdOffSeamAttributes = 0x70;
constexpr std::size_t kTdOffTdAttributes = 0x78;
constexpr std::size_t kTdOffXfam = 0x80;
constexpr std::size_t kTdOffMrTd = 0x88;
constexpr std::size_t kTdOffMrConfigId = 0xB8;
constexpr std::size_t kTdOffMrOwner = 0xE8;
constexpr std::size_t kTdOffMrOwnerConfig = 0x118;
constexpr std::size_t kTdOffRtmr0 = 0x148;
constexpr std::size_t kTdOffReportData = 0x208;
constexpr std::uint64_t kTdAttributesDebug = 1;
// The TUD group (bits 0-7): DEBUG and bits reserved for debug features; any set bit is a debug TD.
constexpr std::uint64_t kTdAttributesTud = 0xFF;
constexpr std::uint64_t kTdAttributesMigratable = std::uint64_t{1} << 29;
// Intel's TD quoting enclave: its MRSIGNER and ISVPRODID (as in Intel's TD_QE identity). The PCK
// key certifies the report of any enclave with the provisioning attribute, so without this check an
// enclave the host launched could certify its own attestation key and sign any TD report.
inline constexpr std::array<std::uint8_t, 32> kIntelTdQeMrSigner = {
    0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
    0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5};
constexpr int kTdQeIsvProdId = 2;

// Offsets inside the QE report (an SGX REPORT body).
constexpr std::size_t kQeOffCpuSvn = 0;
constexpr std::size_t kQeOffMiscSelect = 16;
constexpr std::size_t kQeOffAttributes = 48;
constexpr std::size_t kQeOffMrEnclave = 64;
constexpr std::size_t kQeOffMrSigner = 128;
constexpr std::size_t kQeOffIsvProdId = 256;
constexpr std::size_t kQeOffIsvSvn = 258;
constexpr std::size_t kQeOffReportData = 320;

using Mr48 = std::array<std::uint8_t, 48>;

struct TdxQuote {
  std::uint16_t version = 0;
  std::uint16_t att_key_type = 0;
  std::uint32_t tee_type = 0;
  std::array<std::uint8_t, 16> qe_vendor_id{};
  std::uint16_t body_type = 2;  // 2 = TD report 1.0, 3 = TD report 1.5 (v4 quotes are 2)
  std::size_t body_offset = 0;
  std::size_t body_size = 0;
  std::size_t signed_bytes = 0;  // header (+ v5 type and size) + body

  std::array<std::uint8_t, 16> tee_tcb_svn{};
  Mr48 mr_seam{}, mr_signer_seam{};
  std::uint64_t seam_attributes = 0;
  std::uint64_t td_attributes = 0;
  std::uint64_t xfam = 0;
  Mr48 mr_td{}, mr_config_id{}, mr_owner{}, mr_owner_config{};
  std::array<Mr48, 4> rtmr{};
  ReportData report_data{};

  std::array<std::uint8_t, 64> signature{};        // r ‖ s, big-endian
  std::array<std::uint8_t, 64> attestation_key{};  // P-256 X ‖ Y
  Bytes qe_report;                                 // 384 bytes
  std::array<std::uint8_t, 64> qe_report_signature{};
  Bytes qe_auth_data;
  std::string pck_chain_pem;                       // certification data type 5
  std::size_t trailing_bytes = 0;                  // after the signature data (ignored)
};

// Parses a quote. On error, `failed_check` (when given) says which named check failed:
// "report-size" (truncated / oversized), "report-version" (version, key type, TEE type, body
// type), or "report-format" (inconsistent lengths, certification data types).
Result<TdxQuote> ParseTdxQuote(ByteSpan quote, std::string* failed_check = nullptr);

// Collateral normalisation: accepts the bundle shape of dcap-qvl's tdx_quote_collateral.json
// (tcb_info, tcb_info_signature, tcb_info_issuer_chain, qe_identity, qe_identity_signature,
// qe_identity_issuer_chain, root_ca_crl, pck_crl, pck_crl_issuer_chain) or Intel PCS responses
// ({"tcbInfo": {…}, "signature": "…"} and {"enclaveIdentity": {…}, "signature": "…"}), one or
// several, and merges them into one bundle. The signed JSON bytes are kept exactly.
Result<std::string> MergeCollateralJson(const std::vector<std::pair<std::string, std::string>>& named_texts);

// The exact text of the value of a top-level member of a JSON object; nullopt when absent or the
// text is not an object.
std::optional<std::string_view> RawJsonMember(std::string_view json, std::string_view key);

// The SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1).
struct PckExtensions {
  std::array<std::uint8_t, 16> sgx_tcb_components{};  // TCB comp 01..16
  std::uint16_t pce_svn = 0;
  std::array<std::uint8_t, 16> cpu_svn{};
  Bytes pce_id;   // 2 bytes
  Bytes fmspc;    // 6 bytes
};
Result<PckExtensions> ParsePckExtensions(ByteSpan sgx_extension_der);
inline constexpr const char* kOidSgxExtensions = "1.2.840.113741.1.13.1";

}  // namespace cairn::attestation::internal
