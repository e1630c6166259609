// The round engine: the aggregator's state machine, independent of sockets.
//
// Inputs are events (a participant said hello, began an upload, sent a chunk, committed, reported
// an evaluation; time passed); outputs are control messages through an Outbox. The server
// (aggregator/server.h) owns the sockets and feeds the engine from one thread.
//
// Round lifecycle (docs/protocol.md has the diagram):
//   kWaitingForCohort --quorum connected (and the roster complete, or cohort_wait passed)-->
//   kCollecting --all committed, or the deadline--> finalize -->
//     completed: new model, signed result, next round (or kEvaluating after the last)
//     too few commits: signed failed-quorum result; retry or stop, as configured
//   kEvaluating --evaluation reports in, or eval_timeout--> kDone
//
// Memory: one sealed copy of the global model for downloads, the double running sum, and
// max_concurrent_uploads staging buffers (streaming strategies); the plain model is parked in
// its sealed copy while a float32 round collects and opened back at Finalize. Robust strategies
// hold every update of the round. Flat in the number of participants for streaming strategies.
//
// Thread safety: none; one thread drives an engine.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/enclave_keys.h"
#include "aggregator/masked_round.h"
#include "aggregator/participant_attestation.h"
#include "aggregator/strategy/strategy.h"
#include "aggregator/upload.h"
#include "common/analytics/release.h"
#include "common/core/clock.h"
#include "common/metrics/aggregator_metrics.h"
#include "protocol/limits.h"
#include "protocol/federation_config.h"
#include "protocol/sealing.h"
#include "protocol/types.h"

namespace cairn::aggregator {

class StateStore;
class PrivacyEngine;
class AnalyticsJob;
class MaskedRound;

using SessionId = std::array<std::uint8_t, 16>;

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Sends a control message to a participant's current connection. False when it is gone.
  virtual bool Send(const std::string& participant, const protocol::Message& message) = 0;
};

struct EngineOptions {
  protocol::FederationConfig federation;
  crypto::Sha256Digest config_hash{};
  protocol::ServerConfig server;
  std::string platform;  // evidence platform and provider, recorded in every result
  const metrics::AggregatorMetrics* metrics = nullptr;  // optional; not owned, outlives the engine
  // Restored state whose head result nobody was sent (results.jsonl lacks it: a crash or a failed
  // write came between the checkpoint and the sending). The engine appends it to results.jsonl
  // when it starts; when that head is the federation's final result (its last round, or a
  // clean-room release that ended it), it first signs it again with this instance's key (the
  // parties verify results against the key they attested, and the old instance's is gone) and
  // then delivers it to the parties as they come back (Phase::kDelivering) instead of stopping.
  bool head_unpublished = false;
  // An upload holding a staging slot that makes no progress (no chunk opens) for this long since
  // the slot was granted or its last chunk loses the slot: it is rejected and the next waiting
  // upload gets the slot. 0 = off (slots are then freed only by the round deadline). Wired from
  // server.upload_idle_timeout_s where the [server] table has it.
  double upload_idle_timeout_s = 30;
};

// The state that survives a restart (checkpointed after every round).
struct EngineState {
  std::uint64_t next_round = 1;        // id of the next round to run
  std::uint64_t completed_rounds = 0;  // rounds with status completed
  std::uint64_t model_version = 0;
  std::vector<float> model;
  Bytes strategy_state;
  Bytes privacy_state;
  std::uint64_t head_round = 0;        // last result in the chain
  Bytes head_hash;                     // its hash (empty before the first)
  std::string head_result;             // its results.jsonl line (the log is repaired from it)
  std::uint32_t retries = 0;           // consecutive failed attempts of the current round
  std::vector<double> feature_mean;    // federated standardization, frozen before round 1
  std::vector<double> feature_std;
  std::uint64_t analytics_round = 0;   // round id of the released analytics job (0: not yet run)
  std::string analytics_json;          // its released answers, analytics.json's exact bytes
};

class RoundEngine {
 public:
  // kAnalytics: the clean-room queries are out to the cohort (analytics_job.h); it comes before
  // the first training round when federation.mode is "analytics" or "both". kDelivering: a
  // restart found the federation's final result (a last round, a clean-room release) signed and
  // checkpointed but never sent (it was withheld); each party that joins gets it, with its model
  // or answers, and a goodbye, until all have it or federation.start_timeout_s runs out
  // (EngineOptions::head_unpublished).
  enum class Phase { kWaitingForCohort, kAnalytics, kCollecting, kEvaluating, kDelivering, kDone };

  static Result<std::unique_ptr<RoundEngine>> Create(EngineOptions options, const EnclaveKeys& keys,
                                                     const Clock& clock, Outbox& outbox,
                                                     StateStore& store, EngineState state);
  ~RoundEngine();

  // Control plane. `participant` comes from the ZAP handler (the roster id of the Curve key).
  void OnHello(const std::string& participant, const protocol::Hello& hello);
  // The challenge to send with the aggregator's evidence (mutual attestation; a random value
  // that nothing checks when the federation does not require it).
  Bytes IssueChallenge();
  void OnMessage(const std::string& participant, const protocol::Message& message);
  // A participant's connection is gone (send failed); its upload slot is released.
  void OnDisconnected(const std::string& participant);

  // Data plane.
  const std::string* SessionOwner(const SessionId& session) const;
  void OnUpdateChunk(const std::string& participant, const protocol::ChunkHeader& header,
                     std::span<const std::uint8_t> payload);
  // The sealed model of `version`, when it is the current one.
  std::shared_ptr<const protocol::SealedModel> SealedModelFor(std::uint64_t version) const;

  // Deadlines and phase changes; call after events and when NextWakeup() passes.
  void Tick();
  Clock::TimePoint NextWakeup() const;

  Phase phase() const { return phase_; }
  bool done() const { return phase_ == Phase::kDone; }
  // Ok when the federation ran to its end; the reason otherwise (budget, quorum failure).
  const Status& outcome() const { return outcome_; }
  // Asks the engine to stop after the current round (SIGTERM): no new round starts.
  void RequestStop();

  const EngineState& state() const { return state_; }
  std::uint64_t model_version() const { return state_.model_version; }
  std::size_t connected() const;

  // Counters for metrics.
  struct Counters {
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t chunks_dropped = 0;
    std::map<std::string, std::uint64_t> rejections;  // by reject-code name
    // Self-reported metrics left out of a signed result (a commit's train_loss that is not a
    // finite number within ±kMaxSelfReportedMetric, or any non-finite value about to be signed).
    std::uint64_t metrics_dropped = 0;
    // Catch-up pages served (a Welcome's catch-up or a CatchUp) and updates folded into the sum
    // (with a hidden cohort, sampled or not: the same work for every commit).
    std::uint64_t catch_up_pages = 0;
    std::uint64_t updates_folded = 0;
  };
  // Bound on a self-reported metric (train_loss) that is folded into a signed result: the
  // example-weighted sum stays finite (|value| · 2^40 examples · the roster).
  static constexpr double kMaxSelfReportedMetric = 1e9;
  const Counters& counters() const { return counters_; }
  void CountBytesOut(std::uint64_t n) {
    counters_.bytes_out += n;
    if (options_.metrics) options_.metrics->bytes_out_total->Increment(n);
  }
  void CountDroppedChunk() {
    ++counters_.chunks_dropped;
    if (options_.metrics) options_.metrics->chunks_dropped_total->Increment();
  }
  // Commits and cohort of the round in progress (0, 0 between rounds), for the progress line.
  std::size_t committed_in_round() const;
  // The released analytics answers (empty until the job is released, and after a restart).
  const std::vector<analytics::QueryResult>& analytics_results() const { return analytics_results_; }
  std::size_t cohort_in_round() const;

  // Test hook: called with every update as it is folded into the aggregate (tests check what
  // the enclave sees). Not set in production.
  using UpdateObserver = std::function<void(const std::string& participant, std::span<const float> update)>;
  void SetUpdateObserverForTesting(UpdateObserver observer) { observer_ = std::move(observer); }
  // Test hook: rewrites each round result after it is signed, before it is sent (tests check
  // that participants refuse a tampered result).
  using ResultTamper = std::function<void(protocol::RoundResult& result)>;
  void SetResultTamperForTesting(ResultTamper tamper) { tamper_ = std::move(tamper); }
  // Test hook (masking): sees every masked chunk the enclave receives, before it is folded in
  // (tests check that no single update is ever held unmasked). Not set in production.
  void SetMaskedInputObserverForTesting(MaskedInputObserver observer) { masked_observer_ = std::move(observer); }
  // Results per catch-up page (a Welcome's or a CatchUp's; kMaxCatchUpResults otherwise): small
  // pages make a test's returning member walk several.
  void SetCatchUpPageForTesting(std::size_t results) { catch_up_page_ = results; }

 private:
  std::unique_ptr<ParticipantAttestation> participant_attestation_;  // null = not required
  struct ParticipantState {
    SessionId session{};
    bool connected = false;
    std::uint64_t last_eval_version = 0;
    bool evaluated = false;  // an evaluation report was accepted (last_eval_version is its version)
    // CatchUpRequest pages this member may still ask for now (each reads results.jsonl):
    // kCatchUpBurst at most, one more every kCatchUpRefill. The first request finds the bucket
    // full (no refill time yet); a new Hello does not refill it.
    double catch_up_tokens = 0;
    std::optional<Clock::TimePoint> catch_up_refilled;
  };
  struct RoundState;

  RoundEngine(EngineOptions options, const EnclaveKeys& keys, const Clock& clock, Outbox& outbox,
              StateStore& store, EngineState state);
  Status Init();
  Status SealCurrentModel();
  void MaybeStartRound();
  void StartRound();
  void OnUploadBegin(const std::string& participant, const protocol::UploadBegin& begin);
  void OnCommit(const std::string& participant, const protocol::Commit& commit);
  void OnEvalReport(const std::string& participant, const protocol::EvalReport& report);
  void OnFeatureStats(const std::string& participant, const protocol::FeatureStats& stats);
  void OnCatchUpRequest(const std::string& participant, const protocol::CatchUpRequest& request);
  // Takes one page from the member's catch-up allowance; false (with the wait in `detail`) when
  // it is spent.
  bool TakeCatchUpPage(ParticipantState& p, std::string& detail);
  // The stored results after `after_round` up to the head, as many as fit one page (at most
  // catch_up_page, within the control message limit, each one the participant's decoder takes).
  std::vector<protocol::RoundResult> CatchUpPage(const std::string& participant, std::uint64_t after_round);
  // Pairwise masking (aggregator/masked_round.h): the round's secagg traffic and stages.
  void OnSecagg(const std::string& participant, const protocol::SecaggMessage& message);
  void AdvanceMaskedRound();
  // The bookkeeping of an accepted commit, shared by plain and masked rounds.
  void RecordCommit(const std::string& participant, const protocol::Commit& commit, double weight);
  bool NeedFeatureStats() const;
  // Pools the received moments into the state's feature mean and std; false when too few sites
  // have reported.
  bool FreezeFeatureStats();
  protocol::Task MakeTask(std::uint64_t round) const;
  void GrantSlots();
  void ReleaseUpload(const std::string& participant);
  // Uploads that hold a slot and have made no progress for upload_idle_timeout_s are rejected
  // and their slots granted to waiting uploads; UploadExpiry is the earliest such time.
  void ExpireIdleUploads();
  std::optional<Clock::TimePoint> UploadExpiry() const;
  void ReturnStaging(std::vector<float> buffer);
  void SetPhase(Phase phase);
  void ReportHealth() const;
  bool CanParkModel() const;
  void ParkModel();
  Status UnparkModel();
  void RejectTo(const std::string& participant, std::uint64_t round, const Rejection& rejection);
  void Finalize();
  void FailFinalize(std::string_view event, std::string_view reason, const Error& error);
  void StateWriteFailed(std::string_view file, const Error& error);
  Status FinalizeCompleted(protocol::RoundResult& result);
  // Signs `result`, makes it durable (checkpoint, then results.jsonl), writes a completed round's
  // model files and sends it to every connected participant. `with_model`: attach the download
  // handle (training results; not analytics releases). Returns false when the checkpoint or the
  // results.jsonl line could not be written: then nothing was sent and the federation has
  // stopped (the caller returns at once).
  [[nodiscard]] bool PublishResult(protocol::RoundResult result, bool with_model = true);
  // Signs `result` with this instance's key and makes it the chain's head (state_ only).
  void SignAsHead(protocol::RoundResult& result);
  // Clean-room analytics (analytics_job.h).
  bool AnalyticsPending() const;
  void StartAnalytics();
  void OnAnalytics(const std::string& participant, const protocol::AnalyticsData& data);
  void FinalizeAnalytics();
  // A restored head result nobody was sent: re-signed when it is the federation's final result
  // (to be delivered), then appended to results.jsonl. Phase::kDelivering: entered when there is
  // such a result (true); DeliverHead serves one joining party, EndDelivery sends it away.
  Status RepairUnpublishedHead();
  // Every training round has run (or there are none) and no analytics job is left.
  bool FederationOver() const;
  bool StartDelivery();
  bool IsReleaseHead() const;
  void DeliverHead(const std::string& participant, std::uint64_t last_round);
  void EndDelivery(const std::string& participant);
  // Ends the federation. With `evaluate`, participants first evaluate the last published model
  // (federation.eval_timeout_s); without, they are sent away at once.
  void Finish(Status outcome, bool evaluate = true);
  protocol::RoundResult BaseResult(protocol::RoundStatus status, std::string detail) const;

  EngineOptions options_;
  const EnclaveKeys& keys_;
  const Clock& clock_;
  Outbox& outbox_;
  StateStore& store_;
  EngineState state_;
  std::unique_ptr<strategy::Strategy> strategy_;
  std::unique_ptr<PrivacyEngine> privacy_;
  UploadContext upload_context_;

  Phase phase_ = Phase::kWaitingForCohort;
  Status outcome_;
  Status pending_outcome_;  // while evaluating: the outcome Finish() was called with
  bool stop_requested_ = false;
  std::map<std::string, ParticipantState> participants_;
  std::size_t catch_up_page_ = protocol::kMaxCatchUpResults;
  std::map<SessionId, std::string> sessions_;
  std::shared_ptr<const protocol::SealedModel> sealed_;
  std::unique_ptr<RoundState> round_;
  std::optional<Clock::TimePoint> quorum_since_;
  std::optional<Clock::TimePoint> start_wait_since_;
  Clock::TimePoint eval_deadline_{};
  std::set<std::string> eval_pending_;
  std::vector<std::vector<float>> staging_pool_;  // free staging buffers
  std::size_t slots_ = 0;                           // the pool's capacity
  std::size_t num_params_ = 0;
  bool model_parked_ = false;  // state_.model is empty; sealed_ holds it (while collecting)
  std::map<std::string, protocol::FeatureStats> feature_stats_;  // until frozen
  // cohort_wait has passed with too few feature statistics: only a report or a connection can
  // start the round now, so NextWakeup does not return the (past) end of cohort_wait.
  bool awaiting_feature_stats_ = false;
  Counters counters_;
  std::unique_ptr<AnalyticsJob> analytics_;
  Clock::TimePoint analytics_deadline_{};
  std::vector<analytics::QueryResult> analytics_results_;
  std::optional<protocol::RoundResult> delivery_result_;  // kDelivering: the re-signed final result
  std::set<std::string> delivery_pending_;                // kDelivering: parties still to serve
  std::set<std::string> delivery_awaiting_eval_;          // kDelivering: sent a model, no report yet
  std::optional<Clock::TimePoint> delivery_deadline_;    // kDelivering: none without start_timeout_s
  UpdateObserver observer_;
  ResultTamper tamper_;
  std::unique_ptr<MaskedRound> masked_;  // the round in progress, when the federation masks
  MaskedInputObserver masked_observer_;
};

// "waiting", "analytics", "collecting", "evaluating", "delivering", "done" (health endpoint).
const char* PhaseName(RoundEngine::Phase phase);

}  // namespace cairn::aggregator
