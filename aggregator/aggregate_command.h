// `cairn-aggregator aggregate`: one round of a strategy applied offline to stored flat vectors,
// for research, debugging and replaying a round.
//
//   cairn-aggregator aggregate --strategy NAME [--param KEY=VALUE]... --global FILE
//                              --update FILE[:WEIGHT]... --out FILE
//                              [--state-in FILE] [--state-out FILE]
//
// Files are raw little-endian float32 vectors. An update file holds a participant's locally
// trained model (the global model plus its update), so Δ_i = update_i − global, computed in
// float32 as the participant computes it. The command prints the strategy's name and parameters
// and writes the new global model to --out atomically.
//
// main() parses the command line (CLI11) into AggregateArgs; this file holds the logic and no
// CLI11, so it is tested without a process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace cairn::aggregator {

struct AggregateArgs {
  // Strategy name, as MakeStrategy takes it ("fedavg", "median", ...). Required.
  std::string strategy;
  // Each "KEY=VALUE" with a decimal VALUE, e.g. "eta=0.01"; repeated keys are an error.
  std::vector<std::string> params;
  // The current global model. Required.
  std::filesystem::path global;
  // Each "FILE" (weight 1) or "FILE:WEIGHT" (the text after the last ':' when it parses as a
  // number; WEIGHT = the participant's example count, > 0). At least one.
  std::vector<std::string> updates;
  // Where the new global model goes (written atomically). Required.
  std::filesystem::path out;
  // Optional optimizer state to start from (Strategy::SaveState bytes, e.g. saved by an earlier
  // run's --state-out); empty = fresh state, as in round 1.
  std::filesystem::path state_in;
  // Optional: where to write the optimizer state after the round (atomically); empty = nowhere.
  std::filesystem::path state_out;
  // Bound on each input file (protects memory against a wrong path, e.g. a disk image).
  std::uint64_t max_file_bytes = 4ull << 30;
};

// Exit codes.
inline constexpr int kAggregateOk = 0;
inline constexpr int kAggregateFailed = 1;      // I/O error writing the outputs, internal error
inline constexpr int kAggregateUsageError = 2;  // bad arguments or input files

// Runs the command. Progress and the strategy's name and parameters go to `out`; errors to `err`
// as one line naming the argument or file at fault. Returns one of the exit codes above.
int RunAggregateCommand(const AggregateArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cairn::aggregator
