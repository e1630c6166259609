#include "participant/data/dataset.h"

#include <cmath>
#include <cstring>

namespace cairn::data {

std::int64_t FeatureSize(const Dataset& d) {
  std::int64_t n = 1;
  for (std::int64_t s : d.feature_shape) n *= s;
  return n;
}

Status ValidateDataset(const Dataset& d) {
  if (d.rows < 0) return Fail(ErrorCode::kInvalidArgument, "dataset has a negative row count");
  if (d.feature_shape.empty()) return Fail(ErrorCode::kInvalidArgument, "dataset has no feature shape");
  for (std::int64_t s : d.feature_shape) {
    if (s < 1) return Fail(ErrorCode::kInvalidArgument, "dataset feature shape has a dimension below 1");
  }
  const std::int64_t f = FeatureSize(d);
  if (static_cast<std::int64_t>(d.features.size()) != d.rows * f) {
    return Fail(ErrorCode::kInvalidArgument,
                "dataset holds " + std::to_string(d.features.size()) + " feature values; " +
                    std::to_string(d.rows) + " rows of " + std::to_string(f) + " need " +
                    std::to_string(d.rows * f));
  }
  if (static_cast<std::int64_t>(d.labels.size()) != d.rows) {
    return Fail(ErrorCode::kInvalidArgument, "dataset holds " + std::to_string(d.labels.size()) +
                                                 " labels for " + std::to_string(d.rows) + " rows");
  }
  if (!d.feature_names.empty() && static_cast<std::int64_t>(d.feature_names.size()) != f) {
    return Fail(ErrorCode::kInvalidArgument, "dataset has " + std::to_string(d.feature_names.size()) +
                                                 " feature names for " + std::to_string(f) + " features");
  }
  for (std::int64_t i = 0; i < d.rows; ++i) {
    if (d.labels[i] < 0 || d.labels[i] >= d.num_classes) {
      return Fail(ErrorCode::kInvalidArgument, "row " + std::to_string(i) + " has label " +
                                                   std::to_string(d.labels[i]) + ", outside [0, " +
                                                   std::to_string(d.num_classes) + ")");
    }
  }
  for (std::size_t i = 0; i < d.features.size(); ++i) {
    if (!std::isfinite(d.features[i])) {
      return Fail(ErrorCode::kInvalidArgument,
                  "row " + std::to_string(static_cast<std::int64_t>(i) / f) + ", feature " +
                      std::to_string(static_cast<std::int64_t>(i) % f) + " is not a finite number");
    }
  }
  return Ok();
}

Result<Dataset> Subset(const Dataset& d, std::span<const std::int64_t> indices) {
  const std::int64_t f = FeatureSize(d);
  Dataset out;
  out.feature_shape = d.feature_shape;
  out.num_classes = d.num_classes;
  out.feature_names = d.feature_names;
  out.rows = static_cast<std::int64_t>(indices.size());
  out.features.resize(indices.size() * static_cast<std::size_t>(f));
  out.labels.resize(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    const std::int64_t r = indices[i];
    if (r < 0 || r >= d.rows) {
      return Fail(ErrorCode::kOutOfRange, "index " + std::to_string(i) + " is row " + std::to_string(r) +
                                              ", outside the dataset's " + std::to_string(d.rows) + " rows");
    }
    std::memcpy(out.features.data() + i * static_cast<std::size_t>(f),
                d.features.data() + r * f, static_cast<std::size_t>(f) * sizeof(float));
    out.labels[i] = d.labels[r];
  }
  return out;
}

std::vector<std::int64_t> LabelCounts(std::span<const std::int64_t> labels, std::int64_t num_classes) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(std::max<std::int64_t>(num_classes, 0)), 0);
  for (std::int64_t l : labels) {
    if (l >= 0 && l < num_classes) ++counts[static_cast<std::size_t>(l)];
  }
  return counts;
}

}  // namespace cairn::data
