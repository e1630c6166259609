#include "common/dp/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tests/dp/seeded_random_source.h"

namespace cairn::dp {
namespace {

using testing::SeededRandomSource;

TEST(SamplingTest, PoissonFrequencyMatchesRate) {
  SeededRandomSource rng(11);
  constexpr std::size_t kN = 1000;
  constexpr int kRounds = 200;
  const double q = 0.3;
  std::vector<int> per_participant(kN, 0);
  std::size_t total = 0;
  for (int r = 0; r < kRounds; ++r) {
    auto chosen = PoissonSample(kN, q, rng);
    ASSERT_TRUE(chosen);
    ASSERT_TRUE(std::is_sorted(chosen->begin(), chosen->end()));
    ASSERT_TRUE(std::adjacent_find(chosen->begin(), chosen->end()) == chosen->end());
    for (std::size_t i : *chosen) {
      ASSERT_LT(i, kN);
      ++per_participant[i];
    }
    total += chosen->size();
  }
  // Overall frequency: binomial with N·rounds trials, 4 standard errors.
  const double trials = static_cast<double>(kN) * kRounds;
  EXPECT_NEAR(static_cast<double>(total) / trials, q, 4 * std::sqrt(q * (1 - q) / trials));
  // Each participant: Bin(200, 0.3) has mean 60, sd 6.5; all within 6 sd.
  for (int c : per_participant) EXPECT_NEAR(c, 60, 6 * 6.48);
}

TEST(SamplingTest, PoissonEdgeRates) {
  SeededRandomSource rng(12);
  EXPECT_TRUE(PoissonSample(100, 0.0, rng)->empty());
  EXPECT_EQ(PoissonSample(100, 1.0, rng)->size(), 100u);
  EXPECT_FALSE(PoissonSample(100, 1.5, rng));
  EXPECT_FALSE(PoissonSample(100, -0.1, rng));
  EXPECT_FALSE(PoissonSample(kMaxPopulation + 1, 0.5, rng));
}

TEST(SamplingTest, FixedSizeHasExactCountAndUniformMarginals) {
  SeededRandomSource rng(13);
  constexpr std::size_t kN = 20;
  constexpr std::size_t kM = 5;
  constexpr int kRounds = 20000;
  std::vector<int> hits(kN, 0);
  for (int r = 0; r < kRounds; ++r) {
    auto chosen = FixedSizeSample(kN, kM, rng);
    ASSERT_TRUE(chosen);
    ASSERT_EQ(chosen->size(), kM);
    ASSERT_TRUE(std::is_sorted(chosen->begin(), chosen->end()));
    ASSERT_TRUE(std::adjacent_find(chosen->begin(), chosen->end()) == chosen->end());
    for (std::size_t i : *chosen) ++hits[i];
  }
  // Each index is chosen with probability m/n = 1/4: mean 5000, sd √(20000·¼·¾) ≈ 61.
  for (int h : hits) EXPECT_NEAR(h, 5000, 6 * 61.3);
}

TEST(SamplingTest, FixedSizeEdges) {
  SeededRandomSource rng(14);
  EXPECT_TRUE(FixedSizeSample(10, 0, rng)->empty());
  auto all = FixedSizeSample(10, 10, rng);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto too_many = FixedSizeSample(10, 11, rng);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::dp
