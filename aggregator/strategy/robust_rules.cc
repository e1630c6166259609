#include "aggregator/strategy/robust_rules.h"

#include <Eigen/Core>
#include <algorithm>
#include <numeric>

#include "aggregator/strategy/vector_math.h"

namespace cairn::strategy {
namespace {

std::size_t ParamCount(const Deltas& deltas) { return deltas.empty() ? 0 : deltas[0].size(); }

// Fills tile[c · k + r] = scale[idx[r]] · deltas[idx[r]][offset + c] for c < len, r < k: one row
// of k values per coordinate, so each coordinate's values are contiguous for nth_element.
void FillTransposedTile(const Deltas& deltas, std::span<const double> scales,
                        std::span<const std::size_t> idx, std::size_t offset, std::size_t len,
                        std::vector<double>& tile) {
  const std::size_t k = idx.size();
  for (std::size_t r = 0; r < k; ++r) {
    const float* src = deltas[idx[r]].data() + offset;
    const double s = scales[idx[r]];
    double* dst = tile.data() + r;
    if (s == 1.0) {
      for (std::size_t c = 0; c < len; ++c) dst[c * k] = static_cast<double>(src[c]);
    } else {
      for (std::size_t c = 0; c < len; ++c) dst[c * k] = s * static_cast<double>(src[c]);
    }
  }
}

// Applies `per_row(row, k)` → double to each coordinate's row of k values, block by block.
template <typename RowFn>
void ForEachCoordinateRow(const Deltas& deltas, std::span<const double> scales,
                          std::span<const std::size_t> idx, const BlockSink& sink,
                          RowFn&& per_row) {
  const std::size_t p = ParamCount(deltas);
  const std::size_t k = idx.size();
  const std::size_t tile_coords = std::min(p, kTileCoords);
  std::vector<double> tile(tile_coords * k);
  std::vector<double> out(tile_coords);
  for (std::size_t offset = 0; offset < p; offset += tile_coords) {
    const std::size_t len = std::min(tile_coords, p - offset);
    FillTransposedTile(deltas, scales, idx, offset, len, tile);
    for (std::size_t c = 0; c < len; ++c) out[c] = per_row(tile.data() + c * k, k);
    sink(offset, std::span<const double>(out.data(), len));
  }
}

std::vector<std::size_t> AllIndices(std::size_t n) {
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  return idx;
}

double MedianOfRow(double* row, std::size_t k) {
  const std::size_t mid = k / 2;
  std::nth_element(row, row + mid, row + k);
  const double upper = row[mid];
  if (k % 2 == 1) return upper;
  const double lower = *std::max_element(row, row + mid);
  return 0.5 * (lower + upper);
}

}  // namespace

void WeightedSum(const Deltas& deltas, std::span<const double> coefficients, double divisor,
                 const BlockSink& sink) {
  const std::size_t p = ParamCount(deltas);
  const std::size_t block = std::min(p, kTileCoords);
  std::vector<double> acc(block);
  for (std::size_t offset = 0; offset < p; offset += block) {
    const std::size_t len = std::min(block, p - offset);
    std::span<double> a(acc.data(), len);
    std::fill(a.begin(), a.end(), 0.0);
    for (std::size_t i = 0; i < deltas.size(); ++i) {
      AccumulateWeighted(a, deltas[i].subspan(offset, len), coefficients[i]);
    }
    if (divisor != 1.0) DivideInPlace(a, divisor);
    sink(offset, a);
  }
}

void CoordinateMedian(const Deltas& deltas, std::span<const double> scales, const BlockSink& sink) {
  const auto idx = AllIndices(deltas.size());
  ForEachCoordinateRow(deltas, scales, idx, sink, MedianOfRow);
}

void CoordinateTrimmedMean(const Deltas& deltas, std::span<const double> scales, std::size_t cut,
                           const BlockSink& sink) {
  const auto idx = AllIndices(deltas.size());
  ForEachCoordinateRow(deltas, scales, idx, sink, [cut](double* row, std::size_t k) {
    if (cut > 0) {
      // Ranks [cut, k − cut) end up in row[cut .. k − cut): the first call puts the cut smallest
      // in front, the second the cut largest at the back.
      std::nth_element(row, row + cut, row + k);
      std::nth_element(row + cut, row + (k - cut), row + k);
    }
    double sum = 0;
    for (std::size_t r = cut; r < k - cut; ++r) sum += row[r];
    return sum / static_cast<double>(k - 2 * cut);
  });
}

std::vector<double> PairwiseSquaredDistances(const Deltas& deltas, std::span<const double> scales) {
  const std::size_t n = deltas.size();
  const std::size_t p = ParamCount(deltas);
  const std::size_t tile_coords = std::min(p, kTileCoords);
  const auto ni = static_cast<Eigen::Index>(n);
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(ni, ni);
  std::vector<double> buffer(tile_coords * n);
  for (std::size_t offset = 0; offset < p; offset += tile_coords) {
    const std::size_t len = std::min(tile_coords, p - offset);
    // Column i holds update i's slice: each column is filled from one contiguous read.
    Eigen::Map<Eigen::MatrixXd> tile(buffer.data(), static_cast<Eigen::Index>(len), ni);
    for (std::size_t i = 0; i < n; ++i) {
      Eigen::Map<const Eigen::ArrayXf> src(deltas[i].data() + offset,
                                           static_cast<Eigen::Index>(len));
      tile.col(static_cast<Eigen::Index>(i)).array() = scales[i] * src.cast<double>();
    }
    const Eigen::VectorXd centre = tile.rowwise().mean();
    tile.colwise() -= centre;
    gram.selfadjointView<Eigen::Lower>().rankUpdate(tile.transpose());
  }
  std::vector<double> dist(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const auto ii = static_cast<Eigen::Index>(i);
      const auto jj = static_cast<Eigen::Index>(j);
      const double d = std::max(0.0, gram(ii, ii) + gram(jj, jj) - 2.0 * gram(ii, jj));
      dist[i * n + j] = d;
      dist[j * n + i] = d;
    }
  }
  return dist;
}

std::vector<std::size_t> KrumRanking(std::span<const double> distances, std::size_t n,
                                     std::span<const std::size_t> candidates, std::size_t f) {
  const std::size_t c = candidates.size();
  std::size_t k = (c > f + 2) ? c - f - 2 : 1;
  k = std::min(k, c == 0 ? 0 : c - 1);
  std::vector<double> scores(c, 0.0);
  std::vector<double> near;
  near.reserve(c);
  for (std::size_t a = 0; a < c; ++a) {
    near.clear();
    for (std::size_t b = 0; b < c; ++b) {
      if (b != a) near.push_back(distances[candidates[a] * n + candidates[b]]);
    }
    std::partial_sort(near.begin(), near.begin() + static_cast<std::ptrdiff_t>(k), near.end());
    double score = 0;
    for (std::size_t t = 0; t < k; ++t) score += near[t];
    scores[a] = score;
  }
  std::vector<std::size_t> order(c);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    if (scores[x] != scores[y]) return scores[x] < scores[y];
    return candidates[x] < candidates[y];
  });
  std::vector<std::size_t> ranked(c);
  for (std::size_t t = 0; t < c; ++t) ranked[t] = candidates[order[t]];
  return ranked;
}

std::vector<std::size_t> BulyanSelection(std::span<const double> distances, std::size_t n,
                                         std::size_t f) {
  const std::size_t theta = n - 2 * f;
  std::vector<std::size_t> remaining = AllIndices(n);
  std::vector<std::size_t> chosen;
  chosen.reserve(theta);
  while (chosen.size() < theta) {
    const std::size_t winner = KrumRanking(distances, n, remaining, f).front();
    chosen.push_back(winner);
    remaining.erase(std::find(remaining.begin(), remaining.end(), winner));
  }
  return chosen;
}

void BulyanCoordinates(const Deltas& deltas, std::span<const double> scales,
                       std::span<const std::size_t> selected, std::size_t f,
                       const BlockSink& sink) {
  const std::size_t theta = selected.size();
  const std::size_t beta = theta - 2 * f;
  ForEachCoordinateRow(deltas, scales, selected, sink, [beta](double* row, std::size_t k) {
    std::sort(row, row + k);
    const double median = (k % 2 == 1) ? row[k / 2] : 0.5 * (row[k / 2 - 1] + row[k / 2]);
    // The β values closest to the median form a window of the sorted row around it: grow it one
    // value at a time from the middle, taking the nearer side (the smaller value on a tie).
    std::ptrdiff_t lo = static_cast<std::ptrdiff_t>((k - 1) / 2);
    std::ptrdiff_t hi = lo + 1;
    const auto end = static_cast<std::ptrdiff_t>(k);
    double sum = 0;
    for (std::size_t taken = 0; taken < beta; ++taken) {
      const bool take_low = hi >= end || (lo >= 0 && (median - row[lo]) <= (row[hi] - median));
      sum += take_low ? row[lo--] : row[hi++];
    }
    return sum / static_cast<double>(beta);
  });
}

}  // namespace cairn::strategy
