// benchmarks/cairn_bench: the figures docs/performance.md reports next to the round time.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "benchmarks/cairn_bench/bench.h"
#include "benchmarks/cairn_bench/table.h"
#include "common/crypto/crypto.h"

namespace cairn::bench {
namespace {

constexpr CipherCosts kCosts{/*seal_s=*/0.020, /*open_s=*/0.015, /*sha256_s=*/0.025};

TEST(ColocatedBound, CountsEveryPartysCipherAndHashWorkSpreadOverTheCores) {
  auto b = ComputeColocatedBound(kCosts, /*floor_s=*/0.2, /*participants=*/8, protocol::Encoding::kFloat32,
                                 /*checkpoint=*/true, /*cores=*/2);
  EXPECT_DOUBLE_EQ(b.aggregator_open_add_s, 0.2);
  EXPECT_NEAR(b.participants_seal_s, 8 * 0.020, 1e-12);                 // eight updates sealed
  EXPECT_NEAR(b.participants_open_hash_s, 8 * (0.015 + 0.025), 1e-12);  // eight downloads opened and hashed
  EXPECT_NEAR(b.aggregator_seal_hash_s, 0.020 + 0.025 + 0.020, 1e-12);  // model sealed, hashed; checkpoint sealed
  EXPECT_NEAR(b.cpu_s(), 0.745, 1e-12);
  EXPECT_NEAR(b.bound_s(), 0.3725, 1e-12);
  // Above 1.5 x floor (0.3): that target is out of reach with these costs on two cores.
  EXPECT_GT(b.bound_s(), 1.5 * 0.2);
}

TEST(ColocatedBound, SixteenBitTransportHalvesTheChannelWorkButNotTheHashesOrTheCheckpoint) {
  auto b = ComputeColocatedBound(kCosts, 0.2, 8, protocol::Encoding::kBFloat16, /*checkpoint=*/true, 2);
  EXPECT_NEAR(b.participants_seal_s, 8 * 0.010, 1e-12);
  EXPECT_NEAR(b.participants_open_hash_s, 8 * (0.0075 + 0.025), 1e-12);
  EXPECT_NEAR(b.aggregator_seal_hash_s, 0.010 + 0.025 + 0.020, 1e-12);
  auto no_checkpoint = ComputeColocatedBound(kCosts, 0.2, 8, protocol::Encoding::kFloat32, /*checkpoint=*/false, 2);
  EXPECT_NEAR(no_checkpoint.aggregator_seal_hash_s, 0.020 + 0.025, 1e-12);
}

TEST(ColocatedBound, NoCoresCountsAsOne) {
  auto b = ComputeColocatedBound(kCosts, 0.2, 1, protocol::Encoding::kFloat32, true, 0);
  EXPECT_EQ(b.cores, 1u);
  EXPECT_DOUBLE_EQ(b.bound_s(), b.cpu_s());
  EXPECT_GE(UsableCores(), 1u);
}

TEST(ColocatedBound, CipherCostsAreMeasured) {
  ASSERT_TRUE(crypto::Init());
  auto costs = MeasureCipherCosts(/*params=*/100'000, /*chunk_bytes=*/64 * 1024, /*repetitions=*/2);
  ASSERT_TRUE(costs) << costs.error().message();
  EXPECT_GT(costs->seal_s, 0);
  EXPECT_GT(costs->open_s, 0);
  EXPECT_GT(costs->sha256_s, 0);
  EXPECT_FALSE(MeasureCipherCosts(100'000, /*chunk_bytes=*/0, 1)) << "a chunk size of 0 is refused";
}

class SummaryTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cairn-bench-table-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }
  static std::string Line(const std::string& extra) {
    return R"({"participants":8,"params":10000000,"encoding":"float32","upload_slots":2,"round_median_s":1.212,)"
           R"("floor_s":0.19,"ratio":6.38,"gbps":0.26,"aggregator_peak_rss_bytes":222195712,)"
           R"("rss_limit_bytes":227109273,"rounds_completed":5,"rounds_run":5,"commits_min":5,"commits_max":5)" +
           extra + "}\n";
  }
  std::filesystem::path dir_;
};

TEST_F(SummaryTableTest, ShowsTheBoundAndADashForLinesWrittenBeforeIt) {
  auto file = Write("set.jsonl", Line("") + Line(R"(,"colocated_bound_s":0.358)"));
  auto table = SummaryTable({file});
  ASSERT_TRUE(table) << table.error().message();
  std::istringstream in(*table);
  std::string header, old_row, new_row;
  std::getline(in, header);
  std::getline(in, old_row);
  std::getline(in, new_row);
  EXPECT_NE(header.find("bound_s"), std::string::npos) << header;
  EXPECT_NE(old_row.find(" 6.38         - "), std::string::npos) << old_row;
  EXPECT_NE(new_row.find(" 6.38     0.358 "), std::string::npos) << new_row;
  EXPECT_NE(new_row.find("5/5"), std::string::npos) << new_row;
}

TEST_F(SummaryTableTest, NamesTheFileAndLineOfABadLine) {
  auto file = Write("bad.jsonl", Line("") + "{\"participants\": 8}\n");
  auto table = SummaryTable({file});
  ASSERT_FALSE(table);
  EXPECT_NE(table.error().message().find("bad.jsonl:2"), std::string::npos) << table.error().message();
}

// The aggregator's CPU figures come partly from /proc/PID/stat, the only place that still counts
// threads that have exited (the thread that hashes each new model).
TEST(ProcStatCpu, ReadsUserAndSystemTicksAfterTheCommand) {
  // A command with a space and a ')' of its own; utime 250 and stime 50 ticks at 100 per second.
  std::string line = "4242 (cairn agg) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 4 0 1 2 3";
  auto s = ProcStatCpuSeconds(line, 100);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(*s, 3.0);
  EXPECT_FALSE(ProcStatCpuSeconds("4242 cairn S 1", 100));                    // no ')'
  EXPECT_FALSE(ProcStatCpuSeconds("4242 (cairn) S 1 4242 4242 0 -1", 100));  // cut short
  EXPECT_FALSE(ProcStatCpuSeconds(line, 0));

  // This process: a thread that burned CPU and exited still counts.
  std::string before;
  std::getline(std::ifstream("/proc/self/stat"), before);
  auto t0 = ProcStatCpuSeconds(before, sysconf(_SC_CLK_TCK));
  ASSERT_TRUE(t0);
  std::thread([] {  // 60 ms of its own CPU time, however busy the machine is
    timespec ts{};
    do {
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    } while (ts.tv_sec == 0 && ts.tv_nsec < 60'000'000);
  }).join();
  std::string after;
  std::getline(std::ifstream("/proc/self/stat"), after);
  auto t1 = ProcStatCpuSeconds(after, sysconf(_SC_CLK_TCK));
  ASSERT_TRUE(t1);
  EXPECT_GE(*t1 - *t0, 0.04);  // whole ticks: each reading may lose up to one
}

}  // namespace
}  // namespace cairn::bench
