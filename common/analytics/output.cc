#include "common/analytics/output.h"

#include <cmath>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "common/core/file.h"
#include "participant/data/csv.h"

namespace cairn::analytics {
namespace {

using Json = nlohmann::json;

Json Number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

std::string Display(double v) {
  if (std::isnan(v)) return "-";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Strict reading of one JSON object: every access names the field; Finish() rejects keys not read.
class ObjectReader {
 public:
  ObjectReader(const Json& j, std::string path) : j_(j), path_(std::move(path)) {}

  Status IsObject() const {
    if (!j_.is_object()) return Bad("", "must be an object");
    return Ok();
  }
  Result<const Json*> Field(const std::string& key) {
    read_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) return Bad(key, "is missing");
    return &*it;
  }
  Status String(const std::string& key, std::string& out, std::size_t max_bytes = 4096) {
    CAIRN_ASSIGN_OR_RETURN(const Json* v, Field(key));
    if (!v->is_string()) return Bad(key, "must be a string");
    out = v->get<std::string>();
    if (out.size() > max_bytes) return Bad(key, "is longer than " + std::to_string(max_bytes) + " bytes");
    return Ok();
  }
  Status Bool(const std::string& key, bool& out) {
    CAIRN_ASSIGN_OR_RETURN(const Json* v, Field(key));
    if (!v->is_boolean()) return Bad(key, "must be true or false");
    out = v->get<bool>();
    return Ok();
  }
  // null reads as `null_value`.
  Status Double(const std::string& key, double& out, double null_value) {
    CAIRN_ASSIGN_OR_RETURN(const Json* v, Field(key));
    if (v->is_null()) {
      out = null_value;
      return Ok();
    }
    if (!v->is_number()) return Bad(key, "must be a number or null");
    out = v->get<double>();
    return Ok();
  }
  Status U32(const std::string& key, std::uint32_t& out) {
    CAIRN_ASSIGN_OR_RETURN(const Json* v, Field(key));
    if (!v->is_number_unsigned() || v->get<std::uint64_t>() > UINT32_MAX) return Bad(key, "must be an unsigned 32-bit integer");
    out = v->get<std::uint32_t>();
    return Ok();
  }
  Result<const Json*> Array(const std::string& key, std::size_t max) {
    CAIRN_ASSIGN_OR_RETURN(const Json* v, Field(key));
    if (!v->is_array()) return Bad(key, "must be an array");
    if (v->size() > max) return Bad(key, "has more than " + std::to_string(max) + " elements");
    return v;
  }
  Status Finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (!read_.contains(it.key())) return Bad(it.key(), "is an unknown key");
    }
    return Ok();
  }
  std::string Path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  std::unexpected<Error> Bad(const std::string& key, const std::string& what) const {
    return Fail(ErrorCode::kInvalidArgument, "analytics results: " + (key.empty() ? path_ : Path(key)) + " " + what);
  }

 private:
  const Json& j_;
  std::string path_;
  std::set<std::string> read_;
};

Result<GroupResult> ReadGroup(const Json& j, const std::string& path) {
  ObjectReader r(j, path);
  CAIRN_RETURN_IF_ERROR(r.IsObject());
  GroupResult g;
  CAIRN_ASSIGN_OR_RETURN(const Json* group, r.Field("group"));
  if (group->is_string()) {
    g.group = group->get<std::string>();
    if (g.group.empty() || g.group.size() > kMaxGroupValueBytes) return r.Bad("group", "must be 1 to 256 bytes or null");
  } else if (!group->is_null()) {
    return r.Bad("group", "must be a string or null");
  }
  CAIRN_RETURN_IF_ERROR(r.Bool("suppressed", g.suppressed));
  CAIRN_RETURN_IF_ERROR(r.String("suppressed_by", g.suppressed_by, 32));
  CAIRN_RETURN_IF_ERROR(r.Double("rows", g.rows, 0.0));
  CAIRN_RETURN_IF_ERROR(r.Double("value", g.value, kNotAvailable));
  CAIRN_ASSIGN_OR_RETURN(const Json* values, r.Array("values", kMaxBinEdges + 1));
  for (std::size_t i = 0; i < values->size(); ++i) {
    const Json& v = (*values)[i];
    if (v.is_null()) {
      g.values.push_back(kNotAvailable);
    } else if (v.is_number()) {
      g.values.push_back(v.get<double>());
    } else {
      return r.Bad("values[" + std::to_string(i) + "]", "must be a number or null");
    }
  }
  CAIRN_RETURN_IF_ERROR(r.Double("stddev", g.stddev, kNotAvailable));
  CAIRN_RETURN_IF_ERROR(r.Finish());
  return g;
}

Result<QueryResult> ReadResult(const Json& j, const std::string& path) {
  ObjectReader r(j, path);
  CAIRN_RETURN_IF_ERROR(r.IsObject());
  QueryResult q;
  CAIRN_RETURN_IF_ERROR(r.String("query", q.query, kMaxNameBytes));
  std::string kind;
  CAIRN_RETURN_IF_ERROR(r.String("kind", kind, 16));
  auto k = ParseQueryKind(kind);
  if (!k) return r.Bad("kind", k.error().message());
  q.kind = *k;
  CAIRN_RETURN_IF_ERROR(r.String("column", q.column, kMaxColumnNameBytes));
  CAIRN_RETURN_IF_ERROR(r.String("group_by", q.group_by, kMaxColumnNameBytes));
  CAIRN_RETURN_IF_ERROR(r.Bool("noise", q.noise));
  CAIRN_RETURN_IF_ERROR(r.Double("epsilon", q.epsilon, std::numeric_limits<double>::infinity()));
  CAIRN_RETURN_IF_ERROR(r.Double("delta", q.delta, kNotAvailable));
  CAIRN_RETURN_IF_ERROR(r.U32("parties", q.parties));
  CAIRN_RETURN_IF_ERROR(r.U32("tables_per_person", q.tables_per_person));
  CAIRN_ASSIGN_OR_RETURN(const Json* stats, r.Array("statistics", 8));
  for (std::size_t i = 0; i < stats->size(); ++i) {
    ObjectReader s((*stats)[i], r.Path("statistics[" + std::to_string(i) + "]"));
    CAIRN_RETURN_IF_ERROR(s.IsObject());
    std::string name;
    CAIRN_RETURN_IF_ERROR(s.String("statistic", name, 32));
    StatisticNoise n;
    bool known = false;
    for (Statistic st : {Statistic::kRows, Statistic::kSum, Statistic::kSumSquares, Statistic::kCells,
                         Statistic::kPartyRows}) {
      if (StatisticName(st) == name) {
        n.statistic = st;
        known = true;
      }
    }
    if (!known) return s.Bad("statistic", "is unknown");
    CAIRN_RETURN_IF_ERROR(s.Double("l2_sensitivity", n.l2_sensitivity, kNotAvailable));
    CAIRN_RETURN_IF_ERROR(s.Double("stddev", n.stddev, kNotAvailable));
    CAIRN_RETURN_IF_ERROR(s.Finish());
    q.statistics.push_back(n);
  }
  CAIRN_ASSIGN_OR_RETURN(const Json* labels, r.Array("labels", kMaxBinEdges + 1));
  for (const auto& l : *labels) {
    if (!l.is_string()) return r.Bad("labels", "must be strings");
    q.labels.push_back(l.get<std::string>());
  }
  CAIRN_ASSIGN_OR_RETURN(const Json* spec, r.Field("spec"));
  if (!spec->is_object()) return r.Bad("spec", "must be an object");
  q.spec_json = spec->dump();
  CAIRN_ASSIGN_OR_RETURN(const Json* groups, r.Array("groups", kMaxGroups));
  for (std::size_t i = 0; i < groups->size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(GroupResult g, ReadGroup((*groups)[i], r.Path("groups[" + std::to_string(i) + "]")));
    q.groups.push_back(std::move(g));
  }
  CAIRN_RETURN_IF_ERROR(r.Finish());
  return q;
}

std::vector<std::string> StatisticLabels(const QueryResult& q) {
  if (q.kind == QueryKind::kHistogram || q.kind == QueryKind::kQuantiles) return q.labels;
  return {std::string(QueryKindName(q.kind))};
}

std::string GroupDisplay(const GroupResult& g) { return g.group.empty() ? "(all)" : g.group; }

}  // namespace

std::string ResultsToJson(const std::vector<QueryResult>& results) {
  Json out = Json::object();
  out["format"] = std::string(kResultsFormat);
  Json arr = Json::array();
  for (const auto& q : results) {
    Json j = Json::object();
    j["query"] = q.query;
    j["kind"] = std::string(QueryKindName(q.kind));
    j["column"] = q.column;
    j["group_by"] = q.group_by;
    j["noise"] = q.noise;
    j["epsilon"] = Number(q.epsilon);
    j["delta"] = Number(q.delta);
    j["parties"] = q.parties;
    j["tables_per_person"] = q.tables_per_person;
    Json stats = Json::array();
    for (const auto& s : q.statistics) {
      stats.push_back(Json{{"statistic", std::string(StatisticName(s.statistic))},
                           {"l2_sensitivity", Number(s.l2_sensitivity)},
                           {"stddev", Number(s.stddev)}});
    }
    j["statistics"] = stats;
    j["labels"] = q.labels;
    j["spec"] = q.spec_json.empty() ? Json::object() : Json::parse(q.spec_json, nullptr, false);
    if (j["spec"].is_discarded()) j["spec"] = Json::object();
    Json groups = Json::array();
    for (const auto& g : q.groups) {
      Json values = Json::array();
      for (double v : g.values) values.push_back(Number(v));
      groups.push_back(Json{{"group", g.group.empty() ? Json(nullptr) : Json(g.group)},
                            {"suppressed", g.suppressed},
                            {"suppressed_by", g.suppressed_by},
                            {"rows", Number(g.rows)},
                            {"value", Number(g.value)},
                            {"values", values},
                            {"stddev", Number(g.stddev)}});
    }
    j["groups"] = groups;
    arr.push_back(std::move(j));
  }
  out["results"] = arr;
  return out.dump(1) + "\n";
}

Result<std::vector<QueryResult>> ResultsFromJson(std::string_view text) {
  if (text.size() > kMaxResultsJsonBytes) {
    return Fail(ErrorCode::kInvalidArgument, "analytics results: " + std::to_string(text.size()) +
                                                 " bytes, above the limit of " + std::to_string(kMaxResultsJsonBytes));
  }
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "analytics results: not valid JSON");
  ObjectReader r(j, "");
  CAIRN_RETURN_IF_ERROR(r.IsObject());
  std::string format;
  CAIRN_RETURN_IF_ERROR(r.String("format", format, 64));
  if (format != kResultsFormat) return r.Bad("format", "must be \"" + std::string(kResultsFormat) + "\"");
  CAIRN_ASSIGN_OR_RETURN(const Json* arr, r.Array("results", kMaxQueries));
  std::vector<QueryResult> out;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(QueryResult q, ReadResult((*arr)[i], "results[" + std::to_string(i) + "]"));
    out.push_back(std::move(q));
  }
  CAIRN_RETURN_IF_ERROR(r.Finish());
  return out;
}

Status WriteResultsJson(const std::filesystem::path& path, const std::vector<QueryResult>& results) {
  return WriteFileAtomic(path, ResultsToJson(results));
}

std::vector<std::string> ResultsCsvHeader() {
  return {"query", "kind", "group", "statistic", "value", "stddev", "rows", "suppressed", "suppressed_by", "epsilon", "delta"};
}

std::vector<std::vector<std::string>> ResultsCsvRows(const std::vector<QueryResult>& results) {
  auto num = [](double v) { return std::isnan(v) ? std::string() : FormatNumber(v); };
  std::vector<std::vector<std::string>> rows;
  for (const auto& q : results) {
    const std::vector<std::string> stats = StatisticLabels(q);
    for (const auto& g : q.groups) {
      for (std::size_t s = 0; s < stats.size(); ++s) {
        double value = kNotAvailable;
        if (!g.suppressed) value = q.kind == QueryKind::kHistogram || q.kind == QueryKind::kQuantiles
                                       ? (s < g.values.size() ? g.values[s] : kNotAvailable)
                                       : g.value;
        rows.push_back({q.query, std::string(QueryKindName(q.kind)), g.group, stats[s], num(value),
                        g.suppressed ? "" : num(g.stddev), g.suppressed ? "" : num(g.rows),
                        g.suppressed ? "true" : "false", g.suppressed_by, num(q.epsilon), num(q.delta)});
      }
    }
  }
  return rows;
}

Status WriteResultsCsv(const std::filesystem::path& path, const std::vector<QueryResult>& results) {
  return data::WriteCsvFile(path, ResultsCsvHeader(), ResultsCsvRows(results));
}

std::string FormatTable(const std::vector<QueryResult>& results) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"query", "group", "statistic", "value", "±noise", "rows", "ε"});
  for (const auto& q : results) {
    const std::vector<std::string> stats = StatisticLabels(q);
    for (const auto& g : q.groups) {
      if (g.suppressed) {
        rows.push_back({q.query, GroupDisplay(g), stats.size() == 1 ? stats[0] : "*",
                        "suppressed (" + g.suppressed_by + ")", "", "", Display(q.epsilon)});
        continue;
      }
      for (std::size_t s = 0; s < stats.size(); ++s) {
        const bool vector = q.kind == QueryKind::kHistogram || q.kind == QueryKind::kQuantiles;
        const double v = vector ? (s < g.values.size() ? g.values[s] : kNotAvailable) : g.value;
        rows.push_back({q.query, GroupDisplay(g), stats[s], Display(v), Display(g.stddev), Display(g.rows),
                        q.noise ? Display(q.epsilon) : "exact"});
      }
    }
  }
  // Column widths in characters (the header's "±" and "ε" are two bytes each in UTF-8).
  auto width = [](const std::string& s) {
    std::size_t w = 0;
    for (unsigned char c : s) w += (c & 0xC0) != 0x80;
    return w;
  };
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < r.size(); ++c) widths[c] = std::max(widths[c], width(r[c]));
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      const std::size_t pad = widths[c] - width(r[c]);
      const bool right = c >= 3;  // numbers right-aligned
      if (right) line.append(pad, ' ');
      line += r[c];
      if (!right && c + 1 < r.size()) line.append(pad, ' ');
      if (c + 1 < r.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace cairn::analytics
