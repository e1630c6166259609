#include "common/dp/adaptive_clipping.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "tests/dp/seeded_random_source.h"

namespace cairn::dp {
namespace {

using testing::SeededRandomSource;

AdaptiveClipOptions Options(double expected_participants) {
  AdaptiveClipOptions o;
  o.expected_participants = expected_participants;
  return o;
}

// C1. Source: tensorflow_federated aggregators/differential_privacy.py (gaussian_adaptive):
// z = 1, 100 clients per round, σ_b = 0.05 · 100 = 5 → value noise multiplier 1.0050378.
TEST(AdaptiveClippingTest, OracleC1NoiseSplit) {
  auto zd = SumNoiseMultiplier(1.0, 5.0);
  ASSERT_TRUE(zd);
  EXPECT_NEAR(*zd, 1.0050378, 5e-8);
  // The split composes back to z: z_Δ⁻² + (2σ_b)⁻² = z⁻².
  for (double z : {0.1, 1.0, 9.0, 9.999}) {
    auto part = SumNoiseMultiplier(z, 5.0);
    ASSERT_TRUE(part);
    EXPECT_NEAR(1 / (*part * *part) + 1 / 100.0, 1 / (z * z), 1e-12 / (z * z)) << z;
  }
}

TEST(AdaptiveClippingTest, SplitGuard) {
  // z must be strictly below 2σ_b: at equality z_Δ would be infinite, above it imaginary.
  EXPECT_FALSE(SumNoiseMultiplier(10.0, 5.0));
  EXPECT_FALSE(SumNoiseMultiplier(12.0, 5.0));
  EXPECT_FALSE(SumNoiseMultiplier(1.0, 0.0));   // no count noise: the count is not private
  EXPECT_FALSE(SumNoiseMultiplier(-1.0, 5.0));
  EXPECT_FALSE(SumNoiseMultiplier(1.0, std::nan("")));
  auto near = SumNoiseMultiplier(10.0 * (1 - 1e-12), 5.0);
  ASSERT_TRUE(near);
  EXPECT_TRUE(std::isfinite(*near));
  EXPECT_GT(*near, 1e5);
  EXPECT_EQ(*SumNoiseMultiplier(0.0, 5.0), 0.0);  // no DP: no noise anywhere
}

TEST(AdaptiveClippingTest, TffDefaults) {
  auto clip = AdaptiveClip::Create(Options(100));
  ASSERT_TRUE(clip);
  EXPECT_EQ(clip->clip(), 0.1);
  EXPECT_EQ(clip->target_quantile(), 0.5);
  EXPECT_EQ(clip->learning_rate(), 0.2);
  EXPECT_DOUBLE_EQ(clip->count_stddev(), 5.0);
}

// C2. Source: tensorflow/privacy quantile_adaptive_clip_sum_query_test.py (geometric update):
// noise off, 2 participants with update norms 5 and 2.5, C₀ = 16, γ = 0, η = ln 2.
TEST(AdaptiveClippingTest, OracleC2GeometricUpdate) {
  AdaptiveClipOptions options = Options(2);
  options.initial_clip = 16;
  options.target_quantile = 0;
  options.learning_rate = std::numbers::ln2;
  options.count_stddev = 0.0;
  auto clip = AdaptiveClip::Create(options);
  ASSERT_TRUE(clip);
  SeededRandomSource rng(1);
  const std::vector<double> norms = {5.0, 2.5};
  const std::vector<double> expected = {8, 4, 2.828427, 2, 2};
  for (double want : expected) {
    std::uint64_t below = 0;
    for (double n : norms) below += n <= clip->clip() ? 1 : 0;
    auto next = clip->Update(below, norms.size(), rng);
    ASSERT_TRUE(next);
    EXPECT_NEAR(*next, want, 1e-6);
  }
}

TEST(AdaptiveClippingTest, NoisyUpdateMovesTowardTheQuantile) {
  // All of 100 below a clip that is too large: the clip shrinks on average, by about
  // exp(−0.2 · (1 − 0.5)) per round.
  SeededRandomSource rng(2);
  AdaptiveClipOptions options = Options(100);
  options.initial_clip = 1.0;
  auto clip = AdaptiveClip::Create(options);
  ASSERT_TRUE(clip);
  for (int r = 0; r < 10; ++r) ASSERT_TRUE(clip->Update(100, 100, rng));
  EXPECT_NEAR(clip->clip(), std::exp(-0.2 * 0.5 * 10), 0.05);
}

TEST(AdaptiveClippingTest, Validation) {
  EXPECT_FALSE(AdaptiveClip::Create(Options(0)));
  EXPECT_FALSE(AdaptiveClip::Create(Options(std::nan(""))));
  auto with = [](auto mutate) {
    AdaptiveClipOptions o = Options(10);
    mutate(o);
    return AdaptiveClip::Create(o);
  };
  EXPECT_FALSE(with([](AdaptiveClipOptions& o) { o.initial_clip = 0; }));
  EXPECT_FALSE(with([](AdaptiveClipOptions& o) { o.target_quantile = 1.5; }));
  EXPECT_FALSE(with([](AdaptiveClipOptions& o) { o.learning_rate = -1; }));
  EXPECT_FALSE(with([](AdaptiveClipOptions& o) { o.count_stddev = -1.0; }));
  auto clip = AdaptiveClip::Create(Options(10));
  ASSERT_TRUE(clip);
  SeededRandomSource rng(3);
  auto bad = clip->Update(5, 4, rng);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(clip->clip(), 0.1);
}

}  // namespace
}  // namespace cairn::dp
