// AMD SEV-SNP attestation report layout (SEV-SNP ABI spec, ATTESTATION_REPORT, versions 2-5).
// Internal; tests use it to build and inspect reports.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/attestation/attestation.h"

namespace cairn::attestation::internal {

constexpr std::size_t kSnpReportBytes = 0x4A0;    // 1184
constexpr std::size_t kSnpSignedBytes = 0x2A0;    // 672: bytes 0x000..0x29F are signed
constexpr std::size_t kSnpSigROffset = 0x2A0;
constexpr std::size_t kSnpSigSOffset = 0x2E8;
constexpr std::size_t kSnpSigComponentBytes = 72;  // little-endian, zero-padded

// Field offsets.
constexpr std::size_t kSnpOffVersion = 0x000;
constexpr std::size_t kSnpOffGuestSvn = 0x004;
constexpr std::size_t kSnpOffPolicy = 0x008;
constexpr std::size_t kSnpOffVmpl = 0x030;
constexpr std::size_t kSnpOffSigAlgo = 0x034;
constexpr std::size_t kSnpOffCurrentTcb = 0x038;
constexpr std::size_t kSnpOffPlatformInfo = 0x040;
constexpr std::size_t kSnpOffSignerInfo = 0x048;
constexpr std::size_t kSnpOffReportData = 0x050;
constexpr std::size_t kSnpOffMeasurement = 0x090;
constexpr std::size_t kSnpOffHostData = 0x0C0;
constexpr std::size_t kSnpOffIdKeyDigest = 0x0E0;
constexpr std::size_t kSnpOffAuthorKeyDigest = 0x110;
constexpr std::size_t kSnpOffReportedTcb = 0x180;
constexpr std::size_t kSnpOffCpuidFamily = 0x188;  // v3+
constexpr std::size_t kSnpOffCpuidModel = 0x189;
constexpr std::size_t kSnpOffCpuidStepping = 0x18A;
constexpr std::size_t kSnpOffChipId = 0x1A0;
constexpr std::size_t kSnpOffCommittedTcb = 0x1E0;
constexpr std::size_t kSnpOffLaunchTcb = 0x1F0;

// Guest policy bits.
constexpr std::uint64_t kSnpPolicySmt = 1ull << 16;
constexpr std::uint64_t kSnpPolicyReserved1 = 1ull << 17;  // must be 1
constexpr std::uint64_t kSnpPolicyMigrateMa = 1ull << 18;
constexpr std::uint64_t kSnpPolicyDebug = 1ull << 19;
constexpr std::uint64_t kSnpPolicySingleSocket = 1ull << 20;

// Signer info (0x048): bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 2-4 SIGNING_KEY.
constexpr std::uint32_t kSnpSignerMaskChipKey = 1u << 1;
enum class SnpSigningKey { kVcek = 0, kVlek = 1, kNone = 7 };

enum class SnpProduct { kUnknown, kMilan, kGenoa, kTurin };
std::string_view SnpProductName(SnpProduct p);

struct SnpReport {
  std::uint32_t version = 0;
  std::uint32_t guest_svn = 0;
  std::uint64_t policy = 0;
  std::uint32_t vmpl = 0;
  std::uint32_t signature_algo = 0;
  std::uint64_t current_tcb = 0;
  std::uint64_t platform_info = 0;
  std::uint32_t signer_info = 0;
  ReportData report_data{};
  std::array<std::uint8_t, 48> measurement{};
  std::array<std::uint8_t, 32> host_data{};
  std::array<std::uint8_t, 48> id_key_digest{};
  std::array<std::uint8_t, 48> author_key_digest{};
  std::uint64_t reported_tcb = 0;
  std::uint8_t cpuid_family = 0;  // v3+; 0 on v2
  std::uint8_t cpuid_model = 0;
  std::uint8_t cpuid_stepping = 0;
  std::array<std::uint8_t, 64> chip_id{};
  std::uint64_t committed_tcb = 0;
  std::uint64_t launch_tcb = 0;
  std::array<std::uint8_t, kSnpSigComponentBytes> sig_r{};  // little-endian, as in the report
  std::array<std::uint8_t, kSnpSigComponentBytes> sig_s{};

  SnpSigningKey signing_key() const { return static_cast<SnpSigningKey>((signer_info >> 2) & 7); }
  bool mask_chip_key() const { return (signer_info & kSnpSignerMaskChipKey) != 0; }
  // Product from CPUID (v3+ reports); kUnknown on v2.
  SnpProduct cpuid_product() const;
};

// Exactly 1184 bytes, version 2..5; names the problem otherwise.
Result<SnpReport> ParseSnpReport(ByteSpan report);

// REPORTED_TCB and friends: Milan/Genoa put BL, TEE, SNP, UCODE in bytes 0, 1, 6, 7; Turin puts
// FMC, BL, TEE, SNP, UCODE in bytes 0, 1, 2, 3, 7.
SnpTcb DecodeSnpTcb(std::uint64_t raw, SnpProduct product);
std::uint64_t EncodeSnpTcb(const SnpTcb& tcb, SnpProduct product);
std::string FormatSnpTcb(const SnpTcb& tcb, SnpProduct product);

// Certificate extension OIDs of VCEK / VLEK certificates.
inline constexpr const char* kOidStructVersion = "1.3.6.1.4.1.3704.1.1";
inline constexpr const char* kOidProductName = "1.3.6.1.4.1.3704.1.2";
inline constexpr const char* kOidBlSpl = "1.3.6.1.4.1.3704.1.3.1";
inline constexpr const char* kOidTeeSpl = "1.3.6.1.4.1.3704.1.3.2";
inline constexpr const char* kOidSnpSpl = "1.3.6.1.4.1.3704.1.3.3";
inline constexpr const char* kOidUcodeSpl = "1.3.6.1.4.1.3704.1.3.8";
inline constexpr const char* kOidFmcSpl = "1.3.6.1.4.1.3704.1.3.9";
inline constexpr const char* kOidHwid = "1.3.6.1.4.1.3704.1.4";

// The hwID extension value in either encoding (raw bytes, or a DER OCTET STRING around them),
// 64 bytes (Milan, Genoa) or 8 bytes (Turin). nullopt when it is neither.
std::optional<Bytes> DecodeHwid(ByteSpan extension_value);

}  // namespace cairn::attestation::internal
