// An in-memory run of one masked round: n Participant objects and one Aggregator exchanging
// every message, optionally as bytes (Encode → Decode) so the run also exercises the wire
// format. For tests, the benchmark and `cairn-bench --masking`-style measurements; the real
// deployment carries the same messages over the control and data planes instead.
//
// Memory: the updates are borrowed; each participant masks its update chunk by chunk into one
// reused buffer that is folded into the aggregator at once, so the run holds the aggregator's
// running sum plus one chunk, whatever n.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "common/core/error.h"
#include "common/secagg/aggregator.h"
#include "common/secagg/params.h"

namespace cairn::secagg {

// The last step a participant completes before it drops out.
enum class DropPoint : std::uint8_t {
  kNone = 0,          // takes part to the end
  kBeforeKeys,        // never advertises keys (∉ U1)
  kAfterKeys,         // advertises, never sends shares (∈ U1 \ U2)
  kAfterShares,       // sends shares, never commits a masked input (∈ U2 \ S)
  kAfterCommit,       // commits, never answers the unmask request (∈ S \ R)
};

struct SimulationOptions {
  Params params;
  RoundSetup setup;
  // Per cohort index; empty or shorter = kNone for the rest.
  std::vector<DropPoint> drops;
  // Elements per masked chunk (≥ 1).
  std::size_t chunk_elements = std::size_t{1} << 16;
  // Send every message as bytes and decode it on the other side.
  bool wire_format = true;
  // Secret randomness per participant (index → source); empty = the CSPRNG.
  std::function<RandomFill(std::uint32_t index)> participant_random;
  // Passed to the aggregator.
  std::uint32_t unmask_threads = 1;
  // Passed to the aggregator (tests only).
  MaskedInputObserver observe_masked_input_for_testing;
};

struct SimulationReport {
  // Ok when the round completed; the aggregator's abort (or other) error otherwise.
  Status outcome = Ok();
  std::optional<AbortReason> abort;
  // Whether an UnmaskRequest was sent, and how many shares participants revealed in total.
  bool unmask_requested = false;
  std::uint64_t shares_revealed = 0;
  std::vector<std::uint32_t> committed;  // S
  std::vector<std::uint32_t> ring_sum;   // empty unless completed
  std::vector<double> sum;               // dequantized; empty unless completed
  std::uint64_t clamped = 0;             // values clamped to [−r, r], over all participants
  std::uint64_t control_bytes = 0;       // encoded bytes of all messages but MaskedInput
  std::uint64_t masked_input_bytes = 0;  // encoded bytes of MaskedInput chunks
};

// updates[i]: participant i's update (num_elements floats); updates.size() == cohort_size.
// A participant error (refusal) is a bug in a simulation with an honest aggregator and is
// returned as the Result's error; the round's own outcome (completed or aborted) is in the report.
Result<SimulationReport> SimulateRound(const SimulationOptions& options,
                                       std::span<const std::span<const float>> updates);

}  // namespace cairn::secagg
