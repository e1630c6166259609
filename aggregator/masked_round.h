// One masked round (pairwise masking, SecAgg+) inside the round engine: the enclave side of
// docs/masking.md, "Wiring it into the round".
//
// The round engine owns one MaskedRound per round of a federation with masking.enabled and
// feeds it: the secagg control messages of cohort members (their identity comes from the Curve
// channel), each accepted commit's staged ring32 upload, and time. This object owns the
// secagg::Aggregator, maps cohort indices to roster ids, checks that every message's `sender`
// is the participant whose Curve identity sent it, closes the stages at their deadlines and
// sends the relays and the unmask request through the engine's Outbox.
//
// Stages: kKeys --all advertised or stage deadline--> CloseKeys, KeysRelay to U1 --> kShares
//   --all of U1 shared or stage deadline--> CloseShares, SharesRelay to U2 --> kInputs
//   --all of U2 committed or the round deadline--> (fewer than the quorum: kBelowQuorum, nothing
//   revealed) BeginUnmasking, UnmaskRequest to S --> kReveals
//   --all of S answered or stage deadline--> Finalize --> kUnmasked (or kAborted at any step).
//
// What it holds of participants' data: masked vectors only (folded into the library's running
// sum), Shamir shares inside the library, and after kUnmasked the dequantized sum. Logs carry
// metadata only (stage, counts, ids), never a key, share, mask or value.
//
// Thread safety: none; the engine's thread owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "aggregator/upload.h"
#include "common/core/clock.h"
#include "common/core/error.h"
#include "protocol/federation_config.h"
#include "protocol/types.h"

namespace cairn::aggregator {

class Outbox;

// Tests only: sees every masked chunk the enclave receives (participant id, element offset,
// ring values), before it is folded into the sum.
using MaskedInputObserver =
    std::function<void(const std::string& participant, std::uint64_t offset, std::span<const std::uint32_t> values)>;

class MaskedRound {
 public:
  enum class Stage { kKeys, kShares, kInputs, kReveals, kUnmasked, kBelowQuorum, kAborted };

  struct Options {
    const protocol::FederationConfig* federation = nullptr;  // resolved masking config; outlives this
    crypto::Sha256Digest config_hash{};
    std::uint64_t round_id = 0;
    std::vector<std::string> cohort;  // roster order: index i is cohort[i]
    std::uint64_t num_elements = 0;   // P
    Clock::TimePoint now{};
    std::uint32_t unmask_threads = 1;
    MaskedInputObserver observer;     // tests only
  };

  // Draws the graph seed from the CSPRNG and creates the library aggregator. A setup the library
  // refuses (e.g. a cohort below t) gives a round already in kAborted, with the reason.
  static std::unique_ptr<MaskedRound> Create(Options options);
  ~MaskedRound();

  // What goes into the RoundOffer.
  protocol::MaskingSetup Setup() const;

  // A secagg control message from `participant`. A rejection names what was wrong (undecodable,
  // wrong sender index, wrong stage, bad keys or shares); the round goes on for everyone else.
  std::optional<Rejection> OnMessage(const std::string& participant, ByteSpan bytes);

  // Folds a complete upload at its commit (the staged ring32 values, as decrypted) and marks
  // the sender committed. Refused unless the sender is in U2 and inputs are open.
  std::optional<Rejection> FoldCommitted(const std::string& participant, std::span<const float> staged);

  // Closes stages whose condition holds at `now` and sends what follows. `committed` is the
  // engine's commit count, `quorum` its min_participants, `input_deadline` the round deadline.
  void Advance(Clock::TimePoint now, Clock::TimePoint input_deadline, std::size_t committed, std::size_t quorum,
               Outbox& outbox);
  bool ready_to_finalize() const {
    return stage_ == Stage::kUnmasked || stage_ == Stage::kBelowQuorum || stage_ == Stage::kAborted;
  }
  bool aborted() const { return stage_ == Stage::kAborted; }
  Stage stage() const { return stage_; }
  Clock::TimePoint NextDeadline(Clock::TimePoint input_deadline) const;

  // After kUnmasked: writes the dequantized sum Σ_S w_i·Δ_i into `sum` (resized to P) and wipes
  // the ring sum.
  Status TakeSum(std::vector<double>& sum);
  // Signed-result fields: masking parameters and counts (completed), or the abort reason.
  std::vector<protocol::Metric> Extensions() const;
  // The L2 norm quantization may add to one update (secagg::QuantizationNormBound): DP noise
  // after unmasking is calibrated to clip_norm + this.
  double QuantizationNormBound() const;
  const std::string& abort_detail() const { return abort_detail_; }

 private:
  struct Impl;
  explicit MaskedRound(std::unique_ptr<Impl> impl);
  void AbortWith(const Error& error);
  std::unique_ptr<Impl> impl_;
  Stage stage_ = Stage::kKeys;
  std::string abort_detail_;
};

const char* MaskedStageName(MaskedRound::Stage stage);

}  // namespace cairn::aggregator
