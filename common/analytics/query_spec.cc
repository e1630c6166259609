#include "common/analytics/query_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

namespace cairn::analytics {
namespace {

// Names a field in messages: "file:12: key 'queries[0].clamp'" when parsing, "query 'q': field
// 'clamp'" for specs built in code.
using WhereFn = std::function<std::string(std::string_view field)>;

std::unexpected<Error> Invalid(const std::string& where, const std::string& what) {
  return Fail(ErrorCode::kInvalidArgument, where + " " + what);
}

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool IsValidQueryName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameBytes && std::all_of(name.begin(), name.end(), IsNameChar);
}

// Column names come from CSV headers: any non-empty text without control characters.
bool IsValidColumnName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxColumnNameBytes &&
         std::none_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

bool IsOrdering(CompareOp op) {
  return op == CompareOp::kLt || op == CompareOp::kLe || op == CompareOp::kGt || op == CompareOp::kGe;
}

bool KindHasValue(QueryKind k) { return k != QueryKind::kCount; }
bool KindUsesClampSums(QueryKind k) {
  return k == QueryKind::kSum || k == QueryKind::kMean || k == QueryKind::kVariance;
}

Status ValidatePredicate(const Predicate& p, const WhereFn& where) {
  if (!IsValidColumnName(p.column)) {
    return Invalid(where("column"), "must be a column name of 1 to " + std::to_string(kMaxColumnNameBytes) +
                                        " bytes without control characters");
  }
  if (p.op == CompareOp::kIn) {
    if (p.operands.empty() || p.operands.size() > kMaxInValues) {
      return Invalid(where("values"), "must list 1 to " + std::to_string(kMaxInValues) + " values for op \"in\"");
    }
  } else if (p.operands.size() != 1) {
    return Invalid(where("value"), "must be one value for op \"" + std::string(CompareOpName(p.op)) + "\"");
  }
  const bool numeric = std::holds_alternative<double>(p.operands.front());
  const char* field = p.op == CompareOp::kIn ? "values" : "value";
  for (const Literal& l : p.operands) {
    if (std::holds_alternative<double>(l) != numeric) {
      return Invalid(where(field), "must be all numbers or all strings");
    }
    if (const double* d = std::get_if<double>(&l); d != nullptr && !std::isfinite(*d)) {
      return Invalid(where(field), "must be finite");
    }
    if (const std::string* s = std::get_if<std::string>(&l); s != nullptr && s->size() > kMaxLiteralBytes) {
      return Invalid(where(field), "has a string longer than " + std::to_string(kMaxLiteralBytes) + " bytes");
    }
  }
  if (!numeric && IsOrdering(p.op)) {
    return Invalid(where("op"), "\"" + std::string(CompareOpName(p.op)) +
                                    "\" compares numbers; a string value allows only =, != and in");
  }
  return Ok();
}

Status ValidateEdges(const std::vector<double>& edges, const WhereFn& where) {
  if (edges.size() < 2 || edges.size() > kMaxBinEdges) {
    return Invalid(where("bins"), "must list 2 to " + std::to_string(kMaxBinEdges) + " edges");
  }
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (!std::isfinite(edges[i]) || std::abs(edges[i]) > kMaxAbsValue) {
      return Invalid(where("bins"), "element " + std::to_string(i) + " must be finite with |x| <= 1e15");
    }
    if (i > 0 && !(edges[i] > edges[i - 1])) {
      return Invalid(where("bins"), "must be strictly increasing (element " + std::to_string(i) + " is not)");
    }
  }
  return Ok();
}

Status ValidateImpl(const QuerySpec& s, const WhereFn& where, const WhereFn& where_predicate_base) {
  if (!IsValidQueryName(s.name)) {
    return Invalid(where("name"), "must be 1 to " + std::to_string(kMaxNameBytes) + " characters of [A-Za-z0-9._-]");
  }
  const std::string kind(QueryKindName(s.kind));
  if (KindHasValue(s.kind)) {
    if (!IsValidColumnName(s.column)) {
      return Invalid(where("column"), "is required for kind \"" + kind + "\": a column name of 1 to " +
                                          std::to_string(kMaxColumnNameBytes) + " bytes without control characters");
    }
  } else if (!s.column.empty()) {
    return Invalid(where("column"), "is not used by kind \"count\" (it counts rows)");
  }

  if (s.group_by.empty()) {
    if (!s.groups.empty()) return Invalid(where("groups"), "needs group_by");
  } else {
    if (!IsValidColumnName(s.group_by)) {
      return Invalid(where("group_by"), "must be a column name of 1 to " + std::to_string(kMaxColumnNameBytes) +
                                            " bytes without control characters");
    }
    if (s.groups.empty() || s.groups.size() > kMaxGroups) {
      return Invalid(where("groups"), "must list 1 to " + std::to_string(kMaxGroups) +
                                          " group values with group_by (the public list of released groups)");
    }
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < s.groups.size(); ++i) {
      const std::string& g = s.groups[i];
      if (g.empty() || g.size() > kMaxGroupValueBytes) {
        return Invalid(where("groups"), "element " + std::to_string(i) + " must be 1 to " +
                                            std::to_string(kMaxGroupValueBytes) + " bytes");
      }
      if (!seen.insert(g).second) {
        return Invalid(where("groups"), "lists \"" + g + "\" twice");
      }
    }
  }

  if (s.where.size() > kMaxPredicates) {
    return Invalid(where("where"), "has more than " + std::to_string(kMaxPredicates) + " predicates");
  }
  for (std::size_t i = 0; i < s.where.size(); ++i) {
    const std::string base = "where[" + std::to_string(i) + "].";
    CAIRN_RETURN_IF_ERROR(ValidatePredicate(
        s.where[i], [&](std::string_view f) { return where_predicate_base(base + std::string(f)); }));
  }

  // Value range, bins, quantiles: which the kind uses.
  const bool quantiles = s.kind == QueryKind::kQuantiles;
  if (s.clamp) {
    if (!KindUsesClampSums(s.kind) && !quantiles) {
      return Invalid(where("clamp"), "is not used by kind \"" + kind + "\"" +
                                         (s.kind == QueryKind::kHistogram ? " (bins bound the values)" : ""));
    }
    if (quantiles && !s.bins.empty()) {
      return Invalid(where("clamp"), "and bins are alternatives for quantiles: give one");
    }
    const Range& r = *s.clamp;
    if (!std::isfinite(r.low) || !std::isfinite(r.high) || std::abs(r.low) > kMaxAbsValue ||
        std::abs(r.high) > kMaxAbsValue || !(r.low < r.high)) {
      return Invalid(where("clamp"), "must be [low, high] with finite low < high and |x| <= 1e15");
    }
  } else if (KindUsesClampSums(s.kind)) {
    return Invalid(where("clamp"), "is required for kind \"" + kind +
                                       "\": [low, high] bounds each row's contribution (the sensitivity)");
  }
  if (!s.bins.empty()) {
    if (s.kind != QueryKind::kHistogram && !quantiles) {
      return Invalid(where("bins"), "is not used by kind \"" + kind + "\"");
    }
    CAIRN_RETURN_IF_ERROR(ValidateEdges(s.bins, where));
  } else if (s.kind == QueryKind::kHistogram) {
    return Invalid(where("bins"), "is required for kind \"histogram\" (the bin edges)");
  } else if (quantiles && !s.clamp) {
    return Invalid(where("clamp"), "or bins is required for kind \"quantiles\" (the histogram the quantiles are read from)");
  }
  if (quantiles) {
    if (s.quantiles.empty() || s.quantiles.size() > kMaxQuantileLevels) {
      return Invalid(where("quantiles"), "must list 1 to " + std::to_string(kMaxQuantileLevels) + " levels");
    }
    for (std::size_t i = 0; i < s.quantiles.size(); ++i) {
      const double q = s.quantiles[i];
      if (!(q >= 0.0 && q <= 1.0)) {
        return Invalid(where("quantiles"), "element " + std::to_string(i) + " must be in [0, 1]");
      }
      if (i > 0 && !(q > s.quantiles[i - 1])) {
        return Invalid(where("quantiles"), "must be strictly increasing (element " + std::to_string(i) + " is not)");
      }
    }
    if (s.clamp) {
      if (s.grid_bins < 2 || s.grid_bins > kMaxGridBins) {
        return Invalid(where("grid_bins"), "must be in [2, " + std::to_string(kMaxGridBins) + "]");
      }
    } else if (s.grid_bins != 0) {
      return Invalid(where("grid_bins"), "is used only with clamp (bins give the cells)");
    }
  } else {
    if (!s.quantiles.empty()) return Invalid(where("quantiles"), "is used only by kind \"quantiles\"");
    if (s.grid_bins != 0) return Invalid(where("grid_bins"), "is used only by kind \"quantiles\"");
  }

  if (s.noise) {
    if (!std::isfinite(s.epsilon) || !(s.epsilon > 0.0) || s.epsilon > kMaxQueryEpsilon) {
      return Invalid(where("epsilon"), "must be in (0, " + FormatNumber(kMaxQueryEpsilon) + "]");
    }
  } else if (s.epsilon != 0.0 && (!std::isfinite(s.epsilon) || !(s.epsilon > 0.0) || s.epsilon > kMaxQueryEpsilon)) {
    return Invalid(where("epsilon"), "must be in (0, " + FormatNumber(kMaxQueryEpsilon) + "]");
  }
  if (s.min_rows < 1 || s.min_rows > kMaxMinRows) {
    return Invalid(where("min_rows"), "must be in [1, 1e12]");
  }
  if (s.min_parties < 1 || s.min_parties > kMaxParties) {
    return Invalid(where("min_parties"), "must be in [1, " + std::to_string(kMaxParties) + "]");
  }
  if (s.min_parties >= 2) {
    if (s.min_rows_per_party < 1 || s.min_rows_per_party > kMaxMinRows) {
      return Invalid(where("min_rows_per_party"), "must be in [1, 1e12]");
    }
  } else if (s.min_rows_per_party != 0) {
    return Invalid(where("min_rows_per_party"), "is used only with min_parties >= 2");
  }
  if (s.max_tables_per_person > kMaxParties) {
    return Invalid(where("max_tables_per_person"), "must be in [1, " + std::to_string(kMaxParties) + "]");
  }
  const std::size_t cells = s.num_groups() * (3 + s.num_cells());
  if (cells > kMaxPartialCells) {
    return Invalid(where(s.group_by.empty() ? "bins" : "groups"),
                   "give " + std::to_string(cells) + " numbers per party (groups x (3 + cells)), above the limit of " +
                       std::to_string(kMaxPartialCells));
  }
  return Ok();
}

// --- Parsing ---------------------------------------------------------------------------------

Result<Predicate> ParsePredicate(TomlReader& t) {
  Predicate p;
  CAIRN_RETURN_IF_ERROR(t.Require("column", p.column));
  std::string op;
  CAIRN_RETURN_IF_ERROR(t.Require("op", op));
  static const std::vector<std::string> kOps = {"=", "!=", "<", "<=", ">", ">=", "in"};
  CAIRN_RETURN_IF_ERROR(t.GetEnum("op", op, kOps));
  for (CompareOp o : {CompareOp::kEq, CompareOp::kNe, CompareOp::kLt, CompareOp::kLe, CompareOp::kGt,
                      CompareOp::kGe, CompareOp::kIn}) {
    if (CompareOpName(o) == op) p.op = o;
  }
  if (p.op == CompareOp::kIn) {
    if (t.Has("value")) return Invalid(t.Where("value"), "is not used by op \"in\" (give values = [...])");
    if (!t.Has("values")) return Invalid(t.Where("op"), "\"in\" needs values = [...]");
    std::vector<double> numbers;
    if (t.Get("values", numbers)) {
      for (double d : numbers) p.operands.emplace_back(d);
    } else {
      std::vector<std::string> strings;
      if (!t.Get("values", strings)) {
        return Invalid(t.Where("values"), "must be an array of numbers or an array of strings");
      }
      for (auto& s : strings) p.operands.emplace_back(std::move(s));
    }
  } else {
    if (t.Has("values")) return Invalid(t.Where("values"), "is used only by op \"in\" (give value = ...)");
    if (!t.Has("value")) return Invalid(t.Where("op"), "\"" + op + "\" needs value = ...");
    double number = 0;
    if (t.Get("value", number, -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity())) {
      p.operands.emplace_back(number);
    } else {
      std::string text;
      if (!t.Get("value", text)) return Invalid(t.Where("value"), "must be a number or a string");
      p.operands.emplace_back(std::move(text));
    }
  }
  CAIRN_RETURN_IF_ERROR(t.Finish());
  CAIRN_RETURN_IF_ERROR(ValidatePredicate(p, [&](std::string_view f) { return t.Where(f); }));
  return p;
}

Result<QuerySpec> ParseQueryFields(TomlReader& t) {
  QuerySpec s;
  CAIRN_RETURN_IF_ERROR(t.Require("name", s.name));
  if (!IsValidQueryName(s.name)) {
    return Invalid(t.Where("name"), "must be 1 to " + std::to_string(kMaxNameBytes) + " characters of [A-Za-z0-9._-]");
  }
  std::string kind;
  CAIRN_RETURN_IF_ERROR(t.Require("kind", kind));
  CAIRN_RETURN_IF_ERROR(t.GetEnum("kind", kind, {"count", "sum", "mean", "variance", "histogram", "quantiles"}));
  CAIRN_ASSIGN_OR_RETURN(s.kind, ParseQueryKind(kind));

  CAIRN_RETURN_IF_ERROR(t.Get("column", s.column));
  if (t.Has("column") && s.column.empty()) return Invalid(t.Where("column"), "must not be empty");
  CAIRN_RETURN_IF_ERROR(t.Get("group_by", s.group_by));
  if (t.Has("group_by") && s.group_by.empty()) return Invalid(t.Where("group_by"), "must not be empty");
  CAIRN_RETURN_IF_ERROR(t.Get("groups", s.groups));
  if (t.Has("groups") && !t.Has("group_by")) return Invalid(t.Where("groups"), "needs group_by");
  if (t.Has("group_by") && !t.Has("groups")) {
    return Invalid(t.Where("group_by"), "needs groups = [...]: the public list of group values to release");
  }

  if (t.Has("where")) {
    // An empty array `where = []` is not an array of tables for toml++; accept it as no predicate.
    std::vector<std::string> empty_probe;
    const bool empty = t.Get("where", empty_probe).has_value() && empty_probe.empty();
    if (!empty) {
      CAIRN_ASSIGN_OR_RETURN(auto preds, t.TableArray("where"));
      if (preds.size() > kMaxPredicates) {
        return Invalid(t.Where("where"), "has more than " + std::to_string(kMaxPredicates) + " predicates");
      }
      for (auto& p : preds) {
        CAIRN_ASSIGN_OR_RETURN(Predicate pred, ParsePredicate(p));
        s.where.push_back(std::move(pred));
      }
    }
  }

  if (t.Has("clamp")) {
    std::vector<double> c;
    CAIRN_RETURN_IF_ERROR(t.Get("clamp", c));
    if (c.size() != 2) return Invalid(t.Where("clamp"), "must be [low, high]");
    s.clamp = Range{c[0], c[1]};
  }
  CAIRN_RETURN_IF_ERROR(t.Get("bins", s.bins));
  if (t.Has("bins") && s.bins.empty()) return Invalid(t.Where("bins"), "must list 2 to " + std::to_string(kMaxBinEdges) + " edges");
  CAIRN_RETURN_IF_ERROR(t.Get("quantiles", s.quantiles));
  if (t.Has("quantiles") && s.quantiles.empty()) return Invalid(t.Where("quantiles"), "must list 1 to " + std::to_string(kMaxQuantileLevels) + " levels");
  if (t.Has("grid_bins")) {
    if (s.kind != QueryKind::kQuantiles || !s.clamp) {
      return Invalid(t.Where("grid_bins"), "is used only by kind \"quantiles\" with clamp");
    }
    CAIRN_RETURN_IF_ERROR(t.Get("grid_bins", s.grid_bins, 2u, kMaxGridBins));
  } else if (s.kind == QueryKind::kQuantiles && s.clamp) {
    s.grid_bins = kDefaultGridBins;
  }

  CAIRN_RETURN_IF_ERROR(t.Get("noise", s.noise));
  if (s.noise && !t.Has("epsilon")) {
    return Invalid(t.Where("epsilon"), "is required (this query's ε; noise = false is for tests only)");
  }
  CAIRN_RETURN_IF_ERROR(t.Get("epsilon", s.epsilon, 0.0, kMaxQueryEpsilon));
  if (t.Has("epsilon") && !(s.epsilon > 0.0)) return Invalid(t.Where("epsilon"), "must be > 0");

  std::int64_t min_rows = 1;
  CAIRN_RETURN_IF_ERROR(t.Get("min_rows", min_rows, 1, static_cast<std::int64_t>(kMaxMinRows)));
  s.min_rows = static_cast<std::uint64_t>(min_rows);
  CAIRN_RETURN_IF_ERROR(t.Get("min_parties", s.min_parties, 1u, kMaxParties));
  if (t.Has("min_rows_per_party")) {
    if (s.min_parties < 2) return Invalid(t.Where("min_rows_per_party"), "is used only with min_parties >= 2");
    std::int64_t v = 1;
    CAIRN_RETURN_IF_ERROR(t.Get("min_rows_per_party", v, 1, static_cast<std::int64_t>(kMaxMinRows)));
    s.min_rows_per_party = static_cast<std::uint64_t>(v);
  } else if (s.min_parties >= 2) {
    s.min_rows_per_party = std::max<std::uint64_t>(1, (s.min_rows + s.min_parties - 1) / s.min_parties);
  }
  CAIRN_RETURN_IF_ERROR(t.Get("max_tables_per_person", s.max_tables_per_person, 1u, kMaxParties));

  CAIRN_RETURN_IF_ERROR(t.Finish());
  CAIRN_RETURN_IF_ERROR(ValidateImpl(s, [&](std::string_view f) { return t.Where(f); },
                                     [&](std::string_view f) { return t.Where("where") + " (" + std::string(f) + ")"; }));
  return s;
}

std::string Percent(double q) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "p%.6g", q * 100.0);
  return buf;
}

}  // namespace

std::string FormatNumber(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  if (ec != std::errc()) return "?";
  return std::string(buf, ptr);
}

std::string_view QueryKindName(QueryKind kind) {
  switch (kind) {
    case QueryKind::kCount: return "count";
    case QueryKind::kSum: return "sum";
    case QueryKind::kMean: return "mean";
    case QueryKind::kVariance: return "variance";
    case QueryKind::kHistogram: return "histogram";
    case QueryKind::kQuantiles: return "quantiles";
  }
  return "unknown";
}

Result<QueryKind> ParseQueryKind(std::string_view name) {
  for (QueryKind k : {QueryKind::kCount, QueryKind::kSum, QueryKind::kMean, QueryKind::kVariance,
                      QueryKind::kHistogram, QueryKind::kQuantiles}) {
    if (QueryKindName(k) == name) return k;
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown query kind '" + std::string(name) +
                                               "' (count, sum, mean, variance, histogram, quantiles)");
}

std::string_view CompareOpName(CompareOp op) {
  switch (op) {
    case CompareOp::kEq: return "=";
    case CompareOp::kNe: return "!=";
    case CompareOp::kLt: return "<";
    case CompareOp::kLe: return "<=";
    case CompareOp::kGt: return ">";
    case CompareOp::kGe: return ">=";
    case CompareOp::kIn: return "in";
  }
  return "?";
}

std::size_t QuerySpec::num_cells() const {
  if (kind == QueryKind::kHistogram) return bins.size() < 2 ? 0 : bins.size() + 1;
  if (kind == QueryKind::kQuantiles) return bins.empty() ? grid_bins : bins.size() - 1;
  return 0;
}

std::vector<double> QuerySpec::CellEdges() const {
  if (kind == QueryKind::kHistogram) return bins;
  if (kind != QueryKind::kQuantiles) return {};
  if (!bins.empty() || !clamp || grid_bins == 0) return bins;
  std::vector<double> edges(grid_bins + 1);
  const double width = clamp->high - clamp->low;
  for (std::uint32_t i = 0; i < grid_bins; ++i) {
    edges[i] = clamp->low + width * (static_cast<double>(i) / static_cast<double>(grid_bins));
  }
  edges[grid_bins] = clamp->high;
  return edges;
}

std::vector<std::string> QuerySpec::ReferencedColumns() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& c) {
    if (!c.empty() && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  add(column);
  add(group_by);
  for (const auto& p : where) add(p.column);
  return out;
}

Result<QuerySpec> ParseQuery(TomlReader& table, std::size_t index) {
  std::string label = "queries[" + std::to_string(index) + "]";
  std::string name;
  if (table.Has("name") && table.Get("name", name)) label = "query '" + name + "' (" + label + ")";
  auto spec = ParseQueryFields(table);
  if (!spec) return Fail(std::move(spec.error()).Context(label));
  return spec;
}

Result<std::vector<QuerySpec>> ParseQueries(TomlReader& root) {
  CAIRN_ASSIGN_OR_RETURN(auto tables, root.TableArray("queries"));
  if (tables.size() > kMaxQueries) {
    return Invalid(root.Where("queries"), "lists " + std::to_string(tables.size()) + " queries, above the limit of " +
                                              std::to_string(kMaxQueries));
  }
  std::vector<QuerySpec> specs;
  std::map<std::string, std::size_t, std::less<>> names;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(QuerySpec s, ParseQuery(tables[i], i));
    if (auto [it, fresh] = names.emplace(s.name, i); !fresh) {
      return Fail(ErrorCode::kInvalidArgument,
                  "query '" + s.name + "' (queries[" + std::to_string(i) + "]): " + tables[i].Where("name") +
                      " repeats the name of queries[" + std::to_string(it->second) + "]");
    }
    specs.push_back(std::move(s));
  }
  return specs;
}

Status ValidateQuerySpec(const QuerySpec& spec) {
  const std::string q = "query '" + spec.name + "':";
  return ValidateImpl(spec, [&](std::string_view f) { return q + " field '" + std::string(f) + "'"; },
                      [&](std::string_view f) { return q + " field '" + std::string(f) + "'"; });
}

std::string QuerySpecToJson(const QuerySpec& s) {
  using Json = nlohmann::json;
  Json j = Json::object();
  j["name"] = s.name;
  j["kind"] = std::string(QueryKindName(s.kind));
  j["column"] = s.column;
  j["group_by"] = s.group_by;
  j["groups"] = s.groups;
  Json where = Json::array();
  for (const auto& p : s.where) {
    Json ops = Json::array();
    for (const auto& l : p.operands) {
      if (const double* d = std::get_if<double>(&l)) {
        ops.push_back(*d);
      } else {
        ops.push_back(std::get<std::string>(l));
      }
    }
    where.push_back(Json{{"column", p.column}, {"op", std::string(CompareOpName(p.op))}, {"operands", ops}});
  }
  j["where"] = where;
  j["clamp"] = s.clamp ? Json::array({s.clamp->low, s.clamp->high}) : Json(nullptr);
  j["bins"] = s.bins;
  j["quantiles"] = s.quantiles;
  j["grid_bins"] = s.grid_bins;
  j["epsilon"] = s.epsilon;
  j["noise"] = s.noise;
  j["min_rows"] = s.min_rows;
  j["min_parties"] = s.min_parties;
  j["min_rows_per_party"] = s.min_rows_per_party;
  j["max_tables_per_person"] = s.max_tables_per_person;
  return j.dump();
}

std::vector<std::string> CellLabels(const QuerySpec& s) {
  std::vector<std::string> out;
  const std::vector<double> e = s.CellEdges();
  if (e.size() < 2) return out;
  const bool histogram = s.kind == QueryKind::kHistogram;
  if (histogram) out.push_back("<" + FormatNumber(e.front()));
  for (std::size_t i = 0; i + 1 < e.size(); ++i) {
    const bool last = i + 2 == e.size();
    out.push_back("[" + FormatNumber(e[i]) + "," + FormatNumber(e[i + 1]) + (last ? "]" : ")"));
  }
  if (histogram) out.push_back(">" + FormatNumber(e.back()));
  return out;
}

std::vector<std::string> QuantileLabels(const QuerySpec& s) {
  std::vector<std::string> out;
  for (double q : s.quantiles) out.push_back(Percent(q));
  return out;
}

}  // namespace cairn::analytics
