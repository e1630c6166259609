// Small synthetic data sets for the trainer tests (deterministic).
#pragma once

#include <cmath>

#include "common/model/rng.h"
#include "participant/data/dataset.h"

namespace cairn::trainer::testing_data {

// `classes` Gaussian blobs in `features` dimensions, centres 4 apart on separate axes: linearly
// separable with overwhelming probability.
inline data::Dataset Blobs(std::int64_t rows, std::int64_t features, std::int64_t classes, std::uint64_t seed) {
  model::DeterministicRng rng(seed);
  data::Dataset d;
  d.rows = rows;
  d.feature_shape = {features};
  d.num_classes = classes;
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t label = i % classes;
    d.labels.push_back(label);
    for (std::int64_t f = 0; f < features; ++f) {
      const double centre = (f % classes == label) ? 2.0 : -2.0;
      d.features.push_back(static_cast<float>(centre + 0.7 * rng.Normal()));
    }
  }
  return d;
}

// 1×28×28 images: class 0 bright in the top half, class 1 bright in the bottom half, plus noise.
inline data::Dataset HalfImages(std::int64_t rows, std::uint64_t seed) {
  model::DeterministicRng rng(seed);
  data::Dataset d;
  d.rows = rows;
  d.feature_shape = {1, 28, 28};
  d.num_classes = 2;
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t label = i % 2;
    d.labels.push_back(label);
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        const bool bright = (y < 14) == (label == 0);
        d.features.push_back(static_cast<float>((bright ? 0.7 : 0.1) + 0.2 * rng.UniformDouble()));
      }
    }
  }
  return d;
}

}  // namespace cairn::trainer::testing_data
