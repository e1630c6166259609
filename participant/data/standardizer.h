// Per-feature standardization, x' = (x - mean) / std.
//
// Two ways to get the statistics:
//  - Fit(): from the site's own training split. They are derived from raw rows and so are as
//    private as the data: never logged, stored with the model or sent anywhere. Apply the same
//    object to that site's evaluation split.
//  - FromMoments(): pooled statistics from per-feature sums that several sites added up
//    (federated standardization). Each site computes ComputeMoments() on its training split;
//    only the SUM over sites may leave, through secure aggregation like a model update. Then
//    every site scales the same way. This matters under label skew: with per-site statistics
//    the same patient maps to different inputs at different sites (measured on the hospital
//    example: FedAvg global accuracy ~0.86 with per-site statistics, ~0.99 with shared ones).
// FromStatistics() takes published values (e.g. from the model provider).
#pragma once

#include <cstdint>
#include <vector>

#include "common/core/error.h"
#include "participant/data/dataset.h"

namespace cairn::data {

// Sums over a site's rows, per feature value. Moments of disjoint sets add up.
struct FeatureMoments {
  std::int64_t count = 0;
  std::vector<double> sum{};     // sum of x
  std::vector<double> sum_sq{};  // sum of x^2
};
Result<FeatureMoments> ComputeMoments(const Dataset& d);
// total += part; fails when the feature counts differ.
Status AddMoments(FeatureMoments& total, const FeatureMoments& part);

class Standardizer {
 public:
  // Mean and population standard deviation of each feature value (computed in double). A
  // feature with std below 1e-12 (constant) gets scale 1, so it maps to 0 rather than to
  // infinity. Fails on an empty dataset.
  static Result<Standardizer> Fit(const Dataset& train);
  // mean = sum / count, var = sum_sq / count - mean^2 (clamped at 0); same constant rule.
  static Result<Standardizer> FromMoments(const FeatureMoments& moments);
  // Given statistics; every stddev must be > 0 and every value finite.
  static Result<Standardizer> FromStatistics(std::vector<double> mean, std::vector<double> stddev);

  // Standardizes in place. Fails when the dataset has another feature size than the statistics.
  Status Apply(Dataset& d) const;

  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& stddev() const { return stddev_; }

 private:
  std::vector<double> mean_;
  std::vector<double> stddev_;
};

}  // namespace cairn::data
