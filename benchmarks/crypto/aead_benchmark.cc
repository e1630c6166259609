// Aead Seal/Open throughput (AES-256-GCM, the data plane's cipher; ChaCha20-Poly1305 beside it)
// on 1 MiB and 4 MiB buffers, plus memcpy of the same size as the machine's floor.
// Run: build/bin/bench_crypto [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>

#include "common/crypto/crypto.h"

namespace cairn::crypto {
namespace {

void SetBytes(benchmark::State& state, std::size_t size) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(size));
}

void BM_Memcpy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Bytes src = RandomBytes(size), dst(size);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), size);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  SetBytes(state, size);
}

void BM_AeadSeal(benchmark::State& state, AeadAlgorithm alg) {
  const auto size = static_cast<std::size_t>(state.range(0));
  auto aead = Aead::Create(alg, RandomBytes(AeadKeyBytes(alg)));
  if (!aead) {
    state.SkipWithError(aead.error().ToString().c_str());
    return;
  }
  Bytes nonce = RandomBytes(kAeadNonceBytes), aad = ToBytes("chunk index 7, last=0");
  Bytes pt = RandomBytes(size), out(size + kAeadTagBytes);
  for (auto _ : state) {
    if (!aead->Seal(nonce, aad, pt, out)) {
      state.SkipWithError("seal failed");
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  SetBytes(state, size);
}

void BM_AeadOpen(benchmark::State& state, AeadAlgorithm alg) {
  const auto size = static_cast<std::size_t>(state.range(0));
  auto aead = Aead::Create(alg, RandomBytes(AeadKeyBytes(alg)));
  if (!aead) {
    state.SkipWithError(aead.error().ToString().c_str());
    return;
  }
  Bytes nonce = RandomBytes(kAeadNonceBytes), aad = ToBytes("chunk index 7, last=0");
  Bytes pt = RandomBytes(size), ct(size + kAeadTagBytes), out(size);
  if (!aead->Seal(nonce, aad, pt, ct)) {
    state.SkipWithError("seal failed");
    return;
  }
  for (auto _ : state) {
    if (!aead->Open(nonce, aad, ct, out)) {
      state.SkipWithError("open failed");
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  SetBytes(state, size);
}

constexpr std::int64_t k1MiB = std::int64_t{1} << 20;
constexpr std::int64_t k4MiB = std::int64_t{4} << 20;

BENCHMARK(BM_Memcpy)->Arg(k1MiB)->Arg(k4MiB);
BENCHMARK_CAPTURE(BM_AeadSeal, aes256gcm, AeadAlgorithm::kAes256Gcm)->Arg(k1MiB)->Arg(k4MiB);
BENCHMARK_CAPTURE(BM_AeadOpen, aes256gcm, AeadAlgorithm::kAes256Gcm)->Arg(k1MiB)->Arg(k4MiB);
BENCHMARK_CAPTURE(BM_AeadSeal, chacha20poly1305, AeadAlgorithm::kChaCha20Poly1305)
    ->Arg(k1MiB)
    ->Arg(k4MiB);
BENCHMARK_CAPTURE(BM_AeadOpen, chacha20poly1305, AeadAlgorithm::kChaCha20Poly1305)
    ->Arg(k1MiB)
    ->Arg(k4MiB);

}  // namespace
}  // namespace cairn::crypto

int main(int argc, char** argv) {
  if (auto s = cairn::crypto::Init(); !s) {
    std::fprintf(stderr, "bench_crypto: %s\n", s.error().ToString().c_str());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
