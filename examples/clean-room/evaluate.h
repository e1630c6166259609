// Compares released (DP) answers with the exact answers on the pooled data.
//
// Answers are matched by query name, group and statistic (scalar kinds: the value; histogram: each
// cell; quantiles: each level). Only answers released in both are compared. Relative error is
// |dp − exact| / |exact|; an answer whose exact value is 0 has no relative error (it is listed
// with its absolute error and left out of the maximum).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/analytics/release.h"
#include "common/core/error.h"

namespace cairn::cleanroom {

struct AnswerComparison {
  std::string query;
  std::string group;      // "" for an ungrouped query
  std::string statistic;  // "mean", "[0,10)", "p50", ...
  double dp = 0;
  double exact = 0;
  double relative_error = 0;  // NaN when exact == 0
};

struct Evaluation {
  std::vector<AnswerComparison> answers;  // released in both
  std::size_t queries = 0;                // queries in the DP results
  std::size_t suppressed = 0;             // groups suppressed in the DP results
  std::size_t suppression_differs = 0;    // groups suppressed in one of the two only
  std::size_t zero_exact = 0;             // answers with exact value 0 (no relative error)
  double max_relative_error = 0;          // over `answers` with exact != 0
};

// Every DP query must exist in `exact` with the same groups. kInvalidArgument otherwise.
Result<Evaluation> Evaluate(const std::vector<analytics::QueryResult>& dp,
                            const std::vector<analytics::QueryResult>& exact);

// A table of every compared answer, the suppressed groups, and the last line
// "analytics: N queries, max relative error X".
std::string FormatEvaluation(const Evaluation& evaluation, const std::vector<analytics::QueryResult>& dp);

}  // namespace cairn::cleanroom
