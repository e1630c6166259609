// `cairn-aggregator aggregate` logic end to end on temporary files.
#include "aggregator/aggregate_command.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>

#include "aggregator/strategy/strategy.h"
#include "common/core/file.h"

namespace cairn::aggregator {
namespace {

using Vec = std::vector<float>;

class AggregateCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-aggregate-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const Vec& v) {
    Bytes b(4 * v.size());
    std::memcpy(b.data(), v.data(), b.size());  // the test machine is little-endian (x86-64)
    EXPECT_TRUE(WriteFileAtomic(dir_ / name, b));
    return (dir_ / name).string();
  }
  Vec Read(const std::string& name) {
    auto b = ReadFileBytes(dir_ / name);
    EXPECT_TRUE(b);
    if (!b) return {};
    Vec v(b->size() / 4);
    std::memcpy(v.data(), b->data(), b->size());
    return v;
  }
  int Run(const AggregateArgs& args) {
    out_.str("");
    err_.str("");
    return RunAggregateCommand(args, out_, err_);
  }
  AggregateArgs Args(std::string strategy, std::vector<std::string> updates,
                     std::vector<std::string> params = {}) {
    AggregateArgs a;
    a.strategy = std::move(strategy);
    a.params = std::move(params);
    a.global = dir_ / "global.bin";
    a.updates = std::move(updates);
    a.out = dir_ / "out.bin";
    return a;
  }

  std::filesystem::path dir_;
  std::ostringstream out_, err_;
};

// global [1, 2]; updates [2, 2] weight 1 and [1, 5] weight 3 → [1.25, 4.25] (strategy_test.cc).
TEST_F(AggregateCommandTest, FedAvgWithWeightsWritesTheNewModel) {
  Write("global.bin", {1, 2});
  const auto u1 = Write("u1.bin", {2, 2});
  const auto u2 = Write("u2.bin", {1, 5});
  ASSERT_EQ(Run(Args("fedavg", {u1, u2 + ":3"})), kAggregateOk) << err_.str();
  EXPECT_EQ(Read("out.bin"), (Vec{1.25f, 4.25f}));
  EXPECT_NE(out_.str().find("strategy: fedavg\n"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("params: eta=1\n"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("participants: 2 (total weight 4)"), std::string::npos);
  EXPECT_TRUE(err_.str().empty());
}

// R2 through files: median of the three 4-vectors is 0.5 everywhere; parameters are printed.
TEST_F(AggregateCommandTest, MedianPrintsParameters) {
  Write("global.bin", {0, 0, 0, 0});
  const auto a = Write("a.bin", {1, 0.2f, 0.5f, 1});
  const auto b = Write("b.bin", {0.2f, 0.5f, 1, 0.2f});
  const auto c = Write("c.bin", {0.5f, 1, 0.2f, 0.5f});
  ASSERT_EQ(Run(Args("median", {a, b, c}, {"norm_bound=10", "eta=1"})), kAggregateOk) << err_.str();
  EXPECT_EQ(Read("out.bin"), (Vec{0.5f, 0.5f, 0.5f, 0.5f}));
  EXPECT_NE(out_.str().find("params: eta=1 norm_bound=10\n"), std::string::npos) << out_.str();
}

TEST_F(AggregateCommandTest, SizeMismatchNamesTheFileAndBothSizes) {
  Write("global.bin", {0, 0, 0});
  const auto ok = Write("ok.bin", {1, 1, 1});
  const auto bad = Write("bad.bin", {1, 1});
  ASSERT_EQ(Run(Args("fedavg", {ok, bad})), kAggregateUsageError);
  const std::string e = err_.str();
  EXPECT_NE(e.find(bad), std::string::npos) << e;
  EXPECT_NE(e.find("has 2 float32 values"), std::string::npos) << e;
  EXPECT_NE(e.find("has 3"), std::string::npos) << e;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out.bin"));
}

TEST_F(AggregateCommandTest, InputErrorsExitTwo) {
  Write("global.bin", {0, 0});
  const auto u = Write("u.bin", {1, 1});
  {
    Bytes odd = {1, 2, 3, 4, 5, 6};
    ASSERT_TRUE(WriteFileAtomic(dir_ / "odd.bin", odd));
    EXPECT_EQ(Run(Args("fedavg", {(dir_ / "odd.bin").string()})), kAggregateUsageError);
    EXPECT_NE(err_.str().find("not a positive multiple of 4"), std::string::npos) << err_.str();
  }
  EXPECT_EQ(Run(Args("fedavg", {(dir_ / "missing.bin").string()})), kAggregateUsageError);
  EXPECT_NE(err_.str().find("missing.bin"), std::string::npos) << err_.str();
  EXPECT_EQ(Run(Args("fedavg", {u}, {"beta2=0.9"})), kAggregateUsageError);
  EXPECT_NE(err_.str().find("allowed: eta, norm_bound"), std::string::npos) << err_.str();
  EXPECT_EQ(Run(Args("fedavg", {u}, {"eta"})), kAggregateUsageError);
  EXPECT_NE(err_.str().find("KEY=VALUE"), std::string::npos) << err_.str();
  EXPECT_EQ(Run(Args("fedavg", {u}, {"eta=fast"})), kAggregateUsageError);
  EXPECT_EQ(Run(Args("fedavg", {u}, {"eta=1", "eta=2"})), kAggregateUsageError);
  EXPECT_EQ(Run(Args("fedavg", {u + ":0"})), kAggregateUsageError);
  EXPECT_NE(err_.str().find("weight must be a positive"), std::string::npos) << err_.str();
  EXPECT_EQ(Run(Args("nope", {u})), kAggregateUsageError);
  EXPECT_NE(err_.str().find("unknown strategy"), std::string::npos) << err_.str();
  EXPECT_EQ(Run(Args("fedavg", {})), kAggregateUsageError);
  EXPECT_EQ(Run(Args("bulyan", {u, u, u}, {"f=1"})), kAggregateUsageError);
  EXPECT_NE(err_.str().find("4f + 3"), std::string::npos) << err_.str();
  {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const auto n = Write("nan.bin", {1, nan});
    EXPECT_EQ(Run(Args("fedavg", {n})), kAggregateUsageError);
    EXPECT_NE(err_.str().find("non-finite value at index 1"), std::string::npos) << err_.str();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out.bin"));
}

// Norm bounding in the command's streaming path agrees bit for bit with ApplyRobust's.
TEST_F(AggregateCommandTest, NormBoundStreamingMatchesInProcess) {
  const Vec global = {0.5f, -1, 2};
  const std::vector<Vec> values = {{4, 3, 1}, {0.6f, -0.9f, 2.1f}, {-7, 0, 2}};
  const std::vector<double> weights = {1, 2, 5};
  Write("global.bin", global);
  std::vector<std::string> ups;
  for (std::size_t i = 0; i < values.size(); ++i) {
    ups.push_back(Write("u" + std::to_string(i) + ".bin", values[i]) + ":" +
                  std::to_string(static_cast<int>(weights[i])));
  }
  ASSERT_EQ(Run(Args("fedavg", ups, {"norm_bound=1.5"})), kAggregateOk) << err_.str();

  auto s = strategy::MakeStrategy("fedavg", {{"norm_bound", 1.5}}, 3);
  ASSERT_TRUE(s);
  Vec x = global;
  std::vector<Vec> deltas;
  for (const auto& v : values) {
    Vec d(3);
    for (int j = 0; j < 3; ++j) d[j] = v[j] - global[j];
    deltas.push_back(d);
  }
  std::vector<std::span<const float>> spans(deltas.begin(), deltas.end());
  ASSERT_TRUE((*s)->ApplyRobust(x, spans, weights));
  const Vec got = Read("out.bin");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(0, std::memcmp(got.data(), x.data(), 12));
}

// Two FedAdam rounds through the command with --state-out/--state-in equal two rounds in process.
TEST_F(AggregateCommandTest, StateCarriesAcrossRuns) {
  const Vec g0 = {0.1f, 0.2f};
  const Vec u = {0.3f, -0.4f};
  Write("global.bin", g0);
  const auto up = Write("u.bin", u);
  auto args = Args("fedadam", {up}, {"eta=0.05", "tau=0.001"});
  args.state_out = dir_ / "state1";
  ASSERT_EQ(Run(args), kAggregateOk) << err_.str();
  const Vec g1 = Read("out.bin");
  Write("global.bin", g1);
  args.state_in = dir_ / "state1";
  args.state_out = dir_ / "state2";
  ASSERT_EQ(Run(args), kAggregateOk) << err_.str();
  const Vec g2 = Read("out.bin");

  auto s = strategy::MakeStrategy("fedadam", {{"eta", 0.05}, {"tau", 0.001}}, 2);
  ASSERT_TRUE(s);
  Vec x = g0;
  for (int r = 0; r < 2; ++r) {
    Vec d = {u[0] - x[0], u[1] - x[1]};
    std::vector<std::span<const float>> spans = {d};
    ASSERT_TRUE((*s)->ApplyRobust(x, spans, std::vector<double>{1}));
    if (r == 0) {
      EXPECT_EQ(x, g1);
    }
  }
  EXPECT_EQ(x, g2);
  auto st2 = ReadFileBytes(dir_ / "state2");
  ASSERT_TRUE(st2);
  EXPECT_EQ(*st2, (*s)->SaveState());

  // State from another strategy is refused.
  auto wrong = Args("fedyogi", {up});
  wrong.state_in = dir_ / "state2";
  EXPECT_EQ(Run(wrong), kAggregateUsageError);
  EXPECT_NE(err_.str().find("--state-in"), std::string::npos) << err_.str();
}

TEST_F(AggregateCommandTest, UnwritableOutputExitsOne) {
  Write("global.bin", {0});
  const auto u = Write("u.bin", {1});
  auto args = Args("fedavg", {u});
  args.out = dir_ / "no-such-dir" / "out.bin";
  EXPECT_EQ(Run(args), kAggregateFailed);
  EXPECT_NE(err_.str().find("--out"), std::string::npos) << err_.str();
}

}  // namespace
}  // namespace cairn::aggregator
