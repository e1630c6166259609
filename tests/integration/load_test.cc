// Load (issue 6): 100 participants join one aggregator on loopback and complete 3 rounds; every
// participant contributes to every round (none is starved by the bounded upload slots).
#include <gtest/gtest.h>

#include <sstream>

#include "participant/synthetic_workload.h"
#include "protocol/round_result.h"
#include "tests/integration/harness.h"

namespace cairn {
namespace {

TEST(Load, HundredParticipantsCompleteThreeRoundsNoneStarved) {
  constexpr int kParticipants = 100;
  testing::FederationSpec spec;
  spec.participants = kParticipants;
  spec.body = "[federation]\nrounds = 3\nmin_participants = 100\nround_timeout_s = 120\ncohort_wait_s = 120\n"
              "eval_timeout_s = 30\n[model]\nkind = \"logreg\"\ninputs = 499\nclasses = 2\n";
  auto fed = testing::TestFederation::Create("load", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < kParticipants; ++i) {
    participant::SyntheticOptions o;
    o.num_params = 1000;
    o.seed = static_cast<std::uint64_t>(i);
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(o));
    auto options = fed->ClientOptions(i);
    options.config.connect.attempts = 10;
    options.config.connect.request_timeout_ms = 10000;
    runs.push_back(fed->RunParticipant(i, *workloads.back(), std::move(options)));
  }
  int ok = 0;
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().ToString();
    ok += s ? 1 : 0;
  }
  EXPECT_EQ(ok, kParticipants);
  ASSERT_TRUE(fed->JoinAggregator(std::chrono::seconds(300)));
  std::istringstream in(testing::ReadFile(fed->state_dir() / "results.jsonl"));
  std::string line;
  int rounds = 0;
  while (std::getline(in, line)) {
    auto r = protocol::ResultFromJson(line);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, protocol::RoundStatus::kCompleted);
    EXPECT_EQ(r->contributors.size(), static_cast<std::size_t>(kParticipants)) << "round " << r->round;
    ++rounds;
  }
  EXPECT_EQ(rounds, 3);
}

}  // namespace
}  // namespace cairn
