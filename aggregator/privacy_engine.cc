#include "aggregator/privacy_engine.h"

#include <nlohmann/json.hpp>

#include "common/dp/clipping.h"
#include "common/dp/sampling.h"

namespace cairn::aggregator {

double PrivacyEngine::ExpectedParticipants() const {
  if (config_.sampling == "fixed") return static_cast<double>(config_.participants_per_round);
  return config_.sampling_rate * static_cast<double>(roster_size_);
}

dp::PrivacyStep PrivacyEngine::RoundStep() const {
  if (config_.sampling == "fixed") {
    return dp::PrivacyStep::FixedSizeRound(config_.participants_per_round, roster_size_, config_.noise_multiplier);
  }
  return dp::PrivacyStep::PoissonRound(config_.sampling_rate, config_.noise_multiplier);
}

Result<std::unique_ptr<PrivacyEngine>> PrivacyEngine::Create(const protocol::FederationConfig& federation,
                                                             ByteSpan saved,
                                                             std::unique_ptr<dp::RandomSource> rng) {
  std::unique_ptr<PrivacyEngine> p(new PrivacyEngine());
  p->enabled_ = federation.privacy.enabled;
  p->config_ = federation.privacy;
  p->roster_size_ = federation.roster.size();
  // Analytics queries charge the same ledger, so it exists with them even without DP training.
  bool analytics = federation.runs_analytics() && !federation.queries.empty();
  if (!p->enabled_ && !analytics) return p;
  if (p->enabled_ && p->config_.sampling == "fixed" && p->config_.participants_per_round > p->roster_size_) {
    return Fail(ErrorCode::kInvalidArgument, "privacy.participants_per_round = " +
                                                 std::to_string(p->config_.participants_per_round) +
                                                 " exceeds the roster of " + std::to_string(p->roster_size_));
  }
  if (p->config_.hide_cohort && (!p->enabled_ || p->config_.sampling != "poisson" || federation.masking.enabled)) {
    // The config loader refuses these already; a config built another way must not get a hidden
    // cohort whose accounting does not hold (masking folds every update into the sum).
    return Fail(ErrorCode::kInvalidArgument,
                "privacy.hide_cohort needs privacy.enabled, sampling = \"poisson\" and no [masking]");
  }
  if (p->enabled_ && p->config_.noise_multiplier <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "privacy.noise_multiplier must be > 0 when privacy is enabled");
  }
  if (rng) {
    p->rng_ = std::move(rng);
  } else {
    CAIRN_ASSIGN_OR_RETURN(auto sodium, dp::SodiumRandomSource::Create());
    p->rng_ = std::make_unique<dp::SodiumRandomSource>(std::move(sodium));
  }
  double clip = p->config_.clip_norm;
  if (!saved.empty()) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(AsChars(saved));
      CAIRN_ASSIGN_OR_RETURN(auto ledger, dp::PrivacyLedger::FromJson(j.at("ledger").get<std::string>()));
      p->ledger_ = std::move(ledger);
      clip = j.at("clip").get<double>();
      p->clip_used_ = j.at("clip_used").get<double>();
    } catch (const nlohmann::json::exception& e) {
      return Fail(ErrorCode::kDataLoss, std::string("the checkpoint's privacy state is malformed: ") + e.what());
    }
  } else {
    dp::LedgerOptions lo;
    lo.epsilon_budget = p->config_.epsilon_budget;
    lo.delta = p->config_.delta;
    lo.adjacency = p->config_.sampling == "fixed" ? dp::Adjacency::kReplaceOne : dp::Adjacency::kAddOrRemove;
    lo.orders = p->config_.orders == "tfp" ? dp::TfPrivacyOrders() : dp::OpacusOrders();
    CAIRN_ASSIGN_OR_RETURN(lo.conversion, dp::ParseConversion(p->config_.conversion));
    CAIRN_ASSIGN_OR_RETURN(auto ledger, dp::PrivacyLedger::Create(lo));
    p->ledger_ = std::move(ledger);
  }
  if (!p->enabled_) return p;
  if (p->config_.adaptive_clipping) {
    dp::AdaptiveClipOptions ao;
    ao.expected_participants = p->ExpectedParticipants();
    ao.initial_clip = clip;
    ao.target_quantile = p->config_.target_quantile;
    ao.learning_rate = p->config_.clip_learning_rate;
    if (p->config_.clip_count_stddev > 0) ao.count_stddev = p->config_.clip_count_stddev;
    CAIRN_ASSIGN_OR_RETURN(auto adaptive, dp::AdaptiveClip::Create(ao));
    // The split must be possible: the count noise may not cost the whole budget.
    CAIRN_RETURN_IF_ERROR(dp::SumNoiseMultiplier(p->config_.noise_multiplier, adaptive.count_stddev()));
    p->adaptive_ = std::move(adaptive);
  }
  // The first round must be affordable, or the configuration is wrong.
  CAIRN_RETURN_IF_ERROR(p->ledger_->EpsilonIfAdded(p->RoundStep()));
  return p;
}

double PrivacyEngine::clip_norm() const {
  if (!enabled_) return 0;
  return adaptive_ ? adaptive_->clip() : config_.clip_norm;
}

double PrivacyEngine::epsilon_spent() const { return ledger_ ? ledger_->epsilon_spent() : 0.0; }

Status PrivacyEngine::CheckBudgetForNextRound() const {
  if (!enabled_) return Ok();
  CAIRN_ASSIGN_OR_RETURN(double next, ledger_->EpsilonIfAdded(RoundStep()));
  if (next > config_.epsilon_budget) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "the privacy budget ε = %.6g at δ = %.3g would be exceeded: one more round would "
                  "reach ε = %.6g (spent so far: %.6g)",
                  config_.epsilon_budget, config_.delta, next, ledger_->epsilon_spent());
    return Fail(ErrorCode::kResourceExhausted, buf);
  }
  return Ok();
}

Result<std::vector<std::string>> PrivacyEngine::SelectCohort(const std::vector<std::string>& roster,
                                                             const std::set<std::string>& connected) {
  std::vector<std::string> cohort;
  if (!enabled_) {
    for (const auto& id : roster) {
      if (connected.contains(id)) cohort.push_back(id);
    }
    return cohort;
  }
  // Sample over the whole roster (what the accountant assumes); selected members who are not
  // connected simply do not contribute, like any dropout.
  std::vector<std::size_t> picked;
  if (config_.sampling == "fixed") {
    CAIRN_ASSIGN_OR_RETURN(picked, dp::FixedSizeSample(roster.size(), config_.participants_per_round, *rng_));
  } else {
    CAIRN_ASSIGN_OR_RETURN(picked, dp::PoissonSample(roster.size(), config_.sampling_rate, *rng_));
  }
  if (hides_cohort()) {
    // Everyone connected is invited and uploads; the sample decides only whose update counts.
    std::vector<double> in_sample(roster.size(), 0.0);
    for (std::size_t i : picked) {
      if (i < roster.size()) in_sample[i] = 1.0;
    }
    sample_weights_.clear();
    for (std::size_t i = 0; i < roster.size(); ++i) {
      if (!connected.contains(roster[i])) continue;
      cohort.push_back(roster[i]);
      sample_weights_[roster[i]] = in_sample[i];
    }
    return cohort;
  }
  for (std::size_t i : picked) {
    if (i < roster.size() && connected.contains(roster[i])) cohort.push_back(roster[i]);
  }
  return cohort;
}

double PrivacyEngine::SampleWeight(const std::string& participant) const {
  if (!hides_cohort()) return 1.0;
  auto it = sample_weights_.find(participant);
  return it == sample_weights_.end() ? 0.0 : it->second;
}

Status PrivacyEngine::NoiseAndAverage(std::span<double> sum, std::size_t /*contributors*/, double extra_sensitivity) {
  double z_sum = config_.noise_multiplier;
  if (adaptive_) {
    CAIRN_ASSIGN_OR_RETURN(z_sum, dp::SumNoiseMultiplier(config_.noise_multiplier, adaptive_->count_stddev()));
  }
  dp::DpFedAvgOptions o;
  o.clip_norm = clip_norm() + extra_sensitivity;
  o.noise_multiplier = z_sum;
  o.denominator = ExpectedParticipants();
  clip_used_ = o.clip_norm;
  return dp::NoiseAndAverage(sum, o, *rng_);
}

Status PrivacyEngine::ChargeRound(std::uint64_t clip_bits_below, std::size_t contributors) {
  if (!enabled_) return Ok();
  CAIRN_RETURN_IF_ERROR(ledger_->Charge(RoundStep()));
  if (adaptive_) {
    CAIRN_RETURN_IF_ERROR(adaptive_->Update(clip_bits_below, contributors, *rng_));
  }
  return Ok();
}

Bytes PrivacyEngine::SaveState() const {
  if (!ledger_) return {};
  nlohmann::json j;
  j["ledger"] = ledger_->ToJson();
  j["clip"] = clip_norm();
  j["clip_used"] = clip_used_;
  return ToBytes(j.dump());
}

}  // namespace cairn::aggregator
