// A hospital federation with `--metrics-listen 127.0.0.1:0`: /metrics and /healthz read before
// any participant connects, and again in the middle of the run. The middle is made deterministic
// without sleeping: hospital-1 logs "result_verified" for round 1 (so the aggregator has counted
// round 1 already), and is then stopped (SIGSTOP), so round 3 cannot complete and the aggregator is
// certainly still serving while it is scraped; SIGCONT lets the run finish.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/core/file.h"
#include "tests/metrics/exposition.h"
#include "tests/support/process.h"

namespace cairn::testing_support {
namespace {

using std::chrono::seconds;

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (BinDir().empty() || SourceDir().empty()) GTEST_SKIP() << "CAIRN_BIN_DIR/CAIRN_SOURCE_DIR not set: run through ctest";
    for (const char* b : {"cairn-aggregator", "cairn-participant", "cairn-data"}) {
      if (!std::filesystem::exists(BinDir() / b)) GTEST_SKIP() << BinDir() / b << " not built (needs libtorch)";
    }
    if (!std::filesystem::exists(SourceDir() / "build" / "datasets" / "breast_cancer.csv")) {
      GTEST_SKIP() << "build/datasets/breast_cancer.csv not found (scripts/setup.sh fetches it)";
    }
    SubprocessOptions help;
    help.args = {(BinDir() / "cairn-aggregator").string(), "run", "--help"};
    auto h = RunToCompletion(help, seconds(60));
    ASSERT_TRUE(h);
    if (h->stdout_text.find("--metrics-listen") == std::string::npos) {
      GTEST_SKIP() << "cairn-aggregator run has no --metrics-listen yet (the metrics wiring is pending)";
    }
    work_ = std::filesystem::temp_directory_path() / ("cairn-metrics-run-" + std::to_string(::getpid()));
    std::filesystem::remove_all(work_);
  }
  void TearDown() override {
    if (!work_.empty() && !::testing::Test::HasFailure()) std::filesystem::remove_all(work_);
  }

  struct Scrape {
    Exposition metrics;
    int health_status = 0;
    nlohmann::json health;
  };
  Result<Scrape> Get(const std::string& host, int port) {
    httplib::Client c(host, port);
    c.set_read_timeout(std::chrono::seconds(30));
    auto m = c.Get("/metrics");
    if (!m || m->status != 200) return Fail(ErrorCode::kUnavailable, "GET /metrics failed");
    Scrape s;
    CAIRN_ASSIGN_OR_RETURN(s.metrics, ParseExposition(m->body));
    auto h = c.Get("/healthz");
    if (!h) return Fail(ErrorCode::kUnavailable, "GET /healthz failed");
    s.health_status = h->status;
    s.health = nlohmann::json::parse(h->body);
    return s;
  }

  std::filesystem::path work_;
};

TEST_F(MetricsEndpointTest, ScrapesBeforeAndDuringARun) {
  SubprocessOptions make;
  make.args = {(SourceDir() / "examples" / "hospital" / "make-federation.sh").string(), "--work-dir", work_.string(),
               "--rounds", "4", "--bin-dir", BinDir().string()};
  auto made = RunToCompletion(make, seconds(300));
  ASSERT_TRUE(made && made->exit_code == 0);

  SubprocessOptions agg;
  agg.args = {(BinDir() / "cairn-aggregator").string(), "run", "--config", "federation.toml", "--attestation", "sim",
              "--metrics-listen", "127.0.0.1:0", "--log-format", "json"};
  agg.working_dir = work_;
  agg.stderr_file = work_ / "aggregator.log";
  auto aggregator = Subprocess::Spawn(agg);
  ASSERT_TRUE(aggregator) << aggregator.error().message();
  auto ready = aggregator->WaitForLine("cairn-aggregator: ready ", seconds(120));
  ASSERT_TRUE(ready) << ready.error().message();
  auto at = ready->find(" metrics=http://");
  ASSERT_NE(at, std::string::npos) << "the ready line names the metrics endpoint: " << *ready;
  std::string hostport = ready->substr(at + 16, ready->find(' ', at + 1) - at - 16);
  std::string host = hostport.substr(0, hostport.rfind(':'));
  int port = std::stoi(hostport.substr(hostport.rfind(':') + 1));
  ASSERT_GT(port, 0);
  std::string endpoint = ready->substr(ready->find("attestation=") + 12);
  endpoint = endpoint.substr(0, endpoint.find(' '));

  // Before anyone joins.
  auto before = Get(host, port);
  ASSERT_TRUE(before) << before.error().message();
  const auto& b = before->metrics.samples;
  EXPECT_EQ(b.at("cairn_rounds_total{status=\"completed\"}"), 0);
  EXPECT_EQ(b.at("cairn_participants_connected"), 0);
  EXPECT_EQ(b.at("cairn_round_duration_seconds_count"), 0);
  EXPECT_EQ(b.at("cairn_bytes_in_total"), 0);
  EXPECT_EQ(before->health_status, 200);
  EXPECT_EQ(before->health["status"], "ok");

  std::vector<Subprocess> hospitals;
  for (int n = 1; n <= 3; ++n) {
    SubprocessOptions h;
    h.args = {(BinDir() / "cairn-participant").string(), "run", "--config", "hospital-" + std::to_string(n) + ".toml",
              "--aggregator", endpoint, "--log-format", "json"};
    h.working_dir = work_;
    if (n == 1) {
      h.stderr_to_stdout = true;  // its log lines are what we wait on
    } else {
      h.stderr_file = work_ / ("hospital-" + std::to_string(n) + ".log");
    }
    auto p = Subprocess::Spawn(h);
    ASSERT_TRUE(p) << p.error().message();
    hospitals.push_back(std::move(*p));
  }
  auto verified = hospitals[0].WaitForLineMatching(
      [](std::string_view l) {
        return l.find("\"event\":\"result_verified\"") != std::string_view::npos &&
               l.find("\"round\":1,") != std::string_view::npos;
      },
      "hospital-1's result_verified for round 1", seconds(600));
  ASSERT_TRUE(verified) << verified.error().message();
  hospitals[0].Kill(SIGSTOP);

  // The engine sets /healthz when it publishes a result, before any participant receives it:
  // once hospital-1 has verified round 1, /healthz already names round 2 or later.
  auto during = Get(host, port);
  hospitals[0].Kill(SIGCONT);
  ASSERT_TRUE(during) << during.error().message();
  const auto& d = during->metrics.samples;
  EXPECT_GE(d.at("cairn_rounds_total{status=\"completed\"}"), 1);
  EXPECT_LE(d.at("cairn_rounds_total{status=\"completed\"}"), 2) << "hospital-1 is stopped before round 3";
  EXPECT_EQ(d.at("cairn_participants_connected"), 3);
  EXPECT_GT(d.at("cairn_bytes_in_total"), 0);
  EXPECT_GT(d.at("cairn_bytes_out_total"), 0);
  EXPECT_GE(d.at("cairn_round_duration_seconds_count"), 1);
  EXPECT_GE(d.at("cairn_model_version"), 1);
  EXPECT_GE(d.at("cairn_current_round"), 2);
  EXPECT_EQ(d.at("cairn_metrics_dropped_label_values_total"), 0);
  EXPECT_EQ(during->health_status, 200);
  EXPECT_GE(during->health["round"].get<int>(), 2);
  EXPECT_NE(during->health["phase"], "done");

  for (auto& h : hospitals) {
    auto code = h.Wait(seconds(600));
    ASSERT_TRUE(code) << code.error().message();
    EXPECT_EQ(*code, 0);
  }
  auto code = aggregator->Wait(seconds(120));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << *ReadFileText(work_ / "aggregator.log");
}

}  // namespace
}  // namespace cairn::testing_support
