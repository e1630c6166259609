// Clean-room analytics queries: what the federation config declares and every party sees,
// attested, before it joins (issue 9; docs/analytics.md).
//
// A query is one of six kinds over one numeric column of each party's table (count needs no
// column), optionally split by a categorical column into a PUBLIC list of groups (rows whose group
// value is not listed are ignored, so the set of released groups never depends on the data) and
// filtered by simple predicates. Every value that enters a sum is clamped to a configured range,
// which bounds each row's contribution and so the sensitivity the noise is calibrated to.
//
//   [[queries]]
//   name = "fraud_rate_by_category"
//   kind = "mean"                          # count | sum | mean | variance | histogram | quantiles
//   column = "is_fraud"
//   group_by = "merchant_category"         # optional; requires `groups`
//   groups = ["grocery", "travel"]
//   where = [ { column = "amount", op = ">=", value = 10.0 },
//             { column = "country", op = "in", values = ["DE", "FR"] } ]
//   clamp = [0.0, 1.0]                     # sum, mean, variance; quantiles without bins
//   bins = [0, 10, 50, 100]                # histogram edges; quantiles may use them instead of clamp
//   quantiles = [0.5, 0.9]                 # quantile levels in [0, 1]
//   grid_bins = 100                        # quantiles over clamp: equal-width cells (default 100)
//   epsilon = 0.5                          # this query's ε; δ comes from the federation
//   min_rows = 20                          # k: suppress groups with fewer (noisy) rows
//   min_parties = 2                        # m: suppress groups with fewer contributing parties
//   min_rows_per_party = 10                # a party contributes when its noisy rows reach this
//   max_tables_per_person = 1              # tables one person can appear in (default: all parties)
//   noise = true                           # false: exact answers, TESTS ONLY (see release.h)
//
// Parsing is strict: an unknown key, a missing or ill-typed field, or a combination that makes no
// sense for the kind is an error naming the file, the line, the query (name and index) and the
// field. Parsing the canonical TOML re-emission of the file gives the same specs (tested), so the
// attested config hash covers the queries exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/core/error.h"
#include "common/core/toml_reader.h"

namespace cairn::analytics {

// --- Limits: each bounds memory or work on a party or in the enclave ----------------------------

inline constexpr std::size_t kMaxQueries = 64;           // queries in one federation
inline constexpr std::size_t kMaxNameBytes = 64;         // query names: [A-Za-z0-9._-]
inline constexpr std::size_t kMaxColumnNameBytes = 128;  // column names in specs
inline constexpr std::size_t kMaxGroups = 1000;          // listed groups per query
inline constexpr std::size_t kMaxGroupValueBytes = 256;  // one group value
inline constexpr std::size_t kMaxPredicates = 16;        // `where` entries per query
inline constexpr std::size_t kMaxInValues = 256;         // values of one `in` predicate
inline constexpr std::size_t kMaxLiteralBytes = 256;     // one string literal in a predicate
inline constexpr std::size_t kMaxBinEdges = 4097;        // histogram edges (4096 bins)
inline constexpr std::uint32_t kMaxGridBins = 4096;      // quantile grid cells
inline constexpr std::uint32_t kDefaultGridBins = 100;
inline constexpr std::size_t kMaxQuantileLevels = 32;
// groups × (3 + histogram cells per group): the 8-byte numbers in one party's partial, which must
// fit one control-plane message (1 MiB) with room to spare.
inline constexpr std::size_t kMaxPartialCells = std::size_t{1} << 16;
inline constexpr std::uint32_t kMaxParties = 1000;       // as protocol::kMaxParticipants
inline constexpr double kMaxQueryEpsilon = 100.0;
// |clamp| and |bins| bound: keeps x² and sums of 10^12 rows finite and well inside double range.
inline constexpr double kMaxAbsValue = 1e15;
inline constexpr std::uint64_t kMaxMinRows = 1'000'000'000'000ull;

// --- Spec ------------------------------------------------------------------------------------

enum class QueryKind : std::uint8_t {
  kCount = 1,      // rows per group
  kSum = 2,        // Σ clamp(x) per group
  kMean = 3,       // Σ clamp(x) / rows
  kVariance = 4,   // population variance (divisor rows) of clamp(x)
  kHistogram = 5,  // rows per bin of x, with an underflow and an overflow cell
  kQuantiles = 6,  // quantiles of x read off a histogram (bins, or a grid over clamp)
};
std::string_view QueryKindName(QueryKind kind);  // "count", "sum", ...
Result<QueryKind> ParseQueryKind(std::string_view name);

enum class CompareOp : std::uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn };
std::string_view CompareOpName(CompareOp op);  // "=", "!=", "<", "<=", ">", ">=", "in"

// A literal in a predicate: a number (the cell is parsed as a number and compared numerically; an
// empty cell is a missing value and satisfies no comparison) or a string (the cell is compared
// byte for byte; only =, != and in).
using Literal = std::variant<double, std::string>;

struct Predicate {
  std::string column;
  CompareOp op = CompareOp::kEq;
  // One literal for a comparison; one or more of the same type for `in`.
  std::vector<Literal> operands;

  bool operator==(const Predicate&) const = default;
};

struct Range {
  double low = 0;
  double high = 0;
  bool operator==(const Range&) const = default;
};

// A parsed, validated query with every default resolved (so equal configs give equal specs).
struct QuerySpec {
  std::string name;
  QueryKind kind = QueryKind::kCount;
  std::string column;               // value column; empty for count
  std::string group_by;             // empty: one group of all rows
  std::vector<std::string> groups;  // public group values, in release order (non-empty iff group_by)
  std::vector<Predicate> where;     // all must hold (AND)
  std::optional<Range> clamp;       // sum, mean, variance; quantiles without bins
  std::vector<double> bins;         // histogram edges; quantiles with explicit edges
  std::vector<double> quantiles;    // quantile levels in [0, 1], increasing
  std::uint32_t grid_bins = 0;      // quantiles over clamp: equal-width cells; 0 otherwise
  double epsilon = 0;               // > 0 when noise; 0 when absent with noise = false
  bool noise = true;
  std::uint64_t min_rows = 1;            // k ≥ 1
  std::uint32_t min_parties = 1;         // m ≥ 1
  std::uint64_t min_rows_per_party = 0;  // with m ≥ 2: default ⌈k / m⌉; 0 when m = 1
  std::uint32_t max_tables_per_person = 0;  // 0: every party's table (AccountingOptions::num_parties)

  bool operator==(const QuerySpec&) const = default;

  // 1 for an ungrouped query, else groups.size().
  std::size_t num_groups() const { return group_by.empty() ? 1 : groups.size(); }
  // Histogram cells per group: histogram: (edges − 1) bins + underflow + overflow; quantiles: the
  // grid or (edges − 1) bins; other kinds 0.
  std::size_t num_cells() const;
  // Quantiles: the cell edges (bins, or grid_bins + 1 equally spaced points over clamp, the last
  // exactly clamp.high). Histogram: bins. Other kinds: empty.
  std::vector<double> CellEdges() const;
  // The columns the query reads: column, group_by, then each predicate column (no duplicates).
  std::vector<std::string> ReferencedColumns() const;
};

// Reads the `queries` array of tables ([[queries]]) of `root` (any reader: the file's root, or an
// [analytics] table if the federation nests them). Every query table is Finish()ed here; `root`
// itself is not (the caller reads its other keys and finishes it). Absent → empty vector. More
// than kMaxQueries or a duplicate name is an error.
Result<std::vector<QuerySpec>> ParseQueries(TomlReader& root);

// One query table (a [[queries]] entry), Finish()ed. `index` is used in messages.
Result<QuerySpec> ParseQuery(TomlReader& table, std::size_t index);

// The rules ParseQuery applies, for specs built in code (tests, tools); messages name the query
// and the field. ParseQuery's output always passes.
Status ValidateQuerySpec(const QuerySpec& spec);

// Canonical JSON of a spec (sorted keys, no spaces, every resolved field, numbers in shortest
// round-trip form): equal specs give equal bytes. Results embed it so a reader can see exactly
// which query an answer belongs to.
std::string QuerySpecToJson(const QuerySpec& spec);

// "[0,10)", "<0", ">1000", "p50", ... : display labels of the histogram cells / quantile levels.
std::vector<std::string> CellLabels(const QuerySpec& spec);
std::vector<std::string> QuantileLabels(const QuerySpec& spec);

// Shortest decimal form that parses back to the same double ("0.1", "1e-05", "10").
std::string FormatNumber(double v);

}  // namespace cairn::analytics
