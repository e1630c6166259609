// Timing of pairwise masking (issue 8): the mask expansion (ChaCha20 keystream, which
// dominates), a participant masking its update with k = 7, the aggregator folding masked
// inputs and unmasking the sum, and a whole in-memory round against the plain sum. The floor
// is memcpy of the same bytes.
// Run: build/bin/bench_secagg [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstring>
#include <optional>
#include <vector>

#include "common/crypto/crypto.h"
#include "common/secagg/aggregator.h"
#include "common/secagg/keystream.h"
#include "common/secagg/participant.h"
#include "common/secagg/quantize.h"
#include "common/secagg/simulation.h"

namespace cairn::secagg {
namespace {

constexpr std::uint32_t kN = 8, kK = 7, kT = 4;
constexpr std::size_t kChunk = 1 << 18;  // 1 MiB of uint32: the data plane's default chunk

Params BenchParams() {
  Params p;
  p.num_participants = kN;
  p.neighborhood_size = kK;
  p.threshold = kT;
  p.quantization_bits = 24;
  p.clip_range = 1.0;
  return p;
}

RoundSetup BenchSetup(std::uint64_t elements) {
  RoundSetup s;
  s.round_id = 1;
  s.cohort_size = kN;
  s.num_elements = elements;
  s.graph_seed.fill(3);
  return s;
}

std::vector<float> Update(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 2654435761u) % 2000) / 1000.0f - 1.0f;
  return v;
}

// Rounds 1 and 2 for n participants; returns them ready to mask (and the aggregator).
struct Ready {
  std::optional<Aggregator> agg;
  std::vector<std::optional<Participant>> parts;
};

Ready Prepare(std::uint64_t elements, const std::vector<bool>& drop_after_shares = {},
              std::uint32_t unmask_threads = 1) {
  Ready r;
  const Params p = BenchParams();
  const RoundSetup s = BenchSetup(elements);
  r.agg.emplace(std::move(*Aggregator::Create(AggregatorOptions{p, s, unmask_threads, {}})));
  r.parts.resize(kN);
  for (std::uint32_t i = 0; i < kN; ++i) {
    r.parts[i].emplace(std::move(*Participant::Create(ParticipantOptions{p, s, i, {}})));
    (void)r.agg->HandleAdvertiseKeys(r.parts[i]->advertisement());
  }
  auto key_relays = r.agg->CloseKeys();  // kept alive for the loop (no range-for over *temporary)
  for (const auto& relay : *key_relays) {
    (void)r.agg->HandleShareKeys(*r.parts[relay.recipient]->HandleKeysRelay(relay));
  }
  auto share_relays = r.agg->CloseShares();
  for (const auto& relay : *share_relays) {
    const bool drop = relay.recipient < drop_after_shares.size() && drop_after_shares[relay.recipient];
    if (!drop) (void)r.parts[relay.recipient]->HandleSharesRelay(relay);
  }
  return r;
}

void BM_MemcpyFloor(benchmark::State& state) {
  const std::size_t n = state.range(0);
  std::vector<std::uint32_t> src(n, 1), dst(n);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), n * 4);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * 4));
}
BENCHMARK(BM_MemcpyFloor)->Arg(10'000'000)->Unit(benchmark::kMillisecond);

// One mask stream (what every term of a mask costs): bytes of keystream per second.
void BM_KeystreamWords(benchmark::State& state) {
  (void)crypto::Init();
  const std::size_t n = state.range(0);
  std::vector<std::uint32_t> out(n);
  std::array<std::uint8_t, 32> key{};
  key[0] = 1;
  for (auto _ : state) {
    KeystreamWords(key, 0, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * 4));
}
BENCHMARK(BM_KeystreamWords)->Arg(10'000'000)->Unit(benchmark::kMillisecond);

// k = 7 terms applied tile by tile: the participant's mask (1 self + 6 pairwise streams).
void BM_ApplySevenMaskTerms(benchmark::State& state) {
  (void)crypto::Init();
  const std::size_t n = state.range(0);
  std::vector<std::uint32_t> v(n, 0);
  std::vector<std::array<std::uint8_t, 32>> keys(kK);
  std::vector<MaskTerm> terms;
  for (std::size_t i = 0; i < kK; ++i) {
    keys[i].fill(static_cast<std::uint8_t>(i + 1));
    terms.push_back(MaskTerm{keys[i], i % 2 == 1});
  }
  for (auto _ : state) {
    ApplyMaskTerms(terms, 0, v);
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["keystream_GBps"] = benchmark::Counter(
      static_cast<double>(state.iterations() * n * 4 * kK) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ApplySevenMaskTerms)->Arg(1'000'000)->Arg(10'000'000)->Unit(benchmark::kMillisecond);

void BM_Quantize(benchmark::State& state) {
  (void)crypto::Init();
  const std::size_t n = state.range(0);
  const auto update = Update(n);
  std::vector<std::uint32_t> out(n);
  auto q = Quantizer::Create(BenchParams(), std::vector<std::uint8_t>(32, 9));
  for (auto _ : state) {
    auto r = q->Quantize(update, 0, out);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Quantize)->Arg(10'000'000)->Unit(benchmark::kMillisecond);

// A participant masks its whole update (quantize + 7 streams), 1 MiB chunk by chunk.
void BM_ParticipantMask(benchmark::State& state) {
  (void)crypto::Init();
  const std::size_t n = state.range(0);
  Ready r = Prepare(n);
  const Participant& p = *r.parts[0];
  const auto update = Update(n);
  std::vector<std::uint32_t> chunk(kChunk);
  for (auto _ : state) {
    for (std::size_t off = 0; off < n; off += kChunk) {
      const std::size_t len = std::min(kChunk, n - off);
      auto st = p.MaskChunk(std::span(update).subspan(off, len), off, std::span(chunk).first(len));
      if (!st) state.SkipWithError(st.error().ToString().c_str());
      benchmark::DoNotOptimize(chunk.data());
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * 4));
}
BENCHMARK(BM_ParticipantMask)->Arg(1'000'000)->Arg(10'000'000)->Unit(benchmark::kMillisecond);

// The aggregator folds one participant's masked vector into the running sum.
void BM_AggregatorFold(benchmark::State& state) {
  (void)crypto::Init();
  const std::size_t n = state.range(0);
  std::vector<std::uint32_t> masked(n, 12345);
  for (auto _ : state) {
    state.PauseTiming();
    Ready r = Prepare(n);
    state.ResumeTiming();
    for (std::size_t off = 0; off < n; off += kChunk) {
      const std::size_t len = std::min(kChunk, n - off);
      (void)r.agg->AddMaskedChunk(0, off, std::span(masked).subspan(off, len));
    }
    state.PauseTiming();
    r = Ready();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * 4));
}
BENCHMARK(BM_AggregatorFold)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->Iterations(5);

// Unmasking in the enclave, N = 8, k = 7, t = 4 (args: P, dropouts, unmask threads): rebuild the seeds (and, with a dropout, the
// dropped key) and remove N self masks (+ 6 pairwise masks per dropout). Masked inputs are
// folded outside the timing (their values do not change the cost).
void BM_Unmask(benchmark::State& state) {
  (void)crypto::Init();
  const std::size_t n = state.range(0);
  const std::uint32_t dropouts = static_cast<std::uint32_t>(state.range(1));
  const std::uint32_t threads = static_cast<std::uint32_t>(state.range(2));
  std::vector<std::uint32_t> masked(kChunk, 7);
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<bool> drop(kN, false);
    for (std::uint32_t d = 0; d < dropouts; ++d) drop[d] = true;
    Ready r = Prepare(n, drop, threads);
    for (std::uint32_t i = dropouts; i < kN; ++i) {
      for (std::size_t off = 0; off < n; off += kChunk) {
        (void)r.agg->AddMaskedChunk(i, off, std::span(masked).first(std::min(kChunk, n - off)));
      }
      (void)r.parts[i]->FinishMasking();
      (void)r.agg->CommitInput(i);
    }
    state.ResumeTiming();
    auto req = r.agg->BeginUnmasking();
    if (!req) {
      state.SkipWithError(req.error().ToString().c_str());
      break;
    }
    for (std::uint32_t i : req->committed) (void)r.agg->HandleUnmaskResponse(*r.parts[i]->HandleUnmaskRequest(*req));
    auto sum = r.agg->Finalize();
    if (!sum) {
      state.SkipWithError(sum.error().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(sum->ring_sum.data());
    state.PauseTiming();
    r = Ready();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Unmask)
    ->Args({1'000'000, 0, 1})->Args({1'000'000, 1, 1})
    ->Args({10'000'000, 0, 1})->Args({10'000'000, 1, 1})
    ->Args({10'000'000, 0, 2})->Args({10'000'000, 1, 2})
    ->Unit(benchmark::kMillisecond)->Iterations(3);

// A whole masked round in one process (N = 8, k = 7, every message encoded and decoded):
// participants' work is serial here, so this is N participants' masking + the enclave's share.
void BM_SimulatedRound(benchmark::State& state) {
  (void)crypto::Init();
  const std::size_t n = state.range(0);
  const auto update = Update(n);
  std::vector<std::span<const float>> updates(kN, std::span<const float>(update));
  SimulationOptions o;
  o.params = BenchParams();
  o.setup = BenchSetup(n);
  o.chunk_elements = kChunk;
  for (auto _ : state) {
    auto r = SimulateRound(o, updates);
    if (!r || !r->outcome) state.SkipWithError("round failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n * kN));
}
BENCHMARK(BM_SimulatedRound)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->Iterations(3);

// The same N updates summed plainly in double precision (what the enclave does without masking).
void BM_PlainSum(benchmark::State& state) {
  const std::size_t n = state.range(0);
  const auto update = Update(n);
  std::vector<double> sum(n);
  for (auto _ : state) {
    std::fill(sum.begin(), sum.end(), 0.0);
    for (std::uint32_t i = 0; i < kN; ++i) {
      for (std::size_t e = 0; e < n; ++e) sum[e] += update[e];
    }
    benchmark::DoNotOptimize(sum.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n * kN));
}
BENCHMARK(BM_PlainSum)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cairn::secagg

BENCHMARK_MAIN();
