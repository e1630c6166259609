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
    for (std::size_t c = 0; c < len; ++c) dst[c * k] = s * static_cast<double>(src[c]);
  }
}

// Fills tile[r · len + c] = scale[idx[r]] · deltas[idx[r]][offset + c]: one row per update.
void FillRowTile(const Deltas& deltas, std::span<const double> scales,
                 std::span<const std::size_t> idx, std::size_t offset, std::size_t len,
                 std::vector<double>& tile) {
  for (std::size_t r = 0; r < idx.size(); ++r) {
    Eigen::Map<const Eigen::ArrayXf> src(deltas[idx[r]].data() + offset,
                                         static_cast<Eigen::Index>(len));
    Eigen::Map<Eigen::ArrayXd> dst(tile.data() + r * len, static_cast<Eigen::Index>(len));
    dst = scales[idx[r]] * src.cast<double>();
  }
}

// Sorts every column of a row tile (k rows of `len` values) with a sorting network: each
// comparator is a min and a max over whole rows, which the compiler vectorizes. Columns are
// processed in chunks that stay in L1.
void SortColumns(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& network, double* tile,
                 std::size_t len) {
  constexpr Eigen::Index kChunk = 128;
  Eigen::Array<double, kChunk, 1> smaller;
  const auto n = static_cast<Eigen::Index>(len);
  for (Eigen::Index start = 0; start < n; start += kChunk) {
    const Eigen::Index m = std::min(kChunk, n - start);
    for (const auto& [a, b] : network) {
      // Eigen's packet min/max (minpd/maxpd): a plain loop compiles to a branch per element.
      Eigen::Map<Eigen::ArrayXd> lo(tile + a * len + start, m);
      Eigen::Map<Eigen::ArrayXd> hi(tile + b * len + start, m);
      smaller.head(m) = lo.min(hi);
      hi = lo.max(hi);
      lo = smaller.head(m);
    }
  }
}

// Runs a coordinate-wise rule over the updates listed in `idx`, block by block.
// - k ≤ kNetworkMaxInputs: the block is sorted column-wise with a sorting network and
//   `from_sorted(tile, len, out)` reduces it (row r of the tile holds every coordinate's r-th
//   smallest value, at tile + r·len).
// - larger k: the block is transposed and `per_row(row, k)` reduces each coordinate's k values
//   (free to reorder them).
template <typename SortedFn, typename RowFn>
void CoordinateRule(const Deltas& deltas, std::span<const double> scales,
                    std::span<const std::size_t> idx, const BlockSink& sink, SortedFn&& from_sorted,
                    RowFn&& per_row) {
  const std::size_t p = ParamCount(deltas);
  const std::size_t k = idx.size();
  const std::size_t tile_coords = std::min(p, kTileCoords);
  std::vector<double> tile(tile_coords * k);
  std::vector<double> out(tile_coords);
  const bool use_network = k <= kNetworkMaxInputs;
  const auto network =
      use_network ? SortingNetwork(k) : std::vector<std::pair<std::uint32_t, std::uint32_t>>{};
  for (std::size_t offset = 0; offset < p; offset += tile_coords) {
    const std::size_t len = std::min(tile_coords, p - offset);
    if (use_network) {
      FillRowTile(deltas, scales, idx, offset, len, tile);
      SortColumns(network, tile.data(), len);
      from_sorted(static_cast<const double*>(tile.data()), len, out.data());
    } else {
      FillTransposedTile(deltas, scales, idx, offset, len, tile);
      for (std::size_t c = 0; c < len; ++c) out[c] = per_row(tile.data() + c * k, k);
    }
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

// Bulyan's reduction of one coordinate's sorted values v[0..k): the average of the β values
// closest to the median. They form a window of the sorted values around the median: grow it one
// value at a time from the middle, taking the nearer side (the smaller value on a tie).
double ClosestToMedianMean(const double* v, std::size_t k, std::size_t beta) {
  const double median = (k % 2 == 1) ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
  std::ptrdiff_t lo = static_cast<std::ptrdiff_t>((k - 1) / 2);
  std::ptrdiff_t hi = lo + 1;
  const auto end = static_cast<std::ptrdiff_t>(k);
  double sum = 0;
  for (std::size_t taken = 0; taken < beta; ++taken) {
    const bool take_low = hi >= end || (lo >= 0 && (median - v[lo]) <= (v[hi] - median));
    sum += take_low ? v[lo--] : v[hi++];
  }
  return sum / static_cast<double>(beta);
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

std::vector<std::pair<std::uint32_t, std::uint32_t>> SortingNetwork(std::size_t n) {
  // Batcher's odd-even merge sort for the next power of two N ≥ n. Wires n..N−1 stand for +∞
  // padding: a comparator touching one of them never moves a value, so it is dropped.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  std::size_t big = 1;
  while (big < n) big <<= 1;
  for (std::size_t p = 1; p < big; p <<= 1) {
    for (std::size_t k = p; k >= 1; k >>= 1) {
      for (std::size_t j = k % p; j + k < big; j += 2 * k) {
        for (std::size_t i = 0; i < k && i + j + k < big; ++i) {
          const std::size_t a = i + j;
          const std::size_t b = i + j + k;
          if (a / (2 * p) == b / (2 * p) && b < n) {
            out.emplace_back(static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(b));
          }
        }
      }
    }
  }
  return out;
}

void CoordinateMedian(const Deltas& deltas, std::span<const double> scales, const BlockSink& sink) {
  const auto idx = AllIndices(deltas.size());
  const std::size_t k = idx.size();
  const std::size_t mid = k / 2;
  CoordinateRule(
      deltas, scales, idx, sink,
      [&](const double* sorted, std::size_t len, double* out) {
        const double* upper = sorted + mid * len;
        if (k % 2 == 1) {
          std::copy(upper, upper + len, out);
          return;
        }
        const double* lower = sorted + (mid - 1) * len;
        for (std::size_t c = 0; c < len; ++c) out[c] = 0.5 * (lower[c] + upper[c]);
      },
      MedianOfRow);
}

void CoordinateTrimmedMean(const Deltas& deltas, std::span<const double> scales, std::size_t cut,
                           const BlockSink& sink) {
  const auto idx = AllIndices(deltas.size());
  const std::size_t k = idx.size();
  const double kept = static_cast<double>(k - 2 * cut);
  CoordinateRule(
      deltas, scales, idx, sink,
      [&](const double* sorted, std::size_t len, double* out) {
        std::fill(out, out + len, 0.0);
        for (std::size_t r = cut; r < k - cut; ++r) {
          const double* row = sorted + r * len;
          for (std::size_t c = 0; c < len; ++c) out[c] += row[c];
        }
        for (std::size_t c = 0; c < len; ++c) out[c] /= kept;
      },
      [cut, kept](double* row, std::size_t n) {
        if (cut > 0) {
          // Ranks [cut, n − cut) end up in row[cut .. n − cut): the first call puts the cut
          // smallest in front, the second the cut largest at the back.
          std::nth_element(row, row + cut, row + n);
          std::nth_element(row + cut, row + (n - cut), row + n);
        }
        double sum = 0;
        for (std::size_t r = cut; r < n - cut; ++r) sum += row[r];
        return sum / kept;
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
  std::vector<double> column(theta);
  CoordinateRule(
      deltas, scales, selected, sink,
      [&](const double* sorted, std::size_t len, double* out) {
        for (std::size_t c = 0; c < len; ++c) {
          for (std::size_t r = 0; r < theta; ++r) column[r] = sorted[r * len + c];
          out[c] = ClosestToMedianMean(column.data(), theta, beta);
        }
      },
      [beta](double* row, std::size_t k) {
        std::sort(row, row + k);
        return ClosestToMedianMean(row, k, beta);
      });
}

}  // namespace cairn::strategy
