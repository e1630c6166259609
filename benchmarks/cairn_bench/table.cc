#include "benchmarks/cairn_bench/table.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace cairn::bench {

Result<std::string> SummaryTable(const std::vector<std::string>& files) {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%5s %10s %-8s %6s %9s %9s %7s %9s %6s %10s %10s %6s %9s\n", "N", "P", "encoding",
                "slots", "round_s", "floor_s", "ratio", "bound_s", "GB/s", "rss_MiB", "limit_MiB", "rounds", "commits");
  out << line;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) return Fail(ErrorCode::kNotFound, "cannot read " + file);
    std::string text;
    for (int n = 1; std::getline(in, text); ++n) {
      if (text.empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(text);
        if (!j.is_object()) throw std::runtime_error("not an object");
        auto rss = j.at("aggregator_peak_rss_bytes");
        std::string rss_text = rss.is_null() ? "-" : std::to_string(rss.get<double>() / (1 << 20)).substr(0, 7);
        // The co-located bound came with stop 16: older lines show "-".
        std::string bound_text = "-";
        if (j.contains("colocated_bound_s")) {
          char b[32];
          std::snprintf(b, sizeof b, "%.3f", j.at("colocated_bound_s").get<double>());
          bound_text = b;
        }
        std::string rounds = std::to_string(j.at("rounds_completed").get<int>()) + "/" +
                             std::to_string(j.at("rounds_run").get<int>());
        std::string commits = std::to_string(j.at("commits_min").get<int>()) + ".." +
                              std::to_string(j.at("commits_max").get<int>());
        std::snprintf(line, sizeof line, "%5d %10llu %-8s %6d %9.3f %9.3f %7.2f %9s %6.2f %10s %10.1f %6s %9s\n",
                      j.at("participants").get<int>(), j.at("params").get<unsigned long long>(),
                      j.at("encoding").get<std::string>().c_str(), j.at("upload_slots").get<int>(),
                      j.at("round_median_s").get<double>(), j.at("floor_s").get<double>(), j.at("ratio").get<double>(),
                      bound_text.c_str(), j.at("gbps").get<double>(), rss_text.c_str(),
                      j.at("rss_limit_bytes").get<double>() / (1 << 20), rounds.c_str(), commits.c_str());
        out << line;
      } catch (const std::exception& e) {
        return Fail(ErrorCode::kInvalidArgument, file + ":" + std::to_string(n) + ": not a cairn-bench JSON line (" +
                                                     e.what() + ")");
      }
    }
  }
  return out.str();
}

}  // namespace cairn::bench
