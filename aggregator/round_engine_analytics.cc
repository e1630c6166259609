// The round engine's clean-room analytics phase (RoundEngine::Phase::kAnalytics): opening the job,
// routing the parties' analytics messages to it, and releasing it as a signed, chained result.
// Kept apart from round_engine.cc so the training path stays as it was; the job itself is
// aggregator/analytics_job.h (docs/analytics.md, "In the binaries").

#include "aggregator/analytics_job.h"
#include "aggregator/privacy_engine.h"
#include "aggregator/round_engine.h"
#include "aggregator/state_store.h"
#include "common/core/log.h"
#include "protocol/analytics_message.h"

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

}  // namespace cairn::aggregator
