// A party's table for analytics: a CSV file whose cells are kept as text, so categorical columns
// (merchant_category, country) sit beside numeric ones. Numbers are parsed only where a query
// needs them (the value column, numeric predicates). Whether a column holds numbers is a property
// of the WHOLE column (CheckNumberColumn), never of the rows a query happens to select: an empty
// cell is a missing value, any other cell that is not a number makes the column non-numeric, an
// error naming the file, the line and the column of the first such cell (docs/analytics.md,
// "Declines never depend on the rows a query matches").
//
// CSV syntax is participant/data's (SplitCsvLine): comma-separated, a header row of unique
// non-empty names, fields optionally in double quotes ("" is a quote; no line breaks inside),
// spaces and tabs around fields ignored, blank lines skipped, "\r\n" and a UTF-8 BOM accepted.
// Every data row has as many fields as the header.
//
// Memory: one std::string per cell (short cells live inside it); about 32 bytes × rows × columns.
// Value type: copyable and movable; immutable after loading, so const access is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"

namespace cairn::analytics {

struct TableOptions {
  // Bounds on a local file (a typo pointing at the wrong file should fail fast, not fill memory).
  std::uint64_t max_file_bytes = std::uint64_t{1} << 30;
  std::uint64_t max_rows = 20'000'000;
  std::size_t max_columns = 1000;
};

class Table {
 public:
  static Result<Table> Load(const std::filesystem::path& path, const TableOptions& options = {});
  // As Load on text in memory; `source_name` is used in messages.
  static Result<Table> Parse(std::string_view text, std::string source_name, const TableOptions& options = {});
  // From rows built in code (tools, tests): same checks as Parse; line numbers are 2, 3, ...
  static Result<Table> FromRows(std::string source_name, std::vector<std::string> header,
                                const std::vector<std::vector<std::string>>& rows);

  const std::string& source_name() const { return source_; }
  const std::vector<std::string>& columns() const { return columns_; }
  std::size_t num_rows() const { return lines_.size(); }
  std::optional<std::size_t> FindColumn(std::string_view name) const;

  // row < num_rows(), column < columns().size().
  std::string_view cell(std::size_t row, std::size_t column) const {
    return cells_[row * columns_.size() + column];
  }
  // 1-based line of the row in the source text.
  std::int64_t line(std::size_t row) const { return lines_[row]; }

  // "bank-1.csv line 12 column 3 ('amount')": for messages about one cell.
  std::string Where(std::size_t row, std::size_t column) const;

  // Ok when every non-empty cell of `column` (column < columns().size()), over ALL rows, is a
  // number (ParseNumberCell); empty cells are missing values and allowed. Else kInvalidArgument
  // for the first offending cell in file order: "bank-1.csv line 12 column 3 ('amount'): not a
  // number" (the cell's text is never quoted). Depends only on the column, so every query that
  // reads it as numbers gets the same answer whatever its filters.
  Status CheckNumberColumn(std::size_t column) const;

 private:
  Table() = default;
  std::string source_;
  std::vector<std::string> columns_;
  std::vector<std::string> cells_;  // row-major
  std::vector<std::int64_t> lines_;
};

// Parses a decimal number (from_chars syntax, optional leading '+'), finite. The error says what
// is wrong without quoting the cell (cells are data: messages must not carry them).
Result<double> ParseNumberCell(std::string_view cell);

}  // namespace cairn::analytics
