// RESEARCH ONLY: a Workload decorator that turns an honest participant into a poisoning one, for
// measuring how aggregation strategies resist malicious updates (docs/results.md, "Poisoning").
//
// It wraps another Workload, lets it train as usual, then rewrites the update Δ it produced:
//
//   scale:K       Δ ← K·Δ            (model replacement / boosting; K may be negative)
//   sign-flip     Δ ← −Δ
//   sign-flip:K   Δ ← −K·Δ           (K > 0)
//   noise:S       Δ ← N(0, S²) per coordinate, independent of the training result
//
// The reported example count and metrics are the inner workload's (an attacker that also lies
// about its example count is a different experiment). Evaluation, feature moments and
// standardization pass through unchanged, so the attacker's evaluation reports stay honest.
//
// Noise is drawn from model::DeterministicRng seeded by (seed, task seed): reproducible, and not
// a CSPRNG, which is fine for an experiment and must never be used for privacy noise.
//
// Thread safety: as the wrapped workload (a Workload is driven by one client thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "participant/workload.h"

namespace cairn::participant {

struct AttackSpec {
  enum class Kind { kScale, kSignFlip, kNoise };
  Kind kind = Kind::kScale;
  // kScale: the factor K; kSignFlip: the magnitude K (> 0) of the negated update; kNoise: the
  // standard deviation S (> 0) of the replacement noise, in parameter units.
  double value = 1.0;

  // The canonical spec text ("scale:10", "sign-flip", "sign-flip:5", "noise:0.1").
  std::string ToString() const;
  // What the attack does, for the warning a binary prints ("multiplies each update by 10").
  std::string Describe() const;
};

// Bound on |K| and S: keeps a poisoned update of a sane Δ finite in float32, and catches typos.
inline constexpr double kMaxAttackMagnitude = 1e6;

// Parses "scale:K", "sign-flip", "sign-flip:K" or "noise:S". kInvalidArgument naming the spec and
// what is wrong (unknown kind, missing or non-numeric value, value out of range).
Result<AttackSpec> ParseAttackSpec(std::string_view text);

class AttackWorkload final : public Workload {
 public:
  // Takes ownership of `inner` (non-null). `seed` seeds the noise attack (ignored otherwise).
  AttackWorkload(std::unique_ptr<Workload> inner, AttackSpec spec, std::uint64_t seed = 0);

  const AttackSpec& spec() const { return spec_; }

  Status Prepare(const protocol::FederationConfig& federation) override { return inner_->Prepare(federation); }
  std::size_t num_params() const override { return inner_->num_params(); }
  // The inner workload's Train, then the rewrite of `delta` described above.
  Result<LocalResult> Train(std::span<const float> global, const protocol::Task& task,
                            std::span<float> delta) override;
  std::optional<protocol::FeatureStats> FeatureMoments() const override { return inner_->FeatureMoments(); }
  Status SetFeatureStandardization(const std::vector<double>& mean, const std::vector<double>& stddev) override {
    return inner_->SetFeatureStandardization(mean, stddev);
  }
  Result<std::vector<protocol::Metric>> Evaluate(std::span<const float> global) override {
    return inner_->Evaluate(global);
  }

 private:
  std::unique_ptr<Workload> inner_;
  AttackSpec spec_;
  std::uint64_t seed_;
};

}  // namespace cairn::participant
