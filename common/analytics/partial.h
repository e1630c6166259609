// Local partial aggregates (participant side) and their wire form.
//
// A party evaluates a query over its own table and sends, per listed group, only:
//   rows         the number of rows that pass the filters and fall in the group
//   sum          Σ clamp(x) over those rows            (sum, mean, variance)
//   sum_squares  Σ clamp(x)²                           (variance)
//   cells        rows per histogram cell               (histogram, quantiles)
// never a row. First, every column the query reads as numbers (the value column, the column of
// each predicate with a numeric literal) is checked over the WHOLE table (Table::CheckNumberColumn):
// an empty cell is a missing value; any other cell that is not a number is an error naming file,
// line and column. This is the only data-dependent error, and it cannot depend on which rows the
// predicates select: a party's decline must never answer a question about its rows
// (docs/analytics.md, "Declines never depend on the rows a query matches"). Then, per row:
//   1. every `where` predicate must hold. A numeric literal compares the cell as a number (a
//      missing value satisfies no comparison, not even !=); a string literal compares the cell's
//      text exactly (so `!= ""` and `= ""` see missing values).
//   2. group_by: the cell's text must be one of `groups` (exactly), else the row is ignored.
//   3. the value column (all kinds but count): a missing value excludes the row (it is not
//      counted in rows either); a number x is
//      - sum/mean/variance: clamped to [clamp.low, clamp.high];
//      - histogram: put in cell 0 when x < e_0 (underflow), cell i+1 when e_i ≤ x < e_{i+1}, the
//        last bin closed (e_{n-1} ≤ x ≤ e_n), and the last cell when x > e_n (overflow);
//      - quantiles: clamped to [e_0, e_n] first (so out-of-range rows sit in the edge cells),
//        then binned as above without under/overflow cells.
// Sums are accumulated in double in row order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/analytics/query_spec.h"
#include "common/analytics/table.h"
#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn::analytics {

struct GroupPartial {
  std::uint64_t rows = 0;
  double sum = 0;
  double sum_squares = 0;
  std::vector<std::uint64_t> cells;  // spec.num_cells() entries for histogram/quantiles, else empty

  bool operator==(const GroupPartial&) const = default;
};

struct Partial {
  std::string query;                // QuerySpec::name
  QueryKind kind = QueryKind::kCount;
  std::vector<GroupPartial> groups; // spec.num_groups() entries, in the spec's group order

  bool operator==(const Partial&) const = default;
};

// One party's partial as the enclave receives it: party_id is the authenticated sender (from the
// control channel), never a field the party wrote.
struct PartyPartial {
  std::string party_id;
  Partial partial;
};

// Evaluates `spec` over `table`. Errors (kInvalidArgument), all decided before any row is
// filtered: a referenced column is missing from the header; a column the query reads as numbers
// holds a non-empty cell that is not a number anywhere in the table (file, line and column of the
// first one named; the cell's text is not quoted).
Result<Partial> ComputePartial(const QuerySpec& spec, const Table& table);

// The largest row count a partial may claim (keeps every sum exact in double and far from
// overflow). A table this large would not load anyway.
inline constexpr std::uint64_t kMaxPartialRows = std::uint64_t{1} << 40;

// Checks a partial (from an untrusted party) against the spec: same name and kind, the spec's
// number of groups and cells, rows ≤ kMaxPartialRows, cells summing to rows, finite sums within
// what rows clamped values can reach, and zeros in the fields the kind does not use. Messages
// name the field and group index.
Status ValidatePartial(const Partial& partial, const QuerySpec& spec);

// Wire form, version 1 (big-endian):
//   "CAPT" (4 bytes), u16 version = 1, u8 kind, u8 0,
//   u32 name length, name bytes, u32 groups, u32 cells per group,
//   per group: u64 rows, f64 sum (IEEE-754 bits as u64), f64 sum_squares, cells × u64.
// Bounded: groups × (3 + cells) ≤ kMaxPartialCells, so at most kMaxPartialBytes.
inline constexpr std::size_t kMaxPartialBytes = 16 + kMaxNameBytes + 8 * kMaxPartialCells;
inline constexpr std::uint16_t kPartialVersion = 1;

Result<Bytes> EncodePartial(const Partial& partial);
// Strict: wrong magic or version, a length that disagrees with the header, trailing bytes, or any
// count over its limit is kInvalidArgument naming the byte offset; sizes are checked before any
// allocation. Structure only: call ValidatePartial against the spec before combining.
Result<Partial> DecodePartial(ByteSpan bytes);

}  // namespace cairn::analytics
