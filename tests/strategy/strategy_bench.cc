// Times one round of each strategy over n updates of P float32 parameters (ApplyRobust, so all
// updates are in memory), next to the machine's floor: one memcpy of the same n·P·4 bytes.
//
//   strategy_bench [n=10] [P=1000000] [repetitions=5]
//
// Prints the median and minimum wall time per strategy. Not a test: figures depend on the
// machine and its load (docs/strategies.md quotes a run).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "aggregator/strategy/strategy.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Stats {
  double median;
  double min;
};

template <typename Fn>
Stats Time(int reps, Fn&& fn) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    fn();
    t.push_back(Seconds(Clock::now() - start));
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front()};
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10;
  const std::size_t p = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1'000'000;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  if (n == 0 || p == 0 || reps <= 0) {
    std::fprintf(stderr, "usage: strategy_bench [n>0] [P>0] [repetitions>0]\n");
    return 2;
  }

  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.01f);
  std::vector<std::vector<float>> data(n, std::vector<float>(p));
  for (auto& v : data)
    for (auto& x : v) x = dist(rng);
  std::vector<std::span<const float>> deltas(data.begin(), data.end());
  const std::vector<double> weights(n, 1.0);
  std::vector<float> global(p, 0.0f);

  std::vector<float> sink(n * p);
  const Stats floor = Time(reps, [&] {
    for (std::size_t i = 0; i < n; ++i) std::memcpy(sink.data() + i * p, data[i].data(), 4 * p);
  });
  const double gb = 4.0 * static_cast<double>(n) * static_cast<double>(p) / 1e9;
  std::printf("n = %zu updates x P = %zu float32 (%.3f GB), %d repetitions\n", n, p, gb, reps);
  std::printf("%-28s %10s %10s %10s\n", "what", "median ms", "min ms", "GB/s (med)");
  std::printf("%-28s %10.1f %10.1f %10.2f\n", "floor: memcpy of all updates", floor.median * 1e3,
              floor.min * 1e3, gb / floor.median);

  struct Case {
    const char* name;
    std::map<std::string, double> params;
  };
  const std::size_t f = n >= 7 ? (n - 3) / 4 : 0;  // largest f Bulyan accepts
  const Case cases[] = {
      {"fedavg", {}},
      {"median", {}},
      {"trimmed-mean", {{"beta", 0.2}}},
      {"krum", {{"f", static_cast<double>(f)}}},
      {"multi-krum", {{"f", static_cast<double>(f)}}},
      {"bulyan", {{"f", static_cast<double>(f)}}},
      {"median", {{"norm_bound", 1.0}}},
  };
  for (const auto& c : cases) {
    auto s = cairn::strategy::MakeStrategy(c.name, c.params, p);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().ToString().c_str());
      return 1;
    }
    bool ok = true;
    const Stats st =
        Time(reps, [&] { ok = ok && (*s)->ApplyRobust(global, deltas, weights).has_value(); });
    if (!ok) {
      std::fprintf(stderr, "%s failed\n", c.name);
      return 1;
    }
    std::string label = c.name;
    for (const auto& [k, v] : c.params) {
      char value[32];
      std::snprintf(value, sizeof(value), "%g", v);
      label += " " + k + "=" + value;
    }
    std::printf("%-28s %10.1f %10.1f %10.2f\n", label.c_str(), st.median * 1e3, st.min * 1e3,
                gb / st.median);
  }
  return 0;
}
