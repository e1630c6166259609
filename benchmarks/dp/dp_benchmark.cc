// Timing of the DP mechanism on a 10M-parameter model (the aggregator adds noise once per round)
// and of the accountant. The floor is memcpy of the same bytes.
// Run: build/bin/bench_dp [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "common/dp/clipping.h"
#include "common/dp/gaussian_noise.h"
#include "common/dp/random_source.h"
#include "common/dp/rdp_accountant.h"

namespace cairn::dp {
namespace {

constexpr std::size_t kCoordinates = 10'000'000;

void BM_MemcpyFloor(benchmark::State& state) {
  std::vector<double> src(kCoordinates, 1.0), dst(kCoordinates);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), kCoordinates * sizeof(double));
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kCoordinates * sizeof(double)));
}
BENCHMARK(BM_MemcpyFloor)->Unit(benchmark::kMillisecond);

// The uniform bits the noise consumes (~2.55 words per pair: 102 MB for 10M coordinates).
void BM_SodiumFill100MB(benchmark::State& state) {
  auto rng = SodiumRandomSource::Create();
  std::vector<std::uint8_t> buf(102'000'000);
  for (auto _ : state) {
    rng->Fill(buf);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}
BENCHMARK(BM_SodiumFill100MB)->Unit(benchmark::kMillisecond);

void BM_AddGaussianNoise10M(benchmark::State& state) {
  auto rng = SodiumRandomSource::Create();
  std::vector<double> sum(kCoordinates, 0.0);
  for (auto _ : state) {
    if (!AddGaussianNoise(sum, 1.0, *rng)) state.SkipWithError("AddGaussianNoise failed");
    benchmark::DoNotOptimize(sum.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kCoordinates));
}
BENCHMARK(BM_AddGaussianNoise10M)->Unit(benchmark::kMillisecond);

void BM_ClipToNorm10M(benchmark::State& state) {
  std::vector<float> update(kCoordinates, 0.01f);
  for (auto _ : state) {
    auto scale = ClipToNorm(update, 1.0);  // norm ≈ 31.6: scales every value
    benchmark::DoNotOptimize(scale);
    std::fill(update.begin(), update.end(), 0.01f);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kCoordinates));
}
BENCHMARK(BM_ClipToNorm10M)->Unit(benchmark::kMillisecond);

// Oracle A1: 151 orders, 99 of them fractional.
void BM_EpsilonOpacusGrid(benchmark::State& state) {
  const auto orders = OpacusOrders();
  for (auto _ : state) {
    auto e = PoissonSampledGaussianEpsilon(0.04, 1.5, 2250, 1e-5, orders);
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_EpsilonOpacusGrid)->Unit(benchmark::kMillisecond);

void BM_NoiseMultiplierForEpsilon(benchmark::State& state) {
  const auto orders = OpacusOrders();
  for (auto _ : state) {
    auto z = NoiseMultiplierForEpsilon(8.0, 0.04, 2250, 1e-5, orders);
    benchmark::DoNotOptimize(z);
  }
}
BENCHMARK(BM_NoiseMultiplierForEpsilon)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cairn::dp

BENCHMARK_MAIN();
