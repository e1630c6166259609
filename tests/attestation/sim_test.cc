// The sim platform: key files, report format, verifier checks and the sim provider.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/attestation/attestation.h"
#include "common/core/file.h"
#include "tests/attestation/test_util.h"

namespace cairn::attestation {
namespace {

using testing::TempDir;

const Clock::WallTime kT0 = Clock::WallTime(std::chrono::seconds(1'767'225'600));  // 2026-01-01

Bytes Measurement(std::uint8_t fill = 0xAB) { return Bytes(kMeasurementBytes, fill); }
ReportData Nonce(std::uint8_t fill = 7) {
  ReportData d{};
  d.fill(fill);
  return d;
}

Policy SimPolicyFor(const SimPlatformKey& key, std::vector<Bytes> measurements = {Measurement()}) {
  Policy p;
  p.platforms = {Platform::kSim};
  p.sim.platform_key = key.public_key();
  p.sim.measurements = std::move(measurements);
  return p;
}

Verdict Verify(const Bytes& report, const Policy& policy, std::optional<ReportData> expected = Nonce(),
               Clock::WallTime at = kT0) {
  Evidence e;
  e.platform = Platform::kSim;
  e.report = report;
  VerifyOptions o;
  o.at = at;
  o.expected_report_data = expected;
  auto v = VerifyEvidence(e, policy, o);
  EXPECT_TRUE(v.has_value());
  return v.value_or(Verdict{});
}

const Check* FindCheck(const Verdict& v, std::string_view name) {
  for (const auto& c : v.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

TEST(SimPlatformTest, ValidReportIsAcceptedWithLoudWarning) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key) << key.error().ToString();
  auto report = key->MakeReport(Measurement(), Nonce(), kT0);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->size(), kSimReportBytes);
  Verdict v = Verify(*report, SimPolicyFor(*key));
  EXPECT_TRUE(v.accepted) << v.FirstFailure();
  EXPECT_EQ(v.FirstFailure(), "");
  EXPECT_EQ(v.platform, Platform::kSim);
  EXPECT_EQ(v.measurement, Measurement());
  EXPECT_EQ(v.report_data, Nonce());
  ASSERT_FALSE(v.warnings.empty());
  EXPECT_NE(v.warnings[0].find("sim is not confidential"), std::string::npos);
  for (const char* name : {"platform-allowed", "report-size", "report-version", "sim-platform-key",
                           "sim-signature", "measurement", "report-data", "evidence-age"}) {
    const Check* c = FindCheck(v, name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_TRUE(c->ok) << name << ": " << c->detail;
  }
}

TEST(SimPlatformTest, RejectedWhenPolicyDoesNotListSim) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  Policy p = SimPolicyFor(*key);
  p.platforms = {Platform::kSevSnp, Platform::kTdx};
  Verdict v = Verify(*key->MakeReport(Measurement(), Nonce(), kT0), p);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.checks.front().name, "platform-allowed");
  EXPECT_FALSE(v.checks.front().ok);
  EXPECT_NE(v.FirstFailure().find("sim"), std::string::npos);
}

TEST(SimPlatformTest, RejectsReportSignedByAnotherKey) {
  auto key = SimPlatformKey::Generate();
  auto other = SimPlatformKey::Generate();
  ASSERT_TRUE(key && other);
  Verdict v = Verify(*other->MakeReport(Measurement(), Nonce(), kT0), SimPolicyFor(*key));
  EXPECT_FALSE(v.accepted);
  EXPECT_FALSE(FindCheck(v, "sim-platform-key")->ok);
  // Signature is checked with the pinned key, so it fails too.
  EXPECT_FALSE(FindCheck(v, "sim-signature")->ok);
}

TEST(SimPlatformTest, EverySingleByteFlipOfTheSignedRegionFails) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  Bytes good = *key->MakeReport(Measurement(), Nonce(), kT0);
  Policy p = SimPolicyFor(*key);
  for (std::size_t i = 0; i < kSimReportBytes; ++i) {
    Bytes bad = good;
    bad[i] ^= 0x01;
    Verdict v = Verify(bad, p);
    EXPECT_FALSE(v.accepted) << "flip at offset " << i << " was accepted";
  }
}

TEST(SimPlatformTest, RejectsMeasurementNotAllowed) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  Verdict v = Verify(*key->MakeReport(Measurement(0x11), Nonce(), kT0), SimPolicyFor(*key));
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.FirstFailure().rfind("measurement:", 0), 0u) << v.FirstFailure();
}

TEST(SimPlatformTest, EmptyMeasurementListAcceptsWithWarning) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  Verdict v = Verify(*key->MakeReport(Measurement(0x11), Nonce(), kT0), SimPolicyFor(*key, {}));
  EXPECT_TRUE(v.accepted) << v.FirstFailure();
  bool warned = false;
  for (const auto& w : v.warnings) warned |= w.find("no measurement pinned") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(SimPlatformTest, RejectsReportDataMismatch) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  Verdict v = Verify(*key->MakeReport(Measurement(), Nonce(1), kT0), SimPolicyFor(*key), Nonce(2));
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.FirstFailure().rfind("report-data:", 0), 0u) << v.FirstFailure();
}

TEST(SimPlatformTest, NoExpectedReportDataWarnsAboutReplay) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  Verdict v = Verify(*key->MakeReport(Measurement(), Nonce(), kT0), SimPolicyFor(*key), std::nullopt);
  EXPECT_TRUE(v.accepted);
  bool warned = false;
  for (const auto& w : v.warnings) warned |= w.find("replay") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(SimPlatformTest, TruncatedOversizedAndUnknownVersionAreNamedRejections) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  Bytes good = *key->MakeReport(Measurement(), Nonce(), kT0);
  Policy p = SimPolicyFor(*key);

  Bytes truncated(good.begin(), good.end() - 1);
  Verdict v1 = Verify(truncated, p);
  EXPECT_FALSE(v1.accepted);
  EXPECT_NE(v1.FirstFailure().find("report-size"), std::string::npos);
  EXPECT_NE(v1.FirstFailure().find("truncated"), std::string::npos);

  Bytes oversized = good;
  oversized.push_back(0);
  Verdict v2 = Verify(oversized, p);
  EXPECT_NE(v2.FirstFailure().find("oversized"), std::string::npos);

  Bytes version = good;
  version[8] = 2;
  Verdict v3 = Verify(version, p);
  EXPECT_EQ(v3.FirstFailure().rfind("report-version:", 0), 0u) << v3.FirstFailure();

  Bytes garbage(kSimReportBytes, 0x5A);
  Verdict v4 = Verify(garbage, p);
  EXPECT_EQ(v4.FirstFailure().rfind("report-format:", 0), 0u) << v4.FirstFailure();
}

TEST(SimPlatformTest, EmptyReportIsAnError) {
  Policy p;
  p.platforms = {Platform::kSim};
  Evidence e;
  auto v = VerifyEvidence(e, p, VerifyOptions{});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), ErrorCode::kInvalidArgument);
}

TEST(SimPlatformTest, EvidenceAgeBound) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  Policy p = SimPolicyFor(*key);
  p.max_evidence_age = std::chrono::seconds(60);
  Bytes r = *key->MakeReport(Measurement(), Nonce(), kT0);
  EXPECT_TRUE(Verify(r, p, Nonce(), kT0 + std::chrono::seconds(60)).accepted);
  Verdict old = Verify(r, p, Nonce(), kT0 + std::chrono::seconds(61));
  EXPECT_FALSE(old.accepted);
  EXPECT_EQ(old.FirstFailure().rfind("evidence-age:", 0), 0u) << old.FirstFailure();
  // From the future (beyond the allowed skew), even without an age bound.
  p.max_evidence_age.reset();
  Verdict future = Verify(r, p, Nonce(), kT0 - std::chrono::seconds(301));
  EXPECT_FALSE(future.accepted);
  EXPECT_EQ(future.FirstFailure().rfind("evidence-age:", 0), 0u);
}

TEST(SimPlatformTest, KeyFileRoundTripModeAndNoOverwrite) {
  TempDir dir;
  auto path = dir / "platform.key";
  auto pub = GenerateSimPlatformKeyFile(path);
  ASSERT_TRUE(pub) << pub.error().ToString();
  EXPECT_EQ(pub->size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = SimPlatformKey::Load(path);
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_EQ(loaded->public_key_hex(), *pub);
  auto again = GenerateSimPlatformKeyFile(path);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  // A report from the loaded key verifies against the printed public key.
  Policy p;
  p.platforms = {Platform::kSim};
  auto pk = HexDecode(*pub);
  std::array<std::uint8_t, 32> k{};
  std::copy(pk->begin(), pk->end(), k.begin());
  p.sim.platform_key = k;
  EXPECT_TRUE(Verify(*loaded->MakeReport(Measurement(), Nonce(), kT0), p).accepted);
}

TEST(SimPlatformTest, LoadRejectsMalformedKeyFile) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "bad.key", std::string_view("hello\n"), 0600));
  auto k = SimPlatformKey::Load(dir / "bad.key");
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message().find("bad.key"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir / "short.key", std::string_view("cairn-sim-platform-key v1\nabcd\n"), 0600));
  EXPECT_FALSE(SimPlatformKey::Load(dir / "short.key"));
  EXPECT_FALSE(SimPlatformKey::Load(dir / "missing.key"));
}

TEST(SimPlatformTest, ProviderProducesVerifiableEvidence) {
  TempDir dir;
  auto pub = GenerateSimPlatformKeyFile(dir / "platform.key");
  ASSERT_TRUE(pub);
  FakeClock clock(kT0);
  ProviderOptions o;
  o.sim_platform_key = dir / "platform.key";
  o.sim_measurement = Measurement();
  o.clock = &clock;
  auto provider = MakeEvidenceProvider("sim", o);
  ASSERT_TRUE(provider) << provider.error().ToString();
  EXPECT_EQ((*provider)->platform(), Platform::kSim);
  EXPECT_NE((*provider)->description().find("NOT confidential"), std::string::npos);
  auto evidence = (*provider)->GetEvidence(Nonce(9));
  ASSERT_TRUE(evidence);
  auto parsed = ParseSimReport(evidence->report);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->timestamp_ms, UnixMillis(kT0));
  EXPECT_EQ(HexEncode(parsed->platform_key), *pub);

  auto policy = ParsePolicy("platforms = [\"sim\"]\n[sim]\nplatform_key = \"" + *pub +
                                "\"\nmeasurements = [\"" + HexEncode(Measurement()) + "\"]\n",
                            "inline.toml");
  ASSERT_TRUE(policy) << policy.error().ToString();
  VerifyOptions vo;
  vo.at = kT0;
  vo.expected_report_data = Nonce(9);
  auto v = VerifyEvidence(*evidence, *policy, vo);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->accepted) << v->FirstFailure();
}

TEST(SimPlatformTest, ProviderOptionErrors) {
  ProviderOptions o;
  EXPECT_FALSE(MakeEvidenceProvider("sim", o));  // no key file
  o.sim_platform_key = "/nonexistent/key";
  o.sim_measurement = Bytes(10);
  auto p = MakeEvidenceProvider("sim", o);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message().find("48 bytes"), std::string::npos);
  auto unknown = MakeEvidenceProvider("sgx", o);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::attestation

namespace cairn::attestation {
namespace {

// Regression: a timestamp far in the future overflowed the nanosecond clock (found by UBSan).
TEST(SimPlatformTest, OutOfRangeTimestampIsRejectedNotOverflowed) {
  auto key = SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  Bytes r = *key->MakeReport(Bytes(kMeasurementBytes, 1), ReportData{}, Clock::WallTime{});
  r[0x80 + 6] = 0x7F;  // timestamp ≈ 2^62 ms
  Policy p;
  p.platforms = {Platform::kSim};
  p.sim.platform_key = key->public_key();
  VerifyOptions o;
  o.at = *ParseRfc3339("2026-01-01");
  auto v = VerifyEvidence(Evidence{Platform::kSim, r, {}, {}}, p, o);
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->accepted);
  bool age_failed = false;
  for (const auto& c : v->checks) age_failed |= c.name == "evidence-age" && !c.ok;
  EXPECT_TRUE(age_failed);
}

}  // namespace
}  // namespace cairn::attestation
