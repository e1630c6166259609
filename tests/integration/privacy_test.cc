// Central DP in the enclave, end to end (issue 4): every signed result carries the ledger's ε,
// which never decreases and equals the accountant's value; a round that would overspend the
// attested budget is refused with a signed result that says so; updates are clipped whatever
// the participant sent.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "common/dp/rdp_accountant.h"
#include "common/model/model_files.h"
#include "participant/synthetic_workload.h"
#include "protocol/federation_config.h"
#include "protocol/round_result.h"
#include "tests/integration/harness.h"

namespace cairn {
namespace {

constexpr double kZ = 1.2;
constexpr double kDelta = 1e-5;

double AccountantEpsilon(std::uint64_t rounds) {
  auto e = dp::PoissonSampledGaussianEpsilon(1.0, kZ, rounds, kDelta, dp::OpacusOrders());
  EXPECT_TRUE(e);
  return e ? e->epsilon : -1;
}

TEST(Privacy, LedgerEpsilonInEveryResultAndOverspendingRoundRefused) {
  // A budget that pays for exactly three rounds at (q = 1, z = 1.2, δ = 1e-5).
  double budget = (AccountantEpsilon(3) + AccountantEpsilon(4)) / 2;
  testing::FederationSpec spec;
  spec.body = "[federation]\nrounds = 5\nmin_participants = 3\nround_timeout_s = 30\ncohort_wait_s = 30\n"
              "eval_timeout_s = 0\n[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n"
              "[privacy]\nenabled = true\nnoise_multiplier = " + std::to_string(kZ) +
              "\nclip_norm = 0.5\nepsilon_budget = " + std::to_string(budget) + "\ndelta = 1e-5\n"
              "sampling = \"poisson\"\nsampling_rate = 1.0\n";
  auto fed = testing::TestFederation::Create("dp", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < 3; ++i) {
    participant::SyntheticOptions o;
    o.num_params = 10;
    o.constant = 5.0f;  // norm ≈ 15.8, far above C = 0.5: the enclave must clip it
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(o));
    runs.push_back(fed->RunParticipant(i, *workloads.back()));
  }
  for (auto& r : runs) {
    // The federation ends early because the budget is spent: a normal, signed end.
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().ToString();
  }
  auto outcome = fed->JoinAggregator();
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code(), ErrorCode::kResourceExhausted);

  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 4u);
  double previous = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(results[i].status, protocol::RoundStatus::kCompleted);
    EXPECT_NEAR(results[i].epsilon_spent, AccountantEpsilon(i + 1), 1e-9) << "round " << results[i].round;
    EXPECT_GE(results[i].epsilon_spent, previous);
    previous = results[i].epsilon_spent;
    EXPECT_DOUBLE_EQ(results[i].delta, kDelta);
    EXPECT_DOUBLE_EQ(results[i].noise_multiplier, kZ);
    EXPECT_DOUBLE_EQ(results[i].clip_norm, 0.5);
    // Under DP nothing unnoised about the data is released: no example total, no training loss.
    EXPECT_EQ(results[i].num_examples, 0u);
    for (const auto& m : results[i].metrics) EXPECT_NE(m.name, "train_loss") << "round " << results[i].round;
    EXPECT_EQ(results[i].contributors.size(), 3u);
  }
  EXPECT_EQ(results[3].status, protocol::RoundStatus::kAborted);
  EXPECT_NE(results[3].detail.find("privacy budget"), std::string::npos) << results[3].detail;
  EXPECT_DOUBLE_EQ(results[3].epsilon_spent, results[2].epsilon_spent);
  EXPECT_LE(results[2].epsilon_spent, budget);
  EXPECT_TRUE(results[3].final);
}

TEST(Privacy, ClippingAndNoiseAreAppliedInTheEnclave) {
  testing::FederationSpec spec;
  spec.body = "[federation]\nrounds = 1\nmin_participants = 3\nround_timeout_s = 30\ncohort_wait_s = 30\n"
              "eval_timeout_s = 0\n[model]\nkind = \"logreg\"\ninputs = 499\nclasses = 2\n"
              "[privacy]\nenabled = true\nnoise_multiplier = 0.5\nclip_norm = 1.0\nepsilon_budget = 1000\n"
              "delta = 1e-5\nsampling_rate = 1.0\n";
  auto fed = testing::TestFederation::Create("dpclip", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  std::vector<float> initial = fed->app().state().model;
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < 3; ++i) {
    participant::SyntheticOptions o;
    o.num_params = 1000;
    o.constant = 1.0f;  // norm √1000 ≈ 31.6 → clipped to 1: each coordinate 1/√1000
    // A participant that ignores the task's clip norm: rewrite after its own clipping.
    o.tamper = [](std::uint64_t, std::span<float> d) { std::fill(d.begin(), d.end(), 1.0f); };
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(o));
    runs.push_back(fed->RunParticipant(i, *workloads.back()));
  }
  for (auto& r : runs) EXPECT_TRUE(r.get());
  ASSERT_TRUE(fed->JoinAggregator());
  auto model = model::ReadFlatParameters(fed->state_dir() / "global.f32", 1000);
  ASSERT_TRUE(model);
  // Mean of three clipped updates is 1/√1000 ≈ 0.0316 per coordinate; noise stddev on the mean is
  // z·C/3 ≈ 0.167. The mean change over 1000 coordinates is 0.0316 ± 0.005; unclipped it would be 1.
  double sum = 0, sq = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    double d = (*model)[i] - initial[i];
    sum += d;
    sq += d * d;
  }
  double mean = sum / 1000, var = sq / 1000 - mean * mean;
  EXPECT_NEAR(mean, 1.0 / std::sqrt(1000.0), 0.03);
  EXPECT_NEAR(std::sqrt(var), 0.5 / 3, 0.02);  // the noise is there, at the calibrated scale
}

// privacy.hide_cohort end to end: six members, all invited and uploading every round, each
// update one coordinate; the model shows that only a secret half of them counted, and every
// signed result names all six (so nobody, host or member, learns who was sampled).
TEST(Privacy, AHiddenCohortUploadsEveryoneAndCountsTheSecretSample) {
  constexpr int kMembers = 6;
  constexpr double kQ = 0.5;
  constexpr double kSmallZ = 0.01;  // the sample must be readable off the model in this test
  testing::FederationSpec spec;
  spec.participants = kMembers;
  spec.body = "[federation]\nrounds = 3\nmin_participants = 6\nround_timeout_s = 30\ncohort_wait_s = 30\n"
              "eval_timeout_s = 0\n[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n"
              "[privacy]\nenabled = true\nnoise_multiplier = 0.01\nclip_norm = 1.0\nepsilon_budget = 1e6\n"
              "delta = 1e-5\nsampling_rate = 0.5\nhide_cohort = true\n";
  auto fed = testing::TestFederation::Create("dphidden", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  const std::vector<float> initial = fed->app().state().model;
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < kMembers; ++i) {
    participant::SyntheticOptions o;
    o.num_params = 10;
    o.tamper = [i](std::uint64_t, std::span<float> d) {
      std::fill(d.begin(), d.end(), 0.0f);
      d[static_cast<std::size_t>(i)] = 1.0f;
    };
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(o));
    runs.push_back(fed->RunParticipant(i, *workloads.back()));
  }
  for (auto& r : runs) {
    auto st = r.get();
    EXPECT_TRUE(st) << st.error().ToString();
  }
  ASSERT_TRUE(fed->JoinAggregator());
  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 3u);
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(results[r].status, protocol::RoundStatus::kCompleted);
    EXPECT_EQ(results[r].contributors.size(), static_cast<std::size_t>(kMembers));
    auto e = dp::PoissonSampledGaussianEpsilon(kQ, kSmallZ, r + 1, kDelta, dp::OpacusOrders());
    ASSERT_TRUE(e);
    EXPECT_NEAR(results[r].epsilon_spent, e->epsilon, 1e-6 * e->epsilon);
  }
  // Each round adds 1/(q·n) = 1/3 to a sampled member's coordinate (fixed denominator), so after
  // three rounds coordinate i moved by k_i/3, k_i the rounds member i was sampled in; the noise
  // (0.01/3 per round) is far below the spacing.
  auto model = model::ReadFlatParameters(fed->state_dir() / "global.f32", 10);
  ASSERT_TRUE(model);
  int counted = 0;
  for (int i = 0; i < kMembers; ++i) {
    const double moved = 3.0 * ((*model)[static_cast<std::size_t>(i)] - initial[static_cast<std::size_t>(i)]);
    const double k = std::round(moved);
    EXPECT_NEAR(moved, k, 0.15) << "member " << i;
    EXPECT_GE(k, 0);
    EXPECT_LE(k, 3);
    counted += static_cast<int>(k);
  }
  // 18 draws at q = 0.5: some counted, some not (each bound fails with probability 2^-18).
  EXPECT_GT(counted, 0);
  EXPECT_LT(counted, 18);
}

TEST(Privacy, HideCohortConfigurationErrorsNameTheConflict) {
  std::string roster;
  for (int i = 0; i < 4; ++i) {
    roster += "[[participants]]\nid = \"p" + std::to_string(i) + "\"\ncurve_key = \"" +
              std::string(40, static_cast<char>('a' + i)) + "\"\n";
  }
  auto parse = [&](const std::string& privacy, const std::string& extra = "") {
    return protocol::ParseFederationText("[federation]\nid = \"h\"\nmin_participants = 4\n[model]\nkind = "
                                         "\"logreg\"\ninputs = 4\nclasses = 2\n[privacy]\n" + privacy + extra + roster,
                                         "federation.toml", {});
  };
  auto ok = parse("enabled = true\nsampling_rate = 0.5\nhide_cohort = true\n");
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_TRUE(ok->federation.privacy.hide_cohort);
  struct Case {
    std::string privacy;
    std::string extra;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"hide_cohort = true\n", "", "needs privacy.enabled = true"},
      {"enabled = true\nsampling = \"fixed\"\nparticipants_per_round = 2\nhide_cohort = true\n", "",
       "needs sampling = \"poisson\""},
      {"enabled = true\nsampling_rate = 0.5\nhide_cohort = true\n", "[masking]\nenabled = true\n",
       "a masked update cannot be left out on its own"},
  };
  for (const auto& c : cases) {
    auto bad = parse(c.privacy, c.extra);
    ASSERT_FALSE(bad) << c.privacy << c.extra;
    EXPECT_NE(bad.error().message().find(c.expect), std::string::npos) << bad.error().message();
    EXPECT_NE(bad.error().message().find("hide_cohort"), std::string::npos) << bad.error().message();
  }
}

}  // namespace
}  // namespace cairn
