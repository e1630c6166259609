#include "aggregator/report.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/core/file.h"
#include "protocol/round_result.h"

namespace cairn::aggregator {

Result<std::vector<RoundRow>> ReadRunTable(const std::filesystem::path& state_dir) {
  auto results_path = state_dir / "results.jsonl";
  CAIRN_ASSIGN_OR_RETURN(std::string results, ReadFileText(results_path, 1ull << 30));
  // Evaluations per model version: Σ examples·accuracy, Σ examples·loss, Σ examples.
  struct Eval {
    double acc = 0, loss = 0, n = 0;
  };
  std::map<std::uint64_t, Eval> evals;
  auto eval_path = state_dir / "evaluations.jsonl";
  if (std::filesystem::exists(eval_path)) {
    CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(eval_path, 1ull << 30));
    std::istringstream in(text);
    std::string line;
    for (int lineno = 1; std::getline(in, line); ++lineno) {
      if (line.empty()) continue;
      try {
        auto j = nlohmann::json::parse(line);
        // The participant's metrics are in "metrics"; lines written before that object existed
        // had them next to the aggregator's fields.
        const nlohmann::json& m = j.contains("metrics") && j["metrics"].is_object() ? j["metrics"] : j;
        double n = m.value("examples", 1.0);
        auto& e = evals[j.at("model_version").get<std::uint64_t>()];
        if (m.contains("accuracy")) e.acc += n * m["accuracy"].get<double>();
        if (m.contains("loss")) e.loss += n * m["loss"].get<double>();
        e.n += n;
      } catch (const nlohmann::json::exception& ex) {
        return Fail(ErrorCode::kDataLoss, eval_path.string() + ":" + std::to_string(lineno) + ": " + ex.what());
      }
    }
  }
  std::vector<RoundRow> rows;
  std::istringstream in(results);
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    auto r = protocol::ResultFromJson(line);
    if (!r) return Fail(std::move(r).error().Context(results_path.string() + ":" + std::to_string(lineno)));
    RoundRow row;
    row.round = r->round;
    row.status = protocol::RoundStatusName(r->status);
    row.model_version = r->model_version;
    row.participants = r->contributors.size();
    row.epsilon = r->epsilon_spent;
    for (const auto& m : r->metrics) {
      if (m.name == "train_loss") row.train_loss = m.value;
    }
    if (auto it = evals.find(r->model_version); it != evals.end() && it->second.n > 0 &&
                                                r->status == protocol::RoundStatus::kCompleted) {
      row.eval_accuracy = it->second.acc / it->second.n;
      row.eval_loss = it->second.loss / it->second.n;
    }
    rows.push_back(row);
  }
  return rows;
}

void PrintRunTable(const std::vector<RoundRow>& rows, bool json, std::ostream& out) {
  if (json) {
    for (const auto& r : rows) {
      nlohmann::ordered_json j;
      j["round"] = r.round;
      j["status"] = r.status;
      j["model_version"] = r.model_version;
      j["participants"] = r.participants;
      if (r.train_loss) j["train_loss"] = *r.train_loss;
      if (r.eval_loss) j["eval_loss"] = *r.eval_loss;
      if (r.eval_accuracy) j["eval_accuracy"] = *r.eval_accuracy;
      j["epsilon"] = r.epsilon;
      out << j.dump() << "\n";
    }
    return;
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "%5s  %-13s  %12s  %10s  %13s  %9s\n", "round", "status", "participants",
                "train loss", "test accuracy", "epsilon");
  out << buf;
  for (const auto& r : rows) {
    std::string loss = r.train_loss ? (std::snprintf(buf, sizeof buf, "%.4f", *r.train_loss), std::string(buf)) : "-";
    std::string acc = r.eval_accuracy ? (std::snprintf(buf, sizeof buf, "%.4f", *r.eval_accuracy), std::string(buf)) : "-";
    std::string eps = r.epsilon > 0 ? (std::snprintf(buf, sizeof buf, "%.4g", r.epsilon), std::string(buf)) : "-";
    std::snprintf(buf, sizeof buf, "%5llu  %-13s  %12zu  %10s  %13s  %9s\n",
                  static_cast<unsigned long long>(r.round), r.status.c_str(), r.participants, loss.c_str(),
                  acc.c_str(), eps.c_str());
    out << buf;
  }
}

}  // namespace cairn::aggregator
