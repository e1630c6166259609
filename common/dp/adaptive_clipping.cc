#include "common/dp/adaptive_clipping.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/dp/gaussian_noise.h"

namespace cairn::dp {
namespace {

bool FiniteAtLeast(double v, double lo) { return std::isfinite(v) && v >= lo; }

}  // namespace

Result<double> SumNoiseMultiplier(double noise_multiplier, double count_stddev) {
  const double z = noise_multiplier;
  if (!FiniteAtLeast(z, 0.0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "noise multiplier " + std::to_string(z) + " is not finite and ≥ 0");
  }
  if (!FiniteAtLeast(count_stddev, 0.0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "clipped-count stddev " + std::to_string(count_stddev) + " is not finite and ≥ 0");
  }
  if (z == 0.0) return 0.0;
  const double zb = 2.0 * count_stddev;  // the count's own noise multiplier (sensitivity ½)
  if (z >= zb) {
    return Fail(ErrorCode::kInvalidArgument,
                "noise multiplier " + std::to_string(z) + " must be below 2·σ_b = " +
                    std::to_string(zb) +
                    " (σ_b, the clipped-count stddev, defaults to 0.05 × expected participants): "
                    "the count alone would use the round's whole privacy cost; raise σ_b or "
                    "lower z");
  }
  return z * zb / std::sqrt((zb - z) * (zb + z));
}

Result<AdaptiveClip> AdaptiveClip::Create(const AdaptiveClipOptions& options) {
  if (!std::isfinite(options.expected_participants) || options.expected_participants <= 0.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "adaptive clipping: expected participants per round must be > 0");
  }
  if (!std::isfinite(options.initial_clip) || options.initial_clip <= 0.0) {
    return Fail(ErrorCode::kInvalidArgument, "adaptive clipping: initial clip must be > 0");
  }
  if (!std::isfinite(options.target_quantile) || options.target_quantile < 0.0 ||
      options.target_quantile > 1.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "adaptive clipping: target quantile must be in [0, 1]");
  }
  if (!FiniteAtLeast(options.learning_rate, 0.0)) {
    return Fail(ErrorCode::kInvalidArgument, "adaptive clipping: learning rate must be ≥ 0");
  }
  const double sigma_b = options.count_stddev.value_or(0.05 * options.expected_participants);
  if (!FiniteAtLeast(sigma_b, 0.0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "adaptive clipping: clipped-count stddev must be finite and ≥ 0");
  }
  AdaptiveClip clip;
  clip.clip_ = options.initial_clip;
  clip.count_stddev_ = sigma_b;
  clip.expected_participants_ = options.expected_participants;
  clip.target_quantile_ = options.target_quantile;
  clip.learning_rate_ = options.learning_rate;
  return clip;
}

Result<double> AdaptiveClip::Update(std::uint64_t count_below, std::uint64_t count_reported,
                                    RandomSource& rng) {
  if (count_below > count_reported) {
    return Fail(ErrorCode::kInvalidArgument,
                "adaptive clipping: " + std::to_string(count_below) + " below the clip out of " +
                    std::to_string(count_reported) + " reports");
  }
  CAIRN_ASSIGN_OR_RETURN(double noise, SampleGaussian(count_stddev_, rng));
  const double centered =
      static_cast<double>(count_below) - 0.5 * static_cast<double>(count_reported);
  const double fraction =
      std::clamp((centered + noise) / expected_participants_ + 0.5, 0.0, 1.0);
  clip_ *= std::exp(-learning_rate_ * (fraction - target_quantile_));
  return clip_;
}

}  // namespace cairn::dp
