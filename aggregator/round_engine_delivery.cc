// The round engine's delivery phase (RoundEngine::Phase::kDelivering): after a restart, the
// federation's final result that was signed and checkpointed but never sent (withheld because its
// results.jsonl line could not be written, or cut off by a crash) is handed to the parties as
// they come back (docs/operations.md, section 9).

#include "aggregator/round_engine.h"
#include "aggregator/state_store.h"
#include "common/analytics/output.h"
#include "common/core/log.h"
#include "protocol/analytics_message.h"
#include "protocol/round_result.h"
#include "protocol/sealing.h"

namespace cairn::aggregator {

// A result is sent only after its checkpoint and its results.jsonl line; when the line could not
// be written (or a crash came first) the result was withheld and the federation stopped. The
// restart (EngineOptions::head_unpublished) appends the line from the checkpoint. When that result
// was the federation's last (no later one will chain to it), the restart also hands it out: to
// each roster party that joins, the signed result (verified and chained by the party as any
// other), with the download handle of the model it names or the answers it signs, then the
// goodbye (after the party's evaluation report, when it has a model to fetch). Nothing is
// computed or charged again; only the signature is this instance's, since a party checks results
// against the key it attested and the old instance's key is gone. Nobody was sent the old
// signature, so no party can hold two versions.
Status RoundEngine::RepairUnpublishedHead() {
  if (FederationOver()) {
    auto result = protocol::ResultFromJson(state_.head_result);
    if (!result) {
      return Fail(ErrorCode::kDataLoss, "the checkpoint's last result (round " + std::to_string(state_.head_round) +
                                            ") cannot be read: " + result.error().message());
    }
    if (result->final) {
      SignAsHead(*result);
      // The new signature is durable before it is logged or sent, as any result's.
      CAIRN_RETURN_IF_ERROR(store_.SaveCheckpoint(state_));
      delivery_result_ = std::move(*result);
    }
  }
  return store_.AppendHeadResult(state_);
}

bool RoundEngine::StartDelivery() {
  if (!delivery_result_) return false;
  const auto& fed = options_.federation;
  for (const auto& r : fed.roster) delivery_pending_.insert(r.id);
  if (fed.start_timeout_s > 0) delivery_deadline_ = clock_.Now() + DurationFromSeconds(fed.start_timeout_s);
  if (IsReleaseHead()) {
    if (auto answers = analytics::ResultsFromJson(state_.analytics_json)) analytics_results_ = std::move(*answers);
  }
  SetPhase(Phase::kDelivering);
  log::Warn("result_redelivery", {{"round", state_.head_round}, {"participants", delivery_pending_.size()},
                                  {"duration_ms", static_cast<std::uint64_t>(fed.start_timeout_s * 1000)}});
  return true;
}

bool RoundEngine::FederationOver() const {
  const auto& fed = options_.federation;
  return (!fed.runs_training() || state_.completed_rounds >= fed.rounds) && !AnalyticsPending();
}

bool RoundEngine::IsReleaseHead() const {
  return state_.analytics_round != 0 && state_.analytics_round == state_.head_round && !state_.analytics_json.empty();
}

void RoundEngine::DeliverHead(const std::string& participant, std::uint64_t last_round) {
  // A party that already verified this result has nothing to gain from it again (it would take a
  // second copy for a rollback): it only hears that the federation is over.
  if (last_round >= state_.head_round) {
    EndDelivery(participant);
    return;
  }
  protocol::RoundResult r = *delivery_result_;
  const bool with_model = !IsReleaseHead() && r.status == protocol::RoundStatus::kCompleted && sealed_ &&
                          r.model_version == state_.model_version && sealed_->version() == r.model_version &&
                          sealed_->hash() == r.model_hash;
  if (with_model) r.model = sealed_->Download();
  outbox_.Send(participant, r);
  if (IsReleaseHead()) {
    auto bytes = protocol::EncodeAnalytics(protocol::AnalyticsRelease{state_.analytics_round, state_.analytics_json});
    if (!bytes) {
      log::Error("analytics_release_too_large", {{"error", bytes.error().message()}});
    } else {
      outbox_.Send(participant, protocol::AnalyticsData{*bytes});
    }
  }
  if (with_model) {
    // The party fetches the model and reports its evaluation (an empty one when it does not
    // evaluate); the goodbye waits for that, as after a final round.
    delivery_awaiting_eval_.insert(participant);
    return;
  }
  EndDelivery(participant);
}

void RoundEngine::EndDelivery(const std::string& participant) {
  delivery_awaiting_eval_.erase(participant);
  outbox_.Send(participant, protocol::Goodbye{"the federation has finished"});
  OnDisconnected(participant);  // sent away: the end of the phase does not say goodbye twice
  delivery_pending_.erase(participant);
  log::Info("result_redelivered", {{"participant", participant}, {"round", state_.head_round},
                                   {"count", delivery_pending_.size()}});
}

}  // namespace cairn::aggregator
