#include "common/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace cairn::metrics {
namespace {

constexpr std::size_t kMaxHelpLength = 512;

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// HELP text: backslash and line feed escaped (format 0.0.4).
std::string EscapeHelp(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

const char* TypeName(int kind) {
  switch (kind) {
    case 0: return "counter";
    case 1: return "gauge";
    case 2: return "histogram";
    default: return "counter";
  }
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = IsAlpha(c) || c == '_' || c == ':' || (i > 0 && IsDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = IsAlpha(c) || c == '_' || (i > 0 && IsDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelValue(std::string_view value) {
  if (value.empty() || value.size() > kMaxLabelValueLength) return false;
  for (char c : value) {
    bool ok = IsAlpha(c) || IsDigit(c) || c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

// ---------------------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

Result<std::unique_ptr<Histogram>> Histogram::Create(std::vector<double> bounds) {
  if (bounds.empty() || bounds.size() > kMaxHistogramBuckets) {
    return Fail(ErrorCode::kInvalidArgument, "a histogram needs 1 to " + std::to_string(kMaxHistogramBuckets) +
                                                 " bucket bounds, not " + std::to_string(bounds.size()));
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return Fail(ErrorCode::kInvalidArgument, "histogram bound " + std::to_string(i) + " is not finite");
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      return Fail(ErrorCode::kInvalidArgument, "histogram bounds must increase strictly: bound " + std::to_string(i) +
                                                   " (" + FormatValue(bounds[i]) + ") follows " +
                                                   FormatValue(bounds[i - 1]));
    }
  }
  return std::unique_ptr<Histogram>(new Histogram(std::move(bounds)));
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  // First bucket whose upper bound is >= v ("le" is inclusive); past the last: +Inf.
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  // Derived from the buckets, so _count always equals the +Inf bucket even under concurrent
  // observations (the sum may then lag by the observations in flight).
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---------------------------------------------------------------------------------------------

LabeledCounter::LabeledCounter(std::string metric_name, std::string label_name, Counter& dropped)
    : metric_name_(std::move(metric_name)), label_name_(std::move(label_name)), dropped_(dropped) {}

Result<Counter*> LabeledCounter::With(std::string_view value) const {
  auto it = children_.find(value);
  if (it == children_.end()) {
    // The value is shown only when it is a well-formed identifier: it may be anything.
    std::string shown = IsValidLabelValue(value) ? "'" + std::string(value) + "'" : "a malformed value";
    return Fail(ErrorCode::kInvalidArgument, metric_name_ + ": " + shown + " is not a registered value of label '" +
                                                 label_name_ + "'");
  }
  return it->second.get();
}

void LabeledCounter::Increment(std::string_view value, std::uint64_t n) const {
  auto it = children_.find(value);
  if (it == children_.end()) {
    dropped_.Increment();
    return;
  }
  it->second->Increment(n);
}

// ---------------------------------------------------------------------------------------------

Registry::Registry() {
  auto c = AddCounter("cairn_metrics_dropped_label_values_total",
                      "Label values refused because they were not registered (a caller bug; the sample is dropped)");
  dropped_ = *c;  // cannot fail: a fixed, valid name in an empty registry
}

Status Registry::CheckNewName(const std::string& name, const std::string& help, Kind kind) const {
  if (!IsValidMetricName(name)) {
    return Fail(ErrorCode::kInvalidArgument, "'" + name + "' is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  if (kind == Kind::kCounter || kind == Kind::kLabeledCounter) {
    if (!name.ends_with("_total")) {
      return Fail(ErrorCode::kInvalidArgument, "counter '" + name + "' must end in _total (Prometheus convention)");
    }
  }
  if (help.empty() || help.size() > kMaxHelpLength) {
    return Fail(ErrorCode::kInvalidArgument, "metric '" + name + "': help must have 1 to " +
                                                 std::to_string(kMaxHelpLength) + " characters");
  }
  if (entries_.size() >= kMaxMetrics) {
    return Fail(ErrorCode::kResourceExhausted, "metric '" + name + "': the registry already holds " +
                                                   std::to_string(kMaxMetrics) + " metrics");
  }
  for (const auto& e : entries_) {
    // A histogram also owns name_bucket, name_sum and name_count.
    bool clash = e.name == name ||
                 (e.kind == Kind::kHistogram &&
                  (name == e.name + "_bucket" || name == e.name + "_sum" || name == e.name + "_count")) ||
                 (kind == Kind::kHistogram &&
                  (e.name == name + "_bucket" || e.name == name + "_sum" || e.name == name + "_count"));
    if (clash) return Fail(ErrorCode::kAlreadyExists, "metric '" + name + "' clashes with '" + e.name + "'");
  }
  return Ok();
}

Result<Counter*> Registry::AddCounter(std::string name, std::string help) {
  std::lock_guard lock(mu_);
  CAIRN_RETURN_IF_ERROR(CheckNewName(name, help, Kind::kCounter));
  counters_.push_back(std::make_unique<Counter>());
  Counter* c = counters_.back().get();
  entries_.push_back({std::move(name), std::move(help), Kind::kCounter, c});
  return c;
}

Result<Gauge*> Registry::AddGauge(std::string name, std::string help) {
  std::lock_guard lock(mu_);
  CAIRN_RETURN_IF_ERROR(CheckNewName(name, help, Kind::kGauge));
  gauges_.push_back(std::make_unique<Gauge>());
  Gauge* g = gauges_.back().get();
  Entry e{std::move(name), std::move(help), Kind::kGauge};
  e.gauge = g;
  entries_.push_back(std::move(e));
  return g;
}

Result<Histogram*> Registry::AddHistogram(std::string name, std::string help, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  CAIRN_RETURN_IF_ERROR(CheckNewName(name, help, Kind::kHistogram));
  auto h = Histogram::Create(std::move(bounds));
  if (!h) return Fail(std::move(h).error().Context("metric '" + name + "'"));
  histograms_.push_back(std::move(*h));
  Histogram* p = histograms_.back().get();
  Entry e{std::move(name), std::move(help), Kind::kHistogram};
  e.histogram = p;
  entries_.push_back(std::move(e));
  return p;
}

Result<LabeledCounter*> Registry::AddLabeledCounter(std::string name, std::string help, std::string label_name,
                                                    std::vector<std::string> allowed_values) {
  std::lock_guard lock(mu_);
  CAIRN_RETURN_IF_ERROR(CheckNewName(name, help, Kind::kLabeledCounter));
  if (!IsValidLabelName(label_name)) {
    return Fail(ErrorCode::kInvalidArgument, "metric '" + name + "': '" + label_name + "' is not a valid label name");
  }
  if (allowed_values.empty() || allowed_values.size() > kMaxLabelValues) {
    return Fail(ErrorCode::kInvalidArgument, "metric '" + name + "': a label needs 1 to " +
                                                 std::to_string(kMaxLabelValues) + " allowed values, not " +
                                                 std::to_string(allowed_values.size()));
  }
  auto lc = std::unique_ptr<LabeledCounter>(new LabeledCounter(name, label_name, *dropped_));
  for (auto& v : allowed_values) {
    if (!IsValidLabelValue(v)) {
      return Fail(ErrorCode::kInvalidArgument, "metric '" + name + "': label values must match [A-Za-z0-9._:-]{1,64}");
    }
    if (lc->children_.contains(v)) {
      return Fail(ErrorCode::kInvalidArgument, "metric '" + name + "': label value '" + v + "' is listed twice");
    }
    lc->children_.emplace(v, std::make_unique<Counter>());
    lc->order_.push_back(std::move(v));
  }
  labeled_.push_back(std::move(lc));
  LabeledCounter* p = labeled_.back().get();
  Entry e{std::move(name), std::move(help), Kind::kLabeledCounter};
  e.labeled = p;
  entries_.push_back(std::move(e));
  return p;
}

std::string Registry::RenderText() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(entries_.size() * 160);
  for (const auto& e : entries_) {
    int type = e.kind == Kind::kGauge ? 1 : e.kind == Kind::kHistogram ? 2 : 0;
    out += "# HELP " + e.name + " " + EscapeHelp(e.help) + "\n";
    out += "# TYPE " + e.name + " " + TypeName(type) + "\n";
    switch (e.kind) {
      case Kind::kCounter:
        out += e.name + " " + std::to_string(e.counter->value()) + "\n";
        break;
      case Kind::kGauge:
        out += e.name + " " + FormatValue(e.gauge->value()) + "\n";
        break;
      case Kind::kHistogram: {
        auto s = e.histogram->snapshot();
        for (std::size_t i = 0; i < s.bounds.size(); ++i) {
          out += e.name + "_bucket{le=\"" + FormatValue(s.bounds[i]) + "\"} " + std::to_string(s.cumulative[i]) + "\n";
        }
        out += e.name + "_bucket{le=\"+Inf\"} " + std::to_string(s.cumulative.back()) + "\n";
        out += e.name + "_sum " + FormatValue(s.sum) + "\n";
        out += e.name + "_count " + std::to_string(s.count) + "\n";
        break;
      }
      case Kind::kLabeledCounter:
        // Values match [A-Za-z0-9._:-]: nothing to escape.
        for (const auto& v : e.labeled->order_) {
          out += e.name + "{" + e.labeled->label_name_ + "=\"" + v + "\"} " +
                 std::to_string(e.labeled->children_.find(v)->second->value()) + "\n";
        }
        break;
    }
  }
  return out;
}

}  // namespace cairn::metrics
