#include "common/dp/clipping.h"

#include <cmath>
#include <string>

#include "common/dp/gaussian_noise.h"
#include "common/dp/rdp_accountant.h"

namespace cairn::dp {
namespace {

// Four independent accumulators: the loop is latency-bound on one chain otherwise.
template <typename T>
double SumOfSquares(std::span<const T> values) {
  double acc[4] = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 4 <= values.size(); i += 4) {
    for (int k = 0; k < 4; ++k) {
      const double x = static_cast<double>(values[i + static_cast<std::size_t>(k)]);
      acc[k] += x * x;
    }
  }
  for (; i < values.size(); ++i) {
    const double x = static_cast<double>(values[i]);
    acc[0] += x * x;
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

}  // namespace

double L2Norm(std::span<const float> values) { return std::sqrt(SumOfSquares(values)); }
double L2Norm(std::span<const double> values) { return std::sqrt(SumOfSquares(values)); }

Result<double> ClipToNorm(std::span<float> values, double clip_norm) {
  if (!std::isfinite(clip_norm) || clip_norm <= 0.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "clip norm " + std::to_string(clip_norm) + " is not finite and > 0");
  }
  const double norm = L2Norm(std::span<const float>(values));
  if (!std::isfinite(norm)) {
    // Distinguish a non-finite value from an overflowing sum of squares (impossible for floats
    // in double, but say which it is).
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) {
        return Fail(ErrorCode::kInvalidArgument,
                    "update value at index " + std::to_string(i) + " is not finite");
      }
    }
    return Fail(ErrorCode::kInvalidArgument, "update norm is not finite");
  }
  const double target = clip_norm * (1.0 - kClipMargin);
  if (norm <= target) return 1.0;
  const double scale = target / norm;
  // Multiply in double and round once per value: |rounded| ≤ |exact| · (1 + 2^-24).
  for (float& v : values) v = static_cast<float>(static_cast<double>(v) * scale);
  return scale;
}

double NoiseStddevOnSum(double noise_multiplier, double clip_norm) {
  return noise_multiplier * clip_norm;
}

Result<double> FixedDenominator(double sampling_rate, std::size_t population) {
  CAIRN_RETURN_IF_ERROR(ValidateSamplingRate(sampling_rate));
  const double d = sampling_rate * static_cast<double>(population);
  if (!(d > 0.0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "expected cohort q·n = " + std::to_string(d) + " must be > 0");
  }
  return d;
}

Status NoiseAndAverage(std::span<double> sum, const DpFedAvgOptions& options, RandomSource& rng) {
  if (!std::isfinite(options.clip_norm) || options.clip_norm <= 0.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "clip norm " + std::to_string(options.clip_norm) + " is not finite and > 0");
  }
  CAIRN_RETURN_IF_ERROR(ValidateNoiseMultiplier(options.noise_multiplier));
  if (!std::isfinite(options.denominator) || options.denominator <= 0.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "denominator " + std::to_string(options.denominator) + " is not finite and > 0");
  }
  CAIRN_RETURN_IF_ERROR(
      AddGaussianNoise(sum, NoiseStddevOnSum(options.noise_multiplier, options.clip_norm), rng));
  for (double& v : sum) v /= options.denominator;
  return Ok();
}

}  // namespace cairn::dp
