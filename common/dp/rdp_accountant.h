// Rényi-DP accountant for the sampled Gaussian mechanism, and conversion to (ε, δ).
//
// Units and conventions used throughout common/dp:
// - A "noise multiplier" z is σ / Δ: the standard deviation of the Gaussian noise divided by the
//   L2 sensitivity Δ of the released sum under the neighbouring relation in use.
// - An RDP value r(α) is in nats, for one step, at Rényi order α > 1.
// - Composition over T steps multiplies the RDP by T at every order (Mironov 2017, Prop. 1).
// - ε is in nats; δ is a probability in (0, 1).
//
// Mathematics (docs/privacy.md has the long form and the citations):
// - Poisson-sampled Gaussian (add-or-remove adjacency): Mironov, Talwar, Zhang 2019,
//   arXiv:1908.10530 §3.3. Integer α: exact binomial sum. Fractional α: the two erfc series of
//   §3.3, adding the absolute values of the terms whose generalized binomial coefficient C(α, i)
//   is negative (an upper bound: never understates ε), stopping when both terms are decreasing
//   and more than 30 nats below the running total (the rule of Google's dp_accounting since 2024).
// - Sampling without replacement (m of n, replace-one adjacency): Wang, Balle, Kasiviswanathan
//   2019, arXiv:1808.00087, Theorem 9 (general upper bound) for integer α, Corollary 10
//   (linear interpolation of the cumulant generating function) for fractional α.
// - Conversion: classic (Mironov 2017, Prop. 3) or improved (Balle et al. 2020, Thm 21;
//   Canonne, Kamath, Steinke 2020), improved by default.
//
// Everything here is a pure function of its arguments: thread-safe, no global state.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"

namespace cairn::dp {

// Largest order accepted anywhere (the integer sum has α + 1 terms: this bounds the work per
// order and keeps every exponent finite).
inline constexpr double kMaxOrder = 4096.0;
// Largest number of orders in one grid (bounds the work per ε evaluation and user lists).
inline constexpr std::size_t kMaxOrders = 1024;
// Terms summed at most in one fractional-order series before that order is declared
// unconverged (its RDP is then +∞, which only removes the order from the minimum: conservative).
inline constexpr int kMaxSeriesTerms = 20000;

enum class Conversion {
  kImproved,  // Balle et al. 2020 Thm 21: ε = r + log((α−1)/α) − (log δ + log α)/(α−1)
  kClassic,   // Mironov 2017 Prop. 3: ε = r + log(1/δ)/(α−1)
};
std::string_view ConversionName(Conversion conversion);  // "improved" | "classic"
Result<Conversion> ParseConversion(std::string_view name);

// Order grids.
// Opacus's default: [1 + x/10 for x in 1..99] + [12..63] (151 orders).
std::vector<double> OpacusOrders();
// TF Privacy's compute_dp_sgd_privacy: [1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5] + [5..63]
// + [128, 256, 512] (72 orders).
std::vector<double> TfPrivacyOrders();
// "opacus", "tfp", or a comma-separated list of numbers (e.g. "1.5,2,4,8,16,32"). A list is
// validated with ValidateOrders; duplicates are an error.
Result<std::vector<double>> ParseOrders(std::string_view spec);
// Non-empty, at most kMaxOrders, each finite, > 1 and ≤ kMaxOrder. Names the offending entry.
Status ValidateOrders(std::span<const double> orders);

// --- Per-step RDP curves -----------------------------------------------------------------------

// One step of the Poisson-sampled Gaussian mechanism: each record is included independently with
// probability q ∈ [0, 1], Gaussian noise of multiplier z ≥ 0 on the sum. Add-or-remove adjacency.
// q = 0 gives 0; z = 0 (and q > 0) gives +∞; q = 1 gives α / (2z²); every value is capped at
// α / (2z²), the unsampled Gaussian's RDP, which bounds the sampled mechanism (quasi-convexity).
// RDP computed here is an upper bound that need not be monotone in α near α = 1.
Result<double> PoissonSampledGaussianRdp(double q, double z, double order);
Result<std::vector<double>> PoissonSampledGaussianRdp(double q, double z,
                                                      std::span<const double> orders);

// One step of the Gaussian mechanism on a uniformly random subset of fixed size m = q·n drawn
// without replacement; replace-one adjacency (n is public), z relative to the replace-one
// sensitivity. Wang–Balle–Kasiviswanathan 2019 Theorem 9 bound (looser than their Theorem 27,
// which dp_accounting uses for α ≤ 256; see docs/privacy.md). q = 1 gives α / (2z²).
Result<double> SampledWithoutReplacementGaussianRdp(double q, double z, double order);

// The plain Gaussian mechanism: α / (2z²) (+∞ for z = 0).
Result<double> GaussianRdp(double z, double order);

// --- Conversion to (ε, δ) ----------------------------------------------------------------------

struct EpsilonAndOrder {
  double epsilon = 0;  // ≥ 0; +∞ when no order gives a finite bound
  double order = 0;    // the order that attains the minimum (the first one on ties)
};

// ε at δ from a composed RDP curve (rdp[i] at orders[i]). Improved conversion: orders ≤ 1.01 are
// skipped (numerically unstable), and an order whose RDP r satisfies δ² ≥ 1 − e^(−r) gives ε = 0
// (the KL-divergence bound δ ≤ √(1 − e^(−KL)), as in dp_accounting).
Result<EpsilonAndOrder> EpsilonFromRdp(std::span<const double> orders, std::span<const double> rdp,
                                       double delta, Conversion conversion = Conversion::kImproved);

// ε after `steps` Poisson-sampled Gaussian steps (rdp = steps · r(α) at each order).
Result<EpsilonAndOrder> PoissonSampledGaussianEpsilon(double q, double z, std::uint64_t steps,
                                                      double delta, std::span<const double> orders,
                                                      Conversion conversion = Conversion::kImproved);

// --- Inverse -----------------------------------------------------------------------------------

struct NoiseSearchOptions {
  // Bisection stops when hi − lo ≤ relative_tolerance · hi. The returned z = hi satisfies
  // ε(z) ≤ target, and ε(z · (1 − relative_tolerance)) > target (ε is non-increasing in z).
  double relative_tolerance = 1e-6;
  // Search range for z. A target that even max_noise_multiplier cannot meet is an error
  // (kOutOfRange) naming the ε reached there; below min_noise_multiplier the search gives up.
  double min_noise_multiplier = 0x1p-20;
  double max_noise_multiplier = 0x1p20;
};

// Smallest noise multiplier z (to the tolerance above) such that `steps` Poisson-sampled Gaussian
// steps at rate q stay within ε ≤ target_epsilon at δ.
Result<double> NoiseMultiplierForEpsilon(double target_epsilon, double q, std::uint64_t steps,
                                         double delta, std::span<const double> orders,
                                         Conversion conversion = Conversion::kImproved,
                                         const NoiseSearchOptions& options = {});

// --- Validation shared by the ledger and the command --------------------------------------------

Status ValidateSamplingRate(double q);       // finite, in [0, 1]
Status ValidateNoiseMultiplier(double z);    // finite, ≥ 0
Status ValidateDelta(double delta);          // finite, in (0, 1)

}  // namespace cairn::dp
