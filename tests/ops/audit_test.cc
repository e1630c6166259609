// `cairn-participant audit`: a signed chain and sim evidence built in-process, then each kind of
// violation made on purpose and checked to be reported (and only by the checks that should).
#include "participant/audit/audit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/core/file.h"
#include "participant/attest_client.h"
#include "participant/audit/result_rules.h"
#include "protocol/analytics_message.h"
#include "protocol/codec.h"
#include "protocol/federation_config.h"
#include "protocol/round_result.h"
#include "protocol/sealing.h"

namespace cairn::participant::audit {
namespace {

constexpr std::int64_t kStartMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

std::string FederationToml(std::string_view id, double budget) {
  std::string t = "[federation]\nid = \"" + std::string(id) +
                  "\"\nrounds = 5\nmin_participants = 2\nstandardization = \"site\"\n"
                  "[model]\nkind = \"mlp\"\ninputs = 4\nhidden = [3]\nclasses = 2\n"
                  "[privacy]\nenabled = true\nnoise_multiplier = 1.0\nclip_norm = 1.0\nepsilon_budget = " +
                  std::to_string(budget) + "\ndelta = 1e-5\n";
  const char* ids[] = {"site-a", "site-b", "site-c"};
  for (int i = 0; i < 3; ++i) {
    t += "[[participants]]\nid = \"" + std::string(ids[i]) + "\"\ncurve_key = \"" + std::string(64, "abc"[i]) + "\"\n";
  }
  return t;
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    auto pk = attestation::SimPlatformKey::Generate();
    ASSERT_TRUE(pk);
    platform_ = std::make_unique<attestation::SimPlatformKey>(std::move(*pk));
    auto sk = crypto::Ed25519KeyPair::Generate();
    ASSERT_TRUE(sk);
    signing_ = std::make_unique<crypto::Ed25519KeyPair>(std::move(*sk));
    auto loaded = protocol::ParseFederationText(FederationToml("audit-fed", 4.0), "fed.toml", ".");
    ASSERT_TRUE(loaded) << loaded.error().message();
    config_ = loaded->canonical_text;
    config_hash_ = crypto::Sha256(AsBytes(config_));
    auto policy = attestation::ParsePolicy("platforms = [\"sim\"]\n[sim]\nplatform_key = \"" +
                                               platform_->public_key_hex() +
                                               "\"\n[federation]\nmin_cohort = 2\nmax_epsilon = 8\n",
                                           "policy.toml");
    ASSERT_TRUE(policy) << policy.error().message();
    policy_ = *policy;
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-audit-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EvidenceRecord MakeRecord(const crypto::Ed25519KeyPair& signing, const std::string& config,
                            std::int64_t at_ms = kStartMs) {
    EvidenceRecord rec;
    rec.received_at_ms = at_ms;
    rec.aggregator = "tcp://127.0.0.1:7700";
    crypto::RandomBytes(rec.nonce);
    rec.evidence.curve_key.fill(0x11);
    rec.evidence.hpke_key.fill(0x22);
    rec.evidence.signing_key = signing.public_key();
    rec.evidence.federation_config = config;
    rec.evidence.software_version = "cairn test";
    auto rd = protocol::ComputeReportData(rec.nonce, rec.evidence.curve_key, rec.evidence.hpke_key,
                                          rec.evidence.signing_key, crypto::Sha256(AsBytes(config)));
    Bytes measurement(48, 0x5a);
    auto report = platform_->MakeReport(measurement, rd, Clock::WallTime(std::chrono::milliseconds(at_ms)));
    EXPECT_TRUE(report);
    rec.evidence.bundle.platform = protocol::Platform::kSim;
    rec.evidence.bundle.report = *report;
    rec.source = "evidence.jsonl:1";
    return rec;
  }

  // A valid chain of `n` completed rounds; ε grows by 0.5 per round; the last one is final.
  std::vector<protocol::RoundResult> MakeChain(int n) {
    std::vector<protocol::RoundResult> chain;
    for (int i = 1; i <= n; ++i) {
      protocol::RoundResult r;
      r.federation_id = "audit-fed";
      r.round = static_cast<std::uint64_t>(i);
      r.contributors = {"site-a", "site-b"};
      r.num_examples = 100;
      r.model_version = static_cast<std::uint64_t>(i);
      r.model_hash.fill(static_cast<std::uint8_t>(i));
      r.num_params = 23;
      r.strategy = "fedavg";
      r.platform = "sim";
      r.config_hash = config_hash_;
      r.epsilon_spent = 0.5 * i;
      r.delta = 1e-5;
      r.noise_multiplier = 1.0;
      r.clip_norm = 1.0;
      r.unix_millis = kStartMs + i * 1000;
      r.final = i == n;
      chain.push_back(r);
    }
    Rechain(chain, 0);
    return chain;
  }

  // Re-signs results from `from` on and links each to its predecessor, so an edit stays valid
  // everywhere except where the test wants it to show.
  void Rechain(std::vector<protocol::RoundResult>& chain, std::size_t from,
               const crypto::Ed25519KeyPair* key = nullptr) {
    for (std::size_t i = from; i < chain.size(); ++i) {
      if (i == 0) {
        chain[i].prev_hash.clear();
      } else {
        auto h = protocol::ResultHash(chain[i - 1]);
        chain[i].prev_hash.assign(h.begin(), h.end());
      }
      protocol::SignResult(chain[i], key ? *key : *signing_);
    }
  }

  static std::string Text(const std::vector<protocol::RoundResult>& chain) {
    std::string s;
    for (const auto& r : chain) s += protocol::ResultToJson(r) + "\n";
    return s;
  }

  AuditReport Run(const std::vector<protocol::RoundResult>& chain, std::vector<EvidenceRecord> records) {
    AuditInput in;
    in.evidence = std::move(records);
    in.policy = policy_;
    in.results_text = Text(chain);
    return Audit(in);
  }
  AuditReport Run(const std::vector<protocol::RoundResult>& chain) {
    return Run(chain, {MakeRecord(*signing_, config_)});
  }

  static std::vector<std::string> Checks(const AuditReport& r) {
    std::vector<std::string> v;
    for (const auto& x : r.violations) v.push_back(x.check);
    return v;
  }
  static bool Has(const AuditReport& r, std::string_view check) {
    auto v = Checks(r);
    return std::find(v.begin(), v.end(), check) != v.end();
  }
  static std::string Dump(const AuditReport& r) {
    std::ostringstream s;
    PrintReport(r, false, s);
    return s.str();
  }

  std::unique_ptr<attestation::SimPlatformKey> platform_;
  std::unique_ptr<crypto::Ed25519KeyPair> signing_;
  std::string config_;
  crypto::Sha256Digest config_hash_{};
  attestation::Policy policy_;
  std::filesystem::path dir_;
};

TEST_F(AuditTest, ValidRunPassesAndSummarizes) {
  auto report = Run(MakeChain(5));
  EXPECT_TRUE(report.ok()) << Dump(report);
  EXPECT_EQ(report.results, 5u);
  EXPECT_EQ(report.signatures_verified, 5u);
  EXPECT_EQ(report.completed, 5u);
  EXPECT_EQ(report.first_round, 1u);
  EXPECT_EQ(report.last_round, 5u);
  EXPECT_TRUE(report.final_seen);
  EXPECT_DOUBLE_EQ(report.final_epsilon, 2.5);
  ASSERT_EQ(report.contributors.size(), 1u);
  EXPECT_EQ(report.contributors[0].first_round, 1u);
  EXPECT_EQ(report.contributors[0].last_round, 5u);
  EXPECT_EQ(report.last_model_hash_hex, HexEncode(Bytes(32, 5)));
  std::string text = Dump(report);
  EXPECT_NE(text.find("VERDICT: PASS"), std::string::npos) << text;
  EXPECT_NE(text.find("audit-fed"), std::string::npos);
  EXPECT_NE(text.find(HexEncode(Bytes(48, 0x5a))), std::string::npos) << "measurement shown";
  EXPECT_NE(text.find("rounds 1-5: site-a, site-b"), std::string::npos) << text;
  EXPECT_NE(text.find("NOT confidential"), std::string::npos) << "sim is flagged";
}

TEST_F(AuditTest, ContributorRangesFollowChanges) {
  auto chain = MakeChain(5);
  chain[2].contributors = {"site-a", "site-b", "site-c"};
  chain[3].contributors = {"site-c", "site-a", "site-b"};
  Rechain(chain, 2);
  auto report = Run(chain);
  EXPECT_TRUE(report.ok()) << Dump(report);
  ASSERT_EQ(report.contributors.size(), 3u);
  EXPECT_EQ(report.contributors[1].first_round, 3u);
  EXPECT_EQ(report.contributors[1].last_round, 4u);
  EXPECT_EQ(report.contributors[1].contributors, (std::vector<std::string>{"site-a", "site-b", "site-c"}));
}

TEST_F(AuditTest, BadSignatureIsDetected) {
  auto chain = MakeChain(5);
  chain[2].signature[7] ^= 1;
  Rechain(chain, 3);  // later results link to the tampered one, so only its signature is wrong
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"signature"}) << Dump(report);
  EXPECT_NE(report.violations[0].where.find("round 3"), std::string::npos);
  EXPECT_EQ(report.signatures_verified, 4u);
}

TEST_F(AuditTest, EditedSignedFieldIsDetected) {
  auto chain = MakeChain(5);
  chain[1].contributors.push_back("site-c");  // edited after signing
  auto report = Run(chain);
  EXPECT_TRUE(Has(report, "signature")) << Dump(report);
}

TEST_F(AuditTest, SignatureByAnUnattestedKeyIsDetected) {
  auto other = crypto::Ed25519KeyPair::Generate();
  ASSERT_TRUE(other);
  auto chain = MakeChain(5);
  Rechain(chain, 4, &*other);
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"signature"}) << Dump(report);
}

TEST_F(AuditTest, GapIsDetected) {
  auto chain = MakeChain(5);
  chain.erase(chain.begin() + 2);  // round 3 missing; round 4 still links to round 3
  auto report = Run(chain);
  EXPECT_TRUE(Has(report, "gap")) << Dump(report);
  EXPECT_TRUE(Has(report, "hash-chain"));
  // A gap hidden by re-linking (a forger without round 3) is still a gap.
  Rechain(chain, 2);
  report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"gap"}) << Dump(report);
}

TEST_F(AuditTest, RollbackIsDetected) {
  auto chain = MakeChain(5);
  chain[4].final = false;
  Rechain(chain, 4);
  // The host restarted the enclave from round 2's checkpoint: round 3 again, linked properly.
  auto again = chain[2];
  again.epsilon_spent = chain[4].epsilon_spent;
  chain.push_back(again);
  Rechain(chain, 5);
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"rollback"}) << Dump(report);
  // A line replayed verbatim: rollback, and the chain breaks.
  chain = MakeChain(5);
  chain.insert(chain.begin() + 3, chain[2]);
  report = Run(chain);
  EXPECT_TRUE(Has(report, "rollback")) << Dump(report);
  EXPECT_TRUE(Has(report, "hash-chain"));
}

TEST_F(AuditTest, BrokenHashChainIsDetected) {
  auto chain = MakeChain(5);
  chain[3].prev_hash[0] ^= 1;
  protocol::SignResult(chain[3], *signing_);
  Rechain(chain, 4);
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"hash-chain"}) << Dump(report);
}

TEST_F(AuditTest, MissingStartIsDetected) {
  auto chain = MakeChain(5);
  chain.erase(chain.begin());
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"chain-start"}) << Dump(report);
}

TEST_F(AuditTest, WrongFederationIsDetected) {
  auto chain = MakeChain(5);
  chain[1].federation_id = "another-fed";
  Rechain(chain, 1);
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"federation-id"}) << Dump(report);

  chain = MakeChain(5);
  chain[2].config_hash[0] ^= 1;
  Rechain(chain, 2);
  report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"config-hash"}) << Dump(report);
}

TEST_F(AuditTest, DecreasingEpsilonIsDetected) {
  auto chain = MakeChain(5);
  chain[3].epsilon_spent = 1.0;  // after 1.5
  Rechain(chain, 3);
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"epsilon-decreasing"}) << Dump(report);
}

TEST_F(AuditTest, EpsilonAboveTheAttestedBudgetIsDetected) {
  auto chain = MakeChain(5);
  chain[4].epsilon_spent = 4.01;  // budget 4
  Rechain(chain, 4);
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"epsilon-budget"}) << Dump(report);
  // Exactly the budget is allowed.
  chain[4].epsilon_spent = 4.0;
  Rechain(chain, 4);
  EXPECT_TRUE(Run(chain).ok());
}

TEST_F(AuditTest, WrongDeltaAndStrangersAndQuorumAreDetected) {
  auto chain = MakeChain(5);
  chain[0].delta = 1e-3;
  chain[1].contributors = {"site-a", "mallory"};
  chain[2].contributors = {"site-a"};
  Rechain(chain, 0);
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), (std::vector<std::string>{"delta", "contributors", "quorum"})) << Dump(report);
}

TEST_F(AuditTest, ResultAfterTheFinalOneIsDetected) {
  auto chain = MakeChain(5);
  auto extra = chain[4];
  extra.round = 6;
  extra.final = false;
  chain.push_back(extra);
  Rechain(chain, 5);
  auto report = Run(chain);
  EXPECT_EQ(Checks(report), std::vector<std::string>{"after-final"}) << Dump(report);
}

TEST_F(AuditTest, MalformedLineIsAViolation) {
  auto text = Text(MakeChain(3));
  text.insert(text.find('\n') + 1, "{\"round\": \"not a result\"}\n");
  AuditInput in;
  in.evidence = {MakeRecord(*signing_, config_)};
  in.policy = policy_;
  in.results_text = text;
  auto report = Audit(in);
  EXPECT_TRUE(Has(report, "result-format")) << Dump(report);
  EXPECT_NE(report.violations[0].where.find("results.jsonl:2"), std::string::npos);
}

TEST_F(AuditTest, TamperedEvidenceIsDetected) {
  auto chain = MakeChain(3);
  // A byte of the report's measurement: the platform signature breaks.
  auto rec = MakeRecord(*signing_, config_);
  rec.evidence.bundle.report[0x10] ^= 1;
  auto report = Run(chain, {rec});
  EXPECT_FALSE(report.ok());
  EXPECT_TRUE(Has(report, "evidence:sim-signature")) << Dump(report);
  EXPECT_EQ(report.signatures_verified, 0u);
  // Another signing key swapped in: REPORT_DATA no longer matches.
  rec = MakeRecord(*signing_, config_);
  rec.evidence.signing_key[0] ^= 1;
  report = Run(chain, {rec});
  EXPECT_TRUE(Has(report, "evidence:report-data")) << Dump(report);
  // The federation config edited (a bigger budget): REPORT_DATA no longer matches.
  rec = MakeRecord(*signing_, config_);
  auto pos = rec.evidence.federation_config.find("epsilon_budget = 4");
  ASSERT_NE(pos, std::string::npos) << rec.evidence.federation_config;
  rec.evidence.federation_config.replace(pos, 18, "epsilon_budget = 9");
  report = Run(chain, {rec});
  EXPECT_TRUE(Has(report, "evidence:report-data")) << Dump(report);
  // Another nonce than the one the evidence answered.
  rec = MakeRecord(*signing_, config_);
  rec.nonce[3] ^= 1;
  report = Run(chain, {rec});
  EXPECT_TRUE(Has(report, "evidence:report-data")) << Dump(report);
}

TEST_F(AuditTest, PolicyRulesApplyToTheAttestedConfig) {
  policy_.federation.max_epsilon = 2.0;  // the attested budget is 4
  auto report = Run(MakeChain(3));
  EXPECT_TRUE(Has(report, "federation-max-epsilon")) << Dump(report);
  EXPECT_FALSE(Has(report, "federation-hidden-cohort")) << Dump(report);
  policy_.federation.require_hidden_cohort = true;  // the attested config samples openly
  report = Run(MakeChain(3));
  EXPECT_TRUE(Has(report, "federation-hidden-cohort")) << Dump(report);
}

TEST(FederationRules, RequireHiddenCohort) {
  attestation::FederationRules rules;
  rules.require_hidden_cohort = true;
  protocol::FederationConfig f;
  auto verdict = [&] {
    for (const auto& c : CheckFederationRules(f, rules)) {
      if (c.name == "federation-hidden-cohort") return std::make_pair(c.ok, c.detail);
    }
    return std::make_pair(false, std::string("no check"));
  };
  EXPECT_FALSE(verdict().first);
  EXPECT_NE(verdict().second.find("differential privacy is off"), std::string::npos) << verdict().second;
  f.privacy.enabled = true;
  EXPECT_FALSE(verdict().first);
  EXPECT_NE(verdict().second.find("privacy.hide_cohort is off"), std::string::npos) << verdict().second;
  f.privacy.hide_cohort = true;
  EXPECT_TRUE(verdict().first) << verdict().second;
  rules.require_hidden_cohort = false;  // false or unset: no check
  EXPECT_TRUE(CheckFederationRules(f, rules).empty());
}

TEST_F(AuditTest, RestartWithNewKeysVerifiesAcrossSessions) {
  auto second = crypto::Ed25519KeyPair::Generate();
  ASSERT_TRUE(second);
  auto chain = MakeChain(5);
  Rechain(chain, 2, &*second);  // rounds 3-5 signed after a restart
  auto r1 = MakeRecord(*signing_, config_);
  auto r2 = MakeRecord(*second, config_, kStartMs + 3000);
  r2.source = "evidence.jsonl:2";
  auto report = Run(chain, {r1, r2});
  EXPECT_TRUE(report.ok()) << Dump(report);
  EXPECT_EQ(report.signatures_verified, 5u);
  // Without the second session's evidence, rounds 3-5 are not attested.
  report = Run(chain, {r1});
  EXPECT_EQ(Checks(report), (std::vector<std::string>{"signature", "signature", "signature"})) << Dump(report);
}

TEST_F(AuditTest, RecordsOfDifferentConfigsAreDetected) {
  auto other = protocol::ParseFederationText(FederationToml("audit-fed", 3.0), "fed2.toml", ".");
  ASSERT_TRUE(other);
  auto report = Run(MakeChain(2), {MakeRecord(*signing_, config_), MakeRecord(*signing_, other->canonical_text)});
  EXPECT_TRUE(Has(report, "evidence-config")) << Dump(report);
}

TEST_F(AuditTest, EvidenceRecordRoundTripsAndIsStrict) {
  auto rec = MakeRecord(*signing_, config_);
  auto line = EvidenceRecordToJson(rec);
  auto back = EvidenceRecordFromJson(line, "x:1");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->nonce, rec.nonce);
  EXPECT_EQ(back->received_at_ms, rec.received_at_ms);
  EXPECT_EQ(protocol::Encode(back->evidence), protocol::Encode(rec.evidence));
  auto j = nlohmann::json::parse(line);
  j["extra"] = 1;
  EXPECT_FALSE(EvidenceRecordFromJson(j.dump(), "x:1"));
  j = nlohmann::json::parse(line);
  j["format"] = "cairn-evidence-record/v2";
  EXPECT_FALSE(EvidenceRecordFromJson(j.dump(), "x:1"));
  j = nlohmann::json::parse(line);
  j["nonce"] = "abcd";
  EXPECT_FALSE(EvidenceRecordFromJson(j.dump(), "x:1"));
  j = nlohmann::json::parse(line);
  j["evidence"] = HexEncode(protocol::Encode(protocol::Ping{}));
  auto not_evidence = EvidenceRecordFromJson(j.dump(), "x:1");
  ASSERT_FALSE(not_evidence);
  EXPECT_NE(not_evidence.error().message().find("not Evidence"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// RunAudit: files, exit codes, JSON.

TEST_F(AuditTest, RunAuditExitCodesAndJson) {
  auto chain = MakeChain(4);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "results.jsonl", Text(chain)));
  ASSERT_TRUE(AppendEvidenceRecord(dir_ / "evidence.jsonl", MakeRecord(*signing_, config_)));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "policy.toml", "platforms = [\"sim\"]\n[sim]\nplatform_key = \"" +
                                                        platform_->public_key_hex() + "\"\n"));
  AuditArgs args;
  args.results = dir_ / "results.jsonl";
  args.evidence = {dir_ / "evidence.jsonl"};
  args.policy = dir_ / "policy.toml";
  std::ostringstream out, err;
  EXPECT_EQ(RunAudit(args, out, err), 0) << out.str() << err.str();
  EXPECT_NE(out.str().find("VERDICT: PASS"), std::string::npos);
  EXPECT_NE(out.str().find("federation finished"), std::string::npos) << out.str();

  args.json = true;
  out.str("");
  EXPECT_EQ(RunAudit(args, out, err), 0);
  auto j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["verdict"], "pass");
  EXPECT_EQ(j["rounds"]["completed"], 4);
  EXPECT_EQ(j["federation"]["id"], "audit-fed");
  EXPECT_EQ(j["rounds"]["contributors"][0]["participants"], (nlohmann::json{"site-a", "site-b"}));

  // A violation: exit 1, listed.
  chain[2].epsilon_spent = 0.1;
  Rechain(chain, 2);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "results.jsonl", Text(chain)));
  out.str("");
  EXPECT_EQ(RunAudit(args, out, err), 1);
  j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["verdict"], "fail");
  EXPECT_EQ(j["violations"][0]["check"], "epsilon-decreasing");

  // Unreadable inputs: exit 2 with a message naming the file.
  AuditArgs missing = args;
  missing.results = dir_ / "nope.jsonl";
  err.str("");
  EXPECT_EQ(RunAudit(missing, out, err), 2);
  EXPECT_NE(err.str().find("nope.jsonl"), std::string::npos) << err.str();
  ASSERT_TRUE(WriteFileAtomic(dir_ / "garbage.jsonl", "{\"format\": 1}\n"));
  AuditArgs garbage = args;
  garbage.evidence = {dir_ / "garbage.jsonl"};
  EXPECT_EQ(RunAudit(garbage, out, err), 2);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "bad-policy.toml", "platforms = [\"sim\"]\nunknown_key = 1\n"));
  AuditArgs bad_policy = args;
  bad_policy.policy = dir_ / "bad-policy.toml";
  EXPECT_EQ(RunAudit(bad_policy, out, err), 2);
  AuditArgs bad_at = args;
  bad_at.at = "yesterday";
  EXPECT_EQ(RunAudit(bad_at, out, err), 2);
}

TEST_F(AuditTest, RawEvidenceWithSidecarNonce) {
  auto rec = MakeRecord(*signing_, config_);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "results.jsonl", Text(MakeChain(2))));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "evidence.bin", protocol::Encode(rec.evidence)));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "policy.toml", "platforms = [\"sim\"]\n[sim]\nplatform_key = \"" +
                                                        platform_->public_key_hex() + "\"\n"));
  AuditArgs args;
  args.results = dir_ / "results.jsonl";
  args.evidence = {dir_ / "evidence.bin"};
  args.policy = dir_ / "policy.toml";
  args.at = "2026-01-01T00:00:10Z";
  std::ostringstream out, err;
  // No nonce anywhere: unreadable.
  EXPECT_EQ(RunAudit(args, out, err), 2);
  EXPECT_NE(err.str().find("nonce"), std::string::npos) << err.str();
  // DIR/nonce as hex.
  ASSERT_TRUE(WriteFileAtomic(dir_ / "nonce", HexEncode(rec.nonce) + "\n"));
  EXPECT_EQ(RunAudit(args, out, err), 0) << out.str() << err.str();
  // --nonce wins; a wrong one breaks the binding.
  Bytes wrong(32, 7);
  args.nonce_hex = HexEncode(wrong);
  out.str("");
  EXPECT_EQ(RunAudit(args, out, err), 1);
  EXPECT_NE(out.str().find("report-data"), std::string::npos) << out.str();
  // Raw without --at: the record has no time.
  args.nonce_hex.clear();
  args.at.clear();
  out.str("");
  EXPECT_EQ(RunAudit(args, out, err), 1);
  EXPECT_NE(out.str().find("evidence-time"), std::string::npos) << out.str();
}

// The rules the participant applies live (participant/client.cc) and the audit afterwards.
protocol::FederationConfig RulesFederation() {
  protocol::FederationConfig fed;
  fed.min_participants = 3;
  fed.roster = {{"a", {}}, {"b", {}}, {"c", {}}};
  fed.privacy.enabled = false;
  return fed;
}

protocol::RoundResult RulesResult(std::vector<std::string> contributors, double epsilon) {
  protocol::RoundResult r;
  r.round = 4;
  r.status = protocol::RoundStatus::kCompleted;
  r.contributors = std::move(contributors);
  r.epsilon_spent = epsilon;
  return r;
}

std::vector<std::string> Checks(const std::vector<ResultRuleViolation>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.check);
  return out;
}

TEST(ResultRules, TrainingRoundsNeedTheQuorumAndRosterAndSpendNoEpsilonWithoutALedger) {
  auto fed = RulesFederation();
  EXPECT_TRUE(CheckResultAgainstConfig(RulesResult({"a", "b", "c"}, 0), fed).empty());
  EXPECT_EQ(Checks(CheckResultAgainstConfig(RulesResult({"a", "b"}, 0), fed)), std::vector<std::string>{"quorum"});
  EXPECT_EQ(Checks(CheckResultAgainstConfig(RulesResult({"a", "b", "mallory"}, 0), fed)),
            std::vector<std::string>{"contributors"});
  auto eps = CheckResultAgainstConfig(RulesResult({"a", "b", "c"}, 1.0), fed);
  ASSERT_EQ(Checks(eps), std::vector<std::string>{"epsilon-budget"});
  EXPECT_NE(eps[0].detail.find("neither differential privacy nor clean-room queries"), std::string::npos);
  // A failed-quorum round is allowed fewer contributors: it releases nothing.
  auto failed = RulesResult({"a"}, 0);
  failed.status = protocol::RoundStatus::kFailedQuorum;
  EXPECT_TRUE(CheckResultAgainstConfig(failed, fed).empty());
}

TEST(ResultRules, AReleaseIsHeldToTheBudgetNotToTheTrainingQuorum) {
  auto fed = RulesFederation();
  fed.mode = "analytics";
  fed.queries.resize(1);
  fed.privacy.epsilon_budget = 2.0;
  fed.privacy.delta = 1e-6;
  auto release = RulesResult({"a", "b"}, 1.5);  // one party declined; its queries' minimums decided
  release.detail = protocol::AnalyticsDigestDetail("{}");
  release.delta = 1e-6;
  EXPECT_TRUE(CheckResultAgainstConfig(release, fed).empty());
  release.epsilon_spent = 2.5;
  EXPECT_EQ(Checks(CheckResultAgainstConfig(release, fed)), std::vector<std::string>{"epsilon-budget"});
  release.epsilon_spent = 1.5;
  release.delta = 1e-5;
  EXPECT_EQ(Checks(CheckResultAgainstConfig(release, fed)), std::vector<std::string>{"delta"});
}

TEST(ResultRules, NothingFollowsAFinalResultAndEpsilonNeverFalls) {
  auto r = RulesResult({"a", "b", "c"}, 1.0);
  EXPECT_TRUE(CheckResultSuccession(r, {3, 1.0, false}).empty());
  EXPECT_EQ(Checks(CheckResultSuccession(r, {3, 1.0, true})), std::vector<std::string>{"after-final"});
  auto falling = CheckResultSuccession(r, {3, 1.2, false});
  EXPECT_EQ(Checks(falling), std::vector<std::string>{"epsilon-decreasing"});
  EXPECT_EQ(JoinViolations(falling), "epsilon-decreasing: ε = 1 after 1.2 in round 3");
}

}  // namespace
}  // namespace cairn::participant::audit
