// Aggregator crash and restart with the real binaries (issue 6): kill -9 between rounds and
// during a round, a corrupt or foreign checkpoint, and a replayed old checkpoint that the
// participants must detect as a rollback. Waits on log lines and exits, never on sleeps.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>

#include "protocol/round_result.h"
#include "tests/integration/harness.h"

namespace cairn {
namespace {

using std::chrono::seconds;
using testing::BinDir;
using testing::ReadFile;
using testing::SourceDir;
using testing::Subprocess;

class Restart : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(SourceDir() / "build/datasets/breast_cancer.csv")) {
      GTEST_SKIP() << "build/datasets/breast_cancer.csv not found (scripts/setup.sh fetches it): skipping";
    }
    dir_ = testing::MakeTempDir("restart");
  }
  void TearDown() override {
    std::error_code ec;
    if (!HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  void MakeFederation(int rounds) {
    auto p = Subprocess::Start({"/bin/bash", (SourceDir() / "examples/hospital/make-federation.sh").string(),
                                "--work-dir", fed().string(), "--rounds", std::to_string(rounds), "--bin-dir",
                                BinDir().string()},
                               dir_ / "make.stderr", dir_);
    auto st = p->Wait(std::chrono::minutes(5));
    ASSERT_TRUE(st && *st == 0) << ReadFile(dir_ / "make.stderr");
  }
  std::filesystem::path fed() const { return dir_ / "fed"; }
  std::filesystem::path state() const { return fed() / "aggregator-state"; }

  // Starts the aggregator with stderr merged into the pipe, waits for its ready line.
  std::unique_ptr<Subprocess> StartAggregator(const std::filesystem::path& config) {
    auto agg = Subprocess::Start({(BinDir() / "cairn-aggregator").string(), "run", "--config", config.string(),
                                  "--attestation", "sim"},
                                 {}, fed());
    auto ready = agg->WaitForLine("cairn-aggregator: ready", seconds(60));
    EXPECT_TRUE(ready) << agg->output();
    if (ready) {
      std::smatch m;
      std::regex re("attestation=(\\S+)");
      if (std::regex_search(*ready, m, re)) endpoint_ = m[1];
    }
    return agg;
  }
  // The same federation, its attestation endpoint pinned to the port of the first start (the
  // [server] table is not attested, so the config hash is unchanged).
  std::filesystem::path PinnedConfig() {
    std::string text = ReadFile(fed() / "federation.toml");
    text.replace(text.find("tcp://127.0.0.1:0"), 17, endpoint_);
    auto path = fed() / "federation-pinned.toml";
    std::ofstream(path) << text;
    return path;
  }
  std::vector<std::unique_ptr<Subprocess>> StartHospitals(const std::string& tag) {
    std::vector<std::unique_ptr<Subprocess>> out;
    for (int n = 1; n <= 3; ++n) {
      out.push_back(Subprocess::Start({(BinDir() / "cairn-participant").string(), "run", "--config",
                                       (fed() / ("hospital-" + std::to_string(n) + ".toml")).string(),
                                       "--aggregator", endpoint_},
                                      dir_ / (tag + "-hospital-" + std::to_string(n) + ".stderr"), fed()));
    }
    return out;
  }
  std::vector<protocol::RoundResult> Results() { return testing::ReadResults(state()); }

  std::filesystem::path dir_;
  std::string endpoint_;
};

TEST_F(Restart, KillNineBetweenAndDuringRoundsResumesFromTheCheckpoint) {
  MakeFederation(6);
  auto agg = StartAggregator(fed() / "federation.toml");
  ASSERT_FALSE(endpoint_.empty());
  auto pinned = PinnedConfig();
  auto hospitals = StartHospitals("run");

  // Between rounds: right after round 2's checkpoint.
  ASSERT_TRUE(agg->WaitForText("checkpoint_written round=2", seconds(120))) << agg->output();
  agg->Kill(SIGKILL);
  ASSERT_TRUE(agg->Wait(seconds(30)));

  auto agg2 = StartAggregator(pinned);
  EXPECT_NE(agg2->output().find("checkpoint_restored round="), std::string::npos) << agg2->output();
  // During a round: once round 4 is open.
  ASSERT_TRUE(agg2->WaitForText("round_started round=4", seconds(120))) << agg2->output();
  agg2->Kill(SIGKILL);
  ASSERT_TRUE(agg2->Wait(seconds(30)));

  auto agg3 = StartAggregator(pinned);
  auto st = agg3->Wait(seconds(300));
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, 0) << agg3->output();
  for (int n = 0; n < 3; ++n) {
    auto hs = hospitals[n]->Wait(seconds(120));
    ASSERT_TRUE(hs);
    EXPECT_EQ(*hs, 0) << ReadFile(dir_ / ("run-hospital-" + std::to_string(n + 1) + ".stderr"));
  }
  // Nothing lost: six completed rounds in one unbroken chain, across three aggregator lives.
  auto results = Results();
  int completed = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].status == protocol::RoundStatus::kCompleted) ++completed;
    if (i > 0) {
      auto h = protocol::ResultHash(results[i - 1]);
      EXPECT_EQ(results[i].prev_hash, Bytes(h.begin(), h.end())) << "round " << results[i].round;
      EXPECT_GT(results[i].round, results[i - 1].round);
    }
  }
  EXPECT_EQ(completed, 6);
  EXPECT_TRUE(results.back().final);
  // The participants re-attested after each restart.
  std::string log1 = ReadFile(dir_ / "run-hospital-1.stderr");
  EXPECT_NE(log1.find("reattesting"), std::string::npos) << log1;
}

TEST_F(Restart, CorruptOrForeignCheckpointIsRefusedNeverReplacedByAFreshStart) {
  MakeFederation(2);
  auto agg = StartAggregator(fed() / "federation.toml");
  auto hospitals = StartHospitals("first");
  auto st = agg->Wait(seconds(300));
  ASSERT_TRUE(st && *st == 0) << agg->output();
  for (auto& h : hospitals) ASSERT_TRUE(h->Wait(seconds(60)));
  auto checkpoint = state() / "checkpoint.sealed";
  ASSERT_TRUE(std::filesystem::exists(checkpoint));
  std::string original = ReadFile(checkpoint);

  // One flipped byte in the middle.
  std::string corrupt = original;
  corrupt[corrupt.size() / 2] ^= 0x01;
  std::ofstream(checkpoint, std::ios::binary) << corrupt;
  auto bad = Subprocess::Start({(BinDir() / "cairn-aggregator").string(), "run", "--config",
                                (fed() / "federation.toml").string(), "--attestation", "sim"},
                               {}, fed());
  auto bs = bad->Wait(seconds(60));
  ASSERT_TRUE(bs);
  EXPECT_EQ(*bs, 1);
  EXPECT_NE(bad->output().find("cannot open the checkpoint"), std::string::npos) << bad->output();
  EXPECT_NE(bad->output().find("never replaced by a fresh start"), std::string::npos) << bad->output();
  EXPECT_EQ(ReadFile(checkpoint), corrupt) << "the corrupt checkpoint must be left in place";

  // A genuine checkpoint of another configuration (another learning rate).
  std::ofstream(checkpoint, std::ios::binary) << original;
  std::string text = ReadFile(fed() / "federation.toml");
  text.replace(text.find("learning_rate = 0.05"), 20, "learning_rate = 0.06");
  std::ofstream(fed() / "changed.toml") << text;
  auto foreign = Subprocess::Start({(BinDir() / "cairn-aggregator").string(), "run", "--config",
                                    (fed() / "changed.toml").string(), "--attestation", "sim"},
                                   {}, fed());
  auto fs = foreign->Wait(seconds(60));
  ASSERT_TRUE(fs);
  EXPECT_EQ(*fs, 1);
  EXPECT_NE(foreign->output().find("another federation configuration"), std::string::npos) << foreign->output();
}

TEST_F(Restart, ReplayedOldCheckpointIsDetectedAsARollbackByParticipants) {
  MakeFederation(4);
  auto agg = StartAggregator(fed() / "federation.toml");
  ASSERT_FALSE(endpoint_.empty());
  auto pinned = PinnedConfig();
  auto hospitals = StartHospitals("first");
  ASSERT_TRUE(agg->WaitForText("checkpoint_written round=2", seconds(120))) << agg->output();
  // A host keeps a copy of an early checkpoint (renamed into place atomically: either round 2's
  // or round 3's), lets the federation finish, then replays it to reset the privacy ledger.
  std::filesystem::copy_file(state() / "checkpoint.sealed", dir_ / "old.sealed");
  auto st = agg->Wait(seconds(300));
  ASSERT_TRUE(st && *st == 0) << agg->output();
  for (auto& h : hospitals) {
    auto hs = h->Wait(seconds(60));
    ASSERT_TRUE(hs && *hs == 0);
  }
  std::filesystem::copy_file(dir_ / "old.sealed", state() / "checkpoint.sealed",
                             std::filesystem::copy_options::overwrite_existing);
  // With the full results log in place the aggregator itself refuses the older checkpoint.
  auto refused = Subprocess::Start({(BinDir() / "cairn-aggregator").string(), "run", "--config", pinned.string(),
                                    "--attestation", "sim"},
                                   {}, fed());
  auto rs = refused->Wait(seconds(60));
  ASSERT_TRUE(rs);
  EXPECT_EQ(*rs, 1);
  EXPECT_NE(refused->output().find("older than the results"), std::string::npos) << refused->output();
  // A host that also rewinds the log: only the participants can tell.
  std::filesystem::remove(state() / "results.jsonl");
  auto replay = StartAggregator(pinned);
  auto again = StartHospitals("replay");
  for (int n = 0; n < 3; ++n) {
    auto hs = again[n]->Wait(seconds(120));
    ASSERT_TRUE(hs);
    EXPECT_EQ(*hs, 1);
    std::string err = ReadFile(dir_ / ("replay-hospital-" + std::to_string(n + 1) + ".stderr"));
    EXPECT_NE(err.find("rollback detected"), std::string::npos) << err;
  }
  replay->Kill(SIGTERM);
  ASSERT_TRUE(replay->Wait(seconds(60)));
}

}  // namespace
}  // namespace cairn
