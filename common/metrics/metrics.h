// Metrics: counters, gauges and fixed-bucket histograms in a registry that renders the
// Prometheus text exposition format 0.0.4.
//
// What it protects: a metric is an operator-visible side channel out of the enclave. A label
// value can only be one of the values fixed when the metric was registered (participant ids,
// reject-code names, round statuses: metadata), and must match [A-Za-z0-9._:-]{1,64}; there is
// no way to put a number or a string computed from data into a label. Metric values are counts,
// sizes, durations and privacy parameters set by the code, never model or data values.
//
// Ownership: the registry owns every metric; the pointers it hands out stay valid for the
// registry's lifetime (register once at start-up, keep the pointers, update them on hot paths).
//
// Thread safety: updating a metric (Increment, Set, Observe) is lock-free and may happen on any
// thread; registration and rendering take the registry's lock. A render concurrent with updates
// sees each value atomically, not all values at one instant.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"

namespace cairn::metrics {

// Bounds (what they protect: the size of a scrape and of the registry's memory).
constexpr std::size_t kMaxLabelValues = 4096;      // allowed values of one labeled metric
constexpr std::size_t kMaxLabelValueLength = 64;   // characters of one label value
constexpr std::size_t kMaxHistogramBuckets = 64;   // finite upper bounds of one histogram
constexpr std::size_t kMaxMetrics = 256;           // metric names in one registry

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"
bool IsValidLabelName(std::string_view name);
// [A-Za-z0-9._:-]{1,64}: identifiers and code names, nothing that needs escaping.
bool IsValidLabelValue(std::string_view value);

// A monotonically increasing count (events, bytes).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (connected participants, ε spent, model version).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets with fixed upper bounds (plus the implicit +Inf bucket).
class Histogram {
 public:
  struct Snapshot {
    std::vector<double> bounds;               // finite upper bounds, increasing
    std::vector<std::uint64_t> cumulative;    // count of observations <= bounds[i]; then +Inf
    std::uint64_t count = 0;                  // == cumulative.back()
    double sum = 0;
  };

  // Bounds must be finite and strictly increasing, 1..kMaxHistogramBuckets of them.
  static Result<std::unique_ptr<Histogram>> Create(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // NaN is ignored (it has no bucket); ±Inf lands in the first / the +Inf bucket and in the sum.
  void Observe(double v);
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  explicit Histogram(std::vector<double> bounds);
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket, not cumulative; +Inf last
  std::atomic<double> sum_{0};
};

// A counter with one label whose values are fixed at registration: one child per value, all
// present (at 0) from the start, so a scrape always shows the full set.
class LabeledCounter {
 public:
  LabeledCounter(const LabeledCounter&) = delete;
  LabeledCounter& operator=(const LabeledCounter&) = delete;

  const std::string& label_name() const { return label_name_; }
  // The child for `value`; kInvalidArgument naming the value and the metric when it is not one
  // of the registered values. Resolve once, keep the pointer.
  Result<Counter*> With(std::string_view value) const;
  // Increments the child for `value`; a value outside the registered set is dropped and counted
  // in the registry's cairn_metrics_dropped_label_values_total. Lock-free lookup (the set of
  // children never changes after registration).
  void Increment(std::string_view value, std::uint64_t n = 1) const;

 private:
  friend class Registry;
  LabeledCounter(std::string metric_name, std::string label_name, Counter& dropped);
  std::string metric_name_;
  std::string label_name_;
  std::vector<std::string> order_;                                  // registration order
  std::map<std::string, std::unique_ptr<Counter>, std::less<>> children_;
  Counter& dropped_;
};

class Registry {
 public:
  // Registers cairn_metrics_dropped_label_values_total itself.
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Errors: kInvalidArgument for a bad name, help, label or bucket; kAlreadyExists for a name
  // registered twice; kResourceExhausted past kMaxMetrics. Counter names must end in "_total".
  Result<Counter*> AddCounter(std::string name, std::string help);
  Result<Gauge*> AddGauge(std::string name, std::string help);
  Result<Histogram*> AddHistogram(std::string name, std::string help, std::vector<double> bounds);
  // `allowed_values`: every value the label may take (duplicates are an error).
  Result<LabeledCounter*> AddLabeledCounter(std::string name, std::string help, std::string label_name,
                                            std::vector<std::string> allowed_values);

  // Prometheus text exposition format 0.0.4, metrics in registration order.
  std::string RenderText() const;

  // Label values refused by LabeledCounter::Increment (a bug in the caller, visible in scrapes).
  std::uint64_t dropped_label_values() const { return dropped_->value(); }

 private:
  enum class Kind { kCounter, kGauge, kHistogram, kLabeledCounter };
  struct Entry {
    std::string name;
    std::string help;
    Kind kind;
    Counter* counter = nullptr;
    Gauge* gauge = nullptr;
    Histogram* histogram = nullptr;
    LabeledCounter* labeled = nullptr;
  };
  Status CheckNewName(const std::string& name, const std::string& help, Kind kind) const;

  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  std::vector<std::unique_ptr<Counter>> counters_;
  std::vector<std::unique_ptr<Gauge>> gauges_;
  std::vector<std::unique_ptr<Histogram>> histograms_;
  std::vector<std::unique_ptr<LabeledCounter>> labeled_;
  Counter* dropped_ = nullptr;
};

// A value in exposition format: integers exactly, others shortest round-trip; "+Inf", "-Inf", "NaN".
std::string FormatValue(double v);

}  // namespace cairn::metrics
