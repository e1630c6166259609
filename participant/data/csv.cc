#include "participant/data/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "common/core/file.h"
#include "common/model/model_spec.h"

namespace cairn::data {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

struct SplitError {
  std::size_t column;  // 1-based
  std::string what;
};

// Splits into `out`; returns false and fills `err` on a quoting error.
bool SplitInto(std::string_view line, std::vector<std::string>& out, SplitError& err) {
  out.clear();
  std::size_t i = 0;
  const std::size_t n = line.size();
  while (true) {
    const std::size_t column = out.size() + 1;
    while (i < n && IsBlank(line[i])) ++i;
    std::string field;
    if (i < n && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < n) {
        if (line[i] == '"') {
          if (i + 1 < n && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        field += line[i++];
      }
      if (!closed) {
        err = {column, "unclosed quote (a quoted field cannot span lines)"};
        return false;
      }
      while (i < n && IsBlank(line[i])) ++i;
      if (i < n && line[i] != ',') {
        err = {column, "unexpected text after a closing quote"};
        return false;
      }
    } else {
      const std::size_t start = i;
      while (i < n && line[i] != ',') {
        if (line[i] == '"') {
          err = {column, "quote inside an unquoted field (quote the whole field)"};
          return false;
        }
        ++i;
      }
      std::size_t end = i;
      while (end > start && IsBlank(line[end - 1])) --end;
      field.assign(line.substr(start, end - start));
    }
    out.push_back(std::move(field));
    if (i >= n) return true;
    ++i;  // the comma
  }
}

// An optional sign and decimal digits (any number of them: a too-long one is out of range, not a
// string label).
bool IsInteger(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The value of an IsInteger string, or nullopt when it does not fit in int64.
std::optional<std::int64_t> ToInteger(std::string_view s) {
  if (s[0] == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Truncated(std::string_view s, std::size_t max = 40) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

}  // namespace

Result<std::vector<std::string>> SplitCsvLine(std::string_view line) {
  std::vector<std::string> out;
  SplitError err;
  if (!SplitInto(line, out, err)) {
    return Fail(ErrorCode::kInvalidArgument, "column " + std::to_string(err.column) + ": " + err.what);
  }
  return out;
}

Result<float> ParseFloatField(std::string_view s) {
  if (s.empty()) return Fail(ErrorCode::kInvalidArgument, "empty field");
  std::string_view digits = s;
  if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-' && digits[1] != '+') digits.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return Fail(ErrorCode::kInvalidArgument, "number out of range: '" + Truncated(s) + "'");
  }
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    return Fail(ErrorCode::kInvalidArgument, "not a number: '" + Truncated(s) + "'");
  }
  if (!std::isfinite(v)) return Fail(ErrorCode::kInvalidArgument, "not a finite number: '" + Truncated(s) + "'");
  if (std::abs(v) > std::numeric_limits<float>::max()) {
    return Fail(ErrorCode::kInvalidArgument, "number out of float range: '" + Truncated(s) + "'");
  }
  return static_cast<float>(v);
}

Result<Dataset> ParseCsv(std::string_view text, std::string_view source_name, const CsvOptions& options) {
  const std::string src(source_name);
  auto fail_at = [&](std::int64_t line, std::size_t column, const std::string& column_name,
                     const std::string& what) {
    std::string where = src + " line " + std::to_string(line);
    if (column > 0) {
      where += " column " + std::to_string(column);
      if (!column_name.empty()) where += " ('" + Truncated(column_name) + "')";
    }
    return Fail(ErrorCode::kInvalidArgument, where + ": " + what);
  };

  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);

  std::vector<std::string> header;
  std::vector<std::string> fields;
  std::size_t label_index = 0;
  std::vector<std::size_t> feature_index;
  std::vector<std::string> raw_labels;
  std::vector<std::int64_t> label_lines;
  Dataset d;

  std::int64_t line_no = 0;
  std::size_t pos = 0;
  bool have_header = false;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (std::all_of(line.begin(), line.end(), IsBlank)) continue;

    SplitError err;
    if (!SplitInto(line, fields, err)) {
      const std::string name = have_header && err.column <= header.size() ? header[err.column - 1] : "";
      return fail_at(line_no, err.column, name, err.what);
    }

    if (!have_header) {
      have_header = true;
      if (static_cast<std::int64_t>(fields.size()) > options.max_columns) {
        return fail_at(line_no, 0, "", "the header has " + std::to_string(fields.size()) +
                                           " columns, above the limit of " + std::to_string(options.max_columns));
      }
      header = fields;
      std::map<std::string, std::size_t, std::less<>> by_name;
      for (std::size_t c = 0; c < header.size(); ++c) {
        if (header[c].empty()) return fail_at(line_no, c + 1, "", "empty column name in the header row");
        if (!by_name.emplace(header[c], c).second) {
          return fail_at(line_no, c + 1, header[c], "duplicate column name in the header row");
        }
      }
      auto label_it = by_name.find(options.label_column);
      if (label_it == by_name.end()) {
        std::string names;
        for (std::size_t c = 0; c < header.size() && c < 12; ++c) names += (c ? ", " : "") + Truncated(header[c], 24);
        if (header.size() > 12) names += ", ...";
        return fail_at(line_no, 0, "", "no label column '" + options.label_column +
                                           "' in the header row (columns: " + names + ")");
      }
      label_index = label_it->second;
      if (options.feature_columns.empty()) {
        for (std::size_t c = 0; c < header.size(); ++c) {
          if (c != label_index) feature_index.push_back(c);
        }
      } else {
        std::set<std::string_view> seen;
        for (const auto& name : options.feature_columns) {
          auto it = by_name.find(name);
          if (it == by_name.end()) return fail_at(line_no, 0, "", "no feature column '" + Truncated(name) + "' in the header row");
          if (it->second == label_index) return fail_at(line_no, 0, "", "column '" + Truncated(name) + "' is the label, not a feature");
          if (!seen.insert(name).second) return Fail(ErrorCode::kInvalidArgument, "feature column '" + Truncated(name) + "' is listed twice");
          feature_index.push_back(it->second);
        }
      }
      if (feature_index.empty()) return fail_at(line_no, 0, "", "no feature columns besides the label");
      for (std::size_t c : feature_index) d.feature_names.push_back(header[c]);
      continue;
    }

    if (fields.size() != header.size()) {
      const std::size_t column = std::min(fields.size(), header.size()) + 1;
      const std::string name = column <= header.size() ? header[column - 1] : "";
      return fail_at(line_no, column, name,
                     "wrong column count: found " + std::to_string(fields.size()) + " fields, the header has " +
                         std::to_string(header.size()));
    }
    if (d.rows >= options.max_rows) {
      return fail_at(line_no, 0, "", "more than " + std::to_string(options.max_rows) + " data rows (the limit)");
    }
    for (std::size_t c : feature_index) {
      auto v = ParseFloatField(fields[c]);
      if (!v) return fail_at(line_no, c + 1, header[c], v.error().message());
      d.features.push_back(*v);
    }
    if (fields[label_index].empty()) return fail_at(line_no, label_index + 1, header[label_index], "empty label");
    raw_labels.push_back(std::move(fields[label_index]));
    label_lines.push_back(line_no);
    ++d.rows;
  }
  if (!have_header) return Fail(ErrorCode::kInvalidArgument, src + ": empty file (a header row is required)");
  if (d.rows == 0) return Fail(ErrorCode::kInvalidArgument, src + ": no data rows after the header");

  // Labels. The class count sizes per-class tables downstream (TrainTestSplit, the model's
  // output layer), so it is bounded by model::kMaxClasses; messages never quote a label.
  const std::size_t lc = label_index + 1;
  const std::string& label_name = header[label_index];
  const std::string class_limit = std::to_string(model::kMaxClasses) + " classes (model::kMaxClasses)";
  if (options.num_classes > model::kMaxClasses ||
      static_cast<std::int64_t>(options.class_names.size()) > model::kMaxClasses) {
    return Fail(ErrorCode::kInvalidArgument, src + ": the configured number of classes is above the limit of " + class_limit);
  }
  d.labels.reserve(raw_labels.size());
  if (!options.class_names.empty()) {
    std::map<std::string_view, std::int64_t> index;
    for (std::size_t k = 0; k < options.class_names.size(); ++k) index.emplace(options.class_names[k], k);
    for (std::size_t r = 0; r < raw_labels.size(); ++r) {
      auto it = index.find(raw_labels[r]);
      if (it == index.end()) {
        return fail_at(label_lines[r], lc, label_name, "label '" + Truncated(raw_labels[r]) + "' is not one of the configured class names");
      }
      d.labels.push_back(it->second);
    }
    d.num_classes = static_cast<std::int64_t>(options.class_names.size());
  } else if (std::all_of(raw_labels.begin(), raw_labels.end(), [](const std::string& s) { return IsInteger(s); })) {
    std::int64_t max_label = 0;
    for (std::size_t r = 0; r < raw_labels.size(); ++r) {
      const bool negative = raw_labels[r][0] == '-';
      const std::optional<std::int64_t> parsed = ToInteger(raw_labels[r]);
      if (negative && (!parsed || *parsed != 0)) {
        return fail_at(label_lines[r], lc, label_name, "the label is negative (class indices start at 0)");
      }
      if (options.num_classes > 0 && (!parsed || *parsed >= options.num_classes)) {
        return fail_at(label_lines[r], lc, label_name, "the label is not below the " +
                                                           std::to_string(options.num_classes) + " classes");
      }
      if (!parsed || *parsed >= model::kMaxClasses) {
        return fail_at(label_lines[r], lc, label_name,
                       "the integer label (" + std::to_string(raw_labels[r].size()) +
                           " characters) is not below the limit of " + class_limit);
      }
      const std::int64_t v = *parsed;
      max_label = std::max(max_label, v);
      d.labels.push_back(v);
    }
    d.num_classes = options.num_classes > 0 ? options.num_classes : max_label + 1;
  } else {
    std::set<std::string_view> distinct(raw_labels.begin(), raw_labels.end());
    std::map<std::string_view, std::int64_t> index;
    for (std::string_view s : distinct) index.emplace(s, static_cast<std::int64_t>(index.size()));
    for (const auto& s : raw_labels) d.labels.push_back(index.at(s));
    d.num_classes = static_cast<std::int64_t>(distinct.size());
    if (d.num_classes > model::kMaxClasses) {
      return Fail(ErrorCode::kInvalidArgument, src + " column " + std::to_string(lc) + " ('" + Truncated(label_name) +
                                                   "'): " + std::to_string(d.num_classes) +
                                                   " distinct labels, above the limit of " + class_limit);
    }
    if (options.num_classes > 0 && options.num_classes < d.num_classes) {
      return Fail(ErrorCode::kInvalidArgument, src + " column " + std::to_string(lc) + " ('" + label_name + "'): " +
                                                   std::to_string(d.num_classes) + " distinct labels, more than the " +
                                                   std::to_string(options.num_classes) + " classes");
    }
    if (options.num_classes > 0) d.num_classes = options.num_classes;
  }
  d.feature_shape = {static_cast<std::int64_t>(feature_index.size())};
  return d;
}

Result<Dataset> LoadCsv(const std::filesystem::path& path, const CsvOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, options.max_file_bytes));
  return ParseCsv(text, path.string(), options);
}

Status WriteCsvFile(const std::filesystem::path& path, const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows) {
  auto has_newline = [](const std::vector<std::string>& fields) {
    return std::any_of(fields.begin(), fields.end(),
                       [](const std::string& f) { return f.find_first_of("\n\r") != std::string::npos; });
  };
  if (has_newline(header) || std::any_of(rows.begin(), rows.end(), has_newline)) {
    return Fail(ErrorCode::kInvalidArgument, path.string() + ": a CSV field cannot contain a line break");
  }
  std::string out;
  auto append_row = [&](const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) out += ',';
      const std::string& f = fields[i];
      const bool quote = f.find_first_of(",\"") != std::string::npos ||
                         (!f.empty() && (IsBlank(f.front()) || IsBlank(f.back())));
      if (!quote) {
        out += f;
        continue;
      }
      out += '"';
      for (char c : f) {
        if (c == '"') out += '"';
        out += c;
      }
      out += '"';
    }
    out += '\n';
  };
  append_row(header);
  for (const auto& r : rows) append_row(r);
  return WriteFileAtomic(path, std::string_view(out));
}

}  // namespace cairn::data
