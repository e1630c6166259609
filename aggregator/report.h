// `cairn-aggregator report`: a per-round table from a state folder's results.jsonl and
// evaluations.jsonl (round, participants, mean training loss, evaluation accuracy, ε).
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <vector>

#include "common/core/error.h"

namespace cairn::aggregator {

struct RoundRow {
  std::uint64_t round = 0;
  std::string status;
  std::uint64_t model_version = 0;
  std::size_t participants = 0;
  std::optional<double> train_loss;
  std::optional<double> eval_loss;
  std::optional<double> eval_accuracy;   // example-weighted over the reports for this version
  double epsilon = 0;
};

// Reads both files (evaluations may be absent). Malformed lines are errors naming file and line.
Result<std::vector<RoundRow>> ReadRunTable(const std::filesystem::path& state_dir);
// Prints the table; `json` prints one JSON object per row instead.
void PrintRunTable(const std::vector<RoundRow>& rows, bool json, std::ostream& out);

}  // namespace cairn::aggregator
