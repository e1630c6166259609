// cairn-bench: one aggregator and N synthetic participants on loopback for R rounds, measured
// against the floor of the same machine (docs/performance.md defines every figure).
//
// The aggregator runs as its own process (`cairn-aggregator run`, so its peak RSS is its own) or
// on a thread of this process; the participants are ParticipantClients on threads of this
// process, driven by a SyntheticWorkload that reuses one update (no generation in the measured
// path).
//
// Round wall time: rounds run back to back (the aggregator publishes result r and offers round
// r+1 in the same step), so round r lasts from the first participant's verification of result
// r-1 to the first participant's verification of result r. It covers the model download, the
// (synthetic) training, sealing, upload, decryption, validation, accumulation, finalization
// (strategy, new sealed model, model files, sealed checkpoint) and publication. The first
// `warmup_rounds` rounds (connections, attestation, first-touch page faults) are run but not timed.
//
// Floor: the time one thread of this machine needs to open N·P·4 bytes of AES-256-GCM chunks
// (crypto::Aead, chunk layout of the protocol) and add them into a double accumulator
// (strategy::AccumulateWeighted), chunk by chunk; measured in the same run, median of several.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"
#include "protocol/types.h"

namespace cairn::bench {

enum class AggregatorMode {
  kProcess,    // `cairn-aggregator run` as a child process: its peak RSS is measured alone
  kInProcess,  // AggregatorApp on a thread: RSS is the whole process's (not the aggregator's)
};

struct BenchOptions {
  std::uint32_t participants = 8;             // N, 1..1000
  std::uint64_t params = 10'000'000;          // P requested; the model has the nearest exact count
  std::uint32_t rounds = 5;                   // timed rounds R
  std::uint32_t warmup_rounds = 1;            // run before the timed rounds, not timed
  bool masking = false;                       // pairwise masking ([masking] enabled = true)
  std::uint32_t masking_k = 0;                // masking.neighborhood_size (0 = derived: min(7, N) odd)
  std::uint32_t masking_t = 0;                // masking.threshold (0 = derived: ⌊k/2⌋ + 1)
  std::uint32_t chunk_bytes = 1u << 20;       // federation.chunk_bytes
  protocol::Encoding encoding = protocol::Encoding::kFloat32;
  std::uint32_t upload_slots = 2;             // server.max_concurrent_uploads
  bool checkpoint = true;                     // sealed checkpoint every round (as in production)
  AggregatorMode mode = AggregatorMode::kProcess;
  std::filesystem::path aggregator_bin;       // process mode; empty = next to this executable
  std::uint32_t floor_repetitions = 3;        // floor runs, before and after the federation each
  std::filesystem::path work_dir;             // empty = a fresh folder under /tmp, removed after
  bool keep_work_dir = false;
  double round_timeout_s = 600;               // federation.round_timeout_s
};

// A built-in model with exactly `params` parameters: logreg with `inputs` features and `classes`
// classes has (inputs + 1) · classes parameters.
struct ModelShape {
  std::int64_t inputs = 0;
  std::int64_t classes = 0;
  std::uint64_t params = 0;
};
// The logreg shape whose parameter count is closest to `params` (exact when `params` has a
// divisor in [2, 100000] whose cofactor - 1 is in [1, 1000000]).
Result<ModelShape> ShapeForParams(std::uint64_t params);

struct FloorResult {
  std::vector<double> runs_s;  // each: N·P·4 bytes opened and accumulated
  double median_s = 0;
};
// Opens `participants` copies of one sealed update of `params` float32 values in chunks of
// `chunk_bytes` and accumulates each chunk into a double sum; `repetitions` timed runs.
Result<FloorResult> MeasureFloor(std::uint32_t participants, std::uint64_t params, std::uint32_t chunk_bytes,
                                 std::uint32_t repetitions);

// One thread's time for the cipher and hash work on one model of P float32 (P·4 bytes, in the
// protocol's chunks), medians of the timed runs: sealing with AES-256-GCM, opening, SHA-256.
struct CipherCosts {
  double seal_s = 0;
  double open_s = 0;
  double sha256_s = 0;
};
Result<CipherCosts> MeasureCipherCosts(std::uint64_t params, std::uint32_t chunk_bytes, std::uint32_t repetitions);

// The floor counts only what the aggregator must do with the updates. With every party on this
// machine, a round also needs the participants' share of the protocol's cipher and hash work:
// each seals its update and opens and hashes the model it downloads, and the aggregator seals
// and hashes the new model and seals it again into the checkpoint. That work spread evenly over
// the machine's cores is a lower bound for the round: kernel copies, memory traffic and file
// writes are left out. When it exceeds 1.5 x floor, that target is out of reach on this machine
// whatever the implementation does (docs/performance.md, "Against the targets").
struct ColocatedBound {
  double aggregator_open_add_s = 0;     // the floor: N·P·4 bytes opened and accumulated
  double participants_seal_s = 0;       // N updates sealed
  double participants_open_hash_s = 0;  // N model downloads opened and hashed
  double aggregator_seal_hash_s = 0;    // the new model sealed and hashed, plus the checkpoint's sealing
  unsigned cores = 1;
  double cpu_s() const {
    return aggregator_open_add_s + participants_seal_s + participants_open_hash_s + aggregator_seal_hash_s;
  }
  double bound_s() const { return cpu_s() / cores; }
};
// `costs` are for P·4 bytes; updates and downloads scale by the transport encoding's width
// (2 bytes for bfloat16 / float16), the hashes and the checkpoint are over float32.
ColocatedBound ComputeColocatedBound(const CipherCosts& costs, double floor_s, std::uint32_t participants,
                                     protocol::Encoding encoding, bool checkpoint, unsigned cores);
// Cores this process may run on (its CPU affinity), at least 1.
unsigned UsableCores();

// CPU time of one process (or thread group) over a round, by thread kind.
struct CpuSplit {
  double loop_s = 0;     // the aggregator's event loop thread
  double zmq_io_s = 0;   // ZeroMQ I/O threads
  double other_s = 0;    // anything else: ZAP handler, reaper, and threads that have exited
                         // (the new model's hash), which only the process total shows
  double total() const { return loop_s + zmq_io_s + other_s; }
};

// Seconds of CPU (user + system) in a /proc/PID/stat line: the process's threads, including
// those that have exited. `ticks_per_second` is sysconf(_SC_CLK_TCK). nullopt when the line does
// not parse.
std::optional<double> ProcStatCpuSeconds(std::string_view stat_line, long ticks_per_second);

struct BenchReport {
  BenchOptions options;
  ModelShape shape;
  std::uint32_t rounds_run = 0;                 // results received (all rounds, warm-up included)
  std::uint32_t rounds_completed = 0;           // of them, status completed
  std::vector<double> round_s;                  // timed rounds
  double round_median_s = 0;
  FloorResult floor;
  double ratio = 0;
  CipherCosts cipher;                           // per model, measured beside the floor
  ColocatedBound colocated;                     // masked runs: the masking work is not counted
  double colocated_ratio = 0;                   // round_median_s / colocated.bound_s()
  std::uint64_t bytes_in_per_round = 0;         // update chunk payloads into the aggregator
  double gbps = 0;                              // bytes_in_per_round / round_median_s / 1e9
  std::optional<std::uint64_t> aggregator_peak_rss_bytes;  // process mode
  std::uint64_t process_peak_rss_bytes = 0;     // this process (participants; + aggregator in-process)
  std::uint64_t model_bytes = 0;                // P · 4
  std::uint64_t rss_limit_bytes = 0;            // 4 · model_bytes + 64 MiB
  std::vector<CpuSplit> aggregator_cpu;         // per timed round (process mode: by thread kind)
  std::vector<double> participants_cpu_s;       // per timed round: this process's CPU (process mode)
  std::vector<std::uint32_t> commits;           // per participant, over all rounds
  std::uint32_t max_model_seals_per_round = 0;  // distinct sealed copies served in one round
  std::vector<double> result_spread_s;          // per timed round: last minus first verification
  double load_start = 0, load_end = 0;          // 1-minute load average
  std::string aggregator_log;                   // process mode: the child's stderr file
  std::string loop_profile;                     // process mode: the loop's time by handler
  // --masking --compare-plain: the same benchmark without masking, run after the masked one in
  // the same invocation (its round times only; every other figure is the masked run's).
  std::optional<double> plain_round_median_s;
  std::vector<double> plain_round_s;
};

// Runs the whole benchmark. Errors name the step that failed.
Result<BenchReport> RunBench(const BenchOptions& options);

std::string ReportJson(const BenchReport& report);
std::string ReportText(const BenchReport& report);

}  // namespace cairn::bench
