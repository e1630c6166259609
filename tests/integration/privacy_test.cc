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

}  // namespace
}  // namespace cairn
