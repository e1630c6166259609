#include "common/dp/internal/log_math.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace cairn::dp::internal {
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

double LogAdd(double a, double b) {
  const double hi = std::max(a, b);
  const double lo = std::min(a, b);
  if (lo == -kInf) return hi;
  if (hi == kInf) return kInf;
  return hi + std::log1p(std::exp(lo - hi));
}

double LogSumExp(std::span<const double> xs) {
  double max = -kInf;
  for (double x : xs) max = std::max(max, x);
  if (max == -kInf || max == kInf) return max;
  double sum = 0.0;
  for (double x : xs) sum += std::exp(x - max);
  return max + std::log(sum);
}

void LogAccumulator::Add(double log_x) {
  if (log_x == -kInf) return;
  if (log_x == kInf) {
    infinite_ = true;
    return;
  }
  if (log_x <= max_) {
    scaled_sum_ += std::exp(log_x - max_);
  } else {
    scaled_sum_ = scaled_sum_ * std::exp(max_ - log_x) + 1.0;
    max_ = log_x;
  }
}

double LogAccumulator::Value() const {
  if (infinite_) return kInf;
  if (max_ == -kInf) return -kInf;
  return max_ + std::log(scaled_sum_);
}

double LogBinomial::Next(int i) {
  if (i == 0) {
    value_ = 0.0;
  } else {
    value_ += std::log(std::fabs(n_ - static_cast<double>(i) + 1.0)) - std::log(static_cast<double>(i));
  }
  return value_;
}

double LogErfc(double x) {
  if (x < 25.0) return std::log(std::erfc(x));
  // erfc(x) = e^(−x²) / (x √π) · Σ_k (−1)^k (2k − 1)!! / (2x²)^k (asymptotic). At x ≥ 25 the
  // k-th term is below 1e-17 by k = 7; ten terms are summed.
  const double inv_2x2 = 1.0 / (2.0 * x * x);
  double term = 1.0;
  double series = 1.0;
  for (int k = 1; k <= 10; ++k) {
    term *= -(2.0 * k - 1.0) * inv_2x2;
    series += term;
  }
  return -x * x - std::log(x) - 0.5 * std::log(std::numbers::pi) + std::log(series);
}

double LogExpm1(double x) {
  if (x > 30.0) return x + std::log1p(-std::exp(-x));
  return std::log(std::expm1(x));
}

}  // namespace cairn::dp::internal
