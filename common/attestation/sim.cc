// The sim platform: software reports signed by a local Ed25519 platform key. Development and
// tests only — a sim report proves nothing about confidentiality (anyone with the key file can
// sign any measurement), and every verdict says so.
#include <cstring>
#include <sodium.h>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"
#include "common/attestation/providers_internal.h"
#include "common/core/file.h"

namespace cairn::attestation {

namespace {
constexpr char kMagic[8] = {'C', 'A', 'I', 'R', 'N', 'S', 'I', 'M'};
constexpr std::string_view kKeyFileHeader = "cairn-sim-platform-key v1";
// Future timestamps within this skew are accepted (the aggregator's and participant's clocks differ).
constexpr std::chrono::seconds kMaxClockSkew{300};
}  // namespace

struct SimPlatformKey::Secret {
  unsigned char* sk = nullptr;  // crypto_sign_SECRETKEYBYTES in guarded memory
  Secret() { sk = static_cast<unsigned char*>(sodium_malloc(crypto_sign_SECRETKEYBYTES)); }
  ~Secret() {
    if (sk) sodium_free(sk);  // sodium_free wipes before freeing
  }
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
};

SimPlatformKey::SimPlatformKey(SimPlatformKey&&) noexcept = default;
SimPlatformKey& SimPlatformKey::operator=(SimPlatformKey&&) noexcept = default;
SimPlatformKey::~SimPlatformKey() = default;

Result<SimPlatformKey> SimPlatformKey::Generate() {
  CAIRN_RETURN_IF_ERROR(internal::EnsureSodium());
  SimPlatformKey key;
  key.secret_ = std::make_unique<Secret>();
  if (key.secret_->sk == nullptr) return Fail(ErrorCode::kResourceExhausted, "sodium_malloc failed");
  if (crypto_sign_keypair(key.public_key_.data(), key.secret_->sk) != 0) {
    return Fail(ErrorCode::kInternal, "crypto_sign_keypair failed");
  }
  return key;
}

Result<SimPlatformKey> SimPlatformKey::Load(const std::filesystem::path& path) {
  CAIRN_RETURN_IF_ERROR(internal::EnsureSodium());
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, 4096));
  auto bad = [&](std::string why) {
    return Fail(ErrorCode::kInvalidArgument, path.string() + ": not a sim platform key file (" +
                                                 why + "); make one with the sim key generator");
  };
  std::size_t nl = text.find('\n');
  if (nl == std::string::npos || text.substr(0, nl) != kKeyFileHeader) {
    return bad("first line must be \"" + std::string(kKeyFileHeader) + "\"");
  }
  std::string hex = text.substr(nl + 1);
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) hex.pop_back();
  if (hex.size() != 2 * crypto_sign_SEEDBYTES) {
    return bad("second line must be " + std::to_string(2 * crypto_sign_SEEDBYTES) + " hex digits");
  }
  SimPlatformKey key;
  key.secret_ = std::make_unique<Secret>();
  if (key.secret_->sk == nullptr) return Fail(ErrorCode::kResourceExhausted, "sodium_malloc failed");
  // Decode straight into guarded memory (the seed is the first half of libsodium's secret key).
  unsigned char* seed = static_cast<unsigned char*>(sodium_malloc(crypto_sign_SEEDBYTES));
  if (seed == nullptr) return Fail(ErrorCode::kResourceExhausted, "sodium_malloc failed");
  std::size_t bin_len = 0;
  int rc = sodium_hex2bin(seed, crypto_sign_SEEDBYTES, hex.data(), hex.size(), nullptr, &bin_len, nullptr);
  sodium_memzero(hex.data(), hex.size());
  sodium_memzero(text.data(), text.size());
  if (rc != 0 || bin_len != crypto_sign_SEEDBYTES) {
    sodium_free(seed);
    return bad("second line is not hex");
  }
  rc = crypto_sign_seed_keypair(key.public_key_.data(), key.secret_->sk, seed);
  sodium_free(seed);
  if (rc != 0) return Fail(ErrorCode::kInternal, "crypto_sign_seed_keypair failed");
  return key;
}

Status SimPlatformKey::Save(const std::filesystem::path& path) const {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return Fail(ErrorCode::kAlreadyExists,
                path.string() + " exists: refusing to overwrite a sim platform key (delete it first)");
  }
  std::string text(kKeyFileHeader);
  text += '\n';
  std::string hex(2 * crypto_sign_SEEDBYTES + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), secret_->sk, crypto_sign_SEEDBYTES);
  hex.pop_back();
  text += hex;
  text += '\n';
  Status st = WriteFileAtomic(path, std::string_view(text), 0600);
  sodium_memzero(hex.data(), hex.size());
  sodium_memzero(text.data(), text.size());
  return st;
}

Result<Bytes> SimPlatformKey::MakeReport(ByteSpan measurement, const ReportData& report_data,
                                         Clock::WallTime at) const {
  if (measurement.size() != kMeasurementBytes) {
    return Fail(ErrorCode::kInvalidArgument, "sim measurement must be 48 bytes, got " +
                                                 std::to_string(measurement.size()));
  }
  Bytes r(kSimReportBytes, 0);
  std::memcpy(r.data(), kMagic, 8);
  internal::StoreLe32(r.data() + 0x08, 1);
  std::memcpy(r.data() + 0x10, measurement.data(), kMeasurementBytes);
  std::memcpy(r.data() + 0x40, report_data.data(), report_data.size());
  internal::StoreLe64(r.data() + 0x80, static_cast<std::uint64_t>(UnixMillis(at)));
  std::memcpy(r.data() + 0x88, public_key_.data(), 32);
  if (crypto_sign_detached(r.data() + kSimSignedBytes, nullptr, r.data(), kSimSignedBytes,
                           secret_->sk) != 0) {
    return Fail(ErrorCode::kInternal, "crypto_sign_detached failed");
  }
  return r;
}

Result<crypto::SecretBytes> SimPlatformKey::DeriveKey(std::string_view label) const {
  // libsodium's secret key starts with the 32-byte seed.
  crypto::Sha256Digest prk = crypto::HkdfSha256Extract(AsBytes("cairn/sim-platform-key/v1"),
                                                      ByteSpan(secret_->sk, crypto_sign_SEEDBYTES));
  auto key = crypto::HkdfSha256Expand(prk, AsBytes(label), 32);
  crypto::Wipe(prk);
  return key;
}

Result<std::string> GenerateSimPlatformKeyFile(const std::filesystem::path& path) {
  CAIRN_ASSIGN_OR_RETURN(SimPlatformKey key, SimPlatformKey::Generate());
  CAIRN_RETURN_IF_ERROR(key.Save(path));
  return key.public_key_hex();
}

Result<SimReport> ParseSimReport(ByteSpan report) {
  if (report.size() != kSimReportBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "sim report is " + std::to_string(report.size()) + " bytes, expected " +
                    std::to_string(kSimReportBytes) +
                    (report.size() < kSimReportBytes ? " (truncated)" : " (oversized)"));
  }
  if (std::memcmp(report.data(), kMagic, 8) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "sim report magic at offset 0 is not \"CAIRNSIM\"");
  }
  SimReport r;
  r.version = internal::LoadLe32(report.data() + 0x08);
  if (r.version != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "sim report version " + std::to_string(r.version) + " at offset 8 is unknown (expected 1)");
  }
  if (internal::LoadLe32(report.data() + 0x0C) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "sim report reserved field at offset 12 is not zero");
  }
  std::memcpy(r.measurement.data(), report.data() + 0x10, kMeasurementBytes);
  std::memcpy(r.report_data.data(), report.data() + 0x40, 64);
  r.timestamp_ms = static_cast<std::int64_t>(internal::LoadLe64(report.data() + 0x80));
  std::memcpy(r.platform_key.data(), report.data() + 0x88, 32);
  std::memcpy(r.signature.data(), report.data() + kSimSignedBytes, 64);
  return r;
}

namespace internal {

Verdict VerifySim(const Evidence& evidence, const Policy& policy, const VerifyOptions& options) {
  Verdict v;
  Checks checks(v);
  checks.Warn("sim is not confidential: the evidence is signed by a software key, not by TEE "
              "hardware; anyone holding the key file can forge it. Never use sim with real data.");
  CheckPlatformAllowed(Platform::kSim, policy, checks);

  // Name the first structural problem precisely.
  const ByteSpan report = evidence.report;
  if (report.size() != kSimReportBytes) {
    checks.Add("report-size", false,
               std::to_string(report.size()) + " bytes, expected " + std::to_string(kSimReportBytes) +
                   (report.size() < kSimReportBytes ? " (truncated)" : " (oversized)"));
    return v;
  }
  checks.Add("report-size", true, std::to_string(report.size()) + " bytes");
  if (std::memcmp(report.data(), kMagic, 8) != 0) {
    checks.Add("report-format", false, "magic at offset 0 is not \"CAIRNSIM\": not a sim report");
    return v;
  }
  auto parsed = ParseSimReport(report);
  if (!parsed) {
    std::string name = parsed.error().message().find("version") != std::string::npos
                           ? "report-version" : "report-format";
    checks.Add(name, false, parsed.error().message());
    return v;
  }
  checks.Add("report-version", true, "sim report version 1");
  const SimReport& r = *parsed;
  v.measurement.assign(r.measurement.begin(), r.measurement.end());
  v.report_data = r.report_data;
  v.tcb = "sim (no TCB)";

  if (!policy.sim.platform_key) {
    checks.Add("sim-platform-key", false, "the policy pins no sim platform key ([sim] platform_key)");
  } else {
    bool ok = *policy.sim.platform_key == r.platform_key;
    checks.Add("sim-platform-key", ok,
               "report key " + HexEncode(r.platform_key) +
                   (ok ? " equals the pinned key" : " differs from the pinned " +
                                                        HexEncode(*policy.sim.platform_key)));
  }
  // Verify with the pinned key when there is one, so a report signed by another key never passes.
  const auto& key = policy.sim.platform_key ? *policy.sim.platform_key : r.platform_key;
  Status sodium = EnsureSodium();
  bool sig_ok = sodium && crypto_sign_verify_detached(r.signature.data(), report.data(),
                                                      kSimSignedBytes, key.data()) == 0;
  checks.Add("sim-signature", sig_ok,
             sig_ok ? "Ed25519 signature over bytes 0x00..0xA7 is valid"
                    : "Ed25519 signature over bytes 0x00..0xA7 does not verify");

  CheckMeasurement("measurement", "[sim] measurements", r.measurement, policy.sim.measurements, checks);
  CheckReportData(r.report_data, options, checks);

  // WallTime counts nanoseconds in an int64: timestamps past 2200 would overflow it.
  constexpr std::int64_t kMaxTimestampMs = 7'258'118'400'000;  // 2200-01-01
  if (r.timestamp_ms < 0 || r.timestamp_ms > kMaxTimestampMs) {
    checks.Add("evidence-age", false, "report timestamp " + std::to_string(r.timestamp_ms) +
                                          " ms is outside 1970..2200");
    return v;
  }
  const Clock::WallTime ts{std::chrono::milliseconds(r.timestamp_ms)};
  const std::string ts_text = FormatRfc3339(ts);
  if (ts > options.at + kMaxClockSkew) {
    checks.Add("evidence-age", false,
               "report time " + ts_text + " is after the verification time " +
                   FormatRfc3339(options.at) + " (more than 300 s of clock skew)");
  } else if (policy.max_evidence_age) {
    auto age = std::chrono::duration_cast<std::chrono::seconds>(options.at - ts);
    bool ok = age <= *policy.max_evidence_age;
    checks.Add("evidence-age", ok,
               "report time " + ts_text + " is " + std::to_string(age.count()) + " s old (limit " +
                   std::to_string(policy.max_evidence_age->count()) + " s, max_evidence_age_seconds)");
  } else {
    checks.Add("evidence-age", true, "report time " + ts_text + " (no max_evidence_age_seconds)");
  }
  return v;
}

// ---------------------------------------------------------------------------------------------

namespace {

class SimEvidenceProvider final : public EvidenceProvider {
 public:
  SimEvidenceProvider(SimPlatformKey key, Bytes measurement, const Clock* clock, std::string key_path)
      : key_(std::move(key)), measurement_(std::move(measurement)), clock_(clock),
        key_path_(std::move(key_path)) {}
  Platform platform() const override { return Platform::kSim; }
  std::string description() const override {
    return "sim (software platform key " + key_path_ + ", public key " + key_.public_key_hex() +
           "; NOT confidential)";
  }
  Result<Evidence> GetEvidence(const ReportData& report_data) override {
    Clock::WallTime now = clock_ ? clock_->WallNow() : SystemClock().WallNow();
    CAIRN_ASSIGN_OR_RETURN(Bytes report, key_.MakeReport(measurement_, report_data, now));
    Evidence e;
    e.platform = Platform::kSim;
    e.report = std::move(report);
    return e;
  }

 private:
  SimPlatformKey key_;
  Bytes measurement_;
  const Clock* clock_;
  std::string key_path_;
};

}  // namespace

Result<std::unique_ptr<EvidenceProvider>> MakeSimProvider(const ProviderOptions& options) {
  if (options.sim_platform_key.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "sim attestation needs a platform key file (ProviderOptions::sim_platform_key)");
  }
  if (options.sim_measurement.size() != kMeasurementBytes) {
    return Fail(ErrorCode::kInvalidArgument, "sim measurement must be 48 bytes (SHA-384), got " +
                                                 std::to_string(options.sim_measurement.size()));
  }
  CAIRN_ASSIGN_OR_RETURN(SimPlatformKey key, SimPlatformKey::Load(options.sim_platform_key));
  return std::unique_ptr<EvidenceProvider>(std::make_unique<SimEvidenceProvider>(
      std::move(key), options.sim_measurement, options.clock, options.sim_platform_key.string()));
}

}  // namespace internal
}  // namespace cairn::attestation
