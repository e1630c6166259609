#include "common/dp/privacy_ledger.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

namespace cairn::dp {
namespace {

LedgerOptions Budget(double epsilon, double delta = 1e-5) {
  LedgerOptions o;
  o.epsilon_budget = epsilon;
  o.delta = delta;
  return o;
}

TEST(PrivacyLedgerTest, CreateValidatesTheBudget) {
  EXPECT_FALSE(PrivacyLedger::Create(Budget(0.0)));
  EXPECT_FALSE(PrivacyLedger::Create(Budget(-1.0)));
  EXPECT_FALSE(PrivacyLedger::Create(Budget(std::numeric_limits<double>::infinity())));
  EXPECT_FALSE(PrivacyLedger::Create(Budget(8.0, 0.0)));
  EXPECT_FALSE(PrivacyLedger::Create(Budget(8.0, 1.0)));
  LedgerOptions bad_orders = Budget(8.0);
  bad_orders.orders = {0.5};
  EXPECT_FALSE(PrivacyLedger::Create(bad_orders));
  auto ledger = PrivacyLedger::Create(Budget(8.0));
  ASSERT_TRUE(ledger);
  EXPECT_EQ(ledger->epsilon_spent(), 0.0);
  EXPECT_TRUE(ledger->history().empty());
}

// ε in successive charges never decreases, EpsilonIfAdded predicts exactly what Charge records,
// and the ledger of T identical rounds equals the accountant's ε for (q, z, T).
TEST(PrivacyLedgerTest, ChargesMatchTheAccountantAndNeverDecrease) {
  auto ledger = PrivacyLedger::Create(Budget(8.0));
  ASSERT_TRUE(ledger);
  const PrivacyStep round = PrivacyStep::PoissonRound(0.04, 1.5);
  double last = 0;
  for (int t = 1; t <= 300; ++t) {
    auto predicted = ledger->EpsilonIfAdded(round);
    ASSERT_TRUE(predicted);
    ASSERT_TRUE(ledger->Charge(round)) << "round " << t;
    EXPECT_EQ(ledger->epsilon_spent(), *predicted);
    EXPECT_GE(ledger->epsilon_spent(), last);
    last = ledger->epsilon_spent();
  }
  ASSERT_EQ(ledger->history().size(), 1u);  // merged
  EXPECT_EQ(ledger->history()[0].count, 300u);
  auto direct = PoissonSampledGaussianEpsilon(0.04, 1.5, 300, 1e-5, OpacusOrders());
  ASSERT_TRUE(direct);
  EXPECT_EQ(ledger->epsilon_spent(), direct->epsilon);
  EXPECT_EQ(ledger->best_order(), direct->order);
}

TEST(PrivacyLedgerTest, RefusesOverspendingAndSaysWhy) {
  auto ledger = PrivacyLedger::Create(Budget(2.0));
  ASSERT_TRUE(ledger);
  const PrivacyStep round = PrivacyStep::PoissonRound(0.04, 1.5);
  int charged = 0;
  Status status = Ok();
  while ((status = ledger->Charge(round))) ++charged;
  EXPECT_GT(charged, 10);
  EXPECT_LE(ledger->epsilon_spent(), 2.0);
  EXPECT_EQ(status.error().code(), ErrorCode::kResourceExhausted);
  const std::string& message = status.error().message();
  EXPECT_NE(message.find("budget ε = 2"), std::string::npos) << message;
  EXPECT_NE(message.find("δ = 1e-05"), std::string::npos) << message;
  const double would_be = *ledger->EpsilonIfAdded(round);
  EXPECT_GT(would_be, 2.0);
  EXPECT_NE(message.find("would bring ε to"), std::string::npos) << message;
  // Refused: unchanged.
  const double spent = ledger->epsilon_spent();
  EXPECT_FALSE(ledger->Charge(round));
  EXPECT_EQ(ledger->epsilon_spent(), spent);
  EXPECT_EQ(ledger->history()[0].count, static_cast<std::uint64_t>(charged));
  // A single step larger than the whole budget is refused on an empty ledger too.
  auto fresh = PrivacyLedger::Create(Budget(1.0));
  EXPECT_FALSE(fresh->Charge(PrivacyStep::PoissonRound(1.0, 0.5, 10)));
  EXPECT_EQ(fresh->epsilon_spent(), 0.0);
}

TEST(PrivacyLedgerTest, MixesTrainingAndAnalyticsInOneRdpCurve) {
  LedgerOptions options = Budget(10.0);
  options.orders = {2.0, 4.0, 8.0, 16.0, 32.0};
  auto ledger = PrivacyLedger::Create(options);
  ASSERT_TRUE(ledger);
  ASSERT_TRUE(ledger->Charge(PrivacyStep::PoissonRound(0.1, 1.2, 50)));
  // A clean-room sum with sensitivity 3 and noise σ = 30: multiplier 10, three times.
  const PrivacyStep query = PrivacyStep::GaussianRelease(3.0, 30.0, 3);
  EXPECT_DOUBLE_EQ(query.noise_multiplier, 10.0);
  ASSERT_TRUE(ledger->Charge(query));
  ASSERT_EQ(ledger->history().size(), 2u);
  std::vector<double> total;
  for (double a : options.orders) {
    total.push_back(50 * *PoissonSampledGaussianRdp(0.1, 1.2, a) + 3 * a / (2 * 100.0));
  }
  auto expected = EpsilonFromRdp(options.orders, total, 1e-5);
  ASSERT_TRUE(expected);
  EXPECT_NEAR(ledger->epsilon_spent(), expected->epsilon, 1e-12);
  // Invalid steps.
  EXPECT_FALSE(ledger->Charge(PrivacyStep::GaussianRelease(0.0, 1.0)));
  EXPECT_FALSE(ledger->Charge(PrivacyStep::PoissonRound(1.5, 1.0)));
  EXPECT_FALSE(ledger->Charge(PrivacyStep::PoissonRound(0.5, 1.0, 0)));
}

TEST(PrivacyLedgerTest, AdjacencyIsEnforced) {
  auto add_remove = PrivacyLedger::Create(Budget(8.0));
  auto refused = add_remove->Charge(PrivacyStep::FixedSizeRound(10, 100, 1.0));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  LedgerOptions options = Budget(8.0);
  options.adjacency = Adjacency::kReplaceOne;
  auto replace_one = PrivacyLedger::Create(options);
  ASSERT_TRUE(replace_one);
  const PrivacyStep fixed = PrivacyStep::FixedSizeRound(10, 100, 2.0);
  EXPECT_DOUBLE_EQ(fixed.sampling_rate, 0.1);
  EXPECT_DOUBLE_EQ(fixed.noise_multiplier, 1.0);  // replace-one sensitivity 2C
  ASSERT_TRUE(replace_one->Charge(fixed));
  EXPECT_FALSE(replace_one->Charge(PrivacyStep::PoissonRound(0.1, 2.0)));
  EXPECT_TRUE(replace_one->Charge(PrivacyStep::GaussianRelease(1.0, 20.0)));
  EXPECT_TRUE(std::isnan(PrivacyStep::FixedSizeRound(1, 0, 1.0).sampling_rate));  // n = 0
  EXPECT_FALSE(replace_one->Charge(PrivacyStep::FixedSizeRound(1, 0, 1.0)));
}

TEST(PrivacyLedgerTest, RoundTripsThroughJson) {
  LedgerOptions options = Budget(8.0);
  options.orders = TfPrivacyOrders();
  options.conversion = Conversion::kClassic;
  auto ledger = PrivacyLedger::Create(options);
  ASSERT_TRUE(ledger);
  ASSERT_TRUE(ledger->Charge(PrivacyStep::PoissonRound(0.01, 1.1, 100)));
  ASSERT_TRUE(ledger->Charge(PrivacyStep::GaussianRelease(1.0, 7.3)));
  ASSERT_TRUE(ledger->Charge(PrivacyStep::PoissonRound(0.01, 1.1, 7)));
  const std::string json = ledger->ToJson();
  auto restored = PrivacyLedger::FromJson(json);
  ASSERT_TRUE(restored) << restored.error().ToString();
  EXPECT_EQ(restored->epsilon_spent(), ledger->epsilon_spent());
  EXPECT_EQ(restored->best_order(), ledger->best_order());
  EXPECT_EQ(restored->options().orders, options.orders);
  EXPECT_EQ(restored->options().conversion, Conversion::kClassic);
  ASSERT_EQ(restored->history().size(), 3u);
  EXPECT_EQ(restored->history()[2].count, 7u);
  EXPECT_EQ(restored->ToJson(), json);
  // Both continue identically.
  const PrivacyStep next = PrivacyStep::PoissonRound(0.01, 1.1);
  ASSERT_TRUE(ledger->Charge(next));
  ASSERT_TRUE(restored->Charge(next));
  EXPECT_EQ(restored->epsilon_spent(), ledger->epsilon_spent());
  // An empty ledger round-trips too.
  auto empty = PrivacyLedger::Create(Budget(1.0));
  auto empty_restored = PrivacyLedger::FromJson(empty->ToJson());
  ASSERT_TRUE(empty_restored);
  EXPECT_EQ(empty_restored->epsilon_spent(), 0.0);
}

TEST(PrivacyLedgerTest, FromJsonIsStrict) {
  auto ledger = PrivacyLedger::Create(Budget(8.0));
  ASSERT_TRUE(ledger->Charge(PrivacyStep::PoissonRound(0.04, 1.5, 100)));
  const nlohmann::json good = nlohmann::json::parse(ledger->ToJson());
  auto expect_data_loss = [](const nlohmann::json& j, const std::string& needle) {
    auto r = PrivacyLedger::FromJson(j.dump());
    ASSERT_FALSE(r) << needle;
    EXPECT_EQ(r.error().code(), ErrorCode::kDataLoss) << r.error().ToString();
    EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
  };
  {
    auto j = good;
    j["extra"] = 1;
    expect_data_loss(j, "unknown key 'extra'");
  }
  {
    auto j = good;
    j["format"] = "cairn-privacy-ledger/0";
    expect_data_loss(j, "format");
  }
  {
    auto j = good;
    j["epsilon_spent"] = 0.5;  // someone lowered the spent ε
    expect_data_loss(j, "disagrees");
  }
  {
    auto j = good;
    j["history"][0]["count"] = 100000;  // far over the budget
    expect_data_loss(j, "over its budget");
  }
  {
    auto j = good;
    j["history"][0]["count"] = -3;
    expect_data_loss(j, "count");
  }
  {
    auto j = good;
    j["history"][0].erase("noise_multiplier");
    expect_data_loss(j, "missing key 'noise_multiplier'");
  }
  {
    auto j = good;
    j["history"][0]["mechanism"] = "laplace";
    expect_data_loss(j, "history[0]");
  }
  {
    auto j = good;
    j["delta"] = 2.0;
    expect_data_loss(j, "δ");
  }
  {
    auto j = good;
    j["history"].push_back(j["history"][0]);
    expect_data_loss(j, "repeats");
  }
  auto not_json = PrivacyLedger::FromJson("{\"format\": ");
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().code(), ErrorCode::kDataLoss);
  auto huge = PrivacyLedger::FromJson(std::string(kMaxLedgerJsonBytes + 1, ' '));
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code(), ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace cairn::dp
