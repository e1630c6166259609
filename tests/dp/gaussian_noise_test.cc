#include "common/dp/gaussian_noise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "common/dp/random_source.h"
#include "tests/dp/seeded_random_source.h"

namespace cairn::dp {
namespace {

using testing::SeededRandomSource;

// Kolmogorov–Smirnov statistic of `xs` against N(0, sigma²).
double KsStatistic(std::vector<double> xs, double sigma) {
  std::sort(xs.begin(), xs.end());
  const double n = static_cast<double>(xs.size());
  double d = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double f = 0.5 * std::erfc(-xs[i] / (sigma * std::numbers::sqrt2));
    d = std::max({d, (static_cast<double>(i) + 1) / n - f, f - static_cast<double>(i) / n});
  }
  return d;
}

struct Moments {
  double mean = 0, variance = 0, kurtosis = 0;
};
Moments MomentsOf(const std::vector<double>& xs) {
  Moments m;
  const double n = static_cast<double>(xs.size());
  for (double x : xs) m.mean += x;
  m.mean /= n;
  double m2 = 0, m4 = 0;
  for (double x : xs) {
    const double d = (x - m.mean) * (x - m.mean);
    m2 += d;
    m4 += d * d;
  }
  m.variance = m2 / (n - 1);
  m.kurtosis = (m4 / n) / ((m2 / n) * (m2 / n));
  return m;
}

TEST(SeededRandomSourceTest, DeterministicAndContinuous) {
  SeededRandomSource a(7), b(7), c(8);
  std::vector<std::uint8_t> whole(1000), part(1000), other(1000);
  a.Fill(whole);
  // Same stream in uneven pieces (partial blocks, whole blocks, single bytes).
  b.Fill(MutableByteSpan(part.data(), 10));
  b.Fill(MutableByteSpan(part.data() + 10, 1));
  b.Fill(MutableByteSpan(part.data() + 11, 300));
  b.Fill(MutableByteSpan(part.data() + 311, 689));
  EXPECT_EQ(whole, part);
  c.Fill(other);
  EXPECT_NE(whole, other);
  EXPECT_EQ(a.name(), "test-chacha20-seeded");
}

TEST(GaussianNoiseTest, SeededStandardNormalPassesMomentsAndKs) {
  // Fixed seed: the test is deterministic. N = 10^6: the 0.1% KS critical value is
  // 1.95/√N ≈ 0.00195; the standard error of the variance is √(2/N) ≈ 0.0014.
  constexpr std::size_t kN = 1'000'000;
  SeededRandomSource rng(20261125);
  std::vector<double> xs(kN);
  FillStandardNormal(xs, rng);
  const Moments m = MomentsOf(xs);
  EXPECT_LT(std::fabs(m.mean), 4.0 / std::sqrt(kN));
  EXPECT_LT(std::fabs(m.variance - 1.0), 4.0 * std::sqrt(2.0 / kN));
  EXPECT_LT(std::fabs(m.kurtosis - 3.0), 4.0 * std::sqrt(24.0 / kN));
  EXPECT_LT(KsStatistic(xs, 1.0), 1.95 / std::sqrt(kN));
  // Tails: P(|Z| > 3) = 0.0026998; binomial standard error √(p(1−p)/N).
  const double beyond3 =
      static_cast<double>(std::count_if(xs.begin(), xs.end(), [](double x) { return std::fabs(x) > 3; })) /
      kN;
  EXPECT_NEAR(beyond3, 0.0026998, 4 * std::sqrt(0.0027 / kN));
}

TEST(GaussianNoiseTest, AddGaussianNoiseAddsScaledNoise) {
  constexpr std::size_t kN = 1'000'001;  // odd: the last coordinate uses half a pair
  const double sigma = 3.0;
  SeededRandomSource rng(42);
  std::vector<double> values(kN, 100.0);
  ASSERT_TRUE(AddGaussianNoise(values, sigma, rng));
  for (double& v : values) v -= 100.0;
  const Moments m = MomentsOf(values);
  EXPECT_LT(std::fabs(m.mean), 4.0 * sigma / std::sqrt(kN));
  EXPECT_LT(std::fabs(m.variance / (sigma * sigma) - 1.0), 4.0 * std::sqrt(2.0 / kN));
  EXPECT_LT(KsStatistic(values, sigma), 1.95 / std::sqrt(kN));
  EXPECT_NE(values.back(), 0.0);
}

TEST(GaussianNoiseTest, KsDetectsAWrongScale) {
  // The test above could not pass by accident: the same draws fail against σ · 1.01.
  SeededRandomSource rng(20261125);
  std::vector<double> xs(1'000'000);
  FillStandardNormal(xs, rng);
  EXPECT_GT(KsStatistic(xs, 1.01), 1.95 / std::sqrt(1e6));
}

TEST(GaussianNoiseTest, ZeroAndInvalidStddev) {
  SeededRandomSource rng(1);
  std::vector<double> values = {1.0, 2.0, 3.0};
  ASSERT_TRUE(AddGaussianNoise(values, 0.0, rng));
  EXPECT_EQ(values, (std::vector<double>{1.0, 2.0, 3.0}));
  for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    auto status = AddGaussianNoise(values, bad, rng);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(values, (std::vector<double>{1.0, 2.0, 3.0}));
    EXPECT_FALSE(SampleGaussian(bad, rng));
  }
  ASSERT_TRUE(AddGaussianNoise(values, 1.0, rng));
  EXPECT_NE(values[0], 1.0);
  EXPECT_NE(values[2], 3.0);
  std::vector<double> empty;
  EXPECT_TRUE(AddGaussianNoise(empty, 1.0, rng));
}

TEST(GaussianNoiseTest, SampleGaussianScalarDistribution) {
  SeededRandomSource rng(99);
  std::vector<double> xs(200'000);
  for (double& x : xs) x = *SampleGaussian(2.0, rng);
  const Moments m = MomentsOf(xs);
  EXPECT_LT(std::fabs(m.mean), 4.0 * 2.0 / std::sqrt(2e5));
  EXPECT_LT(std::fabs(m.variance / 4.0 - 1.0), 4.0 * std::sqrt(2.0 / 2e5));
  EXPECT_LT(KsStatistic(xs, 2.0), 1.95 / std::sqrt(2e5));
}

TEST(SodiumRandomSourceTest, ProducesFreshUniformBytesAndNormalNoise) {
  auto rng = SodiumRandomSource::Create();
  ASSERT_TRUE(rng);
  EXPECT_EQ(rng->name(), "sodium");
  // Small (direct randombytes_buf) and bulk (ChaCha20 under a fresh key) paths.
  for (std::size_t size : {std::size_t{32}, std::size_t{1} << 20}) {
    std::vector<std::uint8_t> a(size), b(size);
    rng->Fill(a);
    rng->Fill(b);
    EXPECT_NE(a, b);
    // Byte mean of uniform bytes is 127.5 with standard error ≈ 73.9/√n; 6 standard errors.
    double mean = 0;
    for (auto v : a) mean += v;
    mean /= static_cast<double>(size);
    EXPECT_NEAR(mean, 127.5, 6 * 73.9 / std::sqrt(static_cast<double>(size))) << size;
  }
  // Noise from the production source: loose (6 standard errors) since it is not seeded.
  std::vector<double> xs(200'000, 0.0);
  ASSERT_TRUE(AddGaussianNoise(xs, 1.0, *rng));
  const Moments m = MomentsOf(xs);
  EXPECT_LT(std::fabs(m.mean), 6.0 / std::sqrt(2e5));
  EXPECT_LT(std::fabs(m.variance - 1.0), 6.0 * std::sqrt(2.0 / 2e5));
}

TEST(RandomSourceTest, UniformBelowIsInRangeAndUnbiased) {
  SeededRandomSource rng(5);
  constexpr int kBound = 7;
  constexpr int kDraws = 70'000;
  std::vector<int> counts(kBound, 0);
  for (int i = 0; i < kDraws; ++i) {
    const auto v = UniformBelow(kBound, rng);
    ASSERT_LT(v, static_cast<std::uint64_t>(kBound));
    ++counts[v];
  }
  // χ² with 6 degrees of freedom: 22.46 is the 0.1% critical value.
  double chi2 = 0;
  for (int c : counts) chi2 += (c - 10'000.0) * (c - 10'000.0) / 10'000.0;
  EXPECT_LT(chi2, 22.46);
  EXPECT_EQ(UniformBelow(1, rng), 0u);
  const double u = UniformUnit(rng);
  EXPECT_GE(u, 0.0);
  EXPECT_LT(u, 1.0);
}

}  // namespace
}  // namespace cairn::dp
