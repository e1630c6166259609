// A strategy's name and effective parameters are in every signed round result: an in-process
// federation (real aggregator and clients on loopback, synthetic workloads) runs with a
// configured strategy; each results.jsonl line must name it with the configured values, and its
// signature must verify under the signing key the aggregator's evidence attests.
#include <gtest/gtest.h>
#include <zmq.hpp>

#include <map>
#include <sstream>

#include "participant/attest_client.h"
#include "participant/keys.h"
#include "participant/synthetic_workload.h"
#include "protocol/round_result.h"
#include "tests/integration/harness.h"

namespace cairn {
namespace {

using testing::FederationSpec;
using testing::TestFederation;

constexpr std::size_t kLogregParams = 4 * 2 + 2;  // logreg, 4 inputs, 2 classes
constexpr int kRounds = 2;

struct Outcome {
  crypto::Ed25519PublicKey attested_key{};
  std::vector<protocol::RoundResult> results;
};

// Runs a 3-participant federation with `strategy_toml` ("[strategy]\n..."), fetching and
// verifying the aggregator's evidence on the way, and returns the attested signing key and the
// stored results.
std::optional<Outcome> RunFederation(const std::string& name, const std::string& strategy_toml) {
  FederationSpec spec;
  spec.body = "[federation]\nrounds = " + std::to_string(kRounds) +
              "\nmin_participants = 3\nround_timeout_s = 30\ncohort_wait_s = 0\n"
              "[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n" + strategy_toml;
  auto fed = TestFederation::Create(name, spec);
  EXPECT_TRUE(fed);
  if (!fed) return std::nullopt;
  auto started = fed->StartAggregator();
  EXPECT_TRUE(started) << started.error().ToString();
  if (!started) return std::nullopt;

  // The key a participant would trust: from evidence that passes its policy for a fresh nonce.
  Outcome out;
  {
    zmq::context_t ctx(1);
    participant::Nonce nonce;
    crypto::RandomBytes(nonce);
    auto evidence = participant::FetchEvidence(ctx, fed->attestation_endpoint(), nonce, "p0",
                                               participant::ConnectOptions{});
    EXPECT_TRUE(evidence) << evidence.error().ToString();
    auto key = participant::LoadKeyFile(fed->key_file(0));
    EXPECT_TRUE(key) << key.error().ToString();
    if (!evidence || !key) {
      fed->StopAggregator();
      (void)fed->JoinAggregator();
      return std::nullopt;
    }
    auto v = participant::VerifyAggregator(*evidence, nonce, fed->ClientOptions(0).policy, "p0",
                                           key->public_key, fed->clock.WallNow());
    EXPECT_TRUE(v) << v.error().ToString();
    EXPECT_TRUE(v && v->accepted) << (v ? v->FirstFailure() : "");
    if (!v || !v->accepted) {
      fed->StopAggregator();
      (void)fed->JoinAggregator();
      return std::nullopt;
    }
    out.attested_key = evidence->signing_key;
  }

  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < 3; ++i) {
    participant::SyntheticOptions o;
    o.num_params = kLogregParams;
    o.seed = static_cast<std::uint64_t>(i + 1);
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(o));
    runs.push_back(fed->RunParticipant(i, *workloads.back()));
  }
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().ToString();
  }
  auto joined = fed->JoinAggregator();
  EXPECT_TRUE(joined) << joined.error().ToString();

  std::istringstream in(testing::ReadFile(fed->state_dir() / "results.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    auto r = protocol::ResultFromJson(line);
    EXPECT_TRUE(r) << r.error().ToString();
    if (r) out.results.push_back(*r);
  }
  return out;
}

std::map<std::string, double> ParamsOf(const protocol::RoundResult& r) {
  std::map<std::string, double> m;
  for (const auto& p : r.strategy_params) {
    EXPECT_TRUE(m.emplace(p.name, p.value).second) << "parameter " << p.name << " recorded twice";
  }
  return m;
}

// Every result names `strategy` with exactly `expected` as parameters and verifies under the
// attested key.
void ExpectSignedStrategy(const Outcome& out, const std::string& strategy,
                          const std::map<std::string, double>& expected) {
  ASSERT_EQ(out.results.size(), static_cast<std::size_t>(kRounds));
  for (const auto& r : out.results) {
    SCOPED_TRACE("round " + std::to_string(r.round));
    EXPECT_EQ(r.status, protocol::RoundStatus::kCompleted);
    EXPECT_EQ(r.strategy, strategy);
    EXPECT_EQ(ParamsOf(r), expected);
    auto s = protocol::VerifyResultSignature(r, out.attested_key);
    EXPECT_TRUE(s) << s.error().ToString();
  }
}

TEST(StrategyInSignedResult, FedAdamNameAndConfiguredParameters) {
  // Values away from the defaults (eta 0.1, beta1 0.9, beta2 0.99, tau 1e-9), so a result that
  // recorded defaults instead of the configuration fails.
  auto out = RunFederation("fedadam-params",
                           "[strategy]\nname = \"fedadam\"\n"
                           "[strategy.params]\neta = 0.03\nbeta1 = 0.8\nbeta2 = 0.95\ntau = 0.002\n");
  ASSERT_TRUE(out);
  ExpectSignedStrategy(*out, "fedadam", {{"eta", 0.03}, {"beta1", 0.8}, {"beta2", 0.95}, {"tau", 0.002}});

  // The name and parameters are covered by the signature: changing any of them breaks it.
  ASSERT_FALSE(out->results.empty());
  auto renamed = out->results[0];
  renamed.strategy = "fedyogi";
  EXPECT_FALSE(protocol::VerifyResultSignature(renamed, out->attested_key));
  for (std::size_t i = 0; i < out->results[0].strategy_params.size(); ++i) {
    auto changed = out->results[0];
    changed.strategy_params[i].value *= 1.5;
    EXPECT_FALSE(protocol::VerifyResultSignature(changed, out->attested_key))
        << changed.strategy_params[i].name;
  }
  auto dropped = out->results[0];
  dropped.strategy_params.pop_back();
  EXPECT_FALSE(protocol::VerifyResultSignature(dropped, out->attested_key));
}

TEST(StrategyInSignedResult, UnsetParametersAreRecordedWithTheirEffectiveDefaults) {
  // Only eta given: beta1, beta2 and tau appear with the defaults docs/strategies.md states.
  auto out = RunFederation("fedadam-defaults", "[strategy]\nname = \"fedadam\"\n[strategy.params]\neta = 0.01\n");
  ASSERT_TRUE(out);
  ExpectSignedStrategy(*out, "fedadam", {{"eta", 0.01}, {"beta1", 0.9}, {"beta2", 0.99}, {"tau", 1e-9}});
}

TEST(StrategyInSignedResult, RobustRulesAndFedProx) {
  auto trimmed = RunFederation("trimmed-params",
                               "[strategy]\nname = \"trimmed-mean\"\n[strategy.params]\nbeta = 0.2\n");
  ASSERT_TRUE(trimmed);
  ExpectSignedStrategy(*trimmed, "trimmed-mean", {{"beta", 0.2}, {"eta", 1}});

  auto krum = RunFederation("krum-params",
                            "[strategy]\nname = \"krum\"\n[strategy.params]\nf = 1\nnorm_bound = 5\n");
  ASSERT_TRUE(krum);
  ExpectSignedStrategy(*krum, "krum", {{"f", 1}, {"eta", 1}, {"norm_bound", 5}});

  auto prox = RunFederation("fedprox-params", "[strategy]\nname = \"fedprox\"\n[strategy.params]\nmu = 0.1\n");
  ASSERT_TRUE(prox);
  ExpectSignedStrategy(*prox, "fedprox", {{"mu", 0.1}, {"eta", 1}});
}

}  // namespace
}  // namespace cairn
