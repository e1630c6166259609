// Gaussian noise from uniform bits.
//
// Sampler: Marsaglia's polar method in double precision. Each candidate pair (u, v) is uniform
// on the grid k · 2^-53 in [−1, 1)² (54 random bits each, exactly representable); it is accepted
// when 0 < s = u² + v² < 1, and then u·f and v·f with f = √(−2 ln s / s) are two independent
// N(0, 1) draws. The accepted point is independent of how many candidates were rejected, so the
// running time reveals nothing about the values drawn. The largest |value| reachable is about 12.
//
// Floating-point caveat (Mironov 2012, "On significance of the least significant bits for
// differential privacy"; Jin et al. 2022, "Are we there yet? Timing and floating-point attacks
// on differential privacy systems"): a floating-point sampler does not produce the ideal
// continuous distribution; the set of doubles it can output is sparse and irregular at the scale
// of the last bits, and x + noise can then reveal x from its low-order bits. What Cairn does
// about it: uniforms carry 53–54 bits (never 32), no log(0) is possible, and the released
// aggregate is rounded to float32 (24-bit mantissa) by the round engine, which discards the bits
// where the double sampler's irregularity lives. That is a mitigation, not a proof; the formally
// exact route (a discrete Gaussian on an integer-quantized sum, Canonne–Kamath–Steinke 2020) is
// not implemented (docs/privacy.md).
#pragma once

#include <span>

#include "common/core/error.h"
#include "common/dp/random_source.h"

namespace cairn::dp {

// Fills `out` with independent N(0, 1) draws.
void FillStandardNormal(std::span<double> out, RandomSource& rng);

// One N(0, stddev²) draw; stddev finite and ≥ 0.
Result<double> SampleGaussian(double stddev, RandomSource& rng);

// values[i] += N(0, stddev²), independently per coordinate. stddev must be finite and ≥ 0
// (0 leaves `values` unchanged and draws nothing). Uniform bits are drawn in 64 KiB blocks, so the
// production source expands one fresh ChaCha20 key per block. Not thread-safe on `rng`.
Status AddGaussianNoise(std::span<double> values, double stddev, RandomSource& rng);

}  // namespace cairn::dp
