// Aggregation rules over a round's full set of updates: the kernels behind the mean, median,
// trimmed-mean, Krum, Multi-Krum and Bulyan strategies.
//
// Contract shared by every function here:
// - `deltas` holds n >= 1 borrowed spans of the same length P >= 1, all values finite; `scales`
//   holds n multipliers in (0, 1] (norm bounding; pass all 1 for none). Update i is read as
//   scales[i] · deltas[i]. These preconditions are the caller's (Strategy checks them); the
//   kernels do not re-check them.
// - Results are produced block by block, in increasing offset order, covering [0, P) exactly
//   once: `sink(offset, block)` receives the aggregate for [offset, offset + block.size()). The
//   block span is valid only during the call. This lets the server optimizer apply the aggregate
//   without a P-sized temporary.
// - Deterministic: the same inputs give bit-identical outputs; ties are broken by lowest index.
// - Not thread-safe with respect to the sink; allocate only the workspace stated per function
//   (documented in docs/strategies.md, "Memory").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

namespace cairn::strategy {

using Deltas = std::vector<std::span<const float>>;
using BlockSink = std::function<void(std::size_t offset, std::span<const double> block)>;

// Coordinates per block (the tile holds kTileCoords × n values).
inline constexpr std::size_t kTileCoords = 1024;

// Coordinate-wise rules over at most this many updates sort each block with a sorting network
// applied across coordinates (vectorized min/max); above it, each coordinate's values are
// transposed into a row and reduced with nth_element.
inline constexpr std::size_t kNetworkMaxInputs = 64;

// Comparators (a < b: after it, wire a holds the min and wire b the max) of a network that sorts
// n values: Batcher's odd-even merge sort, pruned from the next power of two.
std::vector<std::pair<std::uint32_t, std::uint32_t>> SortingNetwork(std::size_t n);

// (Σ_i coefficients[i] · deltas[i]) / divisor per coordinate, accumulated in double in index
// order with AccumulateWeighted and DivideInPlace, so that a sum streamed chunk by chunk with the
// same coefficients and this one agree bit for bit. divisor > 0.
// Workspace: 8·min(P, kTileCoords) bytes.
void WeightedSum(const Deltas& deltas, std::span<const double> coefficients, double divisor,
                 const BlockSink& sink);

// Coordinate-wise median (mean of the two middle values when n is even). Weights are ignored.
// Workspace: 8·n·T + 8·T bytes, T = min(P, kTileCoords).
void CoordinateMedian(const Deltas& deltas, std::span<const double> scales, const BlockSink& sink);

// Coordinate-wise trimmed mean: drops the `cut` smallest and `cut` largest values of each
// coordinate and averages the rest (2·cut < n). Weights are ignored. Workspace as the median.
void CoordinateTrimmedMean(const Deltas& deltas, std::span<const double> scales, std::size_t cut,
                           const BlockSink& sink);

// Pairwise squared L2 distances between the scaled updates, n×n row-major, symmetric, zero
// diagonal. Computed as ‖a‖² + ‖b‖² − 2a·b from a Gram matrix accumulated in double over
// transposed tiles, after subtracting each coordinate's mean over the updates (distances are
// translation-invariant, and centring removes most of the cancellation). Each distance is stored
// once for both (i, j) and (j, i), so equal distances compare equal.
// Workspace: 8·n·T (tile) + 8·n² (Gram) + 8·n² (result) bytes.
std::vector<double> PairwiseSquaredDistances(const Deltas& deltas, std::span<const double> scales);

// Krum scores (Blanchard et al. 2017) restricted to `candidates`: for each candidate, the sum of
// its squared distances to its k nearest other candidates, k = max(1, c − f − 2) capped at c − 1
// (as in Flower's aggregate_krum), c = candidates.size(). Returns the candidates ordered by
// (score, index) ascending. `distances` is the n×n matrix from PairwiseSquaredDistances.
std::vector<std::size_t> KrumRanking(std::span<const double> distances, std::size_t n,
                                     std::span<const std::size_t> candidates, std::size_t f);

// Bulyan's selection (El Mhamdi et al. 2018): θ = n − 2f updates chosen one at a time, each the
// Krum winner (with the same f) among those not chosen yet. Returns them in the order chosen.
std::vector<std::size_t> BulyanSelection(std::span<const double> distances, std::size_t n,
                                         std::size_t f);

// Bulyan's aggregation over `selected` (θ updates): per coordinate, the average of the
// β = θ − 2f values closest to the median of the θ values (ties: the smaller value first).
// Workspace: 8·θ·T + 8·T bytes.
void BulyanCoordinates(const Deltas& deltas, std::span<const double> scales,
                       std::span<const std::size_t> selected, std::size_t f, const BlockSink& sink);

}  // namespace cairn::strategy
