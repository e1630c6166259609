#include "participant/data/standardizer.h"

#include <cmath>

namespace cairn::data {

Result<Standardizer> Standardizer::Fit(const Dataset& train) {
  if (train.rows <= 0) return Fail(ErrorCode::kInvalidArgument, "cannot fit a standardizer on an empty dataset");
  const std::int64_t f = FeatureSize(train);
  if (static_cast<std::int64_t>(train.features.size()) != train.rows * f) {
    return Fail(ErrorCode::kInvalidArgument, "dataset features do not match its row count and shape");
  }
  Standardizer s;
  s.mean_.assign(static_cast<std::size_t>(f), 0.0);
  s.stddev_.assign(static_cast<std::size_t>(f), 0.0);
  for (std::int64_t r = 0; r < train.rows; ++r) {
    const float* row = train.features.data() + r * f;
    for (std::int64_t j = 0; j < f; ++j) s.mean_[j] += row[j];
  }
  for (auto& m : s.mean_) m /= static_cast<double>(train.rows);
  for (std::int64_t r = 0; r < train.rows; ++r) {
    const float* row = train.features.data() + r * f;
    for (std::int64_t j = 0; j < f; ++j) {
      const double dv = row[j] - s.mean_[j];
      s.stddev_[j] += dv * dv;
    }
  }
  for (auto& v : s.stddev_) {
    v = std::sqrt(v / static_cast<double>(train.rows));
    if (v < 1e-12) v = 1.0;
  }
  return s;
}

Status Standardizer::Apply(Dataset& d) const {
  const std::int64_t f = FeatureSize(d);
  if (static_cast<std::size_t>(f) != mean_.size()) {
    return Fail(ErrorCode::kInvalidArgument, "the standardizer was fit on " + std::to_string(mean_.size()) +
                                                 " features; this dataset has " + std::to_string(f));
  }
  if (static_cast<std::int64_t>(d.features.size()) != d.rows * f) {
    return Fail(ErrorCode::kInvalidArgument, "dataset features do not match its row count and shape");
  }
  for (std::int64_t r = 0; r < d.rows; ++r) {
    float* row = d.features.data() + r * f;
    for (std::int64_t j = 0; j < f; ++j) {
      row[j] = static_cast<float>((row[j] - mean_[j]) / stddev_[j]);
    }
  }
  return Ok();
}

}  // namespace cairn::data
