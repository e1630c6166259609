// scripts/plot-run.sh on a state folder fabricated here (results.jsonl written with
// protocol::ResultToJson, evaluations.jsonl in the aggregator's format).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/core/file.h"
#include "protocol/round_result.h"
#include "tests/support/process.h"

namespace cairn {
namespace {

using testing_support::BinDir;
using testing_support::RunToCompletion;
using testing_support::SourceDir;
using testing_support::SubprocessOptions;

bool HaveGnuplot() {
  SubprocessOptions o;
  o.args = {"/bin/sh", "-c", "command -v gnuplot"};
  auto r = RunToCompletion(o, std::chrono::seconds(30));
  return r && r->exit_code == 0;
}

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (SourceDir().empty() || BinDir().empty()) GTEST_SKIP() << "CAIRN_SOURCE_DIR/CAIRN_BIN_DIR not set: run through ctest";
    if (!std::filesystem::exists(BinDir() / "cairn-aggregator")) {
      GTEST_SKIP() << BinDir() / "cairn-aggregator" << " not built: skipping the plot test";
    }
    if (!HaveGnuplot()) GTEST_SKIP() << "gnuplot not installed (Debian: gnuplot-nox): skipping the plot test";
    dir_ = std::filesystem::temp_directory_path() / ("cairn-plot-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "state");
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Rounds 1..n; round `failed` (if any) failed its quorum.
  void WriteRun(int n, int failed) {
    ASSERT_TRUE(crypto::Init());
    auto key = crypto::Ed25519KeyPair::Generate();
    ASSERT_TRUE(key);
    std::string results, evals;
    Bytes prev;
    std::uint64_t version = 0;
    for (int i = 1; i <= n; ++i) {
      protocol::RoundResult r;
      r.federation_id = "plot-test";
      r.round = static_cast<std::uint64_t>(i);
      r.status = i == failed ? protocol::RoundStatus::kFailedQuorum : protocol::RoundStatus::kCompleted;
      r.contributors = {"a", "b", "c"};
      if (i != failed) ++version;
      r.model_version = version;
      r.epsilon_spent = 0.4 * version;
      r.delta = 1e-5;
      r.platform = "sim";
      r.prev_hash = prev;
      if (i != failed) r.metrics = {{"train_loss", 0.7 / i}, {"participants", 3}};
      protocol::SignResult(r, *key);
      auto h = protocol::ResultHash(r);
      prev.assign(h.begin(), h.end());
      results += protocol::ResultToJson(r) + "\n";
      if (i != failed) {
        for (const char* p : {"a", "b", "c"}) {
          nlohmann::ordered_json j;
          j["participant"] = p;
          j["model_version"] = version;
          j["round"] = i;
          j["accuracy"] = 0.6 + 0.05 * i;
          j["loss"] = 0.8 / i;
          j["examples"] = 40;
          evals += j.dump() + "\n";
        }
      }
    }
    ASSERT_TRUE(WriteFileAtomic(dir_ / "state" / "results.jsonl", results));
    ASSERT_TRUE(WriteFileAtomic(dir_ / "state" / "evaluations.jsonl", evals));
  }

  Result<testing_support::RunOutput> Plot(const std::filesystem::path& out) {
    SubprocessOptions o;
    o.args = {(SourceDir() / "scripts" / "plot-run.sh").string(), (dir_ / "state").string(), out.string(),
              "--bin-dir", BinDir().string()};
    o.stderr_file = dir_ / "plot.err";
    return RunToCompletion(o, std::chrono::seconds(120));
  }

  std::string ErrText() {
    auto t = ReadFileText(dir_ / "plot.err");
    return t ? *t : "";
  }

  std::filesystem::path dir_;
};

void ExpectPng(const std::filesystem::path& path) {
  auto bytes = ReadFileBytes(path);
  ASSERT_TRUE(bytes) << bytes.error().message();
  ASSERT_GT(bytes->size(), 1000u) << "a 900x900 plot is more than a few bytes";
  const std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_TRUE(std::equal(kSignature, kSignature + 8, bytes->begin())) << "PNG signature";
  // IHDR: width and height (big-endian) right after the signature and chunk header.
  ASSERT_GE(bytes->size(), 24u);
  EXPECT_EQ(std::string(bytes->begin() + 12, bytes->begin() + 16), "IHDR");
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t((*bytes)[at]) << 24) | (std::uint32_t((*bytes)[at + 1]) << 16) |
           (std::uint32_t((*bytes)[at + 2]) << 8) | std::uint32_t((*bytes)[at + 3]);
  };
  EXPECT_EQ(be32(16), 900u);
  EXPECT_EQ(be32(20), 900u);
}

TEST_F(PlotTest, RendersAccuracyLossAndEpsilon) {
  WriteRun(6, /*failed=*/3);
  auto out = dir_ / "run.png";
  auto r = Plot(out);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->exit_code, 0) << ErrText();
  EXPECT_EQ(r->stdout_text, out.string() + "\n");
  ExpectPng(out);
}

TEST_F(PlotTest, RunWithoutEvaluationsStillPlots) {
  WriteRun(2, 0);
  std::filesystem::remove(dir_ / "state" / "evaluations.jsonl");
  auto out = dir_ / "no-eval.png";
  auto r = Plot(out);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->exit_code, 0) << ErrText();
  ExpectPng(out);
}

TEST_F(PlotTest, EmptyStateFolderIsAnError) {
  auto out = dir_ / "none.png";
  auto r = Plot(out);
  ASSERT_TRUE(r);
  EXPECT_NE(r->exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace cairn
