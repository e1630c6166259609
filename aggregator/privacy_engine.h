// Central differential privacy in the enclave (DP-FedAvg, McMahan et al. 2018) on top of
// common/dp: participant sampling matched to the accountant, clipping norm (fixed or adaptive,
// Andrew et al. 2021), Gaussian noise on the sum from the CSPRNG, the fixed denominator, and the
// privacy ledger that refuses a round the budget cannot pay for. When privacy is off, the engine
// selects every connected participant and charges nothing.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/dp/adaptive_clipping.h"
#include "common/dp/privacy_ledger.h"
#include "common/dp/random_source.h"
#include "protocol/federation_config.h"

namespace cairn::aggregator {

class PrivacyEngine {
 public:
  // `saved` is the SaveState() blob of a checkpoint (empty for a fresh federation).
  static Result<std::unique_ptr<PrivacyEngine>> Create(const protocol::FederationConfig& federation,
                                                       ByteSpan saved,
                                                       std::unique_ptr<dp::RandomSource> rng = nullptr);

  bool enabled() const { return enabled_; }
  // kResourceExhausted (naming budget, δ and the ε the round would reach) when one more round
  // would exceed the budget.
  Status CheckBudgetForNextRound() const;
  // The round's cohort: everyone connected (privacy off), or a sample of the roster as the
  // accountant assumes (Poisson with rate q, or m of n), keeping those who are connected.
  // `roster` in roster order; `connected` says who is connected now.
  // With privacy.hide_cohort the Poisson sample stays secret: every connected member is in the
  // returned cohort, and SampleWeight says whose update counts.
  Result<std::vector<std::string>> SelectCohort(const std::vector<std::string>& roster,
                                                const std::set<std::string>& connected);
  // The factor a committed update enters the round's sum with, beyond its own weight: 1, or with
  // a hidden cohort 0 for a member outside this round's secret sample (its update is folded in
  // times 0, the same work, so the time taken does not tell). Never log it.
  double SampleWeight(const std::string& participant) const;
  bool hides_cohort() const { return enabled_ && config_.hide_cohort; }
  // Current clip norm C (adaptive clipping moves it between rounds).
  double clip_norm() const;
  // The clip norm the last completed round used (what its signed result records).
  double clip_norm_used() const { return clip_used_; }
  double noise_multiplier() const { return config_.noise_multiplier; }
  double epsilon_spent() const;
  // sum ← (sum + N(0, (z_Δ·C)²)) / denominator.
  // `extra_sensitivity`: added to the clip norm for the noise scale (masked rounds: the norm
  // quantization may add to each update).
  Status NoiseAndAverage(std::span<double> sum, std::size_t contributors, double extra_sensitivity = 0);
  // After a completed round: charge the ledger and update the adaptive clip.
  Status ChargeRound(std::uint64_t clip_bits_below, std::size_t contributors);

  Bytes SaveState() const;
  // The ledger: present when DP training is enabled or the federation declares [[queries]]
  // (analytics queries spend from the same ledger); nullptr otherwise.
  dp::PrivacyLedger* ledger() { return ledger_ ? &*ledger_ : nullptr; }
  bool has_ledger() const { return ledger_.has_value(); }
  // The CSPRNG (present with the ledger).
  dp::RandomSource* rng() { return rng_.get(); }

 private:
  PrivacyEngine() = default;
  dp::PrivacyStep RoundStep() const;
  double ExpectedParticipants() const;

  bool enabled_ = false;
  protocol::PrivacyConfig config_;
  std::size_t roster_size_ = 0;
  std::optional<dp::PrivacyLedger> ledger_;
  std::optional<dp::AdaptiveClip> adaptive_;
  double clip_used_ = 0;
  std::unique_ptr<dp::RandomSource> rng_;
  // With a hidden cohort: 1 or 0 for each member of the current round's cohort (secret; not in
  // the checkpoint: a restarted round draws a new sample, and nothing of the old one was released).
  std::map<std::string, double> sample_weights_;
};

}  // namespace cairn::aggregator
