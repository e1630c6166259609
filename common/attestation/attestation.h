// Remote attestation for Cairn: verifying AMD SEV-SNP reports, Intel TDX quotes and the software
// "sim" stand-in against a participant's pinned policy, and producing evidence inside the
// aggregator's confidential VM.
//
// Contracts, for every function here:
// - Untrusted input (reports, quotes, certificates, collateral) is bounded (kMaxReportBytes, …)
//   and never makes a function throw or read out of bounds; a malformed report is a *rejection*
//   with a named check, not an Error (see VerifyEvidence).
// - Time comes from the caller (VerifyOptions::at, ProviderOptions::clock): nothing here reads
//   the wall clock by itself, so tests verify old vectors at the instant they were valid.
// - Free functions are thread-safe; providers are not (use one per thread, or lock).
// docs/attestation.md says what is checked and why, and documents every policy key.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/bytes.h"
#include "common/core/clock.h"
#include "common/core/error.h"
#include "common/crypto/crypto.h"

namespace cairn::attestation {

// Bounds on untrusted evidence (what they protect: memory and parsing time of a verifier that
// reads evidence from an unauthenticated peer). Larger inputs are rejected, not truncated.
constexpr std::size_t kMaxReportBytes = 64 * 1024;           // an SNP report is 1184 B, a TDX quote ~5 KiB
constexpr std::size_t kMaxCertificates = 8;                  // per Evidence
constexpr std::size_t kMaxCertificateBytes = 16 * 1024;      // one DER certificate
constexpr std::size_t kMaxCollateralBytes = 1024 * 1024;     // TDX collateral JSON bundle

using ReportData = std::array<std::uint8_t, 64>;
using Sha256Fingerprint = std::array<std::uint8_t, 32>;

// ---------------------------------------------------------------------------------------------
// Platforms and evidence

enum class Platform { kSim, kSevSnp, kTdx };
std::string_view PlatformName(Platform platform);  // "sim", "sev-snp", "tdx"
Result<Platform> ParsePlatform(std::string_view name);

// What travels in the protocol's Evidence message. A value type.
struct Evidence {
  Platform platform = Platform::kSim;
  Bytes report;                     // SNP report (1184 B), TDX quote, or sim report
  std::vector<Bytes> certificates;  // DER certificates (SNP: VCEK/VLEK, ASK/ASVK, ARK, any order;
                                    // may be empty for TDX, whose quote embeds the PCK chain)
  Bytes collateral;                 // optional: TDX collateral JSON bundle (see docs)
};

// One verification step: `name` is stable (tests and scripts match on it), `detail` says what
// was compared with what.
struct Check {
  std::string name;
  bool ok = false;
  std::string detail;
};

struct Verdict {
  bool accepted = false;
  Platform platform = Platform::kSim;
  Bytes measurement;        // SNP MEASUREMENT (48 B), TDX MRTD (48 B), sim measurement (48 B)
  ReportData report_data{};
  std::string tcb;          // human-readable TCB summary
  std::string tcb_status;   // TDX: UpToDate/OutOfDate/…/Unknown; SNP and sim: ""
  std::vector<std::string> advisory_ids;  // TDX with collateral: Intel advisories of the TCB level
  std::vector<Check> checks;              // every check, in order, with detail
  std::vector<std::string> warnings;      // e.g. "no measurement pinned", "sim is not confidential"

  // "name: detail" of the first failed check; "" when every check passed.
  std::string FirstFailure() const;
};

// ---------------------------------------------------------------------------------------------
// Policy

// Rules a participant applies to the attested federation configuration (checked by the
// participant's client against the config whose hash is bound into REPORT_DATA; this module
// only parses them). Unset = no rule.
struct FederationRules {
  std::optional<std::int64_t> min_cohort;        // minimum participants per round
  std::optional<double> max_epsilon;             // maximum total DP ε of the federation
  std::optional<double> max_delta;               // maximum DP δ
  std::vector<std::string> allowed_strategies;   // empty = any strategy
  std::optional<bool> require_secure_aggregation;  // when true, pairwise masking must be on
  std::optional<bool> require_hidden_cohort;  // when true, DP with privacy.hide_cohort must be on
};

// A TCB version as SNP reports it (SPL = security patch level per component).
struct SnpTcb {
  std::uint8_t bootloader = 0;
  std::uint8_t tee = 0;
  std::uint8_t snp = 0;
  std::uint8_t microcode = 0;
  std::uint8_t fmc = 0;  // Turin only (FMC SPL); 0 on Milan and Genoa
};

struct SevSnpPolicy {
  std::vector<Bytes> measurements;       // allowed MEASUREMENT values (48 B); empty = any (warning)
  bool allow_debug = false;              // guest policy DEBUG bit
  bool allow_migration_agent = false;    // guest policy MIGRATE_MA bit
  bool allow_smt = true;                 // guest policy SMT bit (SMT allowed on the host)
  std::uint32_t max_vmpl = 0;            // highest VMPL the report may come from
  SnpTcb min_tcb;                        // minimum REPORTED_TCB, component by component
  std::uint32_t min_guest_svn = 0;       // minimum GUEST_SVN (from the ID block)
  bool allow_vlek = true;                // accept VLEK-signed reports (cloud-provider key)
  std::vector<Bytes> host_data;          // allowed HOST_DATA values (32 B); empty = any
  std::vector<Bytes> id_key_digests;     // allowed ID_KEY_DIGEST values (48 B); empty = any
  bool require_single_socket = false;    // guest policy SINGLE_SOCKET bit must be set
};

struct TdxPolicy {
  std::vector<Bytes> mrtd;               // allowed MRTD values (48 B); empty = any (warning)
  std::array<std::vector<Bytes>, 4> rtmr;  // allowed RTMR0..3 values; empty = any
  std::vector<Bytes> mr_config_id;       // allowed MRCONFIGID values (48 B); empty = any
  std::vector<Bytes> mr_owner;           // allowed MROWNER values (48 B); empty = any
  std::vector<Bytes> mr_owner_config;    // allowed MROWNERCONFIG values (48 B); empty = any
  bool allow_debug = false;              // TD_ATTRIBUTES DEBUG bit
  // TCB statuses accepted. "Unknown" is what a quote verified without collateral gets.
  std::vector<std::string> accepted_tcb_status = {"UpToDate"};
  std::vector<std::string> forbidden_advisory_ids;  // reject when the TCB level lists one of these
  std::uint32_t min_pce_svn = 0;         // minimum PCESVN of the platform (from the PCK cert)
  // TD_ATTRIBUTES MIGRATABLE (bit 29): a migratable TD's keys and memory can be moved to another
  // platform by a migration TD this verifier does not see. Forbidden unless set.
  bool allow_migration = false;
  // Collateral that computes a TCB status must carry the root CA and PCK CRLs (revocation of the
  // PCK chain and of the collateral signer); set to accept collateral without them.
  bool allow_missing_crls = false;
  // Minimum tcbEvaluationDataNumber of the TCB info and QE identity (Intel raises it at each TCB
  // recovery): refuses collateral older than that recovery. 0 = no minimum.
  std::uint32_t min_tcb_evaluation_data_number = 0;
  // Collateral the participant pins (files named by `collateral`, read when the policy is
  // loaded, merged as ReadCollateralFiles does): when set, it is used instead of the collateral
  // the evidence carries, so the host cannot choose which TCB info, QE identity or CRLs apply.
  std::vector<std::string> collateral_files;
  Bytes pinned_collateral;
};

struct SimPolicy {
  std::optional<std::array<std::uint8_t, 32>> platform_key;  // pinned Ed25519 public key
  std::vector<Bytes> measurements;       // allowed measurements (48 B); empty = any (warning)
};

struct Policy {
  std::vector<Platform> platforms;       // accepted platforms; "sim" only when listed
  // Roots: the built-in list (AMD Milan/Genoa/Turin ARKs, Intel SGX Root CA) unless
  // use_builtin_roots is false, plus these SHA-256 fingerprints of DER root certificates.
  bool use_builtin_roots = true;
  std::vector<Sha256Fingerprint> extra_roots;
  // Maximum age of evidence that carries a time (sim reports; TDX collateral issue date). Unset =
  // no bound. Hardware reports carry no time: their freshness comes from the nonce in REPORT_DATA.
  std::optional<std::chrono::seconds> max_evidence_age;
  SevSnpPolicy sev_snp;
  TdxPolicy tdx;
  SimPolicy sim;
  FederationRules federation;
  std::string source;                    // file name it was read from, for messages
};

// TOML, strict: unknown keys, wrong types and malformed hex are errors naming the key and file.
Result<Policy> LoadPolicy(const std::filesystem::path& path);
// `base_dir`: where relative file names in the policy ([tdx] collateral) are looked up; LoadPolicy
// passes the policy file's folder, the default is the working directory.
Result<Policy> ParsePolicy(std::string_view toml_text, std::string source_name,
                           const std::filesystem::path& base_dir = {});

// ---------------------------------------------------------------------------------------------
// Verification

struct VerifyOptions {
  // The verification instant: certificates and collateral must be valid at it, evidence age is
  // measured to it. Default: the Unix epoch, which no certificate accepts — always set it.
  Clock::WallTime at{};
  // When set, the report's REPORT_DATA must equal it (the protocol binds the nonce and keys).
  std::optional<ReportData> expected_report_data;
};

// Verifies evidence against a policy. Returns an Error only when there is nothing to verify (an
// empty report) — a report that is garbage, truncated, oversized or of an unknown version is a
// Verdict with accepted = false and a failed check that names the reason ("report-size",
// "report-version", …). Every step is recorded in Verdict::checks, in order; verification goes on
// after a failed check whenever the later checks can still be computed, so a user sees every
// problem at once. Never throws. Thread-safe.
Result<Verdict> VerifyEvidence(const Evidence& evidence, const Policy& policy,
                               const VerifyOptions& options);

// The built-in pinned roots (SHA-256 of the DER certificate), with a name each.
// Each anchors one platform only: an AMD ARK never anchors a TDX chain or Intel's collateral, and
// the Intel root never anchors an SEV-SNP chain (roots from extra_roots anchor either).
struct PinnedRoot {
  std::string_view name;
  Platform platform;
  Sha256Fingerprint fingerprint;
};
const std::vector<PinnedRoot>& BuiltinRoots();

// RFC 3339 ("2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00", fractional seconds allowed) or a
// bare date ("2024-01-01", midnight UTC).
Result<Clock::WallTime> ParseRfc3339(std::string_view text);
std::string FormatRfc3339(Clock::WallTime t);

// ---------------------------------------------------------------------------------------------
// The sim platform (development and tests only: NOT confidential)
//
// A software report signed by a local Ed25519 "platform key". Binary format (docs/attestation.md):
//   0x00  8  magic "CAIRNSIM"
//   0x08  4  version (u32 LE) = 1
//   0x0C  4  reserved, zero
//   0x10 48  measurement
//   0x40 64  report_data
//   0x80  8  timestamp (i64 LE, Unix milliseconds)
//   0x88 32  platform public key (Ed25519)
//   0xA8 64  signature (Ed25519 over bytes 0x00..0xA7)
//   total 0xE8 = 232 bytes.
constexpr std::size_t kSimReportBytes = 232;
constexpr std::size_t kSimSignedBytes = 168;
constexpr std::size_t kMeasurementBytes = 48;

struct SimReport {
  std::uint32_t version = 1;
  std::array<std::uint8_t, kMeasurementBytes> measurement{};
  ReportData report_data{};
  std::int64_t timestamp_ms = 0;
  std::array<std::uint8_t, 32> platform_key{};
  std::array<std::uint8_t, 64> signature{};
};
// Parses the layout only (no signature check). Names the offending field on error.
Result<SimReport> ParseSimReport(ByteSpan report);

// The sim platform's signing key. Move-only; the seed lives in libsodium guarded memory.
class SimPlatformKey {
 public:
  static Result<SimPlatformKey> Generate();
  // The key file: text "cairn-sim-platform-key v1\n<64 hex digits of the Ed25519 seed>\n".
  static Result<SimPlatformKey> Load(const std::filesystem::path& path);
  // Writes the key file atomically with mode 0600; refuses to overwrite an existing file.
  Status Save(const std::filesystem::path& path) const;

  SimPlatformKey(SimPlatformKey&&) noexcept;
  SimPlatformKey& operator=(SimPlatformKey&&) noexcept;
  ~SimPlatformKey();

  const std::array<std::uint8_t, 32>& public_key() const { return public_key_; }
  std::string public_key_hex() const { return HexEncode(public_key_); }

  // A signed sim report (232 bytes).
  Result<Bytes> MakeReport(ByteSpan measurement, const ReportData& report_data,
                           Clock::WallTime at) const;

  // A 32-byte key derived from the platform key and `label` (HKDF-SHA256): the sim sealing key.
  Result<crypto::SecretBytes> DeriveKey(std::string_view label) const;

 private:
  SimPlatformKey() = default;
  struct Secret;
  std::unique_ptr<Secret> secret_;  // Ed25519 secret key (seed ‖ public key)
  std::array<std::uint8_t, 32> public_key_{};
};

// Generates a key file (mode 0600) and returns its public key in hex, for `[sim] platform_key`.
Result<std::string> GenerateSimPlatformKeyFile(const std::filesystem::path& path);

// ---------------------------------------------------------------------------------------------
// Evidence providers (inside the aggregator)

class EvidenceProvider {
 public:
  virtual ~EvidenceProvider() = default;
  virtual Platform platform() const = 0;
  // Which mechanism is in use ("configfs-tsm (/sys/kernel/config/tsm/report), sev-snp"), for logs
  // and the signed round result.
  virtual std::string description() const = 0;
  // Evidence whose REPORT_DATA is `report_data`.
  virtual Result<Evidence> GetEvidence(const ReportData& report_data) = 0;
};

struct ProviderOptions {
  // configfs-tsm report folder (Linux ≥ 6.7); tests point it at a fake tree.
  std::filesystem::path configfs_tsm_root = "/sys/kernel/config/tsm/report";
  // SEV-SNP guest device, used when configfs-tsm is absent.
  std::filesystem::path sev_guest_device = "/dev/sev-guest";
  // sim: the platform key file (made by GenerateSimPlatformKeyFile).
  std::filesystem::path sim_platform_key;
  // sim: 48 bytes; the aggregator passes SHA-384 of its own executable.
  Bytes sim_measurement;
  // Certificates (PEM or DER, several per file) the operator gives, appended to the evidence:
  // e.g. a VCEK fetched from AMD KDS and the ASK/ARK chain when the host provides no auxblob.
  std::vector<std::filesystem::path> certificate_files;
  // TDX: a collateral JSON bundle to attach to every quote (optional).
  std::filesystem::path tdx_collateral_file;
  // SNP: VMPL to request the report at (0..3).
  std::uint32_t vmpl = 0;
  // Time source for sim report timestamps; nullptr = the system clock. Not owned; must outlive
  // the provider.
  const Clock* clock = nullptr;
};

// kind: "sim", "sev-snp", "tdx", or "auto" (configfs-tsm with whichever provider the kernel
// reports, else /dev/sev-guest, else an error — auto never falls back to sim silently; pass
// "sim" for that). description() says which was picked.
Result<std::unique_ptr<EvidenceProvider>> MakeEvidenceProvider(std::string_view kind,
                                                               const ProviderOptions& options);

// Stored reports come as raw binary or as hex text: when the whole input (ignoring whitespace and
// an optional "0x") is an even number of hex digits it is decoded, otherwise returned as is.
Bytes DecodeBinaryOrHex(ByteSpan data);

// Reads PEM (one or several certificates) or DER (one) and returns DER certificates.
Result<std::vector<Bytes>> ReadCertificateFile(const std::filesystem::path& path);
Result<std::vector<Bytes>> ParseCertificates(ByteSpan data, std::string_view source_name);

// Reads TDX collateral: one dcap-qvl style bundle, or Intel PCS responses (tcbInfo.json,
// enclaveIdentity.json), one or several files, merged into the bundle Evidence::collateral holds.
Result<Bytes> ReadCollateralFiles(const std::vector<std::filesystem::path>& paths);

// ---------------------------------------------------------------------------------------------
// Sealing keys (checkpoints at rest)

class SealingKeyProvider {
 public:
  virtual ~SealingKeyProvider() = default;
  // A 32-byte key, the same every time for the same platform and measured image.
  virtual Result<crypto::SecretBytes> GetKey() = 0;
  virtual std::string description() const = 0;
};

struct SealingKeyOptions {
  // "sim" (derived from the sim platform key: tests only), "key-file" (a 32-byte key delivered by
  // a key broker, raw or hex), "sev-snp" (MSG_KEY_REQ derived key bound to the measurement), or
  // "auto" (sev-snp when /dev/sev-guest exists, else key-file when key_file is set, else error).
  std::string kind = "auto";
  std::filesystem::path key_file;
  std::filesystem::path sim_platform_key;
  std::filesystem::path sev_guest_device = "/dev/sev-guest";
  // Context mixed into the derived key, so two uses of the same platform get different keys.
  std::string label = "cairn/sealing/v1";
};
Result<std::unique_ptr<SealingKeyProvider>> MakeSealingKeyProvider(const SealingKeyOptions& options);

}  // namespace cairn::attestation
