// Released query results as JSON, CSV and a human table.
//
// JSON (STATE_DIR/analytics.json):
//   {"format": "cairn-analytics-results/v1", "results": [
//     {"query": "fraud_rate_by_category", "kind": "mean", "column": "is_fraud",
//      "group_by": "merchant_category", "noise": true, "epsilon": 0.5, "delta": 1e-05,
//      "parties": 3, "tables_per_person": 1,
//      "statistics": [{"statistic": "rows", "l2_sensitivity": 1, "stddev": 11.2}, ...],
//      "labels": [],                       # histogram cell / quantile labels
//      "spec": {...},                      # QuerySpecToJson
//      "groups": [{"group": "grocery", "suppressed": false, "suppressed_by": "", "rows": 23987,
//                  "value": 0.0041, "values": [], "stddev": 0.0005}, ...]}]}
//   An ungrouped query has one group with "group": null. NaN (not available) is null; so is
//   epsilon when noise is off (ε = ∞).
//
// CSV (STATE_DIR/analytics.csv), one row per group and statistic (scalar kinds: one per group;
// histogram: one per cell; quantiles: one per level):
//   query,kind,group,statistic,value,stddev,rows,suppressed,suppressed_by,epsilon,delta
// Suppressed groups have empty value, stddev and rows.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/analytics/release.h"
#include "common/core/error.h"

namespace cairn::analytics {

inline constexpr std::string_view kResultsFormat = "cairn-analytics-results/v1";
inline constexpr std::size_t kMaxResultsJsonBytes = std::size_t{64} << 20;

std::string ResultsToJson(const std::vector<QueryResult>& results);
// Strict: unknown keys, wrong types, a wrong format tag, more than kMaxQueries results, kMaxGroups
// groups or kMaxBinEdges + 1 values, or more than kMaxResultsJsonBytes are kInvalidArgument naming
// the field (results[i].groups[j].value).
Result<std::vector<QueryResult>> ResultsFromJson(std::string_view json);

// Atomic writes (WriteFileAtomic).
Status WriteResultsJson(const std::filesystem::path& path, const std::vector<QueryResult>& results);
Status WriteResultsCsv(const std::filesystem::path& path, const std::vector<QueryResult>& results);

// The CSV's header and rows (formatted fields), for callers that print or embed them.
std::vector<std::string> ResultsCsvHeader();
std::vector<std::vector<std::string>> ResultsCsvRows(const std::vector<QueryResult>& results);

// A fixed-width table for a terminal: query, group, statistic, value, ±noise (stddev), rows, ε;
// suppressed groups read "suppressed (rows)" / "(parties)". Ends with a newline.
std::string FormatTable(const std::vector<QueryResult>& results);

}  // namespace cairn::analytics
