// L2 clipping of participant updates and the DP-FedAvg finishing step (McMahan et al. 2018,
// "Learning differentially private recurrent language models", Alg. 1 with the fixed-denominator
// estimator): clip each update to norm C, sum, add N(0, (zC)²) per coordinate to the sum, divide
// by a denominator that does not depend on who took part.
#pragma once

#include <cstddef>
#include <span>

#include "common/core/error.h"
#include "common/dp/random_source.h"

namespace cairn::dp {

// Euclidean norm, accumulated in double (exact enough for 10^8 float coordinates). Returns NaN or
// ∞ if a value is not finite.
double L2Norm(std::span<const float> values);
double L2Norm(std::span<const double> values);

// Relative margin taken off the clipping scale so that rounding the scaled floats can never push
// the norm above C (float rounding moves the norm by at most 2^-24 relative).
inline constexpr double kClipMargin = 0x1p-22;

// Scales `values` in place so that their exact L2 norm is ≤ clip_norm, and returns the scale
// used: min(1, clip_norm · (1 − kClipMargin) / norm); at 1 the values are untouched. Fails (kInvalidArgument) if clip_norm is not finite and
// > 0, or if a value is not finite (a NaN would pass any clipping and break the sensitivity bound);
// `values` is untouched on failure.
Result<double> ClipToNorm(std::span<float> values, double clip_norm);

// Standard deviation of the noise on the SUM of updates clipped to clip_norm: z · C.
double NoiseStddevOnSum(double noise_multiplier, double clip_norm);

// The fixed denominator of DP-FedAvg with equal weights: the expected cohort size, q · n for
// Poisson sampling (m for fixed-size sampling: pass q = m/n). Dividing by the actual count would
// leak it; this does not depend on who took part.
Result<double> FixedDenominator(double sampling_rate, std::size_t population);

struct DpFedAvgOptions {
  double clip_norm = 0;          // C: every summed update was clipped to this L2 norm (> 0)
  double noise_multiplier = 0;   // z ≥ 0: noise stddev on the sum is z·C (0: no noise, no DP)
  double denominator = 0;        // > 0, from FixedDenominator (not the actual count)
};

// sum[i] ← (sum[i] + N(0, (zC)²)) / denominator. Validates the options first; `sum` is untouched
// on failure.
Status NoiseAndAverage(std::span<double> sum, const DpFedAvgOptions& options, RandomSource& rng);

}  // namespace cairn::dp
