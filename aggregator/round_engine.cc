#include "aggregator/round_engine.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "aggregator/analytics_job.h"
#include "aggregator/masked_round.h"
#include "aggregator/privacy_engine.h"
#include "aggregator/state_store.h"
#include "aggregator/strategy/vector_math.h"
#include "common/dp/clipping.h"
#include "common/core/log.h"
#include "common/metrics/http_server.h"
#include "protocol/analytics_message.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/masking_config.h"
#include "protocol/round_result.h"
#include "protocol/text.h"

namespace cairn::aggregator {

using protocol::RejectCode;
using Ms = std::chrono::milliseconds;

namespace {
std::int64_t ToMs(Clock::Duration d) { return std::chrono::duration_cast<Ms>(d).count(); }

// Federated standardization: bounds on one site's per-feature moments (mean and root mean
// square). They keep the pooled sums finite (2^40 rows per site, 1000 sites) and refuse
// moments no table of real features has.
constexpr double kMaxFeatureMagnitude = 1e12;

// CatchUpRequest allowance per member (each page reads results.jsonl): a burst that covers a
// walk of 16 pages (8192 results) at once, then one page every 250 ms.
constexpr double kCatchUpBurst = 16;
constexpr std::chrono::milliseconds kCatchUpRefill{250};
}  // namespace

struct RoundEngine::RoundState {
  std::uint64_t id = 0;
  Clock::TimePoint started{};
  Clock::TimePoint deadline{};
  std::vector<std::string> cohort;
  std::map<std::string, std::unique_ptr<Upload>> uploads;
  std::deque<std::string> waiting;         // uploads waiting for a staging slot
  std::set<std::string> committed;
  std::vector<std::string> contributors;   // in commit order
  std::vector<double> sum;                 // Σ weight·Δ (streaming strategies)
  double total_weight = 0;
  std::uint64_t total_examples = 0;
  double weighted_loss = 0;                // Σ examples·train_loss
  double loss_weight = 0;
  bool model_changed = false;              // FinalizeCompleted failed after the model was updated
  std::uint64_t clip_bits_below = 0;       // adaptive clipping: updates within C
  std::uint64_t counted = 0;               // commits in the sum (a hidden cohort's sample only)
  std::vector<std::vector<float>> held;    // robust strategies: every accepted update
  std::vector<double> held_weights;

  // The plaintext a round holds (robust rules: every update; streaming: Σ weight·Δ, which with
  // one contributor is that party's update) is wiped whichever way the round ends: completed,
  // failed quorum, aborted, or dropped by FailFinalize.
  ~RoundState() {
    for (auto& h : held) crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(h.data()), h.size() * sizeof(float)));
    crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(sum.data()), sum.size() * sizeof(double)));
  }

  bool InCohort(const std::string& p) const {
    return std::find(cohort.begin(), cohort.end(), p) != cohort.end();
  }
};

RoundEngine::RoundEngine(EngineOptions options, const EnclaveKeys& keys, const Clock& clock,
                         Outbox& outbox, StateStore& store, EngineState state)
    : options_(std::move(options)), keys_(keys), clock_(clock), outbox_(outbox), store_(store),
      state_(std::move(state)) {}

RoundEngine::~RoundEngine() = default;

Result<std::unique_ptr<RoundEngine>> RoundEngine::Create(EngineOptions options, const EnclaveKeys& keys,
                                                         const Clock& clock, Outbox& outbox,
                                                         StateStore& store, EngineState state) {
  std::unique_ptr<RoundEngine> e(new RoundEngine(std::move(options), keys, clock, outbox, store, std::move(state)));
  CAIRN_RETURN_IF_ERROR(e->Init());
  return e;
}

Status RoundEngine::Init() {
  const auto& fed = options_.federation;
  std::size_t n = state_.model.size();
  if (n == 0) return Fail(ErrorCode::kInvalidArgument, "the initial model has no parameters");
  CAIRN_ASSIGN_OR_RETURN(strategy_, strategy::MakeStrategy(fed.strategy.name, fed.strategy.params, n));
  if (!state_.strategy_state.empty()) {
    CAIRN_RETURN_IF_ERROR(strategy_->LoadState(state_.strategy_state));
  }
  CAIRN_RETURN_IF_ERROR(strategy_->CheckCohort(fed.min_participants));
  CAIRN_ASSIGN_OR_RETURN(privacy_, PrivacyEngine::Create(fed, state_.privacy_state));
  if (privacy_->enabled() && strategy_->needs_all_updates()) {
    return Fail(ErrorCode::kInvalidArgument,
                "differential privacy needs a mean-based strategy (fedavg, fedavgm, fedadam, fedyogi, "
                "fedadagrad, fedprox); '" + fed.strategy.name + "' has no bounded sensitivity");
  }

  if (!fed.participant_attestation_policy.empty()) {
    CAIRN_ASSIGN_OR_RETURN(participant_attestation_,
                           ParticipantAttestation::Create(fed.participant_attestation_policy,
                                                          "federation config [participant_attestation]"));
  }

  upload_context_.federation_id = fed.id;
  upload_context_.config_hash = options_.config_hash;
  upload_context_.num_params = n;
  upload_context_.chunk_bytes = fed.chunk_bytes;
  upload_context_.encoding = fed.encoding;
  if (fed.masking.enabled) {
    // The config loader refuses these already; the engine checks the strategy object itself.
    if (strategy_->needs_all_updates() || strategy_->norm_bound() > 0) {
      return Fail(ErrorCode::kInvalidArgument, "pairwise masking needs a sum-based strategy without norm_bound; '" +
                                                   fed.strategy.name + "' needs each participant's update");
    }
    upload_context_.encoding = protocol::Encoding::kRing32;  // masked uploads are elements of Z_{2^32}
  }

  // Memory: refuse at start a configuration the limit cannot hold.
  std::uint64_t model_bytes = n * sizeof(float);
  std::size_t slots = strategy_->needs_all_updates() ? fed.roster.size() : options_.server.max_concurrent_uploads;
  std::uint64_t need = model_bytes /*global*/ + n * protocol::EncodingBytes(fed.encoding) /*sealed*/ +
                       strategy_->MemoryBytes(fed.roster.size()) +
                       (strategy_->needs_all_updates() ? 0 : slots * model_bytes) +
                       (fed.masking.enabled ? n * sizeof(std::uint32_t) : 0) /*masked running sum*/;
  if (options_.server.memory_limit_mb > 0 && need > options_.server.memory_limit_mb * (1ull << 20)) {
    return Fail(ErrorCode::kResourceExhausted,
                "strategy '" + fed.strategy.name + "' with " + std::to_string(fed.roster.size()) +
                    " participants and " + std::to_string(n) + " parameters needs about " +
                    std::to_string(need >> 20) + " MiB, above server.memory_limit_mb = " +
                    std::to_string(options_.server.memory_limit_mb));
  }
  num_params_ = n;
  if (!strategy_->needs_all_updates()) {
    slots_ = slots;
    for (std::size_t i = 0; i < slots; ++i) staging_pool_.emplace_back(n);
  }
  for (const auto& r : fed.roster) participants_[r.id];
  CAIRN_RETURN_IF_ERROR(SealCurrentModel());
  if (options_.head_unpublished) CAIRN_RETURN_IF_ERROR(RepairUnpublishedHead());
  // A head signed as final (the federation was stopped, or gave up on a failed round) told every
  // participant that nothing follows it, and they refuse any later result (participant/audit/
  // result_rules): continuing would only fail them one by one.
  if (!FederationOver() && state_.head_round > 0 && !state_.head_result.empty()) {
    auto head = protocol::ResultFromJson(state_.head_result);
    if (head && head->final) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the federation ended at round " + std::to_string(state_.head_round) +
                      ": its last result is signed as final (it was stopped, or gave up on a failed round), "
                      "and participants refuse any result after a final one; start a new federation "
                      "(docs/operations.md, \"Rotating a federation\") instead of resuming this one");
    }
  }
  if (FederationOver() && !StartDelivery()) {
    SetPhase(Phase::kDone);
    outcome_ = Ok();
  }
  ReportHealth();
  return Ok();
}

Status RoundEngine::SealCurrentModel() {
  // The previous copy is handed over for recycling; if sealing fails there is no sealed model
  // (sealed_ is null) and the caller stops the federation.
  CAIRN_ASSIGN_OR_RETURN(sealed_, protocol::SealedModel::Seal(state_.model_version, state_.model,
                                                              options_.federation.encoding,
                                                              options_.federation.chunk_bytes, std::move(sealed_)));
  return Ok();
}

// The plain float32 model and its sealed copy hold the same values. While a round collects only
// the sealed copy is used (downloads), so the plain one is parked: its storage joins the staging
// pool (or is freed when the pool is full) and Finalize opens the values back from the sealed
// copy (AES-GCM, authenticated: ~15 ms for 40 MB). That keeps collection at the sealed model,
// the double running sum and the staging slots (docs/performance.md, "Memory"). Not with a
// 16-bit transport (its sealed copy is rounded) nor with robust rules (they hold every update).
bool RoundEngine::CanParkModel() const {
  return options_.federation.encoding == protocol::Encoding::kFloat32 && !strategy_->needs_all_updates() &&
         sealed_ && sealed_->version() == state_.model_version;
}

void RoundEngine::ParkModel() {
  if (model_parked_ || !CanParkModel()) return;
  ReturnStaging(std::move(state_.model));
  state_.model = {};
  model_parked_ = true;
}

Status RoundEngine::UnparkModel() {
  if (!model_parked_) return Ok();
  std::vector<float> storage;
  if (!staging_pool_.empty()) {
    storage = std::move(staging_pool_.back());
    staging_pool_.pop_back();
  }
  storage.resize(num_params_);
  CAIRN_RETURN_IF_ERROR(sealed_->OpenInto(storage));
  state_.model = std::move(storage);
  model_parked_ = false;
  return Ok();
}

std::size_t RoundEngine::committed_in_round() const { return round_ ? round_->committed.size() : 0; }
std::size_t RoundEngine::cohort_in_round() const { return round_ ? round_->cohort.size() : 0; }

const char* PhaseName(RoundEngine::Phase phase) {
  switch (phase) {
    case RoundEngine::Phase::kWaitingForCohort: return "waiting";
    case RoundEngine::Phase::kAnalytics: return "analytics";
    case RoundEngine::Phase::kCollecting: return "collecting";
    case RoundEngine::Phase::kEvaluating: return "evaluating";
    case RoundEngine::Phase::kDelivering: return "delivering";
    case RoundEngine::Phase::kDone: return "done";
  }
  return "unknown";
}

std::size_t RoundEngine::connected() const {
  std::size_t n = 0;
  for (const auto& [id, p] : participants_) n += p.connected ? 1 : 0;
  return n;
}

const std::string* RoundEngine::SessionOwner(const SessionId& session) const {
  auto it = sessions_.find(session);
  return it == sessions_.end() ? nullptr : &it->second;
}

std::shared_ptr<const protocol::SealedModel> RoundEngine::SealedModelFor(std::uint64_t version) const {
  if (sealed_ && sealed_->version() == version) return sealed_;
  return nullptr;
}

void RoundEngine::RequestStop() { stop_requested_ = true; }

// /healthz follows the engine where the engine changes (the phase, a published result), not a
// loop iteration later: a participant that has verified round k's result never reads an older
// round there.
void RoundEngine::SetPhase(Phase phase) {
  phase_ = phase;
  ReportHealth();
}

void RoundEngine::ReportHealth() const {
  if (options_.metrics && options_.metrics->health) {
    options_.metrics->health->Set(state_.next_round, PhaseName(phase_), /*ok=*/!(done() && !outcome_));
  }
}

// ---------------------------------------------------------------------------------------------
// Control plane

Bytes RoundEngine::IssueChallenge() {
  if (participant_attestation_) return participant_attestation_->IssueChallenge(clock_.Now());
  return crypto::RandomBytes(ParticipantAttestation::kChallengeBytes);
}

void RoundEngine::OnHello(const std::string& participant, const protocol::Hello& hello) {
  auto it = participants_.find(participant);
  if (it == participants_.end()) return;  // the ZAP handler admits roster members only
  if (hello.config_hash != options_.config_hash) {
    RejectTo(participant, 0, {RejectCode::kConfigMismatch,
                              "the participant accepted another federation configuration than this aggregator serves"});
    return;
  }
  if (participant_attestation_) {
    const protocol::RosterEntry* entry = options_.federation.FindById(participant);
    Status verdict = entry == nullptr ? Fail(ErrorCode::kPermissionDenied, "not in the roster")
                                      : participant_attestation_->Check(hello, entry->curve_key, options_.config_hash,
                                                                        clock_.Now(), clock_.WallNow());
    if (!verdict) {
      log::Warn("participant_attestation_refused", {{"participant", participant}, {"reason", verdict.error().message()}});
      RejectTo(participant, 0, {RejectCode::kAttestationFailed, verdict.error().message()});
      return;
    }
    log::Info("participant_attestation_accepted",
              {{"participant", participant},
               {"platform", hello.mutual_evidence->platform == protocol::Platform::kSevSnp ? "sev-snp"
                            : hello.mutual_evidence->platform == protocol::Platform::kTdx ? "tdx" : "sim"}});
  }
  // A participant that has seen a later result than our head detects a rollback itself; we
  // refuse to serve it so it does not train on stale state.
  if (hello.last_round > state_.head_round) {
    RejectTo(participant, 0, {RejectCode::kRollback,
                              "the participant has seen round " + std::to_string(hello.last_round) +
                                  "; this aggregator's last result is round " + std::to_string(state_.head_round)});
    return;
  }
  // A new connection replaces the old one: drop its session and any upload in flight.
  ParticipantState& p = it->second;
  // A Hello that needs a catch-up page takes it from the same allowance as CatchUpRequest (so
  // reconnecting does not bypass the pacing); when it is spent the Hello is refused as busy
  // before anything changes, and the participant comes back later.
  if (hello.last_round > 0 && hello.last_round < state_.head_round) {
    if (std::string wait; !TakeCatchUpPage(p, wait)) {
      RejectTo(participant, 0, {RejectCode::kBusy, wait});
      return;
    }
  }
  if (p.connected) {
    sessions_.erase(p.session);
    ReleaseUpload(participant);
  }
  crypto::RandomBytes(p.session);
  sessions_[p.session] = participant;
  p.connected = true;
  if (options_.metrics) options_.metrics->participants_connected->Set(static_cast<double>(connected()));

  protocol::Welcome w;
  w.session = p.session;
  w.head_round = state_.head_round;
  w.head_hash = state_.head_hash;
  w.model_version = state_.model_version;
  crypto::RandomBytes(w.nonce);
  w.want_feature_stats = NeedFeatureStats() && !feature_stats_.contains(participant);
  // A returning participant that missed results gets them, so it can check that this history
  // continues the last result it verified (a host that restarted the enclave from an older
  // checkpoint and ran other rounds meanwhile has a history that does not).
  // A member away for longer than one page asks for the rest with CatchUpRequest (paced per
  // member across admissions: OnCatchUpRequest).
  if (hello.last_round > 0 && hello.last_round < state_.head_round) {
    w.catch_up = CatchUpPage(participant, hello.last_round);
  }
  outbox_.Send(participant, w);
  // Rejoining while the analytics job still waits for its answers: ask again.
  if (analytics_ && phase_ == Phase::kAnalytics && analytics_->Owes(participant)) {
    if (auto b = protocol::EncodeAnalytics(analytics_->Request())) outbox_.Send(participant, protocol::AnalyticsData{*b});
  }
  log::Info("participant_joined", {{"participant", participant}, {"round", state_.next_round},
                                   {"participants", connected()}});
  if (phase_ == Phase::kDelivering) {
    DeliverHead(participant, hello.last_round);
    Tick();
    return;
  }

  // Joining (or rejoining) while a round it belongs to is open: offer it again.
  if (round_ && phase_ == Phase::kCollecting && round_->InCohort(participant) &&
      !round_->committed.contains(participant)) {
    protocol::RoundOffer offer;
    offer.round = round_->id;
    offer.model = sealed_->Download();
    offer.task = MakeTask(round_->id);
    auto now = clock_.Now();
    offer.deadline_ms = round_->deadline > now ? static_cast<std::uint64_t>(ToMs(round_->deadline - now)) : 0;
    offer.upload_chunk_bytes = options_.federation.chunk_bytes;
    offer.upload_encoding = upload_context_.encoding;
    offer.cohort_size = static_cast<std::uint32_t>(round_->cohort.size());
    if (masked_) offer.masking = masked_->Setup();
    outbox_.Send(participant, offer);
  }
  Tick();
}

void RoundEngine::OnMessage(const std::string& participant, const protocol::Message& message) {
  if (!participants_.contains(participant) || !participants_[participant].connected) {
    RejectTo(participant, 0, {RejectCode::kMalformed, "send Hello first"});
    return;
  }
  if (auto* m = std::get_if<protocol::UploadBegin>(&message)) {
    OnUploadBegin(participant, *m);
  } else if (auto* c = std::get_if<protocol::Commit>(&message)) {
    OnCommit(participant, *c);
  } else if (auto* e = std::get_if<protocol::EvalReport>(&message)) {
    OnEvalReport(participant, *e);
  } else if (auto* fs = std::get_if<protocol::FeatureStats>(&message)) {
    OnFeatureStats(participant, *fs);
  } else if (auto* sa = std::get_if<protocol::SecaggMessage>(&message)) {
    OnSecagg(participant, *sa);
  } else if (auto* a = std::get_if<protocol::AnalyticsData>(&message)) {
    OnAnalytics(participant, *a);
  } else if (auto* cu = std::get_if<protocol::CatchUpRequest>(&message)) {
    OnCatchUpRequest(participant, *cu);
  } else if (std::holds_alternative<protocol::Ping>(message)) {
    // keepalive
  } else if (std::holds_alternative<protocol::Goodbye>(message)) {
    OnDisconnected(participant);
  } else {
    RejectTo(participant, 0, {RejectCode::kMalformed,
                              std::string("a participant may not send ") + protocol::MessageName(message)});
  }
  Tick();
}

std::vector<protocol::RoundResult> RoundEngine::CatchUpPage(const std::string& participant, std::uint64_t after_round) {
  std::vector<protocol::RoundResult> page;
  if (after_round >= state_.head_round) return page;
  auto missed = store_.ReadResults(after_round + 1, state_.head_round, catch_up_page_);
  if (!missed) {
    log::Warn("catch_up_unavailable", {{"participant", participant}, {"error", missed.error().message()}});
    return page;
  }
  // Within the control message limit (names make results long): what does not fit waits for the
  // next page.
  std::size_t bytes = 0;
  for (auto& r : *missed) {
    // A line the participant's decoder would refuse (one written before today's limits, say)
    // would make the whole message undecodable: stop before it, and the participant says which
    // rounds it could not check.
    if (!protocol::Decode(protocol::Encode(protocol::Message(r)), protocol::kMaxControlMessageBytes)) break;
    std::size_t size = 1024 + r.detail.size();
    for (const auto& c : r.contributors) size += c.size() + 16;
    if (bytes + size > protocol::kMaxControlMessageBytes * 3 / 4) break;
    bytes += size;
    page.push_back(std::move(r));
  }
  return page;
}

bool RoundEngine::TakeCatchUpPage(ParticipantState& p, std::string& detail) {
  const auto now = clock_.Now();
  const double refill = !p.catch_up_refilled ? kCatchUpBurst
                                             : std::chrono::duration<double>(now - *p.catch_up_refilled) /
                                                   std::chrono::duration<double>(kCatchUpRefill);
  p.catch_up_tokens = std::min(kCatchUpBurst, p.catch_up_tokens + std::max(0.0, refill));
  p.catch_up_refilled = now;
  if (p.catch_up_tokens < 1) {
    // Each page reads results.jsonl: an admitted member may not keep the loop reading it.
    const auto wait_ms = static_cast<long long>(std::ceil((1 - p.catch_up_tokens) * static_cast<double>(kCatchUpRefill.count())));
    detail = "too many catch-up requests: retry in " + std::to_string(wait_ms) + " ms";
    return false;
  }
  p.catch_up_tokens -= 1;
  ++counters_.catch_up_pages;
  return true;
}

void RoundEngine::OnCatchUpRequest(const std::string& participant, const protocol::CatchUpRequest& request) {
  if (std::string wait; !TakeCatchUpPage(participants_[participant], wait)) {
    RejectTo(participant, 0, {RejectCode::kBusy, wait});
    return;
  }
  protocol::CatchUp reply;
  reply.head_round = state_.head_round;
  reply.head_hash = state_.head_hash;
  reply.results = CatchUpPage(participant, request.after_round);
  log::Info("catch_up_sent", {{"participant", participant}, {"round", request.after_round},
                              {"count", reply.results.size()}});
  outbox_.Send(participant, reply);
}

void RoundEngine::OnDisconnected(const std::string& participant) {
  auto it = participants_.find(participant);
  if (it == participants_.end() || !it->second.connected) return;
  it->second.connected = false;
  if (options_.metrics) options_.metrics->participants_connected->Set(static_cast<double>(connected()));
  sessions_.erase(it->second.session);
  ReleaseUpload(participant);
  eval_pending_.erase(participant);
  log::Info("participant_left", {{"participant", participant}, {"participants", connected()}});
}

void RoundEngine::RejectTo(const std::string& participant, std::uint64_t round, const Rejection& r) {
  ++counters_.rejections[protocol::RejectCodeName(r.code)];
  if (options_.metrics) options_.metrics->rejections_total->Increment(protocol::RejectCodeName(r.code));
  // A detail may quote a peer's text (a query name): the decoders admit UTF-8 only, and this
  // keeps it so and within the size the participant's decoder accepts.
  const std::string detail = std::string(protocol::TruncateUtf8(protocol::ToValidUtf8(r.detail), protocol::kMaxTextBytes));
  log::Warn("update_rejected", {{"participant", participant}, {"round", round},
                                {"code", protocol::RejectCodeName(r.code)}, {"reason", detail}});
  outbox_.Send(participant, protocol::Rejected{round, r.code, detail});
}

void RoundEngine::OnUploadBegin(const std::string& participant, const protocol::UploadBegin& begin) {
  if (!round_ || phase_ != Phase::kCollecting || begin.round != round_->id) {
    bool late = round_ == nullptr && begin.round + 1 == state_.next_round;
    RejectTo(participant, begin.round,
             {late ? RejectCode::kLateCommit : RejectCode::kWrongRound,
              late ? "round " + std::to_string(begin.round) + " has closed"
                   : "round " + std::to_string(begin.round) + " is not open"});
    return;
  }
  if (!round_->InCohort(participant)) {
    RejectTo(participant, begin.round, {RejectCode::kNotInCohort, "not selected for this round"});
    return;
  }
  if (round_->committed.contains(participant)) {
    RejectTo(participant, begin.round, {RejectCode::kDuplicate, "already committed an update this round"});
    return;
  }
  // A new upload from the same participant replaces an unfinished one.
  ReleaseUpload(participant);
  auto upload = Upload::Begin(begin, participant, round_->id, keys_.hpke, upload_context_);
  if (!upload) {
    RejectTo(participant, begin.round, upload.error());
    return;
  }
  round_->uploads[participant] = std::move(*upload);
  round_->waiting.push_back(participant);
  GrantSlots();
}

void RoundEngine::GrantSlots() {
  if (!round_) return;
  bool robust = strategy_->needs_all_updates();
  while (!round_->waiting.empty() && (robust || !staging_pool_.empty())) {
    std::string p = round_->waiting.front();
    round_->waiting.pop_front();
    auto it = round_->uploads.find(p);
    if (it == round_->uploads.end()) continue;
    if (robust) {
      // Robust rules hold every update of the round; the memory check at start bounds this.
      it->second->AttachStaging(std::vector<float>(num_params_));
    } else {
      it->second->AttachStaging(std::move(staging_pool_.back()));
      staging_pool_.pop_back();
    }
    it->second->set_state(Upload::State::kStreaming);
    it->second->last_progress = clock_.Now();  // the idle timeout runs from the grant
    outbox_.Send(p, protocol::UploadReady{round_->id});
  }
}

void RoundEngine::ReturnStaging(std::vector<float> buffer) {
  // The pool never holds more than the configured slots (the parked model's storage may come
  // back to a full pool: it is freed).
  if (buffer.empty()) return;
  crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(buffer.data()), buffer.size() * sizeof(float)));
  if (strategy_->needs_all_updates() || staging_pool_.size() >= slots_) return;
  staging_pool_.push_back(std::move(buffer));
}

void RoundEngine::ReleaseUpload(const std::string& participant) {
  if (!round_) return;
  auto it = round_->uploads.find(participant);
  if (it == round_->uploads.end()) return;
  std::erase(round_->waiting, participant);
  ReturnStaging(it->second->TakeStaging());
  round_->uploads.erase(it);
  GrantSlots();
}

std::optional<Clock::TimePoint> RoundEngine::UploadExpiry() const {
  const double timeout = options_.upload_idle_timeout_s;
  if (!round_ || timeout <= 0) return std::nullopt;
  std::optional<Clock::TimePoint> t;
  for (const auto& [p, u] : round_->uploads) {
    if (u->state() != Upload::State::kStreaming) continue;
    auto expiry = u->last_progress + DurationFromSeconds(timeout);
    if (!t || expiry < *t) t = expiry;
  }
  return t;
}

void RoundEngine::ExpireIdleUploads() {
  const double timeout = options_.upload_idle_timeout_s;
  if (!round_ || timeout <= 0) return;
  const auto now = clock_.Now();
  std::vector<std::string> idle;
  for (const auto& [p, u] : round_->uploads) {
    // An upload whose chunks have all opened only waits for its commit: not idle.
    if (u->state() == Upload::State::kStreaming && !u->complete() &&
        now >= u->last_progress + DurationFromSeconds(timeout)) {
      idle.push_back(p);
    }
  }
  const std::int64_t ms = ToMs(DurationFromSeconds(timeout));
  const std::string idle_for = ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
  for (const auto& p : idle) {
    const Upload& u = *round_->uploads.at(p);
    // A dead or stalled uploader must not keep a staging slot from the others until the deadline.
    RejectTo(p, round_->id, {RejectCode::kWrongChunkCount,
                             std::to_string(u.received()) + " of " + std::to_string(u.chunks()) +
                                 " chunks arrived and none opened for " + idle_for +
                                 " (server.upload_idle_timeout_s): the upload slot went to the next participant; "
                                 "begin a new upload to retry"});
    ReleaseUpload(p);
  }
}

void RoundEngine::OnUpdateChunk(const std::string& participant, const protocol::ChunkHeader& header,
                                std::span<const std::uint8_t> payload) {
  counters_.bytes_in += payload.size();
  if (options_.metrics) options_.metrics->bytes_in_total->Increment(payload.size());
  if (!round_ || phase_ != Phase::kCollecting || header.round != round_->id) {
    CountDroppedChunk();
    return;
  }
  auto it = round_->uploads.find(participant);
  if (it == round_->uploads.end() || it->second->state() != Upload::State::kStreaming) {
    CountDroppedChunk();
    return;
  }
  auto r = it->second->AddChunk(header.index, header.last, payload);
  if (!r) {
    // An authentic chunk that cannot be used (only the participant could send it) poisons the
    // upload: nothing of it will be aggregated. It may begin a fresh upload before the deadline.
    RejectTo(participant, round_->id, r.error());
    ReleaseUpload(participant);
    return;
  }
  if (*r == Upload::ChunkResult::kDropped) {
    // The session id travels in clear on the data plane: a replayed, truncated or forged chunk
    // is dropped and counted, never held against the upload (upload.h).
    CountDroppedChunk();
    return;
  }
  it->second->last_progress = clock_.Now();
  if (it->second->complete() && it->second->pending_commit) {
    protocol::Commit commit = std::move(*it->second->pending_commit);
    it->second->pending_commit.reset();
    OnCommit(participant, commit);
    Tick();
  }
}

void RoundEngine::OnCommit(const std::string& participant, const protocol::Commit& commit) {
  if (!round_ || phase_ != Phase::kCollecting || commit.round != round_->id) {
    bool late = commit.round + 1 == state_.next_round || (round_ && commit.round < round_->id);
    RejectTo(participant, commit.round,
             {late ? RejectCode::kLateCommit : RejectCode::kWrongRound,
              late ? "round " + std::to_string(commit.round) + " closed before this commit arrived"
                   : "round " + std::to_string(commit.round) + " is not open"});
    return;
  }
  if (round_->committed.contains(participant)) {
    RejectTo(participant, commit.round, {RejectCode::kDuplicate, "already committed an update this round"});
    return;
  }
  auto it = round_->uploads.find(participant);
  if (it == round_->uploads.end() || it->second->state() != Upload::State::kStreaming) {
    RejectTo(participant, commit.round, {RejectCode::kNoUpload, "no upload in progress to commit"});
    return;
  }
  Upload& up = *it->second;
  if (!up.complete() && commit.chunks == up.chunks() && !up.pending_commit) {
    // The data plane is behind the control plane: wait for the last chunks (until the deadline).
    up.pending_commit = commit;
    return;
  }
  if (auto ok = up.CheckCommit(commit); !ok) {
    RejectTo(participant, commit.round, ok.error());
    ReleaseUpload(participant);
    return;
  }
  if (commit.num_examples == 0 || commit.num_examples > (1ull << 40)) {
    RejectTo(participant, commit.round, {RejectCode::kMalformed, "the example count must be in [1, 2^40]"});
    ReleaseUpload(participant);
    return;
  }
  if (masked_) {
    // Masked: the staged values are ring elements; the enclave cannot check norms or finiteness
    // of a single update (docs/masking.md). They go straight into the library's sum.
    if (auto rejected = masked_->FoldCommitted(participant, up.staging())) {
      RejectTo(participant, commit.round, *rejected);
      ReleaseUpload(participant);
      return;
    }
    ReturnStaging(up.TakeStaging());  // wiped on return
    RecordCommit(participant, commit, protocol::MaskingWeight(options_.federation, commit.num_examples));
    return;
  }
  std::span<float> delta = up.staging();
  double squared = up.squared_norm();  // summed chunk by chunk as they opened; finite iff every value is
  if (!std::isfinite(squared)) {
    RejectTo(participant, commit.round, {RejectCode::kNonFinite, "the update contains NaN or infinite values"});
    ReleaseUpload(participant);
    return;
  }
  // Norm rules. With DP every update is clipped to C whatever the participant did. Without DP an
  // optional bound rejects outliers (slack for the participant's own float rounding).
  double norm = std::sqrt(squared);
  double weight = static_cast<double>(commit.num_examples);
  if (privacy_->enabled()) {
    auto scale = dp::ClipToNorm(delta, privacy_->clip_norm());
    if (!scale) {
      RejectTo(participant, commit.round, {RejectCode::kMalformed, scale.error().message()});
      ReleaseUpload(participant);
      return;
    }
    // DP-FedAvg: equal weights, fixed denominator. With a hidden cohort an update from outside
    // the secret sample is folded in times 0.
    weight = privacy_->SampleWeight(participant);
  } else if (double bound = options_.federation.max_update_norm;
             bound > 0 && norm > bound * (1 + strategy::kNormBoundSlack)) {
    RejectTo(participant, commit.round,
             {RejectCode::kNormTooLarge, "the update's L2 norm exceeds federation.max_update_norm"});
    ReleaseUpload(participant);
    return;
  }
  if (observer_) observer_(participant, delta);

  if (strategy_->needs_all_updates()) {
    round_->held.push_back(up.TakeStaging());
    round_->held_weights.push_back(weight);
  } else {
    if (round_->sum.empty()) round_->sum.assign(delta.size(), 0.0);
    // The strategy's norm bound scales the update in the fold (robust rules clip it themselves).
    strategy::AccumulateWeighted(round_->sum, delta, weight * strategy::ClipScale(norm, strategy_->norm_bound()));
    ++counters_.updates_folded;
    ReturnStaging(up.TakeStaging());  // wiped on return
  }
  RecordCommit(participant, commit, weight);
}

void RoundEngine::RecordCommit(const std::string& participant, const protocol::Commit& commit, double weight) {
  round_->total_weight += weight;
  round_->total_examples += commit.num_examples;
  // The participant's own train_loss, weighted by its example count into the signed mean. A
  // value that is not finite or beyond ±kMaxSelfReportedMetric is left out of the mean (the
  // update itself is accepted): unbounded, value × 2^40 examples overflows and the signed result
  // would carry inf. Only the first train_loss of a commit counts.
  bool loss_seen = false;
  for (const auto& m : commit.metrics) {
    if (m.name != "train_loss" || loss_seen) continue;
    loss_seen = true;
    if (!std::isfinite(m.value) || std::abs(m.value) > kMaxSelfReportedMetric) {
      ++counters_.metrics_dropped;
      log::Warn("metric_dropped", {{"participant", participant}, {"round", round_->id},
                                   {"reason", "train_loss is not a finite number within +-1e9: left out of the round's mean"}});
      continue;
    }
    round_->weighted_loss += m.value * static_cast<double>(commit.num_examples);
    round_->loss_weight += static_cast<double>(commit.num_examples);
  }
  // Adaptive clipping counts the updates in the sum: with a hidden cohort, the sampled ones.
  const auto counted = static_cast<std::uint64_t>(privacy_->SampleWeight(participant));
  round_->counted += counted;
  round_->clip_bits_below += commit.within_clip ? counted : 0;
  round_->uploads.erase(participant);
  round_->committed.insert(participant);
  round_->contributors.push_back(participant);
  outbox_.Send(participant, protocol::CommitAck{round_->id});
  log::Info("update_committed", {{"participant", participant}, {"round", round_->id},
                                 {"committed", round_->committed.size()}, {"cohort", round_->cohort.size()}});
  GrantSlots();
}

void RoundEngine::OnSecagg(const std::string& participant, const protocol::SecaggMessage& message) {
  if (!round_ || !masked_ || phase_ != Phase::kCollecting) {
    RejectTo(participant, 0, {RejectCode::kWrongRound, "no masked round is open"});
    return;
  }
  if (!round_->InCohort(participant)) {
    RejectTo(participant, round_->id, {RejectCode::kNotInCohort, "not selected for this round"});
    return;
  }
  if (auto rejected = masked_->OnMessage(participant, message.data)) RejectTo(participant, round_->id, *rejected);
}

void RoundEngine::AdvanceMaskedRound() {
  masked_->Advance(clock_.Now(), round_->deadline, round_->committed.size(), options_.federation.min_participants,
                   outbox_);
  if (masked_->ready_to_finalize()) Finalize();
}

// A write to the state folder failed (disk full, a broken mount...). For the model exports,
// evaluations.jsonl and the analytics outputs the rounds go on and the participants are still
// served; the file stays stale until a later write succeeds (a restart rewrites the exports from
// the checkpoint). A checkpoint or results.jsonl line that cannot be written stops the federation
// instead (PublishResult). The log line and cairn_state_write_failures_total{file} tell the
// operator.
void RoundEngine::StateWriteFailed(std::string_view file, const Error& error) {
  log::Error("state_write_failed", {{"path", file}, {"error", error.message()}});
  if (options_.metrics && options_.metrics->state_write_failures_total) {
    options_.metrics->state_write_failures_total->Increment(file);
  }
}

void RoundEngine::OnEvalReport(const std::string& participant, const protocol::EvalReport& report) {
  if (report.model_version > state_.model_version) return;  // not a model we published
  // One report per model version, in increasing versions: each costs an fsync on this thread,
  // and a participant flooding reports would slow every other one down.
  ParticipantState& p = participants_[participant];
  if (p.evaluated && report.model_version <= p.last_eval_version) {
    RejectTo(participant, report.round,
             {RejectCode::kDuplicate, "evaluation report for model version " + std::to_string(report.model_version) +
                                          " ignored: this participant already reported model version " +
                                          std::to_string(p.last_eval_version) +
                                          " (one report per model version, in increasing order)"});
    return;
  }
  auto s = store_.AppendEvaluation(participant, report);
  if (!s) StateWriteFailed("evaluations", s.error());
  p.evaluated = true;
  p.last_eval_version = report.model_version;
  if (report.model_version == state_.model_version) eval_pending_.erase(participant);
  if (phase_ == Phase::kDelivering && report.model_version == state_.model_version &&
      delivery_awaiting_eval_.contains(participant)) {
    EndDelivery(participant);
  }
}

protocol::Task RoundEngine::MakeTask(std::uint64_t round) const {
  protocol::Task task = options_.federation.task;
  if (privacy_->enabled()) task.clip_norm = privacy_->clip_norm();
  if (strategy_->proximal_mu() > 0) task.proximal_mu = strategy_->proximal_mu();
  task.seed = options_.federation.task.seed * 1'000'003 + round;
  task.feature_mean = state_.feature_mean;
  task.feature_std = state_.feature_std;
  return task;
}

bool RoundEngine::NeedFeatureStats() const {
  return options_.federation.standardization == "federated" && state_.feature_mean.empty();
}

void RoundEngine::OnFeatureStats(const std::string& participant, const protocol::FeatureStats& stats) {
  if (!NeedFeatureStats()) return;  // already frozen: later reports change nothing
  const auto& shape = options_.federation.model.input_shape;
  std::size_t features = 1;
  for (auto d : shape) features *= static_cast<std::size_t>(d);
  bool ok = stats.count > 0 && stats.count < (1ull << 40) && stats.sum.size() == features &&
            stats.sum_squares.size() == features;
  if (!ok) {
    RejectTo(participant, 0, {RejectCode::kWrongShape, "feature statistics must have " + std::to_string(features) +
                                                           " sums and sums of squares and a count in [1, 2^40)"});
    return;
  }
  // Moments a real table can have: finite, |mean| and root mean square within
  // kMaxFeatureMagnitude (the pooled sums stay finite), and sum² ≤ count · sum_squares
  // (Cauchy–Schwarz: mean² ≤ mean of squares) up to summation rounding.
  const double count = static_cast<double>(stats.count);
  for (std::size_t i = 0; ok && i < stats.sum.size(); ++i) {
    const double sum = stats.sum[i], sq = stats.sum_squares[i];
    if (!std::isfinite(sum) || !std::isfinite(sq) || sq < 0) {
      ok = false;
      break;
    }
    const double mean = sum / count, second = sq / count;
    ok = std::abs(mean) <= kMaxFeatureMagnitude && second <= kMaxFeatureMagnitude * kMaxFeatureMagnitude &&
         mean * mean <= second * (1 + 1e-6) + 1e-300;
  }
  if (!ok) {
    RejectTo(participant, 0, {RejectCode::kMalformed,
                              "feature statistics must be finite, with sum_squares >= 0, sum^2 <= count x sum_squares, "
                              "and |mean| and the root mean square of each feature at most 1e12"});
    return;
  }
  feature_stats_[participant] = stats;
  log::Info("feature_stats_received", {{"participant", participant}, {"count", feature_stats_.size()}});
}

bool RoundEngine::FreezeFeatureStats() {
  if (feature_stats_.size() < options_.federation.min_participants) return false;
  std::size_t f = feature_stats_.begin()->second.sum.size();
  std::vector<double> sum(f, 0), sq(f, 0);
  double n = 0;
  for (const auto& [id, s] : feature_stats_) {
    n += static_cast<double>(s.count);
    for (std::size_t j = 0; j < f; ++j) {
      sum[j] += s.sum[j];
      sq[j] += s.sum_squares[j];
    }
  }
  std::vector<double> means(f), stds(f);
  for (std::size_t j = 0; j < f; ++j) {
    means[j] = sum[j] / n;
    double var = std::max(0.0, sq[j] / n - means[j] * means[j]);
    stds[j] = var > 1e-24 ? std::sqrt(var) : 1.0;
    if (!std::isfinite(means[j]) || !std::isfinite(stds[j])) {
      // Cannot happen with the per-site bounds (OnFeatureStats); never freeze (and checkpoint,
      // and send every round) a non-finite statistic. The reports are dropped: sites that join
      // again are asked again.
      log::Error("feature_stats_refused", {{"participants", feature_stats_.size()},
                                           {"reason", "the pooled mean or std is not finite"}});
      feature_stats_.clear();
      return false;
    }
  }
  state_.feature_mean = std::move(means);
  state_.feature_std = std::move(stds);
  log::Info("feature_stats_frozen", {{"participants", feature_stats_.size()}});
  feature_stats_.clear();
  return true;
}

// ---------------------------------------------------------------------------------------------
// Time and phases

Clock::TimePoint RoundEngine::NextWakeup() const {
  auto far = clock_.Now() + std::chrono::hours(1);
  switch (phase_) {
    case Phase::kCollecting: {
      if (!round_) return far;
      auto t = masked_ ? masked_->NextDeadline(round_->deadline) : round_->deadline;
      if (auto idle = UploadExpiry()) t = std::min(t, *idle);
      return t;
    }
    case Phase::kEvaluating:
      return eval_deadline_;
    case Phase::kAnalytics:
      return analytics_deadline_;
    case Phase::kDelivering:
      return delivery_deadline_ ? std::min(*delivery_deadline_, far) : far;
    case Phase::kWaitingForCohort: {
      // Only deadlines MaybeStartRound acts on: the end of cohort_wait while a quorum waits (not
      // once it has passed with too few feature statistics: then only a report or a connection
      // helps), and start_timeout while there is no quorum. A past deadline nothing acts on would
      // make the server loop spin.
      auto t = far;
      if (quorum_since_ && !awaiting_feature_stats_) {
        t = std::min(t, *quorum_since_ + DurationFromSeconds(options_.federation.cohort_wait_s));
      }
      if (!quorum_since_ && start_wait_since_ && options_.federation.start_timeout_s > 0) {
        t = std::min(t, *start_wait_since_ + DurationFromSeconds(options_.federation.start_timeout_s));
      }
      return t;
    }
    case Phase::kDone:
      return far;
  }
  return far;
}

void RoundEngine::Tick() {
  auto now = clock_.Now();
  switch (phase_) {
    case Phase::kWaitingForCohort:
      MaybeStartRound();
      break;
    case Phase::kCollecting:
      if (round_ && now < round_->deadline) ExpireIdleUploads();
      if (round_ && masked_) {
        AdvanceMaskedRound();
        break;
      }
      if (round_ && (round_->committed.size() == round_->cohort.size() || now >= round_->deadline)) Finalize();
      break;
    case Phase::kAnalytics:
      if (analytics_ && (analytics_->complete() || now >= analytics_deadline_)) FinalizeAnalytics();
      break;
    case Phase::kEvaluating:
      if (eval_pending_.empty() || now >= eval_deadline_) Finish(std::move(pending_outcome_));
      break;
    case Phase::kDelivering:
      if (delivery_pending_.empty()) {
        Finish(Ok(), /*evaluate=*/false);
      } else if (stop_requested_ || (delivery_deadline_ && now >= *delivery_deadline_)) {
        const std::string missing = std::to_string(delivery_pending_.size()) + " of the " +
                                    std::to_string(options_.federation.roster.size()) + " parties";
        const std::string where = " (results.jsonl and the model files or analytics.json in the state folder hold it)";
        Finish(stop_requested_
                   ? Fail(ErrorCode::kAborted, "stopped on request before " + missing + " had the final result of round " +
                                                   std::to_string(state_.head_round) + where)
                   : Fail(ErrorCode::kDeadlineExceeded,
                          missing + " did not come back within federation.start_timeout_s for the final result of round " +
                              std::to_string(state_.head_round) + where),
               /*evaluate=*/false);
      }
      break;
    case Phase::kDone:
      break;
  }
}

void RoundEngine::MaybeStartRound() {
  const auto& fed = options_.federation;
  auto now = clock_.Now();
  if (stop_requested_) {
    Finish(Fail(ErrorCode::kAborted, "stopped on request before round " + std::to_string(state_.next_round)));
    return;
  }
  if (!start_wait_since_) start_wait_since_ = now;
  awaiting_feature_stats_ = false;
  std::size_t n = connected();
  if (n < fed.min_participants) {
    quorum_since_.reset();
    if (fed.start_timeout_s > 0 && now >= *start_wait_since_ + DurationFromSeconds(fed.start_timeout_s)) {
      Finish(Fail(ErrorCode::kDeadlineExceeded,
                  "only " + std::to_string(n) + " of the " + std::to_string(fed.min_participants) +
                      " participants the quorum needs connected within federation.start_timeout_s"));
    }
    return;
  }
  if (!quorum_since_) quorum_since_ = now;
  bool everyone = n == fed.roster.size();
  if (AnalyticsPending()) {
    // The queries run first (mode "analytics" or "both"), with the whole roster or, after
    // cohort_wait, with the quorum that is connected.
    if (!everyone && now < *quorum_since_ + DurationFromSeconds(fed.cohort_wait_s)) return;
    StartAnalytics();
    return;
  }
  if (NeedFeatureStats()) {
    // Federated standardization: the pooled statistics come first, from every connected site
    // (or, after cohort_wait, from at least a quorum of sites).
    std::size_t reported = 0;
    for (const auto& [id, p] : participants_) reported += (p.connected && feature_stats_.contains(id)) ? 1 : 0;
    bool all_reported = reported == n;
    if (!(all_reported && everyone) && now < *quorum_since_ + DurationFromSeconds(fed.cohort_wait_s)) return;
    if (!FreezeFeatureStats()) {
      awaiting_feature_stats_ = true;  // until the next report or connection (NextWakeup)
      return;
    }
    StartRound();
    return;
  }
  if (!everyone && now < *quorum_since_ + DurationFromSeconds(fed.cohort_wait_s)) return;
  StartRound();
}

void RoundEngine::StartRound() {
  const auto& fed = options_.federation;
  std::vector<std::string> roster;
  std::set<std::string> candidates;
  for (const auto& r : fed.roster) {
    roster.push_back(r.id);
    if (participants_[r.id].connected) candidates.insert(r.id);
  }
  // Privacy: refuse a round the budget cannot pay for; sample the cohort as the accountant assumes.
  if (auto s = privacy_->CheckBudgetForNextRound(); !s) {
    log::Error("privacy_budget_exhausted", {{"round", state_.next_round}, {"epsilon", privacy_->epsilon_spent()},
                                            {"reason", s.error().message()}});
    // A signed, final result says why no further round runs; its round id is used up.
    protocol::RoundResult result = BaseResult(protocol::RoundStatus::kAborted, s.error().message());
    result.final = true;
    state_.next_round++;
    if (!PublishResult(std::move(result))) return;
    Finish(Fail(s.error()));
    return;
  }
  auto cohort = privacy_->SelectCohort(roster, candidates);
  if (!cohort) {
    Finish(Fail(cohort.error()));
    return;
  }
  round_ = std::make_unique<RoundState>();
  round_->id = state_.next_round;
  if (options_.metrics) options_.metrics->current_round->Set(static_cast<double>(round_->id));
  round_->started = clock_.Now();
  round_->deadline = round_->started + DurationFromSeconds(fed.round_timeout_s);
  round_->cohort = std::move(*cohort);
  SetPhase(Phase::kCollecting);
  quorum_since_.reset();
  ParkModel();

  protocol::RoundOffer offer;
  offer.round = round_->id;
  offer.model = sealed_->Download();
  offer.task = MakeTask(round_->id);
  offer.deadline_ms = static_cast<std::uint64_t>(fed.round_timeout_s * 1000);
  offer.upload_chunk_bytes = fed.chunk_bytes;
  offer.upload_encoding = upload_context_.encoding;
  offer.cohort_size = static_cast<std::uint32_t>(round_->cohort.size());
  if (fed.masking.enabled) {
    MaskedRound::Options mo;
    mo.federation = &options_.federation;
    mo.config_hash = options_.config_hash;
    mo.round_id = round_->id;
    mo.cohort = round_->cohort;
    mo.num_elements = num_params_;
    mo.now = round_->started;
    mo.unmask_threads = 2;
    mo.observer = masked_observer_;
    masked_ = MaskedRound::Create(std::move(mo));
    if (masked_->aborted()) {  // e.g. a sampled cohort below t: nothing is offered
      Finalize();
      return;
    }
    offer.masking = masked_->Setup();
  }
  log::Info("round_started", {{"round", round_->id}, {"cohort", round_->cohort.size()},
                              {"participants", candidates.size()}, {"model_version", state_.model_version},
                              {"deadline_ms", offer.deadline_ms}});
  for (const auto& p : round_->cohort) {
    if (!outbox_.Send(p, offer)) OnDisconnected(p);
  }
  if (round_->cohort.empty()) Finalize();  // Poisson sampling can pick nobody
}

protocol::RoundResult RoundEngine::BaseResult(protocol::RoundStatus status, std::string detail) const {
  protocol::RoundResult r;
  r.federation_id = options_.federation.id;
  r.round = state_.next_round;
  r.status = status;
  r.detail = std::move(detail);
  r.model_version = state_.model_version;
  r.model_hash = sealed_->hash();
  r.num_params = num_params_;
  r.strategy = strategy_->name();
  for (const auto& [k, v] : strategy_->params()) r.strategy_params.push_back({k, v});
  r.platform = options_.platform;
  r.config_hash = options_.config_hash;
  r.epsilon_spent = privacy_->epsilon_spent();
  r.delta = privacy_->has_ledger() ? options_.federation.privacy.delta : 0;
  r.noise_multiplier = privacy_->enabled() ? privacy_->noise_multiplier() : 0;
  r.clip_norm = privacy_->enabled() ? privacy_->clip_norm() : options_.federation.max_update_norm;
  r.prev_hash = state_.head_hash;
  r.unix_millis = UnixMillis(clock_.WallNow());
  return r;
}

// The round cannot be finished without a global model: log `event`, drop the round and stop the
// federation with `reason` (Finish publishes the signed failure).
void RoundEngine::FailFinalize(std::string_view event, std::string_view reason, const Error& error) {
  log::Error(event, {{"round", round_->id}, {"error", error.message()}});
  round_.reset();
  masked_.reset();
  Finish(Fail(ErrorCode::kInternal, std::string(reason) + error.message()));
}

void RoundEngine::Finalize() {
  const auto& fed = options_.federation;
  RoundState& rs = *round_;
  std::size_t n = rs.committed.size();
  std::uint64_t duration_ms = static_cast<std::uint64_t>(ToMs(clock_.Now() - rs.started));
  // Anything still uploading is dropped (its staging buffer returns to the pool); a participant
  // whose commit was waiting for missing chunks is told.
  // No slot is granted while the round closes (releasing an upload would otherwise send the
  // next waiting one an UploadReady for a round that is over).
  rs.waiting.clear();
  std::vector<std::string> unfinished;
  for (const auto& [p, u] : rs.uploads) {
    unfinished.push_back(p);
    if (u->pending_commit) {
      RejectTo(p, rs.id, {RejectCode::kWrongChunkCount,
                          std::to_string(u->received()) + " of " + std::to_string(u->chunks()) +
                              " chunks arrived before the deadline"});
    }
  }
  for (const auto& p : unfinished) ReleaseUpload(p);
  if (auto s = UnparkModel(); !s) {
    // Cannot happen short of memory corruption: the enclave sealed this copy itself.
    FailFinalize("model_unpark_failed", "the global model could not be restored from its sealed copy: ",
                 s.error());
    return;
  }

  bool quorum = n >= fed.min_participants;
  // DP with sampling: a round with fewer than the quorum still spends privacy if it releases
  // anything; it releases nothing, so it spends nothing.
  protocol::RoundResult result;
  if (masked_ && masked_->aborted()) {
    // Masking aborted (too few survivors in a neighbourhood, a bad share...): nothing more was
    // revealed; the signed result says at which stage, for whom, with how many holders and t.
    result = BaseResult(protocol::RoundStatus::kAborted, masked_->abort_detail());
    result.contributors = rs.contributors;
    result.extensions = masked_->Extensions();
    ++state_.retries;
    log::Error("round_aborted", {{"round", rs.id}, {"reason", masked_->abort_detail()}});
  } else if (!quorum) {
    result = BaseResult(protocol::RoundStatus::kFailedQuorum,
                        std::to_string(n) + " of " + std::to_string(rs.cohort.size()) +
                            " participants committed before the deadline; the quorum is " +
                            std::to_string(fed.min_participants));
    result.contributors = rs.contributors;
    ++state_.retries;
    log::Warn("round_failed", {{"round", rs.id}, {"committed", n}, {"quorum", fed.min_participants},
                               {"duration_ms", duration_ms}, {"retries", state_.retries}});
  } else {
    result = BaseResult(protocol::RoundStatus::kCompleted, "");
    auto s = FinalizeCompleted(result);
    if (!s && !sealed_) {
      // Sealing the new model failed (out of memory): nothing can be served or published.
      FailFinalize("model_seal_failed", "the new global model could not be sealed: ", s.error());
      return;
    }
    if (!s && rs.model_changed) {
      // The model changed and cannot be restored: stop before anything is checkpointed (a
      // restart resumes from the last checkpoint and runs this round again).
      FailFinalize("model_not_finite", "the new global model is not finite: ", s.error());
      return;
    }
    if (!s) {
      // The aggregate could not be applied (e.g. a robust rule's precondition): the round aborts,
      // the model is unchanged, and the signed result says why.
      result = BaseResult(protocol::RoundStatus::kAborted, s.error().message());
      result.contributors = rs.contributors;
      ++state_.retries;
      log::Error("round_aborted", {{"round", rs.id}, {"reason", s.error().message()}});
    } else {
      state_.retries = 0;
      log::Info("round_completed", {{"round", rs.id}, {"committed", n}, {"cohort", rs.cohort.size()},
                                    {"duration_ms", duration_ms}, {"epsilon", privacy_->epsilon_spent()},
                                    {"model_version", state_.model_version}});
    }
  }
  round_.reset();
  masked_.reset();
  state_.next_round++;
  bool completed = result.status == protocol::RoundStatus::kCompleted;
  bool last = completed && state_.completed_rounds >= fed.rounds;
  bool give_up = !completed && (fed.on_quorum_failure == "fail" || state_.retries > fed.max_round_retries);
  result.final = last || give_up || stop_requested_;
  if (options_.metrics) options_.metrics->round_duration_seconds->Observe(static_cast<double>(duration_ms) / 1000.0);
  if (!PublishResult(std::move(result))) return;
  // The round's update chunks were allocated by ZeroMQ's I/O thread and freed here, so they sit
  // as free space in that thread's malloc arena; handing the free pages back between rounds keeps
  // the next round's peak from stacking on this one's fragmentation (~2 MiB at N = 32, P = 10M;
  // docs/performance.md, "Memory").
  malloc_trim(0);
  if (last) {
    Finish(Ok());
  } else if (give_up) {
    Finish(Fail(ErrorCode::kAborted, "round " + std::to_string(state_.next_round - 1) +
                                         " failed and the configuration does not retry it further"));
  } else if (stop_requested_) {
    Finish(Fail(ErrorCode::kAborted, "stopped on request"));
  } else {
    SetPhase(Phase::kWaitingForCohort);
    MaybeStartRound();
  }
}

Status RoundEngine::FinalizeCompleted(protocol::RoundResult& result) {
  RoundState& rs = *round_;
  std::span<float> model(state_.model);
  if (strategy_->needs_all_updates()) {
    std::vector<std::span<const float>> deltas;
    for (const auto& h : rs.held) deltas.emplace_back(h);
    CAIRN_RETURN_IF_ERROR(strategy_->ApplyRobust(model, deltas, rs.held_weights));
    for (auto& h : rs.held) crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(h.data()), h.size() * 4));
    rs.held.clear();
  } else {
    double extra_sensitivity = 0;
    if (masked_) {
      // Σ w_i·Δ_i, unmasked and dequantized; from here the round is the same as a plain one,
      // except that quantization may have added up to this norm to each update.
      CAIRN_RETURN_IF_ERROR(masked_->TakeSum(rs.sum));
      result.extensions = masked_->Extensions();
      extra_sensitivity = masked_->QuantizationNormBound();
    }
    if (privacy_->enabled()) {
      CAIRN_RETURN_IF_ERROR(privacy_->NoiseAndAverage(rs.sum, rs.committed.size(), extra_sensitivity));
    } else {
      strategy::DivideInPlace(rs.sum, rs.total_weight);
    }
    if (auto applied = strategy_->ApplyMean(model, rs.sum); !applied) {
      // The signed abort says something about the noised sum (that it would overflow, and
      // where): a release, so the round is charged like a completed one, and the checkpoint
      // that records the abort carries the charge.
      if (privacy_->enabled()) {
        CAIRN_RETURN_IF_ERROR(privacy_->ChargeRound(rs.clip_bits_below, rs.counted));
        state_.privacy_state = privacy_->SaveState();
      }
      return applied;
    }
    crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(rs.sum.data()), rs.sum.size() * sizeof(double)));
    rs.sum.clear();
    rs.sum.shrink_to_fit();
  }
  // Apply* checks that the update keeps the model and the optimizer state finite before it
  // changes either (a failure above is an aborted round with both unchanged). This re-checks the
  // model before it is sealed and checkpointed: a non-finite model would be served, and refused
  // by every restart.
  if (!std::all_of(state_.model.begin(), state_.model.end(), [](float v) { return std::isfinite(v); })) {
    rs.model_changed = true;
    return Fail(ErrorCode::kInternal, "the aggregate left a non-finite value in the model");
  }
  if (privacy_->enabled()) {
    CAIRN_RETURN_IF_ERROR(privacy_->ChargeRound(rs.clip_bits_below, rs.counted));
  }
  state_.model_version++;
  state_.completed_rounds++;
  state_.strategy_state = strategy_->SaveState();
  state_.privacy_state = privacy_->SaveState();
  CAIRN_RETURN_IF_ERROR(SealCurrentModel());
  result.contributors = rs.contributors;
  result.model_version = state_.model_version;
  result.model_hash = sealed_->hash();
  result.epsilon_spent = privacy_->epsilon_spent();
  if (privacy_->enabled()) {
    result.clip_norm = privacy_->clip_norm_used();
    // With DP, only the noised model (and the charged clipping count) may depend on the data: the
    // exact example total and the weighted training loss are not released (each moves by exactly
    // one party's figures between rounds whose cohorts differ by that party, and nothing charges
    // them to the ledger). num_examples = 0 says "not released".
    result.num_examples = 0;
  } else {
    result.num_examples = rs.total_examples;
    if (rs.loss_weight > 0) result.metrics.push_back({"train_loss", rs.weighted_loss / rs.loss_weight});
  }
  result.metrics.push_back({"participants", static_cast<double>(rs.committed.size())});
  return Ok();
}

void RoundEngine::SignAsHead(protocol::RoundResult& result) {
  // Nothing non-finite is signed: JSON has no inf or NaN, and results.jsonl must parse back on
  // every restart. A metric without a finite value is dropped (counted, logged by name: the
  // names are the aggregator's); a scalar NaN is made the canonical quiet NaN, which the JSON
  // form round-trips ("nan").
  for (auto* list : {&result.metrics, &result.extensions, &result.strategy_params}) {
    std::erase_if(*list, [&](const protocol::Metric& m) {
      if (std::isfinite(m.value)) return false;
      ++counters_.metrics_dropped;
      log::Error("result_metric_dropped", {{"round", result.round}, {"reason", m.name + " is not finite"}});
      return true;
    });
  }
  for (double* v : {&result.epsilon_spent, &result.delta, &result.noise_multiplier, &result.clip_norm}) {
    if (std::isnan(*v)) *v = std::numeric_limits<double>::quiet_NaN();
  }
  result.detail = protocol::ToValidUtf8(result.detail);
  protocol::SignResult(result, keys_.signing);
  auto hash = protocol::ResultHash(result);
  state_.head_round = result.round;
  state_.head_hash.assign(hash.begin(), hash.end());
  state_.head_result = protocol::ResultToJson(result);
}

bool RoundEngine::PublishResult(protocol::RoundResult result, bool with_model) {
  SignAsHead(result);
  // Checkpoint first, then the log and the model files, then the participants: a crash after
  // the checkpoint leaves files the restart mends from it (the log's last result, the exports);
  // a crash before it re-runs the round, which nobody has seen. So nothing of a round leaves the
  // enclave (result, model, analytics release) before the checkpoint that records it, with its
  // privacy spending and ledger charges, is durable.
  //
  // A checkpoint that cannot be written stops the federation: going on would release rounds a
  // restart forgets (re-running them would fork the signed history and spend their privacy a
  // second time), and retrying after a failed fsync proves nothing (the kernel may have dropped
  // the unwritten pages). The restart resumes from the last durable checkpoint and re-runs this
  // round, which nobody has seen. A result that cannot be appended to results.jsonl stops it too:
  // going on would leave a hole in the public record that no restart can fill (a restart appends
  // only the checkpoint's last result), whereas stopping now lets the restart append exactly this
  // one and go on.
  auto withhold = [&](std::string_view file, const Error& error, const std::string& consequence) {
    StateWriteFailed(file, error);
    log::Error("result_withheld", {{"round", result.round}, {"status", protocol::RoundStatusName(result.status)}});
    Finish(Fail(error.code(), "the " + std::string(file == "checkpoint" ? "checkpoint" : "results log entry") +
                                  " of round " + std::to_string(result.round) + " could not be written (" +
                                  error.message() + "): its result is withheld and the federation stops; " +
                                  consequence),
           /*evaluate=*/false);
    return false;
  };
  if (store_.can_checkpoint()) {
    if (auto s = store_.SaveCheckpoint(state_); !s) {
      return withhold("checkpoint", s.error(),
                      "a restart resumes from the last durable checkpoint and runs the round again");
    }
    log::Info("checkpoint_written", {{"round", result.round}, {"model_version", state_.model_version}});
  }
  if (auto s = store_.AppendResult(result); !s) {
    return withhold("results", s.error(),
                    store_.can_checkpoint()
                        ? "a restart appends it from the checkpoint and goes on with the next round"
                        : "without checkpoints (--sealing none) the federation cannot resume: rotate it");
  }
  ReportHealth();
  if (options_.metrics) {
    options_.metrics->rounds_total->Increment(protocol::RoundStatusName(result.status));
    options_.metrics->epsilon_spent->Set(result.epsilon_spent);
    options_.metrics->model_version->Set(static_cast<double>(state_.model_version));
  }
  // A completed training round made a new model: its exports (global.f32, global.pt) follow the
  // checkpoint and come before the participants hear of it (a restart rewrites them from the
  // checkpoint, should a crash fall in between).
  if (with_model && result.status == protocol::RoundStatus::kCompleted) {
    if (auto s = store_.SaveModel(state_.model); !s) StateWriteFailed("model", s.error());
  }
  if (with_model) result.model = sealed_->Download();
  if (tamper_) tamper_(result);
  for (const auto& [id, p] : participants_) {
    if (p.connected && !outbox_.Send(id, result)) OnDisconnected(id);
  }
  return true;
}

void RoundEngine::Finish(Status outcome, bool evaluate) {
  if (phase_ == Phase::kDone) return;
  // Participants evaluate the last published model before they are sent away, whatever ended
  // the federation (last round, privacy budget, failed rounds): they need the data plane for it.
  if (evaluate && phase_ != Phase::kEvaluating && options_.federation.eval_timeout_s > 0 &&
      state_.model_version > 0) {
    eval_pending_.clear();
    for (const auto& [id, p] : participants_) {
      if (p.connected && p.last_eval_version < state_.model_version) eval_pending_.insert(id);
    }
    if (!eval_pending_.empty()) {
      pending_outcome_ = std::move(outcome);
      SetPhase(Phase::kEvaluating);
      eval_deadline_ = clock_.Now() + DurationFromSeconds(options_.federation.eval_timeout_s);
      return;
    }
  }
  SetPhase(Phase::kDone);
  outcome_ = std::move(outcome);
  ReportHealth();  // now with the outcome
  protocol::Goodbye bye{outcome_ ? "the federation has finished" : outcome_.error().message()};
  for (const auto& [id, p] : participants_) {
    if (p.connected) outbox_.Send(id, bye);
  }
  if (outcome_) {
    log::Info("federation_finished", {{"rounds", state_.completed_rounds}, {"epsilon", privacy_->epsilon_spent()}});
  } else {
    log::Error("federation_stopped", {{"rounds", state_.completed_rounds}, {"reason", outcome_.error().message()}});
  }
}

}  // namespace cairn::aggregator
