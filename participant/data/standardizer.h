// Per-feature standardization, x' = (x - mean) / std.
//
// Fit on the site's own training split only; apply the same statistics to that site's
// evaluation split. The statistics are derived from raw rows and so are as private as the data:
// they are never logged, stored with the model or sent to the aggregator.
#pragma once

#include <vector>

#include "common/core/error.h"
#include "participant/data/dataset.h"

namespace cairn::data {

class Standardizer {
 public:
  // Mean and population standard deviation of each feature value (computed in double). A
  // feature with std below 1e-12 (constant on this site) gets scale 1, so it maps to 0 rather
  // than to infinity. Fails on an empty dataset.
  static Result<Standardizer> Fit(const Dataset& train);

  // Standardizes in place. Fails when the dataset has another feature size than the fit.
  Status Apply(Dataset& d) const;

  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& stddev() const { return stddev_; }

 private:
  std::vector<double> mean_;
  std::vector<double> stddev_;
};

}  // namespace cairn::data
