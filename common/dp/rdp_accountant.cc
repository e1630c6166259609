#include "common/dp/rdp_accountant.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "common/dp/internal/log_math.h"
#include "common/dp/internal/num.h"

namespace cairn::dp {

using internal::Num;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool IsInteger(double x) { return std::floor(x) == x; }

Status ValidateOrder(double order) {
  if (!std::isfinite(order) || order <= 1.0 || order > kMaxOrder) {
    return Fail(ErrorCode::kInvalidArgument,
                "Rényi order " + Num(order) + " is outside (1, " + Num(kMaxOrder) + "]");
  }
  return Ok();
}

// log A_α for integer α ≥ 2 and 0 < q < 1 (Mironov, Talwar, Zhang 2019, §3.3, eq. for integer α):
//   A_α = Σ_{i=0}^{α} C(α, i) (1−q)^(α−i) q^i exp((i² − i) / (2z²)).
// Summed in log space with the largest term factored out, so α up to kMaxOrder with tiny z does
// not overflow.
double LogAInteger(double q, double z, int alpha) {
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double two_z2 = 2.0 * z * z;
  std::vector<double> terms(static_cast<std::size_t>(alpha) + 1);
  internal::LogBinomial binom(alpha);
  for (int i = 0; i <= alpha; ++i) {
    const double di = i;
    terms[static_cast<std::size_t>(i)] = binom.Next(i) + di * log_q + (alpha - di) * log_1mq +
                                         (di * di - di) / two_z2;
  }
  return internal::LogSumExp(terms);
}

// log A_α for fractional α and 0 < q < 1: the two erfc series of Mironov, Talwar, Zhang 2019 §3.3
// (integrals over (−∞, z₀] and [z₀, ∞), z₀ = z² log(1/q − 1) + ½). Conservative rule: every term
// is added with its absolute value (the series with negative C(α, i) subtracted is exact; adding
// them instead is an upper bound). Stops when both terms are decreasing and more than 30 nats
// below the running total; returns +∞ if that does not happen within kMaxSeriesTerms terms.
double LogAFractional(double q, double z, double alpha) {
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double z0 = z * z * (log_1mq - log_q) + 0.5;
  const double two_z2 = 2.0 * z * z;
  const double sqrt2_z = std::numbers::sqrt2 * z;
  const double log_half = -std::numbers::ln2;
  internal::LogAccumulator a0;
  internal::LogAccumulator a1;
  internal::LogBinomial binom(alpha);  // log |C(α, i)|
  double last_s0 = -kInf;
  double last_s1 = -kInf;
  for (int i = 0; i < kMaxSeriesTerms; ++i) {
    const double di = i;
    const double log_coef = binom.Next(i);
    const double j = alpha - di;
    const double log_t0 = log_coef + di * log_q + j * log_1mq;
    const double log_t1 = log_coef + j * log_q + di * log_1mq;
    const double log_e0 = log_half + internal::LogErfc((di - z0) / sqrt2_z);
    const double log_e1 = log_half + internal::LogErfc((z0 - j) / sqrt2_z);
    const double log_s0 = log_t0 + (di * di - di) / two_z2 + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / two_z2 + log_e1;
    a0.Add(log_s0);
    a1.Add(log_s1);
    const double total = internal::LogAdd(a0.Value(), a1.Value());
    if (log_s0 < last_s0 && log_s1 < last_s1 && std::max(log_s0, log_s1) < total - 30.0) {
      return total;
    }
    last_s0 = log_s0;
    last_s1 = log_s1;
  }
  return kInf;
}

// log of the Theorem 9 bound of Wang, Balle, Kasiviswanathan 2019 (arXiv:1808.00087) for integer
// α ≥ 2, with the base mechanism the Gaussian of multiplier z: ε(j) = j/(2z²), ε(∞) = ∞, so
// every min{2, (e^ε(∞) − 1)^j} is 2:
//   1 + q² C(α,2) min{4(e^ε(2) − 1), 2 e^ε(2)} + Σ_{j=3}^{α} 2 q^j C(α,j) e^((j−1) ε(j)).
// Returns (α − 1) · ε'(α), the cumulant generating function bound K(α).
double LogAWithoutReplacementInteger(double q, double z, int alpha) {
  if (alpha <= 1) return 0.0;
  const double log_q = std::log(q);
  const double two_z2 = 2.0 * z * z;
  const double eps2 = 2.0 / two_z2;
  std::vector<double> terms;
  terms.reserve(static_cast<std::size_t>(alpha));
  terms.push_back(0.0);  // the leading 1
  internal::LogBinomial binom(alpha);
  binom.Next(0);
  binom.Next(1);
  const double log_c2 = binom.Next(2);
  terms.push_back(2.0 * log_q + log_c2 +
                  std::min(std::log(4.0) + internal::LogExpm1(eps2), eps2 + std::numbers::ln2));
  for (int j = 3; j <= alpha; ++j) {
    const double dj = j;
    terms.push_back(std::numbers::ln2 + dj * (dj - 1.0) / two_z2 + dj * log_q + binom.Next(j));
  }
  return internal::LogSumExp(terms);
}

Status ValidateCommon(double q, double z, double order) {
  CAIRN_RETURN_IF_ERROR(ValidateSamplingRate(q));
  CAIRN_RETURN_IF_ERROR(ValidateNoiseMultiplier(z));
  return ValidateOrder(order);
}

}  // namespace

std::string_view ConversionName(Conversion conversion) {
  switch (conversion) {
    case Conversion::kImproved: return "improved";
    case Conversion::kClassic: return "classic";
  }
  return "unknown";
}

Result<Conversion> ParseConversion(std::string_view name) {
  if (name == "improved") return Conversion::kImproved;
  if (name == "classic") return Conversion::kClassic;
  return Fail(ErrorCode::kInvalidArgument,
              "conversion '" + std::string(name) + "' is not one of: improved, classic");
}

std::vector<double> OpacusOrders() {
  // Same arithmetic as Opacus's [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)), so
  // the orders are bit-identical to its grid.
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1.0 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  return orders;
}

std::vector<double> TfPrivacyOrders() {
  std::vector<double> orders = {1.25, 1.5, 1.75, 2., 2.25, 2.5, 3., 3.5, 4., 4.5};
  for (int a = 5; a < 64; ++a) orders.push_back(a);
  orders.insert(orders.end(), {128., 256., 512.});
  return orders;
}

Status ValidateOrders(std::span<const double> orders) {
  if (orders.empty()) return Fail(ErrorCode::kInvalidArgument, "the order list is empty");
  if (orders.size() > kMaxOrders) {
    return Fail(ErrorCode::kInvalidArgument, "the order list has " + std::to_string(orders.size()) +
                                                 " entries; at most " +
                                                 std::to_string(kMaxOrders) + " are allowed");
  }
  for (std::size_t i = 0; i < orders.size(); ++i) {
    auto status = ValidateOrder(orders[i]);
    if (!status) return Fail(std::move(status).error().Context("order #" + std::to_string(i + 1)));
  }
  return Ok();
}

Result<std::vector<double>> ParseOrders(std::string_view spec) {
  if (spec == "opacus") return OpacusOrders();
  if (spec == "tfp") return TfPrivacyOrders();
  std::vector<double> orders;
  std::size_t pos = 0;
  int index = 0;
  while (true) {
    ++index;
    const std::size_t comma = spec.find(',', pos);
    std::string_view item = spec.substr(pos, comma == std::string_view::npos ? spec.npos : comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    double value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "orders: item #" + std::to_string(index) + " '" + std::string(item) +
                      "' is not a number (expected opacus, tfp or a comma-separated list)");
    }
    if (std::find(orders.begin(), orders.end(), value) != orders.end()) {
      return Fail(ErrorCode::kInvalidArgument, "orders: item #" + std::to_string(index) + " (" +
                                                   std::string(item) + ") is a duplicate");
    }
    orders.push_back(value);
    if (orders.size() > kMaxOrders) break;  // ValidateOrders reports it
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  auto status = ValidateOrders(orders);
  if (!status) return Fail(std::move(status).error().Context("orders"));
  return orders;
}

Status ValidateSamplingRate(double q) {
  if (!std::isfinite(q) || q < 0.0 || q > 1.0) {
    return Fail(ErrorCode::kInvalidArgument, "sampling rate " + Num(q) + " is outside [0, 1]");
  }
  return Ok();
}

Status ValidateNoiseMultiplier(double z) {
  if (!std::isfinite(z) || z < 0.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "noise multiplier " + Num(z) + " is not a finite number ≥ 0");
  }
  return Ok();
}

Status ValidateDelta(double delta) {
  if (!std::isfinite(delta) || delta <= 0.0 || delta >= 1.0) {
    return Fail(ErrorCode::kInvalidArgument, "δ = " + Num(delta) + " is outside (0, 1)");
  }
  return Ok();
}

Result<double> PoissonSampledGaussianRdp(double q, double z, double order) {
  CAIRN_RETURN_IF_ERROR(ValidateCommon(q, z, order));
  if (q == 0.0) return 0.0;
  if (z == 0.0) return kInf;
  if (q == 1.0) return order / (2.0 * z * z);
  const double log_a = IsInteger(order) ? LogAInteger(q, z, static_cast<int>(order))
                                        : LogAFractional(q, z, order);
  // A_α ≥ 1 in exact arithmetic; a rounding error below 0 is lifted to 0 (conservative).
  const double r = std::max(0.0, log_a / (order - 1.0));
  // Sampling never costs more than the unsampled Gaussian: the Rényi divergence is jointly
  // quasi-convex, so D_α((1−q)P + qR ‖ P) ≤ D_α(R ‖ P) = α/(2z²), and likewise in the other
  // direction. The conservative fractional rule can exceed this at orders near 1 for large z
  // (e.g. q = 0.5, z = 5, α = 1.1: 0.156 against 0.022), where 1/(α−1) magnifies its slack.
  return std::min(r, order / (2.0 * z * z));
}

Result<std::vector<double>> PoissonSampledGaussianRdp(double q, double z,
                                                      std::span<const double> orders) {
  CAIRN_RETURN_IF_ERROR(ValidateOrders(orders));
  std::vector<double> rdp;
  rdp.reserve(orders.size());
  for (double order : orders) {
    CAIRN_ASSIGN_OR_RETURN(double r, PoissonSampledGaussianRdp(q, z, order));
    rdp.push_back(r);
  }
  return rdp;
}

Result<double> SampledWithoutReplacementGaussianRdp(double q, double z, double order) {
  CAIRN_RETURN_IF_ERROR(ValidateCommon(q, z, order));
  if (q == 0.0) return 0.0;
  if (z == 0.0) return kInf;
  if (q == 1.0) return order / (2.0 * z * z);
  double k = 0;
  if (IsInteger(order)) {
    k = LogAWithoutReplacementInteger(q, z, static_cast<int>(order));
  } else {
    // Corollary 10 of Wang, Balle, Kasiviswanathan 2019: the CGF K(α) = (α − 1) ε(α) is convex,
    // so linear interpolation between the bounds at ⌊α⌋ and ⌈α⌉ bounds it from above.
    const double lo = std::floor(order);
    const double t = order - lo;
    k = (1.0 - t) * LogAWithoutReplacementInteger(q, z, static_cast<int>(lo)) +
        t * LogAWithoutReplacementInteger(q, z, static_cast<int>(lo) + 1);
  }
  return std::max(0.0, k / (order - 1.0));
}

Result<double> GaussianRdp(double z, double order) {
  CAIRN_RETURN_IF_ERROR(ValidateNoiseMultiplier(z));
  CAIRN_RETURN_IF_ERROR(ValidateOrder(order));
  if (z == 0.0) return kInf;
  return order / (2.0 * z * z);
}

Result<EpsilonAndOrder> EpsilonFromRdp(std::span<const double> orders, std::span<const double> rdp,
                                       double delta, Conversion conversion) {
  CAIRN_RETURN_IF_ERROR(ValidateOrders(orders));
  CAIRN_RETURN_IF_ERROR(ValidateDelta(delta));
  if (rdp.size() != orders.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "RDP curve has " + std::to_string(rdp.size()) + " values for " +
                    std::to_string(orders.size()) + " orders");
  }
  const double log_delta = std::log(delta);
  EpsilonAndOrder best{kInf, orders[0]};
  for (std::size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    const double r = rdp[i];
    if (std::isnan(r) || r < 0.0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "RDP value " + Num(r) + " at order " + Num(a) + " is not ≥ 0");
    }
    double eps = kInf;
    if (std::isinf(r)) {
      eps = kInf;
    } else if (conversion == Conversion::kClassic) {
      eps = r - log_delta / (a - 1.0);
    } else if (delta * delta + std::expm1(-r) > 0.0) {
      // δ ≥ √(1 − e^(−r)) ≥ √(1 − e^(−KL)) ≥ total variation: (0, δ)-DP.
      eps = 0.0;
    } else if (a > 1.01) {
      eps = r + std::log1p(-1.0 / a) - (log_delta + std::log(a)) / (a - 1.0);
    }
    if (eps < best.epsilon) best = {eps, a};
  }
  best.epsilon = std::max(0.0, best.epsilon);
  return best;
}

Result<EpsilonAndOrder> PoissonSampledGaussianEpsilon(double q, double z, std::uint64_t steps,
                                                      double delta, std::span<const double> orders,
                                                      Conversion conversion) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<double> rdp, PoissonSampledGaussianRdp(q, z, orders));
  for (double& r : rdp) r = internal::Compose(r, steps);
  return EpsilonFromRdp(orders, rdp, delta, conversion);
}

Result<double> NoiseMultiplierForEpsilon(double target_epsilon, double q, std::uint64_t steps,
                                         double delta, std::span<const double> orders,
                                         Conversion conversion, const NoiseSearchOptions& options) {
  if (!std::isfinite(target_epsilon) || target_epsilon <= 0.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "target ε = " + Num(target_epsilon) + " is not a finite number > 0");
  }
  CAIRN_RETURN_IF_ERROR(ValidateSamplingRate(q));
  CAIRN_RETURN_IF_ERROR(ValidateDelta(delta));
  CAIRN_RETURN_IF_ERROR(ValidateOrders(orders));
  if (!(options.relative_tolerance > 0.0 && options.relative_tolerance < 1.0) ||
      !(options.min_noise_multiplier > 0.0) ||
      !(options.max_noise_multiplier > options.min_noise_multiplier) ||
      !std::isfinite(options.max_noise_multiplier)) {
    return Fail(ErrorCode::kInvalidArgument, "noise search options are inconsistent");
  }
  // Nothing is released about anyone: no noise needed.
  if (q == 0.0 || steps == 0) return 0.0;

  auto epsilon_at = [&](double z) -> Result<double> {
    CAIRN_ASSIGN_OR_RETURN(EpsilonAndOrder e,
                           PoissonSampledGaussianEpsilon(q, z, steps, delta, orders, conversion));
    return e.epsilon;
  };
  // Bracket: eps(lo) > target ≥ eps(hi).
  double hi = 1.0;
  double lo = 0.0;
  CAIRN_ASSIGN_OR_RETURN(double e_hi, epsilon_at(hi));
  if (e_hi <= target_epsilon) {
    while (true) {
      const double candidate = hi / 2.0;
      if (candidate < options.min_noise_multiplier) return hi;
      CAIRN_ASSIGN_OR_RETURN(double e, epsilon_at(candidate));
      if (e > target_epsilon) {
        lo = candidate;
        break;
      }
      hi = candidate;
    }
  } else {
    while (true) {
      lo = hi;
      hi *= 2.0;
      if (hi > options.max_noise_multiplier) {
        CAIRN_ASSIGN_OR_RETURN(double e_max, epsilon_at(options.max_noise_multiplier));
        if (e_max <= target_epsilon) {
          hi = options.max_noise_multiplier;
          break;
        }
        return Fail(ErrorCode::kOutOfRange,
                    "target ε = " + Num(target_epsilon) + " at δ = " + Num(delta) +
                        " is not reachable: even noise multiplier " +
                        Num(options.max_noise_multiplier) + " gives ε = " + Num(e_max) +
                        " (with the classic conversion ε cannot go below log(1/δ)/(α_max − 1): "
                        "add larger orders, use the improved conversion or raise the target)");
      }
      CAIRN_ASSIGN_OR_RETURN(double e, epsilon_at(hi));
      if (e <= target_epsilon) break;
    }
  }
  while (hi - lo > options.relative_tolerance * hi) {
    const double mid = lo + (hi - lo) / 2.0;
    CAIRN_ASSIGN_OR_RETURN(double e, epsilon_at(mid));
    if (e <= target_epsilon) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

}  // namespace cairn::dp
