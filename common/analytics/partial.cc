#include "common/analytics/partial.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>
#include <unordered_map>

namespace cairn::analytics {
namespace {

// A predicate bound to a column index, with its literals in the form the comparison needs.
struct CompiledPredicate {
  std::size_t column = 0;
  CompareOp op = CompareOp::kEq;
  bool numeric = false;
  std::vector<double> numbers;
  std::vector<std::string> strings;
};

Result<std::size_t> Column(const Table& table, const std::string& name, const QuerySpec& spec) {
  if (auto c = table.FindColumn(name)) return *c;
  return Fail(ErrorCode::kInvalidArgument, "query '" + spec.name + "': " + table.source_name() +
                                               " has no column '" + name + "' in its header row");
}

// A cell of a column that passed Table::CheckNumberColumn: its number, or nothing for a missing
// (empty) value. Never an error, so nothing here can depend on which rows a query selects.
std::optional<double> NumberOrMissing(std::string_view cell) {
  if (cell.empty()) return std::nullopt;
  auto x = ParseNumberCell(cell);
  if (!x) return std::nullopt;  // unreachable after CheckNumberColumn; excluded, never an error
  return *x;
}

bool CompareNumber(CompareOp op, double x, const std::vector<double>& lits) {
  switch (op) {
    case CompareOp::kEq: return x == lits[0];
    case CompareOp::kNe: return x != lits[0];
    case CompareOp::kLt: return x < lits[0];
    case CompareOp::kLe: return x <= lits[0];
    case CompareOp::kGt: return x > lits[0];
    case CompareOp::kGe: return x >= lits[0];
    case CompareOp::kIn: return std::find(lits.begin(), lits.end(), x) != lits.end();
  }
  return false;
}

bool CompareString(CompareOp op, std::string_view x, const std::vector<std::string>& lits) {
  switch (op) {
    case CompareOp::kEq: return x == lits[0];
    case CompareOp::kNe: return x != lits[0];
    case CompareOp::kIn: return std::find(lits.begin(), lits.end(), x) != lits.end();
    default: return false;  // ordering on strings is refused at load
  }
}

std::unexpected<Error> BadPartial(const std::string& what) {
  return Fail(ErrorCode::kInvalidArgument, "partial: " + what);
}

// Big-endian reader over untrusted bytes; every read checks the remaining length.
class Reader {
 public:
  explicit Reader(ByteSpan b) : b_(b) {}
  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return b_.size() - pos_; }
  bool Read(std::uint64_t& v, std::size_t width) {
    if (remaining() < width) return false;
    v = 0;
    for (std::size_t i = 0; i < width; ++i) v = (v << 8) | b_[pos_ + i];
    pos_ += width;
    return true;
  }
  bool ReadBytes(std::string& out, std::size_t n) {
    if (remaining() < n) return false;
    out.assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return true;
  }

 private:
  ByteSpan b_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<Partial> ComputePartial(const QuerySpec& spec, const Table& table) {
  CAIRN_RETURN_IF_ERROR(ValidateQuerySpec(spec));
  const bool has_value = spec.kind != QueryKind::kCount;
  std::size_t value_col = 0;
  if (has_value) {
    CAIRN_ASSIGN_OR_RETURN(value_col, Column(table, spec.column, spec));
  }
  std::size_t group_col = 0;
  std::unordered_map<std::string_view, std::size_t> group_index;
  if (!spec.group_by.empty()) {
    CAIRN_ASSIGN_OR_RETURN(group_col, Column(table, spec.group_by, spec));
    for (std::size_t g = 0; g < spec.groups.size(); ++g) group_index.emplace(spec.groups[g], g);
  }
  std::vector<CompiledPredicate> preds;
  for (const auto& p : spec.where) {
    CompiledPredicate c;
    CAIRN_ASSIGN_OR_RETURN(c.column, Column(table, p.column, spec));
    c.op = p.op;
    c.numeric = std::holds_alternative<double>(p.operands.front());
    for (const auto& l : p.operands) {
      if (c.numeric) {
        c.numbers.push_back(std::get<double>(l));
      } else {
        c.strings.push_back(std::get<std::string>(l));
      }
    }
    preds.push_back(std::move(c));
  }

  // Every column the query reads as numbers is checked over the WHOLE table before any row is
  // filtered: whether this fails depends on the spec's columns and the table, never on which rows
  // the predicates select (otherwise the party's decline would answer a yes/no question about its
  // rows, exactly and uncharged).
  std::vector<std::size_t> numeric_cols;
  auto add_numeric = [&](std::size_t c) {
    if (std::find(numeric_cols.begin(), numeric_cols.end(), c) == numeric_cols.end()) numeric_cols.push_back(c);
  };
  if (has_value) add_numeric(value_col);
  for (const auto& p : preds) {
    if (p.numeric) add_numeric(p.column);
  }
  for (std::size_t c : numeric_cols) {
    if (auto ok = table.CheckNumberColumn(c); !ok) {
      return Fail(ErrorCode::kInvalidArgument, "query '" + spec.name + "': " + ok.error().message());
    }
  }

  const std::vector<double> edges = spec.CellEdges();
  const std::size_t cells = spec.num_cells();
  const bool histogram = spec.kind == QueryKind::kHistogram;
  const bool quantiles = spec.kind == QueryKind::kQuantiles;
  const bool sums = spec.kind == QueryKind::kSum || spec.kind == QueryKind::kMean || spec.kind == QueryKind::kVariance;
  const bool squares = spec.kind == QueryKind::kVariance;

  Partial out;
  out.query = spec.name;
  out.kind = spec.kind;
  out.groups.resize(spec.num_groups());
  for (auto& g : out.groups) g.cells.assign(cells, 0);

  // From here on nothing fails: a row is counted, or excluded.
  for (std::size_t r = 0; r < table.num_rows(); ++r) {
    bool pass = true;
    for (const auto& p : preds) {
      const std::string_view cell = table.cell(r, p.column);
      if (p.numeric) {
        const std::optional<double> x = NumberOrMissing(cell);
        pass = x.has_value() && CompareNumber(p.op, *x, p.numbers);  // missing: no comparison holds
      } else {
        pass = CompareString(p.op, cell, p.strings);
      }
      if (!pass) break;
    }
    if (!pass) continue;
    std::size_t g = 0;
    if (!spec.group_by.empty()) {
      auto it = group_index.find(table.cell(r, group_col));
      if (it == group_index.end()) continue;  // not a listed group: ignored
      g = it->second;
    }
    GroupPartial& gp = out.groups[g];
    if (!has_value) {
      ++gp.rows;
      continue;
    }
    const std::optional<double> value = NumberOrMissing(table.cell(r, value_col));
    if (!value) continue;  // a missing value: the row is excluded (not counted in rows either)
    ++gp.rows;
    double x = *value;
    if (sums) {
      x = std::clamp(x, spec.clamp->low, spec.clamp->high);
      gp.sum += x;
      if (squares) gp.sum_squares += x * x;
      continue;
    }
    const std::size_t n = edges.size() - 1;  // bins
    if (quantiles) x = std::clamp(x, edges.front(), edges.back());
    // Number of edges ≤ x: 0 below e_0, i + 1 inside [e_i, e_{i+1}), n + 1 at or above e_n.
    std::size_t idx = static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin());
    if (x == edges.back()) idx = n;  // the last bin is closed
    if (histogram) {
      gp.cells[idx] += 1;  // 0 = underflow, 1..n = bins, n + 1 = overflow
    } else {
      gp.cells[idx - 1] += 1;
    }
  }
  return out;
}

Status ValidatePartial(const Partial& p, const QuerySpec& spec) {
  if (p.query != spec.name) return BadPartial("is for query '" + p.query.substr(0, kMaxNameBytes) + "', expected '" + spec.name + "'");
  if (p.kind != spec.kind) {
    return BadPartial("query '" + spec.name + "': kind " + std::string(QueryKindName(p.kind)) + ", expected " +
                      std::string(QueryKindName(spec.kind)));
  }
  if (p.groups.size() != spec.num_groups()) {
    return BadPartial("query '" + spec.name + "': " + std::to_string(p.groups.size()) + " groups, expected " +
                      std::to_string(spec.num_groups()));
  }
  const std::size_t cells = spec.num_cells();
  double bound = 0;  // max |clamp(x)|
  if (spec.clamp) bound = std::max(std::abs(spec.clamp->low), std::abs(spec.clamp->high));
  const bool sums = spec.kind == QueryKind::kSum || spec.kind == QueryKind::kMean || spec.kind == QueryKind::kVariance;
  for (std::size_t g = 0; g < p.groups.size(); ++g) {
    const GroupPartial& gp = p.groups[g];
    const std::string at = "query '" + spec.name + "' group " + std::to_string(g) + ": ";
    if (gp.rows > kMaxPartialRows) return BadPartial(at + "rows above the limit of 2^40");
    if (!std::isfinite(gp.sum) || !std::isfinite(gp.sum_squares)) return BadPartial(at + "a sum is not finite");
    const double rows = static_cast<double>(gp.rows);
    // Summation rounding can exceed rows·bound by a relative 1e-16 per row; allow 1e-9.
    const double slack = 1e-9 * rows * bound * std::max(1.0, bound);
    if (sums) {
      if (gp.sum < rows * spec.clamp->low - slack || gp.sum > rows * spec.clamp->high + slack) {
        return BadPartial(at + "sum outside rows x clamp");
      }
    } else if (gp.sum != 0.0) {
      return BadPartial(at + "sum must be 0 for kind " + std::string(QueryKindName(spec.kind)));
    }
    if (spec.kind == QueryKind::kVariance) {
      if (gp.sum_squares < 0.0 || gp.sum_squares > rows * bound * bound + slack) {
        return BadPartial(at + "sum_squares outside [0, rows x clamp^2]");
      }
    } else if (gp.sum_squares != 0.0) {
      return BadPartial(at + "sum_squares must be 0 for kind " + std::string(QueryKindName(spec.kind)));
    }
    if (gp.cells.size() != cells) {
      return BadPartial(at + std::to_string(gp.cells.size()) + " cells, expected " + std::to_string(cells));
    }
    if (cells > 0) {
      std::uint64_t total = 0;
      for (std::uint64_t c : gp.cells) {
        if (c > gp.rows || total > gp.rows - c) return BadPartial(at + "cells add up to more than rows");
        total += c;
      }
      if (total != gp.rows) return BadPartial(at + "cells add up to " + std::to_string(total) + ", rows is " + std::to_string(gp.rows));
    }
  }
  return Ok();
}

Result<Bytes> EncodePartial(const Partial& p) {
  if (p.query.empty() || p.query.size() > kMaxNameBytes) return BadPartial("query name must be 1 to 64 bytes");
  const std::size_t cells = p.groups.empty() ? 0 : p.groups.front().cells.size();
  if (p.groups.empty() || p.groups.size() > kMaxGroups) return BadPartial("must have 1 to 1000 groups");
  if (p.groups.size() * (3 + cells) > kMaxPartialCells) return BadPartial("has more numbers than kMaxPartialCells");
  Bytes out;
  out.reserve(16 + p.query.size() + 8 * p.groups.size() * (3 + cells));
  AppendBytes(out, AsBytes("CAPT"));
  AppendU16(out, kPartialVersion);
  AppendU8(out, static_cast<std::uint8_t>(p.kind));
  AppendU8(out, 0);
  AppendLengthPrefixed(out, p.query);
  AppendU32(out, static_cast<std::uint32_t>(p.groups.size()));
  AppendU32(out, static_cast<std::uint32_t>(cells));
  for (const auto& g : p.groups) {
    if (g.cells.size() != cells) return BadPartial("groups have different numbers of cells");
    AppendU64(out, g.rows);
    AppendU64(out, std::bit_cast<std::uint64_t>(g.sum));
    AppendU64(out, std::bit_cast<std::uint64_t>(g.sum_squares));
    for (std::uint64_t c : g.cells) AppendU64(out, c);
  }
  return out;
}

Result<Partial> DecodePartial(ByteSpan bytes) {
  auto at = [](std::size_t offset, const std::string& what) {
    return BadPartial("byte offset " + std::to_string(offset) + ": " + what);
  };
  if (bytes.size() > kMaxPartialBytes) {
    return BadPartial(std::to_string(bytes.size()) + " bytes, above the limit of " + std::to_string(kMaxPartialBytes));
  }
  Reader r(bytes);
  std::string magic;
  if (!r.ReadBytes(magic, 4) || magic != "CAPT") return at(0, "not an analytics partial (magic)");
  std::uint64_t version = 0, kind = 0, reserved = 0, name_len = 0, groups = 0, cells = 0;
  if (!r.Read(version, 2)) return at(r.offset(), "truncated header");
  if (version != kPartialVersion) return at(4, "version " + std::to_string(version) + " is not supported (expected 1)");
  if (!r.Read(kind, 1) || !r.Read(reserved, 1)) return at(r.offset(), "truncated header");
  if (kind < 1 || kind > 6) return at(6, "unknown kind " + std::to_string(kind));
  if (reserved != 0) return at(7, "reserved byte must be 0");
  if (!r.Read(name_len, 4)) return at(r.offset(), "truncated header");
  if (name_len == 0 || name_len > kMaxNameBytes) return at(8, "query name length " + std::to_string(name_len) + " outside [1, 64]");
  Partial p;
  p.kind = static_cast<QueryKind>(kind);
  if (!r.ReadBytes(p.query, name_len)) return at(r.offset(), "truncated query name");
  const std::size_t counts_at = r.offset();
  if (!r.Read(groups, 4) || !r.Read(cells, 4)) return at(r.offset(), "truncated header");
  if (groups == 0 || groups > kMaxGroups) return at(counts_at, std::to_string(groups) + " groups, outside [1, 1000]");
  if (cells > kMaxBinEdges + 1) return at(counts_at + 4, std::to_string(cells) + " cells per group, above the limit");
  if (groups * (3 + cells) > kMaxPartialCells) return at(counts_at, "groups x (3 + cells) above the limit of 65536");
  const std::uint64_t body = groups * (3 + cells) * 8;
  if (r.remaining() != body) {
    return at(r.offset(), "expected " + std::to_string(body) + " bytes of groups, found " + std::to_string(r.remaining()));
  }
  p.groups.resize(groups);
  for (auto& g : p.groups) {
    std::uint64_t sum = 0, squares = 0;
    r.Read(g.rows, 8);
    r.Read(sum, 8);
    r.Read(squares, 8);
    g.sum = std::bit_cast<double>(sum);
    g.sum_squares = std::bit_cast<double>(squares);
    g.cells.resize(cells);
    for (auto& c : g.cells) r.Read(c, 8);
  }
  return p;
}

}  // namespace cairn::analytics
