#include "aggregator/privacy_command.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/dp/rdp_accountant.h"

namespace cairn::aggregator {
namespace {

struct CommandRun {
  int code;
  std::string out;
  std::string err;
};

CommandRun RunWith(const PrivacyArgs& args) {
  std::ostringstream out, err;
  const int code = RunPrivacyCommand(args, out, err);
  return {code, out.str(), err.str()};
}

// A1 inputs (oracles README; opacus/tests/accountants_test.py).
PrivacyArgs A1() {
  PrivacyArgs a;
  a.sampling_rate = 0.04;
  a.noise_multiplier = 1.5;
  a.rounds = 2250;
  a.delta = 1e-5;
  return a;
}

TEST(PrivacyCommandTest, EpsilonAsJson) {
  PrivacyArgs args = A1();
  args.json = true;
  CommandRun r = RunWith(args);
  ASSERT_EQ(r.code, kPrivacyOk) << r.err;
  EXPECT_TRUE(r.err.empty());
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_NEAR(j.at("epsilon").get<double>(), 7.32933470238, 7.33e-6);
  EXPECT_NEAR(j.at("order").get<double>(), 3.9, 1e-12);
}

TEST(PrivacyCommandTest, EpsilonAsText) {
  CommandRun r = RunWith(A1());
  ASSERT_EQ(r.code, kPrivacyOk) << r.err;
  EXPECT_NE(r.out.find("ε = 7.3293347"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("α = 3.9"), std::string::npos) << r.out;
}

// A2 classic with TF Privacy's grid (tensorflow/privacy compute_dp_sgd_privacy_test.py).
TEST(PrivacyCommandTest, ClassicConversionAndTfpOrders) {
  PrivacyArgs args;
  args.sampling_rate = 150.0 / 60000.0;
  args.noise_multiplier = 1.3;
  args.rounds = 6000;
  args.delta = 1e-5;
  args.conversion = "classic";
  args.orders = "tfp";
  args.json = true;
  CommandRun r = RunWith(args);
  ASSERT_EQ(r.code, kPrivacyOk) << r.err;
  EXPECT_NEAR(nlohmann::json::parse(r.out).at("epsilon").get<double>(), 0.941870567, 1e-6);
}

TEST(PrivacyCommandTest, TargetEpsilonPrintsTheNoiseMultiplier) {
  PrivacyArgs args = A1();
  args.noise_multiplier.reset();
  args.target_epsilon = 8.0;
  args.json = true;
  CommandRun r = RunWith(args);
  ASSERT_EQ(r.code, kPrivacyOk) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  const double z = j.at("noise_multiplier").get<double>();
  auto eps = dp::PoissonSampledGaussianEpsilon(0.04, z, 2250, 1e-5, dp::OpacusOrders());
  ASSERT_TRUE(eps);
  EXPECT_LE(eps->epsilon, 8.0);
  EXPECT_LT(z, 1.5);  // ε = 8 needs less noise than A1's 7.33
  args.json = false;
  CommandRun text = RunWith(args);
  ASSERT_EQ(text.code, kPrivacyOk);
  EXPECT_NE(text.out.find("noise multiplier z = "), std::string::npos) << text.out;
}

TEST(PrivacyCommandTest, OrderListAndZeroNoise) {
  PrivacyArgs args = A1();
  args.orders = "2,4,8,16";
  args.json = true;
  CommandRun r = RunWith(args);
  ASSERT_EQ(r.code, kPrivacyOk) << r.err;
  const double order = nlohmann::json::parse(r.out).at("order").get<double>();
  EXPECT_TRUE(order == 2 || order == 4 || order == 8 || order == 16);
  args.noise_multiplier = 0.0;
  CommandRun none = RunWith(args);
  ASSERT_EQ(none.code, kPrivacyOk);
  const auto j = nlohmann::json::parse(none.out);
  EXPECT_TRUE(j.at("epsilon").is_null());
  EXPECT_TRUE(j.at("order").is_null());
}

TEST(PrivacyCommandTest, UsageErrorsExitTwo) {
  struct Case {
    const char* what;
    void (*mutate)(PrivacyArgs&);
    const char* needle;
  };
  const Case cases[] = {
      {"q = 0", [](PrivacyArgs& a) { a.sampling_rate = 0.0; }, "--sampling-rate"},
      {"q > 1", [](PrivacyArgs& a) { a.sampling_rate = 1.5; }, "--sampling-rate"},
      {"q NaN", [](PrivacyArgs& a) { a.sampling_rate = std::nan(""); }, "--sampling-rate"},
      {"negative noise", [](PrivacyArgs& a) { a.noise_multiplier = -0.1; }, "--noise-multiplier"},
      {"δ = 0", [](PrivacyArgs& a) { a.delta = 0.0; }, "--delta"},
      {"δ = 1", [](PrivacyArgs& a) { a.delta = 1.0; }, "--delta"},
      {"T = 0", [](PrivacyArgs& a) { a.rounds = 0; }, "--rounds"},
      {"T < 0", [](PrivacyArgs& a) { a.rounds = -5; }, "--rounds"},
      {"both", [](PrivacyArgs& a) { a.target_epsilon = 1.0; }, "exactly one"},
      {"neither", [](PrivacyArgs& a) { a.noise_multiplier.reset(); }, "exactly one"},
      {"target ≤ 0",
       [](PrivacyArgs& a) {
         a.noise_multiplier.reset();
         a.target_epsilon = 0.0;
       },
       "--target-epsilon"},
      {"bad conversion", [](PrivacyArgs& a) { a.conversion = "best"; }, "--conversion"},
      {"bad orders", [](PrivacyArgs& a) { a.orders = "2,abc"; }, "--orders"},
      {"order ≤ 1", [](PrivacyArgs& a) { a.orders = "0.5,2"; }, "--orders"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    PrivacyArgs args = A1();
    c.mutate(args);
    CommandRun r = RunWith(args);
    EXPECT_EQ(r.code, kPrivacyUsageError);
    EXPECT_TRUE(r.out.empty());
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
  }
}

TEST(PrivacyCommandTest, UnreachableTargetExitsOne) {
  PrivacyArgs args = A1();
  args.noise_multiplier.reset();
  args.target_epsilon = 0.1;
  args.conversion = "classic";  // floor log(1/δ)/62 ≈ 0.186 on Opacus's grid
  CommandRun r = RunWith(args);
  EXPECT_EQ(r.code, kPrivacyFailed);
  EXPECT_NE(r.err.find("not reachable"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cairn::aggregator
