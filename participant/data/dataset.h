// In-memory labelled data for training and evaluation, torch-free.
//
// A Dataset never leaves the participant: nothing in it is logged or sent. Loaders: csv.h
// (tabular), idx.h (Fashion-MNIST images). Splitting: split.h.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/core/error.h"

namespace cairn::data {

struct Dataset {
  // rows × prod(feature_shape) values, row-major (example i starts at i * prod(feature_shape)).
  std::vector<float> features;
  // One class index in [0, num_classes) per row.
  std::vector<std::int64_t> labels;
  std::int64_t rows = 0;
  // Shape of one example: {F} for tabular data, {1, 28, 28} for Fashion-MNIST.
  std::vector<std::int64_t> feature_shape;
  // Number of classes K (labels lie in [0, K)); a site may hold only some of them.
  std::int64_t num_classes = 0;
  // Column names of tabular features (empty for images).
  std::vector<std::string> feature_names;
};

// Values per example: prod(feature_shape).
std::int64_t FeatureSize(const Dataset& d);

// Checks the invariants above (sizes agree, labels in range, values finite).
Status ValidateDataset(const Dataset& d);

// The rows at `indices` (in that order; repeats allowed). Fails on an index outside [0, rows).
Result<Dataset> Subset(const Dataset& d, std::span<const std::int64_t> indices);

// Rows per class: result[c] = number of rows with label c, size num_classes.
std::vector<std::int64_t> LabelCounts(std::span<const std::int64_t> labels, std::int64_t num_classes);

}  // namespace cairn::data
