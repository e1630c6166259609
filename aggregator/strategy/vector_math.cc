#include "aggregator/strategy/vector_math.h"

#include <Eigen/Core>

namespace cairn::strategy {

double SquaredNorm(std::span<const float> x) {
  // Accumulate in double over float blocks: the float→double cast vectorizes and the double sum
  // keeps 1M-element norms accurate to ~1e-16 relative.
  Eigen::Map<const Eigen::ArrayXf> a(x.data(), static_cast<Eigen::Index>(x.size()));
  return a.cast<double>().square().sum();
}

double ClipScale(double norm, double bound) {
  if (!(bound > 0) || !(norm > bound)) return 1.0;
  return bound / norm;
}

void AccumulateWeighted(std::span<double> sum, std::span<const float> delta, double weight) {
  const auto n = static_cast<Eigen::Index>(sum.size());
  Eigen::Map<Eigen::ArrayXd> s(sum.data(), n);
  Eigen::Map<const Eigen::ArrayXf> d(delta.data(), n);
  s += weight * d.cast<double>();
}

void DivideInPlace(std::span<double> sum, double total_weight) {
  Eigen::Map<Eigen::ArrayXd> s(sum.data(), static_cast<Eigen::Index>(sum.size()));
  s /= total_weight;
}

}  // namespace cairn::strategy
