// CSV loading for tabular participants.
//
// Format: UTF-8 text, comma-separated, a header row of unique column names, then one example per
// line. Fields may be wrapped in double quotes ("" inside is a quote); a quoted field cannot span
// lines. Spaces and tabs around a field are ignored, blank lines are skipped, "\r\n" and a UTF-8
// byte-order mark are accepted. Feature fields are decimal numbers (from_chars syntax, optional
// leading '+'); empty, non-numeric, infinite or NaN values are errors.
//
// Labels: with CsvOptions::class_names empty, a label column whose values are all integers gives
// class indices directly (they must be >= 0; K = num_classes or max + 1); otherwise the distinct
// label strings are sorted by byte value and numbered 0..K-1. Sites with label skew may not see
// every string, so federations with string labels should list class_names, which fixes the
// mapping (class i = class_names[i]) and makes any other label an error. K is at most
// model::kMaxClasses in every case (it sizes per-class tables); larger is an error.
//
// Every error names the file, the line and the column (1-based, with the column's name).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"
#include "participant/data/dataset.h"

namespace cairn::data {

struct CsvOptions {
  // Name of the label column in the header row.
  std::string label_column = "label";
  // Feature columns to use, in this order; empty = every column but the label, in file order.
  std::vector<std::string> feature_columns{};
  // Fixed class names (see above); empty = integers as-is or sorted strings.
  std::vector<std::string> class_names{};
  // Number of classes; 0 = inferred. When set, integer labels must be below it.
  std::int64_t num_classes = 0;
  // Bounds on untrusted input: file size, data rows, columns.
  std::uint64_t max_file_bytes = 512ull << 20;
  std::int64_t max_rows = 10'000'000;
  std::int64_t max_columns = 10'000;
};

Result<Dataset> LoadCsv(const std::filesystem::path& path, const CsvOptions& options = {});
// As LoadCsv on text already in memory; `source_name` is used in messages.
Result<Dataset> ParseCsv(std::string_view text, std::string_view source_name,
                         const CsvOptions& options = {});

// Splits one CSV line into fields (quotes and surrounding spaces handled as above). On a quote
// error returns the 1-based column where it happened.
Result<std::vector<std::string>> SplitCsvLine(std::string_view line);

// Parses a decimal number as float (finite, within float range). The error text says what is
// wrong with the field ("empty field", "not a number: 'abc'", ...) for callers to prefix with
// the file, line and column.
Result<float> ParseFloatField(std::string_view field);

// Writes rows of already formatted fields as CSV (quoting fields that need it), atomically.
// Fields with line breaks are refused (the reader does not accept them).
Status WriteCsvFile(const std::filesystem::path& path, const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows);

}  // namespace cairn::data
