#include "participant/data/standardizer.h"

#include <algorithm>
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

Result<FeatureMoments> ComputeMoments(const Dataset& d) {
  const std::int64_t f = FeatureSize(d);
  if (static_cast<std::int64_t>(d.features.size()) != d.rows * f) {
    return Fail(ErrorCode::kInvalidArgument, "dataset features do not match its row count and shape");
  }
  FeatureMoments m;
  m.count = d.rows;
  m.sum.assign(static_cast<std::size_t>(f), 0.0);
  m.sum_sq.assign(static_cast<std::size_t>(f), 0.0);
  for (std::int64_t r = 0; r < d.rows; ++r) {
    const float* row = d.features.data() + r * f;
    for (std::int64_t j = 0; j < f; ++j) {
      m.sum[j] += row[j];
      m.sum_sq[j] += static_cast<double>(row[j]) * row[j];
    }
  }
  return m;
}

Status AddMoments(FeatureMoments& total, const FeatureMoments& part) {
  if (total.count == 0 && total.sum.empty()) {
    total = part;
    return Ok();
  }
  if (part.sum.size() != total.sum.size() || part.sum_sq.size() != total.sum_sq.size()) {
    return Fail(ErrorCode::kInvalidArgument, "moments of " + std::to_string(part.sum.size()) +
                                                 " features cannot be added to moments of " +
                                                 std::to_string(total.sum.size()));
  }
  total.count += part.count;
  for (std::size_t j = 0; j < total.sum.size(); ++j) {
    total.sum[j] += part.sum[j];
    total.sum_sq[j] += part.sum_sq[j];
  }
  return Ok();
}

Result<Standardizer> Standardizer::FromMoments(const FeatureMoments& m) {
  if (m.count <= 0) return Fail(ErrorCode::kInvalidArgument, "moments of zero rows give no statistics");
  if (m.sum.size() != m.sum_sq.size() || m.sum.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "moments must hold one sum and one sum of squares per feature");
  }
  Standardizer s;
  const double n = static_cast<double>(m.count);
  for (std::size_t j = 0; j < m.sum.size(); ++j) {
    const double mean = m.sum[j] / n;
    const double var = std::max(0.0, m.sum_sq[j] / n - mean * mean);
    if (!std::isfinite(mean) || !std::isfinite(var)) {
      return Fail(ErrorCode::kInvalidArgument, "moments of feature " + std::to_string(j) + " are not finite");
    }
    double sd = std::sqrt(var);
    if (sd < 1e-12) sd = 1.0;
    s.mean_.push_back(mean);
    s.stddev_.push_back(sd);
  }
  return s;
}

Result<Standardizer> Standardizer::FromStatistics(std::vector<double> mean, std::vector<double> stddev) {
  if (mean.empty() || mean.size() != stddev.size()) {
    return Fail(ErrorCode::kInvalidArgument, "standardization needs one mean and one stddev per feature");
  }
  for (std::size_t j = 0; j < mean.size(); ++j) {
    if (!std::isfinite(mean[j]) || !std::isfinite(stddev[j]) || !(stddev[j] > 0)) {
      return Fail(ErrorCode::kInvalidArgument, "feature " + std::to_string(j) +
                                                   ": mean must be finite and stddev finite and > 0");
    }
  }
  Standardizer s;
  s.mean_ = std::move(mean);
  s.stddev_ = std::move(stddev);
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
