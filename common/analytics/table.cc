#include "common/analytics/table.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "common/core/file.h"
#include "participant/data/csv.h"

namespace cairn::analytics {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string Short(std::string_view s, std::size_t max = 48) {
  return s.size() <= max ? std::string(s) : std::string(s.substr(0, max)) + "...";
}

}  // namespace

Result<double> ParseNumberCell(std::string_view s) {
  if (s.empty()) return Fail(ErrorCode::kInvalidArgument, "empty cell where a number is needed");
  std::string_view digits = s;
  if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-' && digits[1] != '+') digits.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range) return Fail(ErrorCode::kInvalidArgument, "number out of range");
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    return Fail(ErrorCode::kInvalidArgument, "not a number");
  }
  if (!std::isfinite(v)) return Fail(ErrorCode::kInvalidArgument, "not a finite number");
  return v;
}

std::optional<std::size_t> Table::FindColumn(std::string_view name) const {
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (columns_[c] == name) return c;
  }
  return std::nullopt;
}

std::string Table::Where(std::size_t row, std::size_t column) const {
  return source_ + " line " + std::to_string(lines_[row]) + " column " + std::to_string(column + 1) + " ('" +
         Short(columns_[column]) + "')";
}

Status Table::CheckNumberColumn(std::size_t column) const {
  for (std::size_t r = 0; r < num_rows(); ++r) {
    const std::string_view c = cell(r, column);
    if (c.empty()) continue;  // a missing value
    if (auto x = ParseNumberCell(c); !x) {
      return Fail(ErrorCode::kInvalidArgument, Where(r, column) + ": " + x.error().message());
    }
  }
  return Ok();
}

Result<Table> Table::Load(const std::filesystem::path& path, const TableOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, options.max_file_bytes));
  return Parse(text, path.string(), options);
}

Result<Table> Table::Parse(std::string_view text, std::string source_name, const TableOptions& options) {
  Table t;
  t.source_ = std::move(source_name);
  auto fail = [&](std::int64_t line, const std::string& what) {
    return Fail(ErrorCode::kInvalidArgument, t.source_ + " line " + std::to_string(line) + ": " + what);
  };
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  bool have_header = false;
  std::int64_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (std::all_of(line.begin(), line.end(), IsBlank)) continue;
    auto fields = data::SplitCsvLine(line);
    if (!fields) return fail(line_no, fields.error().message());
    if (!have_header) {
      have_header = true;
      if (fields->size() > options.max_columns) {
        return fail(line_no, "the header has " + std::to_string(fields->size()) + " columns, above the limit of " +
                                 std::to_string(options.max_columns));
      }
      std::set<std::string_view> seen;
      for (std::size_t c = 0; c < fields->size(); ++c) {
        const std::string& name = (*fields)[c];
        if (name.empty()) return fail(line_no, "column " + std::to_string(c + 1) + ": empty column name in the header row");
        if (!seen.insert(name).second) {
          return fail(line_no, "column " + std::to_string(c + 1) + " ('" + Short(name) + "'): duplicate column name in the header row");
        }
      }
      t.columns_ = std::move(*fields);
      continue;
    }
    if (fields->size() != t.columns_.size()) {
      return fail(line_no, "has " + std::to_string(fields->size()) + " fields, the header has " +
                               std::to_string(t.columns_.size()));
    }
    if (t.lines_.size() >= options.max_rows) {
      return fail(line_no, "more than " + std::to_string(options.max_rows) + " data rows (the limit)");
    }
    for (auto& f : *fields) t.cells_.push_back(std::move(f));
    t.lines_.push_back(line_no);
  }
  if (!have_header) return Fail(ErrorCode::kInvalidArgument, t.source_ + ": no header row (the file is empty)");
  return t;
}

Result<Table> Table::FromRows(std::string source_name, std::vector<std::string> header,
                              const std::vector<std::vector<std::string>>& rows) {
  Table t;
  t.source_ = std::move(source_name);
  std::set<std::string_view> seen;
  for (std::size_t c = 0; c < header.size(); ++c) {
    if (header[c].empty() || !seen.insert(header[c]).second) {
      return Fail(ErrorCode::kInvalidArgument, t.source_ + " line 1: column " + std::to_string(c + 1) +
                                                   ": empty or duplicate column name in the header row");
    }
  }
  if (header.empty()) return Fail(ErrorCode::kInvalidArgument, t.source_ + ": no columns");
  t.columns_ = std::move(header);
  t.cells_.reserve(rows.size() * t.columns_.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != t.columns_.size()) {
      return Fail(ErrorCode::kInvalidArgument, t.source_ + " line " + std::to_string(r + 2) + ": has " +
                                                   std::to_string(rows[r].size()) + " fields, the header has " +
                                                   std::to_string(t.columns_.size()));
    }
    t.cells_.insert(t.cells_.end(), rows[r].begin(), rows[r].end());
    t.lines_.push_back(static_cast<std::int64_t>(r) + 2);
  }
  return t;
}

}  // namespace cairn::analytics
