// The round engine's clean-room analytics phase (RoundEngine::Phase::kAnalytics): opening the job,
// routing the parties' analytics messages to it, and releasing it as a signed, chained result.
// Kept apart from round_engine.cc so the training path stays as it was; the job itself is
// aggregator/analytics_job.h (docs/analytics.md, "In the binaries").

#include "aggregator/analytics_job.h"
#include "aggregator/privacy_engine.h"
#include "aggregator/round_engine.h"
#include "aggregator/state_store.h"
#include "common/analytics/output.h"
#include "common/core/log.h"
#include "protocol/analytics_message.h"
#include "protocol/round_result.h"

namespace cairn::aggregator {

using protocol::RejectCode;

bool RoundEngine::AnalyticsPending() const {
  return options_.federation.runs_analytics() && !options_.federation.queries.empty() && state_.analytics_round == 0;
}

void RoundEngine::StartAnalytics() {
  if (stop_requested_) {
    Finish(Fail(ErrorCode::kAborted, "stopped on request before the analytics job"));
    return;
  }
  std::vector<std::string> cohort;
  for (const auto& r : options_.federation.roster) {
    if (participants_[r.id].connected) cohort.push_back(r.id);
  }
  analytics_ = std::make_unique<AnalyticsJob>(state_.next_round, options_.federation.queries, cohort);
  analytics_deadline_ = clock_.Now() + DurationFromSeconds(options_.federation.round_timeout_s);
  SetPhase(Phase::kAnalytics);
  quorum_since_.reset();
  log::Info("analytics_started", {{"round", analytics_->job()}, {"queries", options_.federation.queries.size()},
                                  {"cohort", cohort.size()}});
  auto bytes = protocol::EncodeAnalytics(analytics_->Request());
  if (!bytes) {
    Finish(Fail(bytes.error()));
    return;
  }
  for (const auto& p : cohort) {
    if (!outbox_.Send(p, protocol::AnalyticsData{*bytes})) OnDisconnected(p);
  }
  Tick();
}

void RoundEngine::OnAnalytics(const std::string& participant, const protocol::AnalyticsData& data) {
  auto message = protocol::DecodeAnalytics(data.payload);
  if (!message) {
    RejectTo(participant, 0, {RejectCode::kMalformed, message.error().message()});
    return;
  }
  if (!analytics_ || phase_ != Phase::kAnalytics) {
    RejectTo(participant, 0, {RejectCode::kWrongRound, "no analytics job is open"});
    return;
  }
  if (auto rejection = analytics_->OnMessage(participant, *message)) {
    RejectTo(participant, analytics_->job(), *rejection);
  }
}

void RoundEngine::FinalizeAnalytics() {
  const auto& fed = options_.federation;
  std::unique_ptr<AnalyticsJob> job = std::move(analytics_);
  dp::RandomSource* rng = privacy_->rng();
  auto outcome = rng ? job->Release(privacy_->ledger(), *rng, static_cast<std::uint32_t>(fed.roster.size()))
                     : Result<AnalyticsOutcome>(Fail(ErrorCode::kInternal, "analytics: no random source"));
  protocol::RoundResult result;
  if (!outcome) {
    result = BaseResult(protocol::RoundStatus::kAborted, "analytics: " + outcome.error().message());
    log::Error("analytics_aborted", {{"round", job->job()}, {"reason", outcome.error().message()}});
  } else {
    // The signed result carries the SHA-256 of the released JSON; the JSON follows it.
    result = BaseResult(protocol::RoundStatus::kCompleted, protocol::AnalyticsDigestDetail(outcome->results_json));
    result.contributors = outcome->contributors;
    result.metrics.push_back({"analytics_queries", static_cast<double>(fed.queries.size())});
    result.metrics.push_back({"analytics_released", static_cast<double>(outcome->results.size())});
    result.metrics.push_back({"analytics_declines", static_cast<double>(outcome->declines)});
    result.metrics.push_back({"analytics_epsilon", outcome->epsilon_charged});
  }
  state_.analytics_round = state_.next_round;
  if (outcome) state_.analytics_json = outcome->results_json;  // checkpointed: the outputs can be rewritten
  state_.privacy_state = privacy_->SaveState();
  state_.next_round++;
  bool last = !fed.runs_training() || state_.completed_rounds >= fed.rounds;
  result.final = last || stop_requested_;
  // The checkpoint (ledger charged) comes before anything leaves, the outputs on the host's disk
  // included; if it cannot be written nothing is released and the federation has stopped.
  if (!PublishResult(result, /*with_model=*/false)) return;
  if (outcome) {
    // The exact signed bytes, then the CSV form (both atomic; a restart rewrites them from the
    // checkpoint should this fail).
    if (auto s = store_.SaveAnalytics(outcome->results_json); !s) StateWriteFailed("analytics", s.error());
    log::Info("analytics_released", {{"round", job->job()}, {"queries", outcome->results.size()},
                                     {"epsilon", privacy_->epsilon_spent()}});
    protocol::AnalyticsRelease release{job->job(), outcome->results_json};
    auto bytes = protocol::EncodeAnalytics(release);
    if (!bytes) {
      log::Error("analytics_release_too_large", {{"error", bytes.error().message()}});
    } else {
      for (const auto& [id, p] : participants_) {
        if (p.connected) outbox_.Send(id, protocol::AnalyticsData{*bytes});
      }
    }
    analytics_results_ = std::move(outcome->results);
  }
  if (last) {
    Finish(outcome ? Ok() : Fail(outcome.error()));
  } else if (stop_requested_) {
    Finish(Fail(ErrorCode::kAborted, "stopped on request"));
  } else {
    SetPhase(Phase::kWaitingForCohort);
    MaybeStartRound();
  }
}

// A release is sent only after its checkpoint and its results.jsonl line; when the line could not
// be written (or a crash came first) the release was withheld and the federation stopped. The
// restart (EngineOptions::head_unpublished) appends the line from the checkpoint and, when the
// job was the federation's last act, hands the release out: to each roster party that joins, the
// signed result (which the party verifies and chains as any other), then the answers, then the
// goodbye. Nothing is computed or charged again; only the signature is this instance's, since a
// party checks results against the key it attested and the old instance's key is gone. Nobody
// was sent the old signature, so no party can hold two versions.
Status RoundEngine::RepairUnpublishedHead() {
  const auto& fed = options_.federation;
  const bool final_release = !fed.runs_training() && state_.analytics_round != 0 &&
                             state_.analytics_round == state_.head_round && !state_.analytics_json.empty();
  if (final_release) {
    auto result = protocol::ResultFromJson(state_.head_result);
    if (!result) {
      return Fail(ErrorCode::kDataLoss, "the checkpoint's last result (round " + std::to_string(state_.head_round) +
                                            ") cannot be read: " + result.error().message());
    }
    protocol::SignResult(*result, keys_.signing);
    auto hash = protocol::ResultHash(*result);
    state_.head_hash.assign(hash.begin(), hash.end());
    state_.head_result = protocol::ResultToJson(*result);
    // The new signature is durable before it is logged or sent, as any result's.
    CAIRN_RETURN_IF_ERROR(store_.SaveCheckpoint(state_));
    delivery_result_ = std::move(*result);
  }
  return store_.AppendHeadResult(state_);
}

bool RoundEngine::StartDelivery() {
  if (!delivery_result_) return false;
  const auto& fed = options_.federation;
  for (const auto& r : fed.roster) delivery_pending_.insert(r.id);
  delivery_deadline_ = fed.start_timeout_s > 0 ? clock_.Now() + DurationFromSeconds(fed.start_timeout_s)
                                               : clock_.Now() + std::chrono::hours(24 * 365);
  if (auto answers = analytics::ResultsFromJson(state_.analytics_json)) analytics_results_ = std::move(*answers);
  SetPhase(Phase::kDelivering);
  log::Warn("release_redelivery", {{"round", state_.head_round}, {"participants", delivery_pending_.size()},
                                   {"duration_ms", static_cast<std::uint64_t>(fed.start_timeout_s * 1000)}});
  return true;
}

void RoundEngine::DeliverRelease(const std::string& participant, std::uint64_t last_round) {
  // A party that already verified this result has nothing to gain from it again (and would take
  // a second copy for a rollback): it only hears that the federation is over.
  if (last_round < state_.head_round) {
    auto bytes = protocol::EncodeAnalytics(protocol::AnalyticsRelease{state_.analytics_round, state_.analytics_json});
    if (!bytes) {
      log::Error("analytics_release_too_large", {{"error", bytes.error().message()}});
      return;
    }
    outbox_.Send(participant, *delivery_result_);
    outbox_.Send(participant, protocol::AnalyticsData{*bytes});
  }
  outbox_.Send(participant, protocol::Goodbye{"the federation has finished"});
  delivery_pending_.erase(participant);
  log::Info("release_redelivered", {{"participant", participant}, {"round", state_.head_round},
                                    {"count", delivery_pending_.size()}});
}

}  // namespace cairn::aggregator
