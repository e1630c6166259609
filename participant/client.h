// The participant's federation client: attest, join, and run rounds until the federation ends.
//
// Session: fetch evidence → verify against the policy (nothing else is sent before) → open the
// CurveZMQ control channel with the attested key → Hello (the config hash it accepted and the
// last result it verified) → Welcome → rounds. Per round: download the sealed model on the data
// plane, train, clip, seal the update with HPKE to the attested key chunk by chunk, upload,
// commit; then verify the signed result (signature with the attested key, hash chain, no
// rollback), fetch the new model, evaluate it locally and report the metrics.
//
// When the aggregator restarts (the control connection drops, or its Curve key changes), the
// client attests again — the keys are new — and goes on, keeping its chain state.
//
// Thread safety: one thread runs a client.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/analytics/release.h"
#include "common/attestation/attestation.h"
#include "common/core/clock.h"
#include "participant/config.h"
#include "participant/keys.h"
#include "participant/workload.h"
#include "protocol/types.h"

namespace cairn::participant {

// The last round result this participant verified, kept in state_dir/chain.json so a restarted
// participant still detects a rollback.
struct ChainState {
  std::string federation_id;
  std::uint64_t last_round = 0;
  Bytes last_hash;  // empty before the first result
  double last_epsilon = 0;  // ε of that result: a later one may not say less
  bool final = false;       // that result was marked final: nothing may follow it
};
Result<ChainState> LoadChainState(const std::filesystem::path& state_dir);
Status SaveChainState(const std::filesystem::path& state_dir, const ChainState& state);
// The participant's own rollback check on the aggregator's chain head (Welcome): kAborted when
// the head is behind the last verified round, or at the same round with another hash.
Status CheckChainHead(const ChainState& chain, std::uint64_t head_round, const Bytes& head_hash);
// When the head is ahead of the last verified result: the results the participant missed, walked
// page by page (the Welcome's catch-up, then CatchUp replies). They must be the rounds after
// chain.last_round, each chaining to the one before (the first to chain.last_hash), of this
// federation and configuration, and within the attested rules; the walk is proven only when a
// page ends at the head the attested enclave announced with it (the last result hashes to that
// head hash). Nothing before that moves the participant's chain: each link is a SHA-256, so only
// the head makes the results before it the enclave's.
class CatchUpWalk {
 public:
  CatchUpWalk(const ChainState& chain, const protocol::FederationConfig& fed,
              const std::array<std::uint8_t, 32>& config_hash);
  // One page: results after position(), and the head the aggregator announced with them. true
  // when the walk reached that head (chain() is then the verified state at the head), false when
  // more pages are needed (ask for the results after position()). kAborted on a fork, a broken
  // rule, a head that does not match, or a page that brings nothing while behind.
  Result<bool> Add(const std::vector<protocol::RoundResult>& page, std::uint64_t head_round, const Bytes& head_hash);
  std::uint64_t position() const { return before_.round; }
  const ChainState& chain() const { return walked_; }

 private:
  std::string Which() const;
  const protocol::FederationConfig& fed_;
  std::array<std::uint8_t, 32> config_hash_;
  std::uint64_t start_round_;
  std::uint64_t highest_head_ = 0;  // the latest head announced during the walk: it never goes back
  ChainState walked_;  // the chain as far as the walk went (proven once Add returned true)
  struct {
    std::uint64_t round = 0;
    double epsilon = 0;
    bool final = false;
  } before_;
};

// What arrived while a catch-up walk ran, less what the walk covered (it reached `head_round`):
// results of earlier rounds (their successors are verified already; handled again they would
// look like a rollback) and offers of rounds that have a result by now. The rest, in order.
std::vector<protocol::Message> KeepAfterCatchUp(std::vector<protocol::Message> arrived, std::uint64_t head_round);

struct ClientOptions {
  ParticipantConfig config;
  attestation::Policy policy;
  const Clock* clock = nullptr;  // not owned; must outlive the client
  // Mutual attestation: this participant's own evidence provider (nullptr = none).
  attestation::EvidenceProvider* own_evidence = nullptr;
  // Sessions (attest + join) to try after the aggregator goes away before giving up.
  std::uint32_t max_reconnects = 20;
  // Test hook: invoked after each verified round result (round, status).
  std::function<void(const protocol::RoundResult&)> on_result;
  // Test hook: invoked once the aggregator has admitted this participant (after the Welcome and
  // the check of any results it missed), with the aggregator's head round.
  std::function<void(std::uint64_t head_round)> on_joined;
  // Tests: after a returning participant's catch-up walk reached the head, with the pages it took
  // and how many requests the aggregator refused as busy on the way.
  std::function<void(std::uint64_t pages, std::uint64_t busy)> on_caught_up;
};

struct ClientSummary {
  std::uint64_t rounds_contributed = 0;
  std::uint64_t last_round = 0;
  std::vector<protocol::Metric> last_evaluation;
  std::uint32_t sessions = 0;
  std::string end_reason;  // the aggregator's Goodbye reason
  // Clean-room analytics: the verified released answers, and the queries this party declined.
  std::vector<analytics::QueryResult> analytics_results;
  std::vector<std::string> analytics_declined;
};

class ParticipantClient {
 public:
  static Result<std::unique_ptr<ParticipantClient>> Create(ClientOptions options, Workload& workload);
  ~ParticipantClient();

  // Runs until the aggregator says goodbye after the final round (Ok), or a fatal error:
  // attestation refused (kPermissionDenied / kUnauthenticated), key not in the roster
  // (kPermissionDenied), rollback (kAborted), aggregator unreachable (kUnavailable).
  Status Run(const std::atomic<int>& stop_signals);
  const ClientSummary& summary() const { return summary_; }

 private:
  struct Session;
  enum class SessionEnd { kFinished, kReconnect };
  ParticipantClient(ClientOptions options, Workload& workload, CurveKeyPair key);
  Result<SessionEnd> RunSession(const std::atomic<int>& stop_signals);

  ClientOptions options_;
  Workload& workload_;
  CurveKeyPair key_;
  ChainState chain_;
  ClientSummary summary_;
  // The latest global model this participant verified (saves a download when the next round
  // offers the same version).
  std::uint64_t cached_version_ = 0;
  std::array<std::uint8_t, 32> cached_hash_{};
  std::vector<float> cached_model_;
  std::vector<float> delta_;  // this round's update (reused across rounds)
};

}  // namespace cairn::participant
