// A strict reader of the Prometheus text exposition format 0.0.4, for tests: checks that every
// line is a HELP, a TYPE or a sample of a declared metric, and returns the samples by series.
#pragma once

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include "common/core/error.h"
#include "common/metrics/metrics.h"

namespace cairn::testing_support {

struct Exposition {
  std::map<std::string, double> samples;     // "name{labels}" (as written) → value
  std::map<std::string, std::string> types;  // metric → counter | gauge | histogram
};

inline Result<double> ParseSampleValue(const std::string& s) {
  if (s == "+Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s == "NaN") return std::nan("");
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return Fail(ErrorCode::kInvalidArgument, "bad value '" + s + "'");
  return v;
}

inline Result<Exposition> ParseExposition(const std::string& text) {
  Exposition out;
  if (!text.empty() && text.back() != '\n') return Fail(ErrorCode::kInvalidArgument, "no final line feed");
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    auto where = "line " + std::to_string(n) + " '" + line + "'";
    if (line.empty()) return Fail(ErrorCode::kInvalidArgument, where + ": empty line");
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      if (sp == std::string::npos) return Fail(ErrorCode::kInvalidArgument, where + ": no text");
      auto name = rest.substr(0, sp);
      if (!metrics::IsValidMetricName(name)) return Fail(ErrorCode::kInvalidArgument, where + ": bad name");
      if (line[2] == 'T') {
        auto type = rest.substr(sp + 1);
        if (type != "counter" && type != "gauge" && type != "histogram") {
          return Fail(ErrorCode::kInvalidArgument, where + ": bad type");
        }
        if (out.types.contains(name)) return Fail(ErrorCode::kInvalidArgument, where + ": second TYPE");
        out.types[name] = type;
      }
      continue;
    }
    if (line.starts_with("#")) return Fail(ErrorCode::kInvalidArgument, where + ": unexpected comment");
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) return Fail(ErrorCode::kInvalidArgument, where + ": no value");
    auto series = line.substr(0, sp);
    CAIRN_ASSIGN_OR_RETURN(double v, ParseSampleValue(line.substr(sp + 1)));
    auto brace = series.find('{');
    auto name = series.substr(0, brace);
    if (!metrics::IsValidMetricName(name)) return Fail(ErrorCode::kInvalidArgument, where + ": bad name");
    if (brace != std::string::npos) {
      // {k="v",k2="v2"}: label names valid, values quoted with no raw quote, backslash or newline.
      if (series.back() != '}') return Fail(ErrorCode::kInvalidArgument, where + ": unterminated labels");
      std::string labels = series.substr(brace + 1, series.size() - brace - 2);
      std::size_t i = 0;
      while (i < labels.size()) {
        auto eq = labels.find("=\"", i);
        if (eq == std::string::npos) return Fail(ErrorCode::kInvalidArgument, where + ": bad label");
        if (!metrics::IsValidLabelName(labels.substr(i, eq - i))) {
          return Fail(ErrorCode::kInvalidArgument, where + ": bad label name");
        }
        auto close = labels.find('"', eq + 2);
        if (close == std::string::npos) return Fail(ErrorCode::kInvalidArgument, where + ": unterminated value");
        if (labels.substr(eq + 2, close - eq - 2).find('\\') != std::string::npos) {
          return Fail(ErrorCode::kInvalidArgument, where + ": escaped label value");
        }
        i = close + 1;
        if (i < labels.size()) {
          if (labels[i] != ',') return Fail(ErrorCode::kInvalidArgument, where + ": expected ','");
          ++i;
        }
      }
    }
    // The sample's metric must have been declared, a histogram through its suffixes.
    std::string base = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string sfx = suffix;
      if (name.ends_with(sfx) && out.types.contains(name.substr(0, name.size() - sfx.size())) &&
          out.types[name.substr(0, name.size() - sfx.size())] == "histogram") {
        base = name.substr(0, name.size() - sfx.size());
      }
    }
    if (!out.types.contains(base)) return Fail(ErrorCode::kInvalidArgument, where + ": sample before its TYPE");
    if (out.samples.contains(series)) return Fail(ErrorCode::kInvalidArgument, where + ": duplicate series");
    out.samples[series] = v;
  }
  return out;
}

}  // namespace cairn::testing_support
