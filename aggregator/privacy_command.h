// `cairn-aggregator privacy`: the privacy accountant from the command line.
//
//   cairn-aggregator privacy --sampling-rate Q --noise-multiplier Z --rounds T --delta D
//                            [--conversion improved|classic] [--orders opacus|tfp|LIST] [--json]
//   cairn-aggregator privacy --sampling-rate Q --target-epsilon E --rounds T --delta D [...]
//
// The first form prints the ε after T rounds of DP-FedAvg with Poisson sampling at rate Q and
// noise multiplier Z (Rényi-DP accountant of the sampled Gaussian mechanism, add-or-remove
// adjacency) and the Rényi order that gave it; with --json: {"epsilon": …, "order": …}
// (null for both when Z = 0: ε is infinite). The second form prints the smallest noise
// multiplier meeting ε ≤ E (to a relative 1e-6); with --json: {"noise_multiplier": …}.
//
// main() parses the command line (CLI11) into PrivacyArgs; this file holds the logic and no
// CLI11, so it is tested without a process.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <string>

namespace cairn::aggregator {

struct PrivacyArgs {
  // --sampling-rate: probability that a participant takes part in a round, in (0, 1]. Required.
  double sampling_rate = std::numeric_limits<double>::quiet_NaN();
  // --noise-multiplier: z ≥ 0 (noise stddev z·C on the sum). Exactly one of this and
  // target_epsilon.
  std::optional<double> noise_multiplier;
  // --target-epsilon: the ε to meet, finite and > 0.
  std::optional<double> target_epsilon;
  // --rounds: T ≥ 1.
  std::int64_t rounds = 0;
  // --delta: in (0, 1). Required.
  double delta = std::numeric_limits<double>::quiet_NaN();
  // --conversion: "improved" (default, Balle et al. 2020) or "classic" (Mironov 2017).
  std::string conversion = "improved";
  // --orders: "opacus" (default), "tfp" or a comma-separated list of orders > 1.
  std::string orders = "opacus";
  // --json: one JSON object on one line instead of a sentence.
  bool json = false;
};

// Exit codes.
inline constexpr int kPrivacyOk = 0;
inline constexpr int kPrivacyFailed = 1;      // valid input, no answer (target ε unreachable)
inline constexpr int kPrivacyUsageError = 2;  // bad arguments

// Runs the command: the answer goes to `out`, errors to `err` as one line naming the argument at
// fault. Returns one of the exit codes above.
int RunPrivacyCommand(const PrivacyArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cairn::aggregator
