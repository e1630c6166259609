#include "examples/clean-room/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cairn::cleanroom {
namespace {

using analytics::QueryKind;
using analytics::QueryResult;

bool IsVector(QueryKind k) { return k == QueryKind::kHistogram || k == QueryKind::kQuantiles; }

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

Result<Evaluation> Evaluate(const std::vector<QueryResult>& dp, const std::vector<QueryResult>& exact) {
  Evaluation ev;
  ev.queries = dp.size();
  for (const QueryResult& q : dp) {
    auto t = std::find_if(exact.begin(), exact.end(), [&](const QueryResult& e) { return e.query == q.query; });
    if (t == exact.end()) {
      return Fail(ErrorCode::kInvalidArgument, "query '" + q.query + "' has no exact answer in the truth file");
    }
    if (t->kind != q.kind || t->groups.size() != q.groups.size()) {
      return Fail(ErrorCode::kInvalidArgument, "query '" + q.query + "': the truth file has a different kind or groups");
    }
    for (std::size_t g = 0; g < q.groups.size(); ++g) {
      const auto& d = q.groups[g];
      const auto& e = t->groups[g];
      if (d.group != e.group) {
        return Fail(ErrorCode::kInvalidArgument, "query '" + q.query + "': group " + std::to_string(g) +
                                                     " is '" + d.group + "' here and '" + e.group + "' in the truth file");
      }
      if (d.suppressed) ++ev.suppressed;
      if (d.suppressed != e.suppressed) ++ev.suppression_differs;
      if (d.suppressed || e.suppressed) continue;
      std::vector<double> dv = IsVector(q.kind) ? d.values : std::vector<double>{d.value};
      std::vector<double> ev_values = IsVector(q.kind) ? e.values : std::vector<double>{e.value};
      if (dv.size() != ev_values.size()) {
        return Fail(ErrorCode::kInvalidArgument, "query '" + q.query + "': value counts differ from the truth file");
      }
      for (std::size_t s = 0; s < dv.size(); ++s) {
        if (std::isnan(dv[s]) || std::isnan(ev_values[s])) continue;
        AnswerComparison a;
        a.query = q.query;
        a.group = d.group;
        a.statistic = IsVector(q.kind) ? (s < q.labels.size() ? q.labels[s] : std::to_string(s))
                                       : std::string(analytics::QueryKindName(q.kind));
        a.dp = dv[s];
        a.exact = ev_values[s];
        if (a.exact == 0.0) {
          a.relative_error = std::nan("");
          ++ev.zero_exact;
        } else {
          a.relative_error = std::abs(a.dp - a.exact) / std::abs(a.exact);
          ev.max_relative_error = std::max(ev.max_relative_error, a.relative_error);
        }
        ev.answers.push_back(std::move(a));
      }
    }
  }
  return ev;
}

std::string FormatEvaluation(const Evaluation& ev, const std::vector<QueryResult>& dp) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"query", "group", "statistic", "DP answer", "true answer", "rel. error"});
  for (const auto& a : ev.answers) {
    rows.push_back({a.query, a.group.empty() ? "(all)" : a.group, a.statistic, Num(a.dp), Num(a.exact),
                    std::isnan(a.relative_error) ? "(true 0)" : Num(a.relative_error)});
  }
  for (const auto& q : dp) {
    for (const auto& g : q.groups) {
      if (g.suppressed) {
        rows.push_back({q.query, g.group.empty() ? "(all)" : g.group, "*", "suppressed (" + g.suppressed_by + ")", "", ""});
      }
    }
  }
  std::vector<std::size_t> w(rows.front().size(), 0);
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < r.size(); ++c) w[c] = std::max(w[c], r[c].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      const std::size_t pad = w[c] - r[c].size();
      if (c >= 3) line.append(pad, ' ');
      line += r[c];
      if (c < 3) line.append(pad, ' ');
      if (c + 1 < r.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  if (ev.zero_exact > 0) {
    out += std::to_string(ev.zero_exact) + " answer(s) with a true value of 0 have no relative error (left out)\n";
  }
  if (ev.suppression_differs > 0) {
    out += std::to_string(ev.suppression_differs) +
           " group(s) suppressed in only one of the DP and exact answers (noisy thresholds)\n";
  }
  out += "analytics: " + std::to_string(ev.queries) + " queries, max relative error " + Num(ev.max_relative_error) + "\n";
  return out;
}

}  // namespace cairn::cleanroom
