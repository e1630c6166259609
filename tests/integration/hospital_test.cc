// The real binaries on loopback: the hospital federation end to end, and bad input of every
// kind at the command line. Waits on readiness lines and process exits, never on sleeps.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/integration/harness.h"

namespace cairn {
namespace {

using testing::BinDir;
using testing::ReadFile;
using testing::SourceDir;
using testing::Subprocess;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::filesystem::path Dataset() { return SourceDir() / "build" / "datasets" / "breast_cancer.csv"; }

class Hospital : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(Dataset())) {
      GTEST_SKIP() << Dataset() << " not found (scripts/setup.sh fetches it): skipping the hospital federation";
    }
    dir_ = testing::MakeTempDir("hospital");
  }
  void TearDown() override {
    std::error_code ec;
    if (!HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  // Runs a command to completion; returns its exit status and stdout.
  std::pair<int, std::string> Run(const std::vector<std::string>& argv, const std::string& name,
                                  seconds timeout = seconds(120)) {
    auto p = Subprocess::Start(argv, dir_ / (name + ".stderr"), dir_);
    EXPECT_TRUE(p);
    auto status = p->Wait(timeout);
    EXPECT_TRUE(status) << name << " did not finish in time";
    return {status.value_or(-1), p->output()};
  }
  std::string Stderr(const std::string& name) { return ReadFile(dir_ / (name + ".stderr")); }

  void MakeFederation(int rounds) {
    auto [status, out] = Run({"/bin/bash", (SourceDir() / "examples/hospital/make-federation.sh").string(),
                              "--work-dir", (dir_ / "fed").string(), "--rounds", std::to_string(rounds),
                              "--bin-dir", BinDir().string()},
                             "make-federation", seconds(300));
    ASSERT_EQ(status, 0) << Stderr("make-federation");
  }

  std::unique_ptr<Subprocess> StartAggregator(const std::filesystem::path& config, std::string* endpoint) {
    auto agg = Subprocess::Start({(BinDir() / "cairn-aggregator").string(), "run", "--config", config.string(),
                                  "--attestation", "sim"},
                                 dir_ / "aggregator.stderr", dir_);
    auto ready = agg->WaitForLine("cairn-aggregator: ready", seconds(60));
    EXPECT_TRUE(ready) << ReadFile(dir_ / "aggregator.stderr");
    if (ready) {
      std::smatch m;
      std::regex re("attestation=(\\S+)");
      if (std::regex_search(*ready, m, re)) *endpoint = m[1];
    }
    return agg;
  }

  std::filesystem::path dir_;
};

TEST_F(Hospital, TenRoundsReachAccuracyAtLeast093) {
  MakeFederation(10);
  auto fed = dir_ / "fed";
  std::string endpoint;
  auto agg = StartAggregator(fed / "federation.toml", &endpoint);
  ASSERT_FALSE(endpoint.empty());
  std::vector<std::unique_ptr<Subprocess>> hospitals;
  for (int n = 1; n <= 3; ++n) {
    hospitals.push_back(Subprocess::Start({(BinDir() / "cairn-participant").string(), "run", "--config",
                                           (fed / ("hospital-" + std::to_string(n) + ".toml")).string(),
                                           "--aggregator", endpoint},
                                          dir_ / ("hospital-" + std::to_string(n) + ".stderr"), dir_));
  }
  for (int n = 0; n < 3; ++n) {
    auto st = hospitals[n]->Wait(seconds(300));
    ASSERT_TRUE(st);
    EXPECT_EQ(*st, 0) << ReadFile(dir_ / ("hospital-" + std::to_string(n + 1) + ".stderr"));
  }
  auto st = agg->Wait(seconds(60));
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, 0) << ReadFile(dir_ / "aggregator.stderr");
  auto [rs, report] = Run({(BinDir() / "cairn-aggregator").string(), "report", "--state-dir",
                           (fed / "aggregator-state").string(), "--json"},
                          "report");
  ASSERT_EQ(rs, 0) << Stderr("report");
  std::istringstream in(report);
  std::string line, last;
  int completed = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["status"] == "completed") ++completed;
    last = line;
  }
  EXPECT_EQ(completed, 10);
  auto j = nlohmann::json::parse(last);
  ASSERT_TRUE(j.contains("eval_accuracy")) << last;
  EXPECT_GE(j["eval_accuracy"].get<double>(), 0.93) << report;
}

TEST_F(Hospital, BadInputGivesClearErrorsAndNonZeroExits) {
  MakeFederation(2);
  auto fed = dir_ / "fed";
  // Unknown config key: names the key and the file.
  {
    std::string text = ReadFile(fed / "federation.toml");
    text.replace(text.find("rounds ="), 8, "roundz =");
    std::ofstream(dir_ / "typo.toml") << text;
    auto [status, out] = Run({(BinDir() / "cairn-aggregator").string(), "run", "--config",
                              (dir_ / "typo.toml").string(), "--attestation", "sim"},
                             "typo");
    EXPECT_EQ(status, 1);
    auto err = Stderr("typo");
    EXPECT_NE(err.find("unknown key 'federation.roundz'"), std::string::npos) << err;
    EXPECT_NE(err.find("typo.toml"), std::string::npos) << err;
  }
  // Port in use: a second aggregator on the first one's port.
  {
    std::string endpoint;
    auto first = StartAggregator(fed / "federation.toml", &endpoint);
    ASSERT_FALSE(endpoint.empty());
    std::string text = ReadFile(fed / "federation.toml");
    text.replace(text.find("tcp://127.0.0.1:0"), 17, endpoint);
    std::ofstream(dir_ / "same-port.toml") << text;
    auto [status, out] = Run({(BinDir() / "cairn-aggregator").string(), "run", "--config",
                              (dir_ / "same-port.toml").string(), "--attestation", "sim", "--state-dir",
                              (dir_ / "other-state").string()},
                             "same-port");
    EXPECT_EQ(status, 1);
    EXPECT_NE(Stderr("same-port").find("already in use"), std::string::npos) << Stderr("same-port");
    first->Kill(SIGKILL);
  }
  // Unreachable aggregator: retries with backoff, then a clear error.
  {
    std::string text = ReadFile(fed / "hospital-1.toml");
    text += "\n[connect]\nattempts = 2\ninitial_backoff_ms = 10\nrequest_timeout_ms = 300\n";
    std::ofstream(fed / "unreachable.toml") << text;
    auto [status, out] = Run({(BinDir() / "cairn-participant").string(), "run", "--config",
                              (fed / "unreachable.toml").string(), "--aggregator", "tcp://127.0.0.1:9"},
                             "unreachable");
    EXPECT_EQ(status, 1);
    EXPECT_NE(Stderr("unreachable").find("no answer from the aggregator at tcp://127.0.0.1:9 after 2 attempts"),
              std::string::npos)
        << Stderr("unreachable");
  }
  // Malformed CSV: names file, line and column.
  {
    std::string csv = ReadFile(fed / "data/site-1.csv");
    auto second_line = csv.find('\n') + 1;
    csv.replace(second_line, csv.find(',', second_line) - second_line, "abc");
    std::ofstream(fed / "bad.csv") << csv;
    auto [status, out] = Run({(BinDir() / "cairn-participant").string(), "run", "--config",
                              (fed / "hospital-1.toml").string(), "--data", (fed / "bad.csv").string(),
                              "--aggregator", "tcp://127.0.0.1:9"},
                             "badcsv");
    EXPECT_EQ(status, 1);
    auto err = Stderr("badcsv");
    EXPECT_NE(err.find("bad.csv"), std::string::npos) << err;
    EXPECT_NE(err.find("line 2"), std::string::npos) << err;
    EXPECT_NE(err.find("column 1"), std::string::npos) << err;
  }
  // Missing model file (a TorchScript federation whose model file does not exist).
  {
    std::string text = ReadFile(fed / "federation.toml");
    auto pos = text.find("[model]");
    auto end = text.find("[task]");
    text.replace(pos, end - pos, "[model]\nkind = \"torchscript\"\npath = \"missing.pt\"\nsha256 = \"" +
                                     std::string(64, 'a') + "\"\ninputs = 30\nclasses = 2\n\n");
    std::ofstream(dir_ / "nomodel.toml") << text;
    auto [status, out] = Run({(BinDir() / "cairn-aggregator").string(), "run", "--config",
                              (dir_ / "nomodel.toml").string(), "--attestation", "sim"},
                             "nomodel");
    EXPECT_EQ(status, 1);
    EXPECT_NE(Stderr("nomodel").find("error:"), std::string::npos) << Stderr("nomodel");
  }
  // No stack traces anywhere.
  for (const char* name : {"typo", "same-port", "unreachable", "badcsv", "nomodel"}) {
    EXPECT_EQ(Stderr(name).find("terminate called"), std::string::npos) << name;
    EXPECT_EQ(Stderr(name).find("Aborted"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace cairn
