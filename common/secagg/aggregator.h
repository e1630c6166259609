// The aggregator side of pairwise masking: one object per round, inside the enclave.
//
// Life cycle (calls in any other state fail with kFailedPrecondition and change nothing):
//
//   kCollectingKeys    HandleAdvertiseKeys*;  CloseKeys() → one KeysRelay per member of U1
//   kCollectingShares  HandleShareKeys*;      CloseShares() → one SharesRelay per member of U2
//   kCollectingInputs  AddMaskedChunk* / HandleMaskedInput*, CommitInput* per sender;
//                      BeginUnmasking() → the UnmaskRequest for every member of S
//   kCollectingReveals HandleUnmaskResponse*; Finalize() → the unmasked sum
//   kDone | kAborted
//
// Abort: CloseKeys, CloseShares, BeginUnmasking and Finalize check, before going on, that
// every secret the round will need can still be rebuilt from t shares; when one cannot, the
// round aborts (kAborted error naming the participant and the counts; abort_reason() holds
// them), the running sum and every share held are wiped, and nothing more is asked of anyone.
// BeginUnmasking (and Finalize again) also checks the connectivity rule: the masking graph
// restricted to S must be connected, or unmasking would reveal the sum of each connected group
// of S separately, not only the total (pairwise masks cancel within each group on its own).
// BeginUnmasking aborts *before* any share is revealed; Finalize checks every count before it
// rebuilds a single secret, and any failure while it rebuilds also aborts and wipes.
//
// What this object ever holds of participants' data: masked vectors (the only input type),
// their running sum, and Shamir shares of which, for each participant, only one kind (seed or
// key) is ever requested. It never receives a float update. Memory: the running sum (4 bytes
// per element, allocated once) plus O(k) per participant; flat in n for the vector part.
//
// Thread safety: not thread-safe (the round engine's single thread owns it). Move-only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/core/error.h"
#include "common/secagg/graph.h"
#include "common/secagg/messages.h"
#include "common/secagg/params.h"

namespace cairn::secagg {

// Tests only: sees every masked chunk the aggregator receives, before it is folded in.
using MaskedInputObserver =
    std::function<void(std::uint32_t sender, std::uint64_t offset, std::span<const std::uint32_t> values)>;

struct AggregatorOptions {
  Params params;     // validated by Create
  RoundSetup setup;  // validated by Create
  // Threads that remove the masks in Finalize (the mask expansion dominates unmasking and
  // splits by element range); 1 = the calling thread only. Set it to the enclave's cores.
  std::uint32_t unmask_threads = 1;
  // Tests only (instrumentation): empty in production.
  MaskedInputObserver observe_masked_input_for_testing;
};

// Why a round aborted: `participant` is the one whose secret could not be rebuilt, or
// kWholeRound when the round as a whole fell below t (|U1|, |U2| or |S| < t) or S split under
// the masking graph (then `groups` > 1 and `available` = |S|).
struct AbortReason {
  static constexpr std::uint32_t kWholeRound = 0xffffffffu;
  enum class Stage : std::uint8_t { kKeys, kShares, kUnmasking, kFinalize, kReconstruction };
  Stage stage = Stage::kKeys;
  std::uint32_t participant = 0;
  bool committed = false;        // whether its masked input is in the sum
  std::uint32_t available = 0;   // share holders (or members) that could still answer
  std::uint32_t threshold = 0;   // t
  std::uint32_t groups = 0;      // > 1: S split into this many groups (the connectivity rule)
};
const char* AbortStageName(AbortReason::Stage stage);

struct UnmaskedSum {
  std::vector<std::uint32_t> ring_sum;   // Σ_{i∈S} q_i (mod 2^32, exact: no wrap-around)
  std::vector<std::uint32_t> committed;  // S, ascending
};

class Aggregator {
 public:
  enum class State {
    kCollectingKeys, kCollectingShares, kCollectingInputs, kCollectingReveals, kDone, kAborted
  };

  static Result<Aggregator> Create(AggregatorOptions options);
  Aggregator(Aggregator&&) noexcept;
  Aggregator& operator=(Aggregator&&) noexcept;
  ~Aggregator();

  // Round 1. Refuses a wrong round, an index outside the cohort, low-order or repeated keys;
  // the same advertisement twice is accepted (a retry), a different one is kAlreadyExists.
  Status HandleAdvertiseKeys(const AdvertiseKeys& message);
  // Fixes U1 (those who advertised), builds the graph, and returns the relay for each member.
  // Aborts when |U1| < t.
  Result<std::vector<KeysRelay>> CloseKeys();

  // Round 2. The sender must be in U1 and address exactly its neighbours, ascending.
  Status HandleShareKeys(const ShareKeys& message);
  // Fixes U2 (those who sent shares) and returns, for each member of U2, the ciphertexts
  // addressed to it (then forgets them). Aborts when some i ∈ U2 has fewer than t members of
  // U2 in N[i] (its secrets could never be rebuilt).
  Result<std::vector<SharesRelay>> CloseShares();

  // Round 3. Folds masked elements [offset, offset + size) of `sender` into the running sum.
  // The sender must be in U2 and not yet committed; chunks must come in order (offset = the
  // number of its elements folded so far). Contract: fold only an upload that will commit
  // (the round engine stages chunks and folds them when it accepts the commit); a sender left
  // half folded makes BeginUnmasking fail.
  Status AddMaskedChunk(std::uint32_t sender, std::uint64_t offset,
                        std::span<const std::uint32_t> values);
  Status HandleMaskedInput(const MaskedInput& message);
  // Marks the sender's input complete (all num_elements folded): it joins S.
  Status CommitInput(std::uint32_t sender);

  // Round 4. Fixes S and returns the request to send to every member of S. Aborts, before
  // any share is revealed, when |S| < t, when some i ∈ S has fewer than t members of S in N[i],
  // when some j ∈ U2 \ S has fewer than t members of S in N(j), or when the graph restricted to
  // S is not connected (each group's sum would be revealed). O(|S|·k) for the last check.
  Result<UnmaskRequest> BeginUnmasking();
  // The response must come from a member of S that has not answered, and hold exactly one
  // share per owner in N[sender] ∩ U2: of the seed for owners in S, of the key otherwise.
  Status HandleUnmaskResponse(const UnmaskResponse& message);
  // Checks every count and (again) that S is connected, rebuilds each needed secret from t
  // shares of the responders (checking it against the seed commitment or the advertised mask
  // key), removes the masks and returns the sum. Aborts when a secret lacks t shares, when a
  // rebuilt secret does not match, or when rebuilding or removing a mask fails.
  Result<UnmaskedSum> Finalize();

  State state() const;
  const std::optional<AbortReason>& abort_reason() const;
  // The graph (from CloseKeys on), for inspection and tests.
  const Graph* graph() const;
  // S, after BeginUnmasking.
  const std::vector<std::uint32_t>& committed() const;
  // Members of S that have answered the unmask request.
  std::vector<std::uint32_t> responders() const;
  DecodeLimits decode_limits() const;

  struct Impl;

 private:
  explicit Aggregator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

const char* AggregatorStateName(Aggregator::State state);

}  // namespace cairn::secagg
