// The research-only attack decorator (participant/attack_workload.h): each attack rewrites the
// update exactly as documented, and everything else passes through to the wrapped workload.
#include "participant/attack_workload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace cairn::participant {
namespace {

// Writes delta[i] = 0.01·(i + 1) − 0.05 (mixed signs), reports 123 examples and a loss of 0.7.
class PatternWorkload final : public Workload {
 public:
  explicit PatternWorkload(std::size_t n) : n_(n) {}
  Status Prepare(const protocol::FederationConfig&) override {
    ++prepared;
    return Ok();
  }
  std::size_t num_params() const override { return n_; }
  Result<LocalResult> Train(std::span<const float>, const protocol::Task&, std::span<float> delta) override {
    if (fail_train) return Fail(ErrorCode::kFailedPrecondition, "inner training failed");
    for (std::size_t i = 0; i < delta.size(); ++i) delta[i] = Value(i);
    LocalResult r;
    r.num_examples = 123;
    r.metrics.push_back({"train_loss", 0.7});
    return r;
  }
  Result<std::vector<protocol::Metric>> Evaluate(std::span<const float> global) override {
    evaluated_size = global.size();
    return std::vector<protocol::Metric>{{"accuracy", 0.5}};
  }
  static float Value(std::size_t i) { return 0.01f * static_cast<float>(i + 1) - 0.05f; }

  int prepared = 0;
  std::size_t evaluated_size = 0;
  bool fail_train = false;

 private:
  std::size_t n_;
};

struct TrainOutput {
  LocalResult result;
  std::vector<float> delta;
};

TrainOutput TrainOnce(AttackWorkload& w, std::uint64_t task_seed = 1) {
  std::vector<float> global(w.num_params(), 0.25f);
  std::vector<float> delta(w.num_params(), 0.0f);
  protocol::Task task;
  task.seed = task_seed;
  auto r = w.Train(global, task, delta);
  EXPECT_TRUE(r) << r.error().ToString();
  return {r ? *r : LocalResult{}, delta};
}

AttackWorkload Make(std::string_view spec, std::size_t n = 10, std::uint64_t seed = 7) {
  auto parsed = ParseAttackSpec(spec);
  EXPECT_TRUE(parsed) << parsed.error().ToString();
  return AttackWorkload(std::make_unique<PatternWorkload>(n), *parsed, seed);
}

TEST(AttackSpec, ParsesEveryDocumentedForm) {
  struct Case {
    const char* text;
    AttackSpec::Kind kind;
    double value;
    const char* canonical;
  };
  for (const Case& c : {Case{"scale:10", AttackSpec::Kind::kScale, 10, "scale:10"},
                        Case{"scale:-5", AttackSpec::Kind::kScale, -5, "scale:-5"},
                        Case{"scale:0.5", AttackSpec::Kind::kScale, 0.5, "scale:0.5"},
                        Case{"sign-flip", AttackSpec::Kind::kSignFlip, 1, "sign-flip"},
                        Case{"sign-flip:4", AttackSpec::Kind::kSignFlip, 4, "sign-flip:4"},
                        Case{"noise:0.1", AttackSpec::Kind::kNoise, 0.1, "noise:0.1"}}) {
    auto s = ParseAttackSpec(c.text);
    ASSERT_TRUE(s) << c.text << ": " << s.error().ToString();
    EXPECT_EQ(s->kind, c.kind) << c.text;
    EXPECT_DOUBLE_EQ(s->value, c.value) << c.text;
    EXPECT_EQ(s->ToString(), c.canonical);
    EXPECT_FALSE(s->Describe().empty());
  }
}

TEST(AttackSpec, RefusesMalformedSpecsNamingThem) {
  for (const char* bad : {"", "scale", "scale:", "scale:ten", "scale:10x", "scale:nan", "scale:inf",
                          "scale:1e7", "sign-flip:0", "sign-flip:-2", "noise", "noise:0", "noise:-1",
                          "flip", "boost:10", "Scale:10"}) {
    auto s = ParseAttackSpec(bad);
    ASSERT_FALSE(s) << "accepted '" << bad << "'";
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message().find("'" + std::string(bad) + "'"), std::string::npos) << s.error().message();
  }
}

TEST(AttackWorkload, ScaleMultipliesEveryCoordinateAndKeepsTheClaims) {
  for (double k : {10.0, -5.0, 0.0}) {
    auto w = Make("scale:" + std::to_string(k));
    TrainOutput r = TrainOnce(w);
    for (std::size_t i = 0; i < r.delta.size(); ++i) {
      EXPECT_FLOAT_EQ(r.delta[i], static_cast<float>(k * PatternWorkload::Value(i))) << "k=" << k << " i=" << i;
    }
    EXPECT_EQ(r.result.num_examples, 123u);
    ASSERT_EQ(r.result.metrics.size(), 1u);
    EXPECT_EQ(r.result.metrics[0].name, "train_loss");
  }
}

TEST(AttackWorkload, SignFlipNegatesOptionallyScaled) {
  auto plain = Make("sign-flip");
  TrainOutput r1 = TrainOnce(plain);
  auto scaled = Make("sign-flip:3");
  TrainOutput r3 = TrainOnce(scaled);
  for (std::size_t i = 0; i < r1.delta.size(); ++i) {
    EXPECT_EQ(r1.delta[i], -PatternWorkload::Value(i)) << i;
    EXPECT_FLOAT_EQ(r3.delta[i], -3.0f * PatternWorkload::Value(i)) << i;
  }
}

TEST(AttackWorkload, NoiseReplacesTheUpdateWithGaussianNoiseOfTheGivenStddev) {
  constexpr std::size_t n = 200'000;
  auto w = Make("noise:0.5", n);
  TrainOutput r = TrainOnce(w, 11);
  double sum = 0, sum_sq = 0, correlation = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += r.delta[i];
    sum_sq += static_cast<double>(r.delta[i]) * r.delta[i];
    correlation += static_cast<double>(r.delta[i]) * PatternWorkload::Value(i);
  }
  const double mean = sum / n;
  const double stddev = std::sqrt(sum_sq / n - mean * mean);
  // Standard errors at n = 200k: mean 0.0011, stddev 0.0008. The inner update (values up to
  // 2000, mean 1000) would move the mean by orders of magnitude if it leaked through.
  EXPECT_NEAR(mean, 0.0, 0.006);
  EXPECT_NEAR(stddev, 0.5, 0.005);
  double inner_sq = 0;
  for (std::size_t i = 0; i < n; ++i) inner_sq += static_cast<double>(PatternWorkload::Value(i)) * PatternWorkload::Value(i);
  EXPECT_LT(std::fabs(correlation) / std::sqrt(inner_sq * sum_sq), 0.01);  // uncorrelated with Δ
  EXPECT_EQ(r.result.num_examples, 123u);

  // Reproducible for a (seed, round), different across rounds and across seeds.
  auto same = Make("noise:0.5", n);
  EXPECT_EQ(TrainOnce(same, 11).delta, r.delta);
  auto again = Make("noise:0.5", n);
  EXPECT_NE(TrainOnce(again, 12).delta, r.delta);
  auto other_seed = Make("noise:0.5", n, 8);
  EXPECT_NE(TrainOnce(other_seed, 11).delta, r.delta);
}

TEST(AttackWorkload, EverythingButTheUpdatePassesThrough) {
  auto inner = std::make_unique<PatternWorkload>(4);
  PatternWorkload* raw = inner.get();
  AttackWorkload w(std::move(inner), *ParseAttackSpec("scale:10"));
  EXPECT_EQ(w.num_params(), 4u);
  // A named config: g++ 12 reports a false maybe-uninitialized on a temporary FederationConfig.
  const protocol::FederationConfig federation;
  EXPECT_TRUE(w.Prepare(federation));
  EXPECT_EQ(raw->prepared, 1);
  std::vector<float> global(4, 1.0f);
  auto eval = w.Evaluate(global);
  ASSERT_TRUE(eval);
  ASSERT_EQ(eval->size(), 1u);
  EXPECT_EQ((*eval)[0].value, 0.5);  // honest evaluation of the given model
  EXPECT_EQ(raw->evaluated_size, 4u);
  EXPECT_FALSE(w.FeatureMoments().has_value());

  // A failure of the inner training is returned as is, with the update untouched.
  raw->fail_train = true;
  std::vector<float> delta(4, 9.0f);
  auto r = w.Train(global, protocol::Task{}, delta);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(delta, std::vector<float>(4, 9.0f));
}

}  // namespace
}  // namespace cairn::participant
