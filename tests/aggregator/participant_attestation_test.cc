// Mutual attestation on the aggregator side: fresh single-use challenges, evidence bound to the
// participant's Curve key and the config, verified against the [participant_attestation] policy.
#include <gtest/gtest.h>

#include <filesystem>

#include "aggregator/participant_attestation.h"
#include "common/crypto/crypto.h"
#include "protocol/sealing.h"

namespace cairn::aggregator {
namespace {

class ParticipantAttestationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-mutual-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    auto pub = attestation::GenerateSimPlatformKeyFile(dir_ / "tee.key");
    ASSERT_TRUE(pub) << pub.error().ToString();
    auto other = attestation::GenerateSimPlatformKeyFile(dir_ / "other.key");
    ASSERT_TRUE(other) << other.error().ToString();
    policy_text_ = "platforms = [\"sim\"]\n[sim]\nplatform_key = \"" + *pub + "\"\n";
    auto checker = ParticipantAttestation::Create(policy_text_, "federation.toml [participant_attestation]");
    ASSERT_TRUE(checker) << checker.error().ToString();
    checker_ = std::move(*checker);
    crypto::RandomBytes(curve_key_);
    crypto::RandomBytes(config_hash_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A Hello carrying sim evidence from `key_file` that binds `challenge`, `curve_key`, `config`.
  protocol::Hello HelloWith(const Bytes& challenge, const protocol::Key32& curve_key,
                            const crypto::Sha256Digest& config, const std::string& key_file = "tee.key") {
    attestation::ProviderOptions po;
    po.sim_platform_key = dir_ / key_file;
    po.sim_measurement = Bytes(48, 0x42);
    po.clock = &clock_;
    auto provider = attestation::MakeEvidenceProvider("sim", po);
    EXPECT_TRUE(provider) << provider.error().ToString();
    std::array<std::uint8_t, 32> c{};
    std::copy(challenge.begin(), challenge.end(), c.begin());
    auto evidence = (*provider)->GetEvidence(protocol::ComputeParticipantReportData(c, curve_key, config));
    EXPECT_TRUE(evidence) << evidence.error().ToString();
    protocol::EvidenceBundle b;
    b.platform = protocol::Platform::kSim;
    b.report = evidence->report;
    b.certificates = evidence->certificates;
    protocol::Hello h;
    h.mutual_evidence = b;
    h.challenge = challenge;
    return h;
  }

  Status Check(const protocol::Hello& h) {
    return checker_->Check(h, curve_key_, config_hash_, clock_.Now(), clock_.WallNow());
  }

  static inline int counter_ = 0;
  SystemClock clock_;
  std::filesystem::path dir_;
  std::string policy_text_;
  std::unique_ptr<ParticipantAttestation> checker_;
  protocol::Key32 curve_key_{};
  crypto::Sha256Digest config_hash_{};
};

TEST_F(ParticipantAttestationTest, FreshEvidenceBindingChallengeKeyAndConfigIsAccepted) {
  Bytes challenge = checker_->IssueChallenge(clock_.Now());
  ASSERT_EQ(challenge.size(), 32u);
  auto s = Check(HelloWith(challenge, curve_key_, config_hash_));
  EXPECT_TRUE(s) << s.error().ToString();
}

TEST_F(ParticipantAttestationTest, AChallengeIsSingleUseSoEvidenceCannotBeReplayed) {
  Bytes challenge = checker_->IssueChallenge(clock_.Now());
  auto hello = HelloWith(challenge, curve_key_, config_hash_);
  ASSERT_TRUE(Check(hello));
  auto again = Check(hello);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("already used"), std::string::npos) << again.error().message();
}

TEST_F(ParticipantAttestationTest, NoEvidenceOrNoChallengeOrAnUnknownChallengeIsRefused) {
  protocol::Hello bare;
  auto s1 = Check(bare);
  ASSERT_FALSE(s1);
  EXPECT_NE(s1.error().message().find("presented no evidence"), std::string::npos) << s1.error().message();

  Bytes challenge = checker_->IssueChallenge(clock_.Now());
  auto hello = HelloWith(challenge, curve_key_, config_hash_);
  hello.challenge.clear();
  auto s2 = Check(hello);
  ASSERT_FALSE(s2);
  EXPECT_NE(s2.error().message().find("challenge"), std::string::npos);

  Bytes made_up = crypto::RandomBytes(32);  // never issued by this aggregator
  auto s3 = Check(HelloWith(made_up, curve_key_, config_hash_));
  ASSERT_FALSE(s3);
  EXPECT_NE(s3.error().message().find("unknown"), std::string::npos) << s3.error().message();
}

TEST_F(ParticipantAttestationTest, AnExpiredChallengeIsRefused) {
  Bytes challenge = checker_->IssueChallenge(clock_.Now());
  auto hello = HelloWith(challenge, curve_key_, config_hash_);
  auto later = clock_.Now() + ParticipantAttestation::kChallengeLifetime + std::chrono::seconds(1);
  auto s = checker_->Check(hello, curve_key_, config_hash_, later, clock_.WallNow());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("expired"), std::string::npos) << s.error().message();
}

TEST_F(ParticipantAttestationTest, EvidenceBoundToAnotherKeyOrConfigIsRefused) {
  protocol::Key32 other_key = curve_key_;
  other_key[0] ^= 1;
  auto s1 = Check(HelloWith(checker_->IssueChallenge(clock_.Now()), other_key, config_hash_));
  ASSERT_FALSE(s1);
  EXPECT_NE(s1.error().message().find("refused"), std::string::npos) << s1.error().message();

  crypto::Sha256Digest other_config = config_hash_;
  other_config[31] ^= 1;
  auto s2 = Check(HelloWith(checker_->IssueChallenge(clock_.Now()), curve_key_, other_config));
  ASSERT_FALSE(s2);
}

TEST_F(ParticipantAttestationTest, EvidenceFromAPlatformKeyThePolicyDoesNotPinIsRefused) {
  auto s = Check(HelloWith(checker_->IssueChallenge(clock_.Now()), curve_key_, config_hash_, "other.key"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("evidence was refused"), std::string::npos) << s.error().message();
}

TEST_F(ParticipantAttestationTest, APolicyThatIsMalformedOrNamesNoPlatformIsRefusedAtLoad) {
  auto bad = ParticipantAttestation::Create("platforms = [\"sim\"]\nbogus = 1\n", "fed.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("bogus"), std::string::npos) << bad.error().message();
  EXPECT_NE(bad.error().message().find("participant_attestation"), std::string::npos);
  auto empty = ParticipantAttestation::Create("platforms = []\n", "fed.toml");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("'platforms' is empty"), std::string::npos) << empty.error().message();
}

TEST_F(ParticipantAttestationTest, OutstandingChallengesAreBounded) {
  Bytes first = checker_->IssueChallenge(clock_.Now());
  auto hello = HelloWith(first, curve_key_, config_hash_);
  for (std::size_t i = 0; i < ParticipantAttestation::kMaxOutstanding; ++i) (void)checker_->IssueChallenge(clock_.Now());
  // The oldest was dropped to keep the bound: a flood of requests costs memory only up to it.
  auto s = Check(hello);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("unknown"), std::string::npos);
}

}  // namespace
}  // namespace cairn::aggregator
