// The server optimizers' overflow checks: FirstOverflow (exact, on a real Δ) and
// FitsForAnyDeltaWithin (a bound on Δ, which lets robust rules skip their dry run). The bound
// check must never say "fits" when some Δ within the bound would overflow.
#include "aggregator/strategy/server_optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace cairn::strategy {
namespace {

struct Case {
  std::string name;
  std::function<std::unique_ptr<ServerOptimizer>(std::size_t)> make;
  // Largest decimal exponent drawn for the model and the state: the adaptive optimizers divide
  // by τ, so their verdicts change far below FLT_MAX.
  double max_exponent = 38.5;
};

std::vector<Case> Optimizers() {
  return {
      {"plain eta=1", [](std::size_t) { return MakePlainOptimizer(1.0); }},
      {"plain eta=0.1", [](std::size_t) { return MakePlainOptimizer(0.1); }},
      {"momentum", [](std::size_t p) { return MakeMomentumOptimizer(p, 1.0, 0.9); }},
      {"adam", [](std::size_t p) {
         return MakeAdaptiveOptimizer(AdaptiveKind::kAdam, p, 0.1, 0.9, 0.99, 1e-9);
       }, 30},
      {"yogi", [](std::size_t p) {
         return MakeAdaptiveOptimizer(AdaptiveKind::kYogi, p, 0.01, 0.9, 0.99, 1e-3);
       }, 34},
      {"adagrad", [](std::size_t p) {
         return MakeAdaptiveOptimizer(AdaptiveKind::kAdagrad, p, 0.1, 0.0, 0.99, 1e-9);
       }, 30},
  };
}

// A value of magnitude 10^e, e uniform in [lo, hi], with a random sign (or none).
float LogUniform(std::mt19937_64& rng, double lo, double hi, bool signed_value) {
  const double e = std::uniform_real_distribution<double>(lo, hi)(rng);
  const double v = std::pow(10.0, e);
  const bool negative = signed_value && (rng() & 1);
  return static_cast<float>(negative ? -v : v);
}

TEST(ServerOptimizerBound, NeverSaysFitsWhenADeltaWithinTheBoundOverflows) {
  constexpr std::size_t kParams = 4;
  std::mt19937_64 rng(20261127);
  for (const auto& c : Optimizers()) {
    int fits = 0;
    int not_fits = 0;
    for (int trial = 0; trial < 2000; ++trial) {
      auto opt = c.make(kParams);
      // Magnitudes over float32's whole range, so that both verdicts occur.
      std::vector<float> global(kParams);
      for (auto& x : global) x = LogUniform(rng, -3, c.max_exponent, true);
      for (auto& s : opt->State()) {
        for (auto& x : s.values) x = LogUniform(rng, -3, c.max_exponent, !s.non_negative);
      }
      const double bound =
          std::pow(10.0, std::uniform_real_distribution<double>(-3, c.max_exponent + 1)(rng));
      if (!opt->FitsForAnyDeltaWithin(global, bound)) {
        ++not_fits;
        continue;
      }
      ++fits;
      // Δ at the bound's edges, inside it, and zero, in every coordinate.
      for (int draw = 0; draw < 8; ++draw) {
        std::vector<double> delta(kParams);
        for (auto& d : delta) {
          switch (rng() % 4) {
            case 0: d = bound; break;
            case 1: d = -bound; break;
            case 2: d = std::uniform_real_distribution<double>(-bound, bound)(rng); break;
            default: d = 0; break;
          }
        }
        EXPECT_EQ(opt->FirstOverflow(0, global, delta), std::nullopt)
            << c.name << " trial " << trial << ": said fits for bound " << bound;
      }
    }
    // The sample covers both verdicts (else the check above proves nothing).
    EXPECT_GT(fits, 50) << c.name;
    EXPECT_GT(not_fits, 50) << c.name;
  }
}

TEST(ServerOptimizerBound, OrdinaryModelsAndUpdatesFit) {
  constexpr std::size_t kParams = 1000;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const auto& c : Optimizers()) {
    auto opt = c.make(kParams);
    std::vector<float> global(kParams);
    for (auto& x : global) x = normal(rng);
    // Ten ordinary rounds, so that the state is what a running federation holds.
    for (int round = 0; round < 10; ++round) {
      std::vector<double> delta(kParams);
      for (auto& d : delta) d = 0.01 * normal(rng);
      ASSERT_EQ(opt->FirstOverflow(0, global, delta), std::nullopt) << c.name;
      opt->ApplyBlock(0, global, delta);
    }
    // Updates with a norm of a thousand (far above any clipped update) still fit.
    EXPECT_TRUE(opt->FitsForAnyDeltaWithin(global, 2e3)) << c.name;
    EXPECT_FALSE(opt->FitsForAnyDeltaWithin(global, 1e40)) << c.name;
    EXPECT_FALSE(opt->FitsForAnyDeltaWithin(global, std::numeric_limits<double>::infinity()))
        << c.name;
    EXPECT_FALSE(opt->FitsForAnyDeltaWithin(global, std::numeric_limits<double>::quiet_NaN()))
        << c.name;
    // A model value near FLT_MAX leaves no room.
    global[kParams / 2] = 3e38f;
    EXPECT_FALSE(opt->FitsForAnyDeltaWithin(global, 1.0)) << c.name;
  }
}

TEST(ServerOptimizerBound, ANegativeSecondMomentGivesNoBound) {
  auto opt = MakeAdaptiveOptimizer(AdaptiveKind::kAdam, 4, 0.1, 0.9, 0.99, 1e-9);
  std::vector<float> global(4, 0.0f);
  EXPECT_TRUE(opt->FitsForAnyDeltaWithin(global, 1.0));
  opt->State()[1].values[2] = -1.0f;  // "v": LoadState refuses it, the bound does not assume it
  EXPECT_FALSE(opt->FitsForAnyDeltaWithin(global, 1.0));
}

}  // namespace
}  // namespace cairn::strategy
