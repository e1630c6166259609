#include "common/metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include "common/metrics/aggregator_metrics.h"
#include "tests/metrics/exposition.h"

namespace cairn::metrics {
namespace {

TEST(Metrics, NamesAndLabelValuesAreValidated) {
  EXPECT_TRUE(IsValidMetricName("cairn_rounds_total"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_FALSE(IsValidMetricName("9lives"));
  EXPECT_FALSE(IsValidMetricName("has space"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("reason"));
  EXPECT_FALSE(IsValidLabelName("__reserved"));
  EXPECT_FALSE(IsValidLabelName("a-b"));
  EXPECT_TRUE(IsValidLabelValue("hospital-1"));
  EXPECT_TRUE(IsValidLabelValue("norm-too-large"));
  EXPECT_FALSE(IsValidLabelValue(""));
  EXPECT_FALSE(IsValidLabelValue("0.123 4"));
  EXPECT_FALSE(IsValidLabelValue("a\"b"));
  EXPECT_FALSE(IsValidLabelValue("a\nb"));
  EXPECT_FALSE(IsValidLabelValue(std::string(65, 'a')));
}

TEST(Metrics, RegistrationErrors) {
  Registry r;
  EXPECT_TRUE(r.AddCounter("x_total", "help"));
  auto dup = r.AddCounter("x_total", "help");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), ErrorCode::kAlreadyExists);
  auto no_total = r.AddCounter("events", "help");
  ASSERT_FALSE(no_total);
  EXPECT_NE(no_total.error().message().find("_total"), std::string::npos);
  EXPECT_FALSE(r.AddGauge("bad name", "help"));
  EXPECT_FALSE(r.AddGauge("g", ""));
  EXPECT_FALSE(r.AddHistogram("h", "help", {}));
  EXPECT_FALSE(r.AddHistogram("h", "help", {1, 1}));
  EXPECT_FALSE(r.AddHistogram("h", "help", {2, 1}));
  EXPECT_FALSE(r.AddHistogram("h", "help", {1, std::numeric_limits<double>::infinity()}));
  EXPECT_TRUE(r.AddHistogram("h", "help", {1, 2}));
  // A histogram owns its _bucket, _sum and _count series.
  EXPECT_FALSE(r.AddGauge("h_sum", "help"));
  EXPECT_FALSE(r.AddGauge("h_count", "help"));
  // Labels: fixed set of identifier-like values, no duplicates, valid label name.
  EXPECT_FALSE(r.AddLabeledCounter("l_total", "help", "reason", {}));
  EXPECT_FALSE(r.AddLabeledCounter("l_total", "help", "reason", {"a", "a"}));
  EXPECT_FALSE(r.AddLabeledCounter("l_total", "help", "reason", {std::string("0.5372 x")}));
  EXPECT_FALSE(r.AddLabeledCounter("l_total", "help", "re-ason", {"a"}));
  EXPECT_TRUE(r.AddLabeledCounter("l_total", "help", "reason", {"a", "b"}));
}

TEST(Metrics, RegistryIsBounded) {
  Registry r;  // holds cairn_metrics_dropped_label_values_total already
  Status last = Ok();
  for (std::size_t i = 0; i < kMaxMetrics + 1; ++i) {
    auto g = r.AddGauge("g" + std::to_string(i), "help");
    if (!g) {
      last = Fail(g.error());
      break;
    }
  }
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code(), ErrorCode::kResourceExhausted);
}

TEST(Metrics, LabeledCounterAcceptsOnlyRegisteredValues) {
  Registry r;
  auto lc = r.AddLabeledCounter("cairn_rejections_total", "help", "reason", {"malformed", "norm-too-large"});
  ASSERT_TRUE(lc);
  auto c = (*lc)->With("norm-too-large");
  ASSERT_TRUE(c);
  (*c)->Increment(2);
  (*lc)->Increment("malformed");
  // A value outside the set (e.g. something computed from data) never becomes a series.
  auto refused = (*lc)->With("0.731");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  auto garbage = (*lc)->With("x\"} 1\ninjected 2");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().message().find("injected"), std::string::npos);
  (*lc)->Increment("0.731");
  (*lc)->Increment("x\"} 1\ninjected 2");
  EXPECT_EQ(r.dropped_label_values(), 2u);
  std::string text = r.RenderText();
  EXPECT_NE(text.find("cairn_rejections_total{reason=\"norm-too-large\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("cairn_rejections_total{reason=\"malformed\"} 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("0.731"), std::string::npos);
  EXPECT_EQ(text.find("injected"), std::string::npos);
  EXPECT_NE(text.find("cairn_metrics_dropped_label_values_total 2\n"), std::string::npos) << text;
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  auto h = Histogram::Create({1, 2.5, 10});
  ASSERT_TRUE(h);
  for (double v : {0.5, 1.0, 2.0, 2.5, 3.0, 100.0, std::nan("")}) (*h)->Observe(v);
  auto s = (*h)->snapshot();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);  // 0.5, 1.0 (le is inclusive)
  EXPECT_EQ(s.cumulative[1], 4u);  // + 2.0, 2.5
  EXPECT_EQ(s.cumulative[2], 5u);  // + 3.0
  EXPECT_EQ(s.cumulative[3], 6u);  // + 100 (+Inf); NaN ignored
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 109.0);
}

TEST(Metrics, ValuesFormatAsPrometheusExpects) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1.5e-5), "1.5e-05");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(Metrics, AggregatorSetRendersAValidExposition) {
  Registry r;
  AggregatorMetricsOptions o;
  o.round_statuses = {"completed", "failed-quorum", "aborted"};
  o.rejection_reasons = {"malformed", "norm-too-large", "duplicate"};
  auto m = AggregatorMetrics::Create(r, o);
  ASSERT_TRUE(m) << m.error().message();
  for (auto [status, seconds] : {std::pair{"completed", 1.7}, {"completed", 0.2}, {"failed-quorum", 60.0}}) {
    m->rounds_total->Increment(status);
    m->round_duration_seconds->Observe(seconds);
  }
  m->bytes_in_total->Increment(12'400'000);
  m->bytes_out_total->Increment(300);
  m->participants_connected->Set(3);
  m->epsilon_spent->Set(1.25);
  m->model_version->Set(2);
  m->chunks_dropped_total->Increment();
  m->rejections_total->Increment("duplicate");
  m->current_round->Set(4);
  m->state_write_failures_total->Increment("checkpoint");
  m->state_write_failures_total->Increment("checkpoint");
  m->state_write_failures_total->Increment("not-a-state-file");  // dropped, counted as a bug

  std::string text = r.RenderText();
  auto parsed = testing_support::ParseExposition(text);
  ASSERT_TRUE(parsed) << parsed.error().message() << "\n" << text;
  const auto& samples = parsed->samples;
  EXPECT_EQ(samples.at("cairn_rounds_total{status=\"completed\"}"), 2);
  EXPECT_EQ(samples.at("cairn_rounds_total{status=\"failed-quorum\"}"), 1);
  EXPECT_EQ(samples.at("cairn_rounds_total{status=\"aborted\"}"), 0);
  EXPECT_EQ(samples.at("cairn_bytes_in_total"), 12'400'000);
  EXPECT_EQ(samples.at("cairn_bytes_out_total"), 300);
  EXPECT_EQ(samples.at("cairn_participants_connected"), 3);
  EXPECT_EQ(samples.at("cairn_epsilon_spent"), 1.25);
  EXPECT_EQ(samples.at("cairn_model_version"), 2);
  EXPECT_EQ(samples.at("cairn_chunks_dropped_total"), 1);
  EXPECT_EQ(samples.at("cairn_rejections_total{reason=\"duplicate\"}"), 1);
  EXPECT_EQ(samples.at("cairn_current_round"), 4);
  EXPECT_EQ(samples.at("cairn_state_write_failures_total{file=\"checkpoint\"}"), 2);
  for (const char* file : {"results", "evaluations", "model", "analytics"}) {
    EXPECT_EQ(samples.at("cairn_state_write_failures_total{file=\"" + std::string(file) + "\"}"), 0) << file;
  }
  EXPECT_EQ(samples.at("cairn_metrics_dropped_label_values_total"), 1);
  EXPECT_EQ(samples.at("cairn_round_duration_seconds_bucket{le=\"0.25\"}"), 1);
  EXPECT_EQ(samples.at("cairn_round_duration_seconds_bucket{le=\"2.5\"}"), 2);
  EXPECT_EQ(samples.at("cairn_round_duration_seconds_bucket{le=\"60\"}"), 3);
  EXPECT_EQ(samples.at("cairn_round_duration_seconds_bucket{le=\"+Inf\"}"), 3);
  EXPECT_EQ(samples.at("cairn_round_duration_seconds_count"), 3);
  EXPECT_DOUBLE_EQ(samples.at("cairn_round_duration_seconds_sum"), 61.9);
  EXPECT_EQ(parsed->types.at("cairn_round_duration_seconds"), "histogram");
  EXPECT_EQ(parsed->types.at("cairn_rounds_total"), "counter");
  EXPECT_EQ(parsed->types.at("cairn_epsilon_spent"), "gauge");

  // A second registration of the set in the same registry is refused.
  EXPECT_FALSE(AggregatorMetrics::Create(r, o));
  // Status values must be label-safe.
  Registry r2;
  o.round_statuses = {"completed", "not ok"};
  EXPECT_FALSE(AggregatorMetrics::Create(r2, o));
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto c = r.AddCounter("c_total", "help");
  auto g = r.AddGauge("g", "help");
  auto h = r.AddHistogram("h", "help", {0.5});
  ASSERT_TRUE(c && g && h);
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        (*c)->Increment();
        (*g)->Add(1);
        (*h)->Observe(1);
        if (i % 1000 == 0) (void)r.RenderText();  // rendering concurrently is safe
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ((*c)->value(), static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_EQ((*g)->value(), static_cast<double>(kThreads * kPerThread));
  EXPECT_EQ((*h)->snapshot().count, static_cast<std::uint64_t>(kThreads * kPerThread));
}

TEST(Metrics, HelpTextIsEscaped) {
  Registry r;
  ASSERT_TRUE(r.AddGauge("g", "line one\nline two \\ end"));
  std::string text = r.RenderText();
  EXPECT_NE(text.find("# HELP g line one\\nline two \\\\ end\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace cairn::metrics
