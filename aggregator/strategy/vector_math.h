// Vector kernels shared by the round engine and the strategies: norms, norm bounding and the
// double-precision weighted running sum that the streaming engine folds updates into.
//
// All functions are pure (no state), thread-safe on disjoint outputs, and vectorized with Eigen.
// Units: a "delta" is a participant's update Δ = w_local − w_global, one float32 per parameter.
#pragma once

#include <cstddef>
#include <span>

namespace cairn::strategy {

// Σ x² in double precision. The result is finite if and only if every element is finite (a
// float squared cannot overflow a double), so callers use it as the finiteness check as well.
double SquaredNorm(std::span<const float> x);

// Multiplier that brings a vector of L2 norm `norm` within `bound` (Cairn's norm bounding):
// min(1, bound / norm). `bound` <= 0 means "no bound" and gives 1; a zero norm gives 1.
double ClipScale(double norm, double bound);

// Relative slack the engine allows when it checks a participant-clipped update against the bound:
// a participant scales in float32, so its norm can exceed the bound by a few ulps.
inline constexpr double kNormBoundSlack = 1e-5;

// sum[j] += weight · delta[j] for every j, in double. `sum` and `delta` have the same length
// (checked by the caller). This is the fold the streaming engine applies chunk by chunk: call it
// on each chunk with the chunk's slice of `sum`; the result does not depend on the chunking.
// `weight` is the participant's example count times its norm-bounding scale.
void AccumulateWeighted(std::span<double> sum, std::span<const float> delta, double weight);

// sum[j] /= total_weight: turns the running sum into the weighted mean that ApplyMean takes.
// `total_weight` > 0 (checked by the caller).
void DivideInPlace(std::span<double> sum, double total_weight);

}  // namespace cairn::strategy
