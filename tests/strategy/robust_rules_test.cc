// The robust-rule kernels against naive reference implementations, on models that span several
// tiles (P > kTileCoords) with clipping scales, so tiling and transposition bugs show up.
#include "aggregator/strategy/robust_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace cairn::strategy {
namespace {

struct Fixture {
  std::vector<std::vector<float>> data;
  Deltas deltas;
  std::vector<double> scales;
};

Fixture RandomUpdates(std::size_t n, std::size_t p, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::uniform_real_distribution<double> scale(0.2, 1.0);
  Fixture f;
  f.data.assign(n, std::vector<float>(p));
  for (auto& v : f.data)
    for (auto& x : v) x = dist(rng);
  for (std::size_t i = 0; i < n; ++i) {
    f.deltas.emplace_back(f.data[i]);
    f.scales.push_back(i % 2 == 0 ? 1.0 : scale(rng));
  }
  return f;
}

// Collects the blocks and checks they tile [0, P) in order.
std::vector<double> Collect(std::size_t p, const std::function<void(const BlockSink&)>& run) {
  std::vector<double> out;
  run([&](std::size_t offset, std::span<const double> block) {
    EXPECT_EQ(offset, out.size());
    out.insert(out.end(), block.begin(), block.end());
  });
  EXPECT_EQ(out.size(), p);
  return out;
}

std::vector<double> Column(const Fixture& f, std::size_t j) {
  std::vector<double> col;
  for (std::size_t i = 0; i < f.deltas.size(); ++i) {
    col.push_back(f.scales[i] * static_cast<double>(f.deltas[i][j]));
  }
  return col;
}

TEST(RobustRules, MedianMatchesSorting) {
  for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{10},
                        kNetworkMaxInputs, kNetworkMaxInputs + 1, kNetworkMaxInputs + 2}) {
    const std::size_t p = 2 * kTileCoords + 37;
    auto f = RandomUpdates(n, p, 1 + static_cast<unsigned>(n));
    auto got = Collect(p, [&](const BlockSink& s) { CoordinateMedian(f.deltas, f.scales, s); });
    for (std::size_t j = 0; j < p; ++j) {
      auto col = Column(f, j);
      std::sort(col.begin(), col.end());
      const double want = n % 2 ? col[n / 2] : 0.5 * (col[n / 2 - 1] + col[n / 2]);
      ASSERT_EQ(got[j], want) << "n=" << n << " j=" << j;
    }
  }
}

// The 0-1 principle: a comparator network sorts every input if it sorts every 0/1 input.
TEST(RobustRules, SortingNetworkSortsEveryZeroOneInput) {
  for (std::size_t n = 1; n <= 16; ++n) {
    const auto net = SortingNetwork(n);
    for (std::uint32_t bits = 0; bits < (1u << n); ++bits) {
      std::vector<int> v(n);
      for (std::size_t i = 0; i < n; ++i) v[i] = (bits >> i) & 1;
      for (const auto& [a, b] : net) {
        ASSERT_LT(a, b);
        ASSERT_LT(b, n);
        if (v[a] > v[b]) std::swap(v[a], v[b]);
      }
      ASSERT_TRUE(std::is_sorted(v.begin(), v.end())) << "n=" << n << " input=" << bits;
    }
  }
  std::mt19937 rng(21);
  for (std::size_t n = 17; n <= kNetworkMaxInputs; ++n) {
    const auto net = SortingNetwork(n);
    for (int trial = 0; trial < 2000; ++trial) {
      std::vector<int> v(n);
      for (auto& x : v) x = static_cast<int>(rng() & 1);
      for (const auto& [a, b] : net) {
        if (v[a] > v[b]) std::swap(v[a], v[b]);
      }
      ASSERT_TRUE(std::is_sorted(v.begin(), v.end())) << "n=" << n;
    }
  }
}

// n = 9 uses the sorting network, kNetworkMaxInputs + 3 the transposed nth_element path.
TEST(RobustRules, TrimmedMeanMatchesSorting) {
  for (std::size_t n : {std::size_t{9}, kNetworkMaxInputs + 3}) {
    const std::size_t p = kTileCoords + 5;
    auto f = RandomUpdates(n, p, 5);
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, (n - 1) / 2}) {
      auto got = Collect(
          p, [&](const BlockSink& s) { CoordinateTrimmedMean(f.deltas, f.scales, cut, s); });
      for (std::size_t j = 0; j < p; ++j) {
        auto col = Column(f, j);
        std::sort(col.begin(), col.end());
        double sum = 0;
        for (std::size_t r = cut; r < n - cut; ++r) sum += col[r];
        ASSERT_NEAR(got[j], sum / static_cast<double>(n - 2 * cut), 1e-12)
            << "n=" << n << " cut=" << cut << " j=" << j;
      }
    }
  }
}

TEST(RobustRules, PairwiseDistancesMatchDirectComputation) {
  const std::size_t n = 6, p = 3 * kTileCoords + 11;
  auto f = RandomUpdates(n, p, 9);
  const auto dist = PairwiseSquaredDistances(f.deltas, f.scales);
  ASSERT_EQ(dist.size(), n * n);
  for (std::size_t a = 0; a < n; ++a) {
    EXPECT_EQ(dist[a * n + a], 0.0);
    for (std::size_t b = 0; b < n; ++b) {
      double want = 0;
      for (std::size_t j = 0; j < p; ++j) {
        const double d = f.scales[a] * f.deltas[a][j] - f.scales[b] * f.deltas[b][j];
        want += d * d;
      }
      EXPECT_NEAR(dist[a * n + b], want, 1e-9 * want) << a << "," << b;
      EXPECT_EQ(dist[a * n + b], dist[b * n + a]);
    }
  }
}

// Centring keeps distances between nearly equal, large updates accurate: two updates of norm
// ~1e4·√P that differ by 1e-3 in one coordinate.
TEST(RobustRules, PairwiseDistancesSurviveLargeCommonOffset) {
  const std::size_t p = 5000;
  std::vector<float> a(p, 10000.0f), b(p, 10000.0f);
  b[123] += 0.0009765625f;  // 2^-10, exactly representable next to 1e4
  const Deltas d = {a, b};
  const std::vector<double> ones = {1, 1};
  const auto dist = PairwiseSquaredDistances(d, ones);
  EXPECT_NEAR(dist[1], std::ldexp(1.0, -20), 1e-12);
}

TEST(RobustRules, KrumRankingOrdersByScoreThenIndex) {
  // 1-D points 0, 1, 3, 4.5, 100 (see strategy_test.cc for the arithmetic).
  const std::vector<float> v = {0, 1, 3, 4.5f, 100};
  std::vector<std::vector<float>> data;
  Deltas d;
  for (float x : v) data.push_back({x});
  for (auto& x : data) d.emplace_back(x);
  const std::vector<double> ones(5, 1.0);
  const auto dist = PairwiseSquaredDistances(d, ones);
  const std::vector<std::size_t> all = {0, 1, 2, 3, 4};
  EXPECT_EQ(KrumRanking(dist, 5, all, 1), (std::vector<std::size_t>{1, 2, 0, 3, 4}));
  // Restricted to a subset, only the candidates count: {0, 3, 4} with f = 0 → k = 1:
  // 0: 4.5² = 20.25, 3: 20.25 (tie, same distance → index 0 first), 4: 95.5².
  const std::vector<std::size_t> some = {4, 3, 0};
  EXPECT_EQ(KrumRanking(dist, 5, some, 0), (std::vector<std::size_t>{0, 3, 4}));
  // A single candidate has no neighbour and scores 0.
  const std::vector<std::size_t> one = {2};
  EXPECT_EQ(KrumRanking(dist, 5, one, 0), (std::vector<std::size_t>{2}));
}

// θ = n − 2f = 7 uses the sorting network, θ = 71 the transposed path.
TEST(RobustRules, BulyanCoordinatesMatchNaive) {
  for (auto [n, f] : {std::pair<std::size_t, std::size_t>{11, 2}, {75, 2}}) {
    const std::size_t p = kTileCoords + 100;
    auto fx = RandomUpdates(n, p, 13);
    const auto dist = PairwiseSquaredDistances(fx.deltas, fx.scales);
    const auto selected = BulyanSelection(dist, n, f);
    ASSERT_EQ(selected.size(), n - 2 * f);
    std::vector<std::size_t> sorted_sel = selected;
    std::sort(sorted_sel.begin(), sorted_sel.end());
    EXPECT_EQ(std::adjacent_find(sorted_sel.begin(), sorted_sel.end()), sorted_sel.end());
    auto got = Collect(
        p, [&](const BlockSink& s) { BulyanCoordinates(fx.deltas, fx.scales, selected, f, s); });
    const std::size_t theta = selected.size(), beta = theta - 2 * f;
    for (std::size_t j = 0; j < p; ++j) {
      std::vector<double> col;
      for (auto i : selected) col.push_back(fx.scales[i] * static_cast<double>(fx.deltas[i][j]));
      std::sort(col.begin(), col.end());
      const double med = col[theta / 2];  // θ is odd
      std::stable_sort(col.begin(), col.end(),
                       [&](double x, double y) { return std::abs(x - med) < std::abs(y - med); });
      double sum = 0;
      for (std::size_t r = 0; r < beta; ++r) sum += col[r];
      ASSERT_NEAR(got[j], sum / static_cast<double>(beta), 1e-12) << "n=" << n << " j=" << j;
    }
  }
}

TEST(RobustRules, WeightedSumIsIndependentOfChunking) {
  const std::size_t n = 4, p = 2 * kTileCoords + 3;
  auto f = RandomUpdates(n, p, 17);
  const std::vector<double> coef = {2, 0.5, 7, 1};
  auto got = Collect(p, [&](const BlockSink& s) { WeightedSum(f.deltas, coef, 10.5, s); });
  for (std::size_t j = 0; j < p; ++j) {
    double acc = 0;
    for (std::size_t i = 0; i < n; ++i) acc += coef[i] * static_cast<double>(f.deltas[i][j]);
    ASSERT_EQ(got[j], acc / 10.5) << j;
  }
}

}  // namespace
}  // namespace cairn::strategy
