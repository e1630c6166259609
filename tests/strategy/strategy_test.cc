// Strategy behaviour through the public API: oracles from other libraries, hand-computed cases,
// norm bounding, preconditions, checkpoint state and factory errors.
#include "aggregator/strategy/strategy.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "aggregator/strategy/vector_math.h"

namespace cairn::strategy {
namespace {

using Vec = std::vector<float>;

std::unique_ptr<Strategy> Make(std::string_view name, const std::map<std::string, double>& params,
                               std::size_t n_params) {
  auto s = MakeStrategy(name, params, n_params);
  EXPECT_TRUE(s) << s.error().ToString();
  return s ? std::move(*s) : nullptr;
}

// One round from participant *values* (models): Δ_i = value_i − global, as the engine sees them.
Status RoundFromValues(Strategy& s, Vec& global, const std::vector<Vec>& values,
                       const std::vector<double>& weights) {
  std::vector<Vec> deltas;
  for (const auto& v : values) {
    Vec d(v.size());
    for (std::size_t j = 0; j < v.size(); ++j) d[j] = v[j] - global[j];
    deltas.push_back(std::move(d));
  }
  std::vector<std::span<const float>> spans(deltas.begin(), deltas.end());
  return s.ApplyRobust(global, spans, weights);
}

Vec Constant(std::size_t n, float v) { return Vec(n, v); }

// ---------------------------------------------------------------------------------------------
// Oracles: /work/shared/oracles/README.md ("Robust aggregation", "Server optimizers").

// R1, from adap/flower krum_test.py: Krum with f = 1 over constant 4-vectors 0.2, 0.7, 1.0
// selects 0.7 (0.7 and 1.0 tie on score; ties go to the lowest index).
TEST(StrategyOracle, R1KrumFlower) {
  auto s = Make("krum", {{"f", 1}}, 4);
  Vec global = Constant(4, 0.0f);
  ASSERT_TRUE(RoundFromValues(*s, global, {Constant(4, 0.2f), Constant(4, 0.7f), Constant(4, 1.0f)},
                              {1, 1, 1}));
  for (float v : global) EXPECT_EQ(v, 0.7f);
}

// R2, from adap/flower fedmedian_test.py: coordinate-wise median.
TEST(StrategyOracle, R2MedianFlower) {
  auto s = Make("median", {}, 4);
  Vec global = Constant(4, 0.0f);
  ASSERT_TRUE(RoundFromValues(
      *s, global, {{1.0f, 0.2f, 0.5f, 1.0f}, {0.2f, 0.5f, 1.0f, 0.2f}, {0.5f, 1.0f, 0.2f, 0.5f}},
      {1, 1, 1}));
  for (float v : global) EXPECT_EQ(v, 0.5f);
}

// R3, from adap/flower fedtrimmedavg_test.py: trimmed mean, β = 0.25, scalars .5, 1, 2, 100 →
// one value cut per side, mean(1, 2) = 1.5.
TEST(StrategyOracle, R3TrimmedMeanFlower) {
  auto s = Make("trimmed-mean", {{"beta", 0.25}}, 1);
  Vec global = {0.0f};
  ASSERT_TRUE(RoundFromValues(*s, global, {{0.5f}, {1.0f}, {2.0f}, {100.0f}}, {1, 1, 1, 1}));
  EXPECT_EQ(global[0], 1.5f);
}

// O1, from adap/flower fedadagrad_test.py: FedAdagrad, x₀ = 0.1, participants at 0.2 and 1.0
// with equal weight, η = 0.1, τ = 0.5, β₁ = 0 → 0.15.
// Derivation: Δ = 0.6 − 0.1 = 0.5; m = Δ = 0.5; v = v₀ + 0.25; 0.15 needs
// 0.1 + 0.1·0.5/(√v + 0.5) = 0.15, i.e. √v = 0.5, v = 0.25, so v₀ = 0 (not τ²; with v₀ = τ² = 0.25
// the result would be 0.1 + 0.05/(√0.5 + 0.5) = 0.1414).
TEST(StrategyOracle, O1FedAdagradFlower) {
  auto s = Make("fedadagrad", {{"eta", 0.1}, {"tau", 0.5}, {"beta1", 0}}, 4);
  Vec global = Constant(4, 0.1f);
  ASSERT_TRUE(RoundFromValues(*s, global, {Constant(4, 0.2f), Constant(4, 1.0f)}, {1, 1}));
  for (float v : global) EXPECT_NEAR(v, 0.15, 1e-7);
}

// ---------------------------------------------------------------------------------------------
// Hand-computed cases.

// global [1, 2]; values [2, 2] (weight 1) and [1, 5] (weight 3): Δ₁ = [1, 0], Δ₂ = [0, 3];
// mean = ([1, 0] + 3·[0, 3]) / 4 = [0.25, 2.25]; x = [1.25, 4.25]. With η = 0.5: [1.125, 3.125].
TEST(StrategyHand, FedAvgWeightedMean) {
  auto s = Make("fedavg", {}, 2);
  Vec global = {1, 2};
  ASSERT_TRUE(RoundFromValues(*s, global, {{2, 2}, {1, 5}}, {1, 3}));
  EXPECT_EQ(global, (Vec{1.25f, 4.25f}));

  auto half = Make("fedavg", {{"eta", 0.5}}, 2);
  Vec g2 = {1, 2};
  ASSERT_TRUE(RoundFromValues(*half, g2, {{2, 2}, {1, 5}}, {1, 3}));
  EXPECT_EQ(g2, (Vec{1.125f, 3.125f}));
}

TEST(StrategyHand, FedAvgApplyMeanMatchesApplyRobust) {
  // The streaming path (engine sums, then ApplyMean) and the all-updates path agree bit for bit.
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const std::size_t p = 3000;
  std::vector<Vec> deltas(5, Vec(p));
  for (auto& d : deltas)
    for (auto& x : d) x = dist(rng);
  const std::vector<double> weights = {10, 3, 7, 1, 250};
  Vec g1(p, 0.5f), g2(p, 0.5f);
  auto a = Make("fedavg", {}, p);
  auto b = Make("fedavg", {}, p);
  std::vector<std::span<const float>> spans(deltas.begin(), deltas.end());
  ASSERT_TRUE(a->ApplyRobust(g1, spans, weights));
  std::vector<double> sum(p, 0.0);
  double total = 0;
  for (std::size_t i = 0; i < deltas.size(); ++i) {
    // Folded in two uneven chunks, as the engine does with chunked uploads.
    AccumulateWeighted(std::span(sum).first(1234), std::span<const float>(deltas[i]).first(1234),
                       weights[i]);
    AccumulateWeighted(std::span(sum).subspan(1234),
                       std::span<const float>(deltas[i]).subspan(1234), weights[i]);
    total += weights[i];
  }
  DivideInPlace(sum, total);
  ASSERT_TRUE(b->ApplyMean(g2, sum));
  EXPECT_EQ(0, std::memcmp(g1.data(), g2.data(), 4 * p));
}

// FedAvgM, η = 1, momentum 0.5, x₀ = 0: Δ = 1 → u = 1, x = 1; Δ = 1 → u = 0.5 + 1 = 1.5,
// x = 2.5; Δ = −2 → u = 0.75 − 2 = −1.25, x = 1.25.
TEST(StrategyHand, FedAvgMMomentum) {
  auto s = Make("fedavgm", {{"momentum", 0.5}}, 1);
  Vec x = {0};
  const double deltas[] = {1, 1, -2};
  const float expected[] = {1, 2.5f, 1.25f};
  for (int r = 0; r < 3; ++r) {
    const std::vector<double> d = {deltas[r]};
    ASSERT_TRUE(s->ApplyMean(x, d));
    EXPECT_EQ(x[0], expected[r]) << "round " << r + 1;
  }
  EXPECT_EQ(s->rounds_applied(), 3u);
}

// FedAdam, η = 0.1, β₁ = 0.9, β₂ = 0.99, τ = 0.05, x₀ = 0, Δ = 0.5 twice:
// round 1: m = 0.1·0.5 = 0.05; v = 0.01·0.25 = 0.0025; √v = 0.05; x = 0.1·0.05/0.1 = 0.05.
// round 2: m = 0.045 + 0.05 = 0.095; v = 0.002475 + 0.0025 = 0.004975; √v = 0.0705337;
//          x = 0.05 + 0.0095/0.1205337 = 0.05 + 0.0788161 = 0.1288161.
TEST(StrategyHand, FedAdam) {
  auto s = Make("fedadam", {{"eta", 0.1}, {"beta1", 0.9}, {"beta2", 0.99}, {"tau", 0.05}}, 1);
  Vec x = {0};
  const std::vector<double> d = {0.5};
  ASSERT_TRUE(s->ApplyMean(x, d));
  EXPECT_NEAR(x[0], 0.05, 1e-7);
  ASSERT_TRUE(s->ApplyMean(x, d));
  EXPECT_NEAR(x[0], 0.1288161, 1e-6);
}

// FedYogi, same hyperparameters, Δ = 0.5, 0.1, 0.01:
// round 1: v = 0 − 0.01·0.25·sign(0 − 0.25) = 0.0025, m = 0.05, x = 0.05 (as Adam).
// round 2: Δ² = 0.01 > v, so v = 0.0025 + 0.01·0.01 = 0.0026 (Adam: 0.002575);
//          m = 0.045 + 0.01 = 0.055; x = 0.05 + 0.1·0.055/(0.0509902 + 0.05) = 0.1044607.
// round 3: Δ² = 1e-4 < v, so v = 0.0026 − 0.01·1e-4 = 0.002599; m = 0.0495 + 0.001 = 0.0505;
//          x = 0.1044607 + 0.00505/(0.0509804 + 0.05) = 0.1544704.
TEST(StrategyHand, FedYogi) {
  auto s = Make("fedyogi", {{"eta", 0.1}, {"beta1", 0.9}, {"beta2", 0.99}, {"tau", 0.05}}, 1);
  Vec x = {0};
  const double deltas[] = {0.5, 0.1, 0.01};
  const double expected[] = {0.05, 0.1044607, 0.1544704};
  for (int r = 0; r < 3; ++r) {
    const std::vector<double> d = {deltas[r]};
    ASSERT_TRUE(s->ApplyMean(x, d));
    EXPECT_NEAR(x[0], expected[r], 2e-6) << "round " << r + 1;
  }
}

// FedAdagrad continues O1: round 2 with Δ = 0.25: v = 0.25 + 0.0625 = 0.3125, √v = 0.5590170;
// x = 0.15 + 0.1·0.25/(0.5590170 + 0.5) = 0.15 + 0.0236068 = 0.1736068.
TEST(StrategyHand, FedAdagradSecondRound) {
  auto s = Make("fedadagrad", {{"eta", 0.1}, {"tau", 0.5}}, 1);
  Vec x = {0.1f};
  ASSERT_TRUE(s->ApplyMean(x, std::vector<double>{0.5}));
  ASSERT_TRUE(s->ApplyMean(x, std::vector<double>{0.25}));
  EXPECT_NEAR(x[0], 0.1736068, 1e-6);
}

TEST(StrategyHand, FedProxWithZeroMuIsFedAvgBitForBit) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 0.3f);
  const std::size_t p = 2500;
  std::vector<Vec> values(4, Vec(p));
  for (auto& v : values)
    for (auto& x : v) x = dist(rng);
  const std::vector<double> weights = {5, 17, 2, 9};
  Vec g_avg(p, 0.25f), g_prox(p, 0.25f);
  auto avg = Make("fedavg", {}, p);
  auto prox = Make("fedprox", {{"mu", 0}}, p);
  EXPECT_EQ(prox->proximal_mu(), 0.0);
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(RoundFromValues(*avg, g_avg, values, weights));
    ASSERT_TRUE(RoundFromValues(*prox, g_prox, values, weights));
  }
  EXPECT_EQ(0, std::memcmp(g_avg.data(), g_prox.data(), 4 * p));

  auto prox1 = Make("fedprox", {{"mu", 0.1}}, p);
  EXPECT_EQ(prox1->proximal_mu(), 0.1);
  EXPECT_FALSE(prox1->needs_all_updates());
}

// Odd count: values 3, 1, 2 → 2. Even count: 4, 1, 3, 2 → (2 + 3)/2 = 2.5. Global 1, so
// Δ = 2, 0, 1 → median 1 → x = 2; and Δ = 3, 0, 2, 1 → 1.5 → x = 2.5. Weights are ignored.
TEST(StrategyHand, MedianOddAndEven) {
  auto s = Make("median", {}, 1);
  Vec x = {1};
  ASSERT_TRUE(RoundFromValues(*s, x, {{3}, {1}, {2}}, {1, 1000, 1}));
  EXPECT_EQ(x[0], 2.0f);
  Vec y = {1};
  ASSERT_TRUE(RoundFromValues(*s, y, {{4}, {1}, {3}, {2}}, {1, 1, 1, 1}));
  EXPECT_EQ(y[0], 2.5f);
}

// β = 0.2, n = 5: ⌊0.2·5⌋ = 1 cut per side. Values 10, 1, 2, 3, −50 → mean(1, 2, 3) = 2.
// β = 0 is the plain (unweighted) mean: (10 + 1 + 2 + 3 − 50)/5 = −6.8.
TEST(StrategyHand, TrimmedMean) {
  auto s = Make("trimmed-mean", {{"beta", 0.2}}, 1);
  Vec x = {0};
  ASSERT_TRUE(RoundFromValues(*s, x, {{10}, {1}, {2}, {3}, {-50}}, {1, 1, 1, 1, 1}));
  EXPECT_EQ(x[0], 2.0f);
  auto none = Make("trimmed-mean", {{"beta", 0}}, 1);
  Vec y = {0};
  ASSERT_TRUE(RoundFromValues(*none, y, {{10}, {1}, {2}, {3}, {-50}}, {1, 1, 1, 1, 1}));
  EXPECT_FLOAT_EQ(y[0], -6.8f);
  // A β just below 0.5 with an even n: ⌊β·n + 1e-9⌋ would cut n/2 per side and average nothing
  // (0/0). At most (n − 1)/2 is cut: with n = 4, the mean of the middle two.
  auto almost_half = Make("trimmed-mean", {{"beta", 0.4999999999}}, 1);
  Vec z = {0};
  ASSERT_TRUE(RoundFromValues(*almost_half, z, {{10}, {1}, {2}, {-50}}, {1, 1, 1, 1}));
  EXPECT_FLOAT_EQ(z[0], 1.5f);
  Vec w = {0};
  ASSERT_TRUE(RoundFromValues(*almost_half, w, {{7}, {-3}}, {1, 1}));
  EXPECT_FLOAT_EQ(w[0], 2.0f);
}

// ApplyRobust's weights are the caller's: a weighted sum that overflows a double is caught by the
// exact check, not waved through by the bound (which assumes the sum stays finite).
TEST(StrategyHand, WeightsThatOverflowTheSumAreRefused) {
  for (const char* name : {"fedavg", "fedadam"}) {
    auto s = Make(name, {}, 2);
    Vec x = {0.5f, 0.5f};
    const Vec before = x;
    Vec d = {2, 2};
    std::vector<std::span<const float>> one = {d};
    auto st = s->ApplyRobust(x, one, std::vector<double>{1.7e308});
    ASSERT_FALSE(st) << name;
    EXPECT_EQ(st.error().code(), ErrorCode::kOutOfRange) << name;
    EXPECT_EQ(x, before) << name;
    std::vector<std::span<const float>> two = {d, d};
    EXPECT_FALSE(s->ApplyRobust(x, two, std::vector<double>{1e308, 1e308})) << name;
    EXPECT_EQ(x, before) << name;
  }
}

// Constant 4-vectors 0, 1, 3, 4.5, 100; f = 1, n = 5 → k = n − f − 2 = 2 neighbours.
// Squared distances per coordinate (×4 for the vector, same order):
//   0: 1 (to 1), 9 (to 3) → 10;   1: 1, 4 → 5;   3: 2.25 (to 4.5), 4 → 6.25;
//   4.5: 2.25, 12.25 → 14.5;   100: 95.5², 97² → 18529.25.
// Ranking: 1, 3, 0, 4.5, 100. Krum → 1. Multi-Krum m = 2 → (1 + 3)/2 = 2; m = 3 → 4/3;
// m = 0 (default, n − f = 4) → (1 + 3 + 0 + 4.5)/4 = 2.125.
TEST(StrategyHand, KrumAndMultiKrum) {
  const std::vector<Vec> values = {Constant(4, 0), Constant(4, 1), Constant(4, 3),
                                   Constant(4, 4.5f), Constant(4, 100)};
  const std::vector<double> w(5, 1.0);
  struct Case {
    const char* name;
    std::map<std::string, double> params;
    float expected;
  };
  const Case cases[] = {{"krum", {{"f", 1}}, 1.0f},
                        {"multi-krum", {{"f", 1}, {"m", 1}}, 1.0f},
                        {"multi-krum", {{"f", 1}, {"m", 2}}, 2.0f},
                        {"multi-krum", {{"f", 1}, {"m", 3}}, 4.0f / 3.0f},
                        {"multi-krum", {{"f", 1}}, 2.125f}};
  for (const auto& c : cases) {
    auto s = Make(c.name, c.params, 4);
    Vec x = Constant(4, 0);
    ASSERT_TRUE(RoundFromValues(*s, x, values, w));
    for (float v : x) EXPECT_FLOAT_EQ(v, c.expected) << c.name << " m=" << s->params()[1].second;
  }
}

// Bulyan, f = 1, n = 7 (= 4f + 3), scalars 0, 1, 2, 4, 7, 100, −80; θ = n − 2f = 5, β = θ − 2f = 3.
// Selection, Krum with f = 1 on what is left (k = max(1, |R| − 3)):
//   R = all, k = 4: scores 0: 1+4+16+49 = 70, 1: 1+1+9+36 = 47, 2: 1+4+4+25 = 34, 4: 4+9+16+9 = 38
//     → 2
//   R = {0, 1, 4, 7, 100, −80}, k = 3: 0: 1+16+49 = 66, 1: 1+9+36 = 46, 4: 9+16+9 = 34 → 4
//   R = {0, 1, 7, 100, −80}, k = 2: 0: 1+49 = 50, 1: 1+36 = 37, 7: 36+49 = 85 → 1
//   R = {0, 7, 100, −80}, k = 1: 0: 49, 7: 49 (the same distance) → tie → lowest index → 0
//   R = {7, 100, −80}, k = 1: 7: 87² = 7569, −80: 7569, 100: 93² → tie → 7
// Selected {0, 1, 2, 4, 7}, median 2; closest 3: 2 (0), 1 (1), then 0 and 4 tie at 2 → the
// smaller, 0. Mean (2 + 1 + 0)/3 = 1. (A trimmed mean of the same five would give 7/3.)
TEST(StrategyHand, Bulyan) {
  auto s = Make("bulyan", {{"f", 1}}, 1);
  Vec x = {0};
  ASSERT_TRUE(
      RoundFromValues(*s, x, {{0}, {1}, {2}, {4}, {7}, {100}, {-80}}, std::vector<double>(7, 1)));
  EXPECT_EQ(x[0], 1.0f);
}

// ---------------------------------------------------------------------------------------------
// Norm bounding.

// Bound 1: Δ₁ = [3, 4] (norm 5) becomes [0.6, 0.8]; Δ₂ = [0, 0.5] (norm 0.5) is unchanged.
// FedAvg with equal weights: [0.3, 0.65].
TEST(StrategyNormBound, ClipsEachUpdateBeforeTheMean) {
  auto s = Make("fedavg", {{"norm_bound", 1}}, 2);
  EXPECT_EQ(s->norm_bound(), 1.0);
  Vec x = {0, 0};
  ASSERT_TRUE(RoundFromValues(*s, x, {{3, 4}, {0, 0.5f}}, {1, 1}));
  EXPECT_FLOAT_EQ(x[0], 0.3f);
  EXPECT_FLOAT_EQ(x[1], 0.65f);
  const auto params = s->params();
  ASSERT_EQ(params.back().first, "norm_bound");
  EXPECT_EQ(params.back().second, 1.0);
}

// Median with bound 1 over scalars 10, −10, 0.5: clipped to 1, −1, 0.5 → median 0.5; an attacker
// scaling its update cannot move a Krum or mean result beyond the bound either.
TEST(StrategyNormBound, AppliesToRobustRules) {
  auto s = Make("median", {{"norm_bound", 1}}, 1);
  Vec x = {0};
  ASSERT_TRUE(RoundFromValues(*s, x, {{10}, {-10}, {0.5f}}, {1, 1, 1}));
  EXPECT_EQ(x[0], 0.5f);
  auto k = Make("krum", {{"norm_bound", 2}}, 1);
  Vec y = {0};
  ASSERT_TRUE(RoundFromValues(*k, y, {{50}, {60}}, {1, 1}));  // f = 0, n = 2: picks index 0
  EXPECT_EQ(y[0], 2.0f);
}

TEST(StrategyNormBound, ClipScaleAndNorm) {
  EXPECT_EQ(ClipScale(5, 1), 0.2);
  EXPECT_EQ(ClipScale(0.5, 1), 1.0);
  EXPECT_EQ(ClipScale(0, 1), 1.0);
  EXPECT_EQ(ClipScale(5, 0), 1.0);  // no bound
  const Vec v = {3, 4};
  EXPECT_EQ(SquaredNorm(v), 25.0);
  const Vec bad = {1, std::nanf("")};
  EXPECT_FALSE(std::isfinite(SquaredNorm(bad)));
}

// ---------------------------------------------------------------------------------------------
// Preconditions and input checks.

TEST(StrategyPreconditions, KrumMultiKrumBulyanCohorts) {
  auto krum = Make("krum", {{"f", 2}}, 1);
  EXPECT_FALSE(krum->CheckCohort(3));  // needs n ≥ f + 2 = 4
  EXPECT_TRUE(krum->CheckCohort(4));
  auto multi = Make("multi-krum", {{"f", 1}, {"m", 5}}, 1);
  auto too_many = multi->CheckCohort(5);  // m ≤ n − f = 4
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(too_many.error().message().find("m <= n - f"), std::string::npos);
  EXPECT_TRUE(multi->CheckCohort(6));
  auto bulyan = Make("bulyan", {{"f", 2}}, 1);
  auto small = bulyan->CheckCohort(10);  // needs 4f + 3 = 11
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message().find("4f + 3 = 11"), std::string::npos);
  EXPECT_TRUE(bulyan->CheckCohort(11));
  for (const auto name : StrategyNames()) {
    EXPECT_FALSE(Make(name, {}, 1)->CheckCohort(0)) << name;
  }
}

TEST(StrategyPreconditions, ApplyRobustRefusesSmallCohortWithoutTouchingTheModel) {
  auto bulyan = Make("bulyan", {{"f", 1}}, 1);
  Vec x = {0.5f};
  auto st = RoundFromValues(*bulyan, x, {{1}, {2}, {3}, {4}, {5}, {6}}, std::vector<double>(6, 1));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(x[0], 0.5f);
  EXPECT_EQ(bulyan->rounds_applied(), 0u);
}

TEST(StrategyPreconditions, BadInputsNameTheParticipant) {
  auto s = Make("fedavg", {}, 2);
  Vec x = {0, 0};
  const Vec good = {1, 1}, nan = {1, std::nanf("")}, short_vec = {1};
  {
    std::vector<std::span<const float>> d = {good, nan};
    auto st = s->ApplyRobust(x, d, std::vector<double>{1, 1});
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message().find("participant 1"), std::string::npos);
    EXPECT_NE(st.error().message().find("index 1"), std::string::npos);
  }
  {
    std::vector<std::span<const float>> d = {short_vec, good};
    auto st = s->ApplyRobust(x, d, std::vector<double>{1, 1});
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message().find("participant 0 update has 1 values"), std::string::npos);
  }
  {
    std::vector<std::span<const float>> d = {good, good};
    EXPECT_FALSE(s->ApplyRobust(x, d, std::vector<double>{1, 0}));
    EXPECT_FALSE(s->ApplyRobust(x, d, std::vector<double>{1}));
  }
  EXPECT_FALSE(s->ApplyMean(x, std::vector<double>{1}));
  EXPECT_FALSE(s->ApplyMean(x, std::vector<double>{1, INFINITY}));
  EXPECT_EQ(x, (Vec{0, 0}));
  auto median = Make("median", {}, 2);
  auto st = median->ApplyMean(x, std::vector<double>{1, 1});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(median->needs_all_updates());
}

// ---------------------------------------------------------------------------------------------
// Checkpoint state.

void RandomDelta(std::mt19937& rng, std::vector<double>& d) {
  std::normal_distribution<double> dist(0.0, 0.1);
  for (auto& x : d) x = dist(rng);
}

TEST(StrategyState, SaveLoadContinuesIdentically) {
  for (const char* name : {"fedadam", "fedyogi", "fedadagrad", "fedavgm", "fedavg"}) {
    const std::size_t p = 1500;
    std::mt19937 rng(3);
    std::vector<double> d(p);
    auto a = Make(name, {{"eta", 0.05}}, p);
    Vec xa(p, 0.1f);
    for (int r = 0; r < 3; ++r) {
      RandomDelta(rng, d);
      ASSERT_TRUE(a->ApplyMean(xa, d));
    }
    const Bytes saved = a->SaveState();
    auto b = Make(name, {{"eta", 0.05}}, p);
    ASSERT_TRUE(b->LoadState(saved)) << name;
    EXPECT_EQ(b->rounds_applied(), 3u);
    EXPECT_EQ(b->SaveState(), saved) << name;
    Vec xb = xa;
    for (int r = 0; r < 2; ++r) {
      RandomDelta(rng, d);
      ASSERT_TRUE(a->ApplyMean(xa, d));
      ASSERT_TRUE(b->ApplyMean(xb, d));
    }
    EXPECT_EQ(0, std::memcmp(xa.data(), xb.data(), 4 * p)) << name;
    EXPECT_EQ(a->SaveState(), b->SaveState()) << name;
  }
}

TEST(StrategyState, LoadRefusesMismatchesAndCorruption) {
  const std::size_t p = 8;
  auto a = Make("fedadam", {}, p);
  Vec x(p, 0);
  ASSERT_TRUE(a->ApplyMean(x, std::vector<double>(p, 0.5)));
  const Bytes good = a->SaveState();

  auto fresh = Make("fedadam", {}, p);
  const Bytes fresh_state = fresh->SaveState();
  auto expect_refused = [&](const Bytes& blob, ErrorCode code, std::string_view needle) {
    auto st = fresh->LoadState(blob);
    ASSERT_FALSE(st) << needle;
    EXPECT_EQ(st.error().code(), code) << st.error().ToString();
    EXPECT_NE(st.error().message().find(needle), std::string::npos) << st.error().ToString();
    EXPECT_EQ(fresh->SaveState(), fresh_state) << "state changed by a refused load";
  };

  expect_refused(Make("fedyogi", {}, p)->SaveState(), ErrorCode::kFailedPrecondition, "fedyogi");
  expect_refused(Make("fedadam", {}, p + 1)->SaveState(), ErrorCode::kFailedPrecondition,
                 "9 parameters");
  expect_refused(Make("fedadam", {{"beta1", 0.5}}, p)->SaveState(), ErrorCode::kFailedPrecondition,
                 "beta1=0.5");
  expect_refused(Bytes(good.begin(), good.end() - 1), ErrorCode::kDataLoss, "truncated");
  Bytes trailing = good;
  trailing.push_back(0);
  expect_refused(trailing, ErrorCode::kDataLoss, "trailing");
  Bytes bad_magic = good;
  bad_magic[0] = 'X';
  expect_refused(bad_magic, ErrorCode::kDataLoss, "header");
  // The last vector is v: make its last value negative (sign bit of the last float, LE).
  Bytes negative_v = good;
  negative_v.back() |= 0x80;
  expect_refused(negative_v, ErrorCode::kDataLoss, "vector v has an invalid value at index 7");
  // A NaN in m (first vector): m's values start right after its 1 + 4 + 8 byte-header... find it
  // as the byte offset of v's data minus p floats minus v's header ("v": 4 + 1, length 8).
  Bytes nan_m = good;
  const std::size_t v_data = good.size() - 4 * p;
  const std::size_t m_last = v_data - (4 + 1 + 8) - 4;
  const float qnan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan_m.data() + m_last, &qnan, 4);
  expect_refused(nan_m, ErrorCode::kDataLoss, "vector m has an invalid value at index 7");
  // Every truncation is refused without crashing.
  for (std::size_t len = 0; len < good.size(); ++len) {
    EXPECT_FALSE(fresh->LoadState(ByteSpan(good.data(), len))) << len;
  }
  EXPECT_TRUE(fresh->LoadState(good));
}

TEST(StrategyState, StatelessStrategiesRoundTrip) {
  auto a = Make("median", {{"norm_bound", 3}}, 4);
  Vec x(4, 0);
  ASSERT_TRUE(RoundFromValues(*a, x, {Constant(4, 1)}, {1}));
  auto b = Make("median", {{"norm_bound", 3}}, 4);
  ASSERT_TRUE(b->LoadState(a->SaveState()));
  EXPECT_EQ(b->rounds_applied(), 1u);
  EXPECT_FALSE(Make("median", {}, 4)->LoadState(a->SaveState()));  // norm_bound differs
}

// ---------------------------------------------------------------------------------------------
// Factory.

TEST(StrategyFactory, KnowsEveryNameWithDocumentedDefaults) {
  const std::vector<std::string_view> expected = {
      "fedavg", "fedavgm",      "fedadam", "fedyogi",    "fedadagrad", "fedprox",
      "median", "trimmed-mean", "krum",    "multi-krum", "bulyan"};
  EXPECT_EQ(StrategyNames(), expected);
  using P = std::vector<std::pair<std::string, double>>;
  EXPECT_EQ(Make("fedavg", {}, 1)->params(), (P{{"eta", 1}}));
  EXPECT_EQ(Make("fedavgm", {}, 1)->params(), (P{{"eta", 1}, {"momentum", 0.9}}));
  EXPECT_EQ(Make("fedadam", {}, 1)->params(),
            (P{{"eta", 0.1}, {"beta1", 0.9}, {"beta2", 0.99}, {"tau", 1e-9}}));
  EXPECT_EQ(Make("fedyogi", {}, 1)->params(),
            (P{{"eta", 0.01}, {"beta1", 0.9}, {"beta2", 0.99}, {"tau", 1e-3}}));
  EXPECT_EQ(Make("fedadagrad", {}, 1)->params(), (P{{"eta", 0.1}, {"beta1", 0}, {"tau", 1e-9}}));
  EXPECT_EQ(Make("fedprox", {}, 1)->params(), (P{{"mu", 0.01}, {"eta", 1}}));
  EXPECT_EQ(Make("median", {}, 1)->params(), (P{{"eta", 1}}));
  EXPECT_EQ(Make("trimmed-mean", {}, 1)->params(), (P{{"beta", 0.2}, {"eta", 1}}));
  EXPECT_EQ(Make("krum", {}, 1)->params(), (P{{"f", 0}, {"eta", 1}}));
  EXPECT_EQ(Make("multi-krum", {}, 1)->params(), (P{{"f", 0}, {"m", 0}, {"eta", 1}}));
  EXPECT_EQ(Make("bulyan", {}, 1)->params(), (P{{"f", 0}, {"eta", 1}}));
  for (const auto name : StrategyNames()) {
    auto s = Make(name, {}, 1);
    EXPECT_EQ(s->name(), name);
    EXPECT_EQ(s->norm_bound(), 0.0);
    auto info = StrategyParamInfo(name);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->size(), s->params().size() + 1) << name;  // + norm_bound, unset
  }
}

TEST(StrategyFactory, ErrorsNameTheProblemAndListWhatIsAllowed) {
  auto expect_error = [](std::string_view name, const std::map<std::string, double>& params,
                         std::vector<std::string_view> needles, std::size_t p = 4) {
    auto s = MakeStrategy(name, params, p);
    ASSERT_FALSE(s) << name;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    for (auto needle : needles) {
      EXPECT_NE(s.error().message().find(needle), std::string::npos)
          << "\"" << needle << "\" not in: " << s.error().message();
    }
  };
  expect_error("fedsgd", {}, {"unknown strategy \"fedsgd\"", "fedavg, fedavgm", "bulyan"});
  expect_error(
      "fedadagrad", {{"beta2", 0.9}},
      {"unknown parameter \"beta2\"", "fedadagrad", "allowed: eta, beta1, tau, norm_bound"});
  expect_error("fedavg", {{"mu", 0.1}}, {"\"mu\"", "allowed: eta, norm_bound"});
  expect_error("fedadam", {{"beta1", 1}}, {"beta1 = 1", "[0, 1)"});
  expect_error("fedadam", {{"tau", 0}}, {"tau = 0", "(0, inf)"});
  expect_error("fedavg", {{"eta", -1}}, {"eta = -1"});
  expect_error("fedavg", {{"eta", std::nan("")}}, {"eta = nan"});
  expect_error("trimmed-mean", {{"beta", 0.5}}, {"beta = 0.5", "[0, 0.5)"});
  expect_error("krum", {{"f", 1.5}}, {"f = 1.5", "integer"});
  expect_error("multi-krum", {{"m", -1}}, {"m = -1"});
  expect_error("median", {{"norm_bound", 0}}, {"norm_bound = 0"});
  expect_error("fedprox", {{"mu", -0.1}}, {"mu = -0.1"});
  expect_error("fedavgm", {{"momentum", 1}}, {"momentum = 1"});
  expect_error("fedavg", {}, {"at least one parameter"}, 0);
}

// ---------------------------------------------------------------------------------------------
// Memory formulas (docs/strategies.md, "Memory"), T = min(P, 1024).

TEST(StrategyMemory, Formulas) {
  const std::size_t p = 1'000'000;
  EXPECT_EQ(Make("fedavg", {}, p)->MemoryBytes(10), 8ull * p);
  EXPECT_EQ(Make("fedavgm", {}, p)->MemoryBytes(10), 8ull * p + 4ull * p);
  EXPECT_EQ(Make("fedadam", {}, p)->MemoryBytes(1000), 8ull * p + 8ull * p);
  const std::uint64_t n = 10, t = 1024;
  const std::uint64_t coord = 4 * n * p + 8 * n * t + 16 * t + 128 * n + 65536;
  EXPECT_EQ(Make("median", {}, p)->MemoryBytes(n), coord);
  EXPECT_EQ(Make("trimmed-mean", {}, p)->MemoryBytes(n), coord);
  EXPECT_EQ(Make("krum", {}, p)->MemoryBytes(n), coord + 16 * n * n);
  EXPECT_EQ(Make("bulyan", {}, p)->MemoryBytes(n), coord + 16 * n * n);
  // Small models: the tile shrinks to P.
  EXPECT_EQ(Make("median", {}, 10)->MemoryBytes(3),
            4 * 3 * 10 + 8 * 3 * 10 + 16 * 10 + 128 * 3 + 65536);
  // Saturates instead of wrapping.
  EXPECT_EQ(Make("median", {}, p)->MemoryBytes(std::size_t{1} << 62), UINT64_MAX);
}

}  // namespace
}  // namespace cairn::strategy
