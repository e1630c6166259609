#include "common/dp/clipping.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/dp/gaussian_noise.h"
#include "tests/dp/seeded_random_source.h"

namespace cairn::dp {
namespace {

using testing::SeededRandomSource;

long double ExactNorm(const std::vector<float>& v) {
  long double s = 0;
  for (float x : v) s += static_cast<long double>(x) * x;
  return std::sqrt(s);
}

TEST(ClippingTest, L2Norm) {
  EXPECT_EQ(L2Norm(std::vector<float>{3.0f, 4.0f}), 5.0);
  EXPECT_EQ(L2Norm(std::vector<double>{}), 0.0);
  // 10^6 values of 1e-3 in float: double accumulation keeps the digits a float sum would lose
  // (rounding bound n/4 · 2^-53 ≈ 3e-11 relative with four accumulators).
  std::vector<float> many(1'000'000, 1e-3f);
  EXPECT_NEAR(L2Norm(many), static_cast<double>(ExactNorm(many)), 3e-11);
  EXPECT_TRUE(std::isnan(L2Norm(std::vector<float>{1.0f, std::nanf("")})));
}

TEST(ClippingTest, ClipScalesDownToTheBoundAndNeverAbove) {
  SeededRandomSource rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t dim = 1 + UniformBelow(5000, rng);
    std::vector<double> noise(dim);
    FillStandardNormal(noise, rng);
    const double spread = std::exp(10 * (UniformUnit(rng) - 0.5));  // 0.007 .. 150
    std::vector<float> v(dim);
    for (std::size_t i = 0; i < dim; ++i) v[i] = static_cast<float>(noise[i] * spread);
    const double clip = 0.5 + 4 * UniformUnit(rng);
    const long double before = ExactNorm(v);
    auto scale = ClipToNorm(v, clip);
    ASSERT_TRUE(scale);
    const long double after = ExactNorm(v);
    EXPECT_LE(after, static_cast<long double>(clip)) << "trial " << trial;
    if (before > clip) {
      EXPECT_LT(*scale, 1.0);
      EXPECT_GT(after, clip * (1 - 1e-6));  // clipped to the bound, not far below it
    } else if (before < clip * (1 - 1e-6)) {
      EXPECT_EQ(*scale, 1.0);
      EXPECT_EQ(after, before);
    }
  }
}

TEST(ClippingTest, ClipRefusesBadInputAndLeavesValuesAlone) {
  std::vector<float> v = {1.0f, std::numeric_limits<float>::infinity(), 2.0f};
  auto r = ClipToNorm(v, 1.0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("index 1"), std::string::npos);
  EXPECT_EQ(v[0], 1.0f);
  std::vector<float> ok = {3.0f, 4.0f};
  EXPECT_FALSE(ClipToNorm(ok, 0.0));
  EXPECT_FALSE(ClipToNorm(ok, -1.0));
  EXPECT_FALSE(ClipToNorm(ok, std::nan("")));
  EXPECT_EQ(ok, (std::vector<float>{3.0f, 4.0f}));
  // Exactly on the bound (within the margin) is clipped by at most the margin.
  auto s = ClipToNorm(ok, 5.0);
  ASSERT_TRUE(s);
  EXPECT_GE(*s, 1 - 2 * kClipMargin);
}

TEST(DpFedAvgTest, DenominatorAndNoiseStddev) {
  EXPECT_DOUBLE_EQ(*FixedDenominator(0.1, 50), 5.0);
  EXPECT_FALSE(FixedDenominator(0.0, 50));
  EXPECT_FALSE(FixedDenominator(0.5, 0));
  EXPECT_FALSE(FixedDenominator(1.5, 10));
  EXPECT_DOUBLE_EQ(NoiseStddevOnSum(1.2, 0.5), 0.6);
}

TEST(DpFedAvgTest, NoiseAndAverage) {
  SeededRandomSource rng(8);
  std::vector<double> sum = {10.0, -4.0};
  ASSERT_TRUE(NoiseAndAverage(sum, {.clip_norm = 1.0, .noise_multiplier = 0.0, .denominator = 4.0}, rng));
  EXPECT_EQ(sum, (std::vector<double>{2.5, -1.0}));
  // With noise: (0 + N(0, (zC)²)) / d has variance (zC/d)².
  std::vector<double> big(400'000, 0.0);
  ASSERT_TRUE(NoiseAndAverage(big, {.clip_norm = 2.0, .noise_multiplier = 1.5, .denominator = 10.0}, rng));
  double m2 = 0;
  for (double v : big) m2 += v * v;
  EXPECT_NEAR(m2 / big.size(), 0.09, 0.09 * 4 * std::sqrt(2.0 / big.size()));
  // Validation leaves the sum alone.
  std::vector<double> keep = {1.0};
  EXPECT_FALSE(NoiseAndAverage(keep, {.clip_norm = 0.0, .noise_multiplier = 1.0, .denominator = 1.0}, rng));
  EXPECT_FALSE(NoiseAndAverage(keep, {.clip_norm = 1.0, .noise_multiplier = -1.0, .denominator = 1.0}, rng));
  EXPECT_FALSE(NoiseAndAverage(keep, {.clip_norm = 1.0, .noise_multiplier = 1.0, .denominator = 0.0}, rng));
  EXPECT_EQ(keep, std::vector<double>{1.0});
}

}  // namespace
}  // namespace cairn::dp
