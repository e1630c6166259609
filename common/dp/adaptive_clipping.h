// Adaptive clipping (Andrew, Thakkar, McMahan, Ramaswamy 2021, "Differentially private learning
// with adaptive clipping"), geometric update, with TensorFlow Federated's defaults.
//
// Each round, every contributing participant reports b = 1[‖Δ‖ ≤ C] for the current clip C. The
// aggregator releases the noisy fraction
//   b̃ = clamp((Σ(b − ½) + N(0, σ_b²)) / m + ½, 0, 1)
// where m is the EXPECTED number of participants (a fixed denominator, like DP-FedAvg's), and
// moves C toward the target quantile γ: C ← C · exp(−η (b̃ − γ)).
//
// Privacy: Σ(b − ½) has sensitivity ½ under add-or-remove adjacency, so the count is a Gaussian
// mechanism of multiplier 2σ_b; the update sum has multiplier z_Δ. Released together in one round
// they cost exactly one Gaussian of multiplier z with z⁻² = z_Δ⁻² + (2σ_b)⁻², which is the z the
// ledger charges (PrivacyStep::PoissonRound with z). Hence, for a desired overall z,
//   z_Δ = (z⁻² − (2σ_b)⁻²)^(−½)
// which is real and finite only if z < 2σ_b (σ_b > 0): the count alone already costs as much
// as the whole budget of a multiplier-z round when 2σ_b ≤ z. SumNoiseMultiplier() refuses that
// case. Under replace-one adjacency (fixed-size sampling) both sensitivities double (1 for the
// count, 2C for the sum), and the same split holds for the halved multipliers.
// With TFF's σ_b = 0.05·m, 2σ_b = 0.1·m: a cohort of 10 allows only z < 1.
#pragma once

#include <cstdint>
#include <optional>

#include "common/core/error.h"
#include "common/dp/random_source.h"

namespace cairn::dp {

// z_Δ = z·2σ_b / √((2σ_b − z)(2σ_b + z)) (the form above without cancellation near z = 2σ_b).
// z = 0 (no DP at all) gives 0. Errors (kInvalidArgument) unless z is finite ≥ 0, σ_b finite ≥ 0,
// and, for z > 0, z < 2σ_b.
Result<double> SumNoiseMultiplier(double noise_multiplier, double count_stddev);

struct AdaptiveClipOptions {
  // m: expected participants per round (q·n for Poisson sampling, m for fixed size); > 0.
  // Required: the denominator of the noisy fraction and the scale of the default σ_b.
  double expected_participants = 0;
  double initial_clip = 0.1;      // C₀ > 0 (TFF default 0.1); to resume, pass the checkpointed C
  double target_quantile = 0.5;   // γ ∈ [0, 1] (TFF default 0.5)
  double learning_rate = 0.2;     // η ≥ 0 (TFF default 0.2)
  // σ_b ≥ 0; unset means TFF's default 0.05 · expected_participants. 0 disables the count noise
  // (no privacy for the count: tests and non-DP runs only).
  std::optional<double> count_stddev;
};

// The clip state. A value type: copy it into a checkpoint via clip().
class AdaptiveClip {
 public:
  static Result<AdaptiveClip> Create(const AdaptiveClipOptions& options);

  double clip() const { return clip_; }
  double count_stddev() const { return count_stddev_; }
  double expected_participants() const { return expected_participants_; }
  double target_quantile() const { return target_quantile_; }
  double learning_rate() const { return learning_rate_; }

  // After a round: `count_below` of the `count_reported` contributions had norm ≤ clip().
  // Draws the count noise from `rng`, applies the geometric update and returns the new clip.
  // count_below ≤ count_reported, else kInvalidArgument (and the state is unchanged).
  Result<double> Update(std::uint64_t count_below, std::uint64_t count_reported,
                        RandomSource& rng);

 private:
  AdaptiveClip() = default;
  double clip_ = 0;
  double count_stddev_ = 0;
  double expected_participants_ = 0;
  double target_quantile_ = 0;
  double learning_rate_ = 0;
};

}  // namespace cairn::dp
