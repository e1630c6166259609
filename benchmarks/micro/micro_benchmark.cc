// Micro benchmarks of the aggregator's hot paths at P = 10M float32 (40 MB), each next to its
// memcpy floor: accumulation into the double running sum, the norm check, clipping and noise,
// the chunk header codec (Cap'n Proto), the data-plane chunk path (header decode + HPKE open into
// the staging buffer), sealing and receiving the model, the CRC-32 of the global.pt export, and
// ZeroMQ loopback at several chunk sizes, and a returning participant's catch-up page read from a
// long results.jsonl. SNP evidence verification: benchmarks/attestation (bench_attestation).
// Run: build/bin/bench_micro [--benchmark_filter=...]; docs/performance.md lists the figures.
#include <benchmark/benchmark.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "aggregator/state_store.h"
#include "aggregator/strategy/vector_math.h"
#include "aggregator/upload.h"
#include "common/crypto/crypto.h"
#include "common/dp/clipping.h"
#include "common/dp/gaussian_noise.h"
#include "common/dp/random_source.h"
#include "common/model/torch_file.h"
#include "common/net/net.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/round_result.h"
#include "protocol/sealing.h"

namespace cairn {
namespace {

constexpr std::size_t kParams = 10'000'000;
constexpr std::uint32_t kChunk = 1u << 20;

std::vector<float> Update(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 2654435761u) % 2001) * 1e-5f - 0.01f;
  return v;
}

void SetBytes(benchmark::State& state, std::size_t bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void BM_MemcpyFloor(benchmark::State& state) {
  std::vector<float> src = Update(kParams), dst(kParams);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), kParams * 4);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  SetBytes(state, kParams * 4);
}
BENCHMARK(BM_MemcpyFloor)->Unit(benchmark::kMillisecond);

// The engine's fold at commit: the whole staged update into the double sum.
void BM_AccumulateWhole(benchmark::State& state) {
  std::vector<float> delta = Update(kParams);
  std::vector<double> sum(kParams, 0.0);
  for (auto _ : state) {
    strategy::AccumulateWeighted(sum, delta, 3.0);
    benchmark::DoNotOptimize(sum.data());
  }
  SetBytes(state, kParams * 4);  // bytes of update folded in
}
BENCHMARK(BM_AccumulateWhole)->Unit(benchmark::kMillisecond);

// The same fold chunk by chunk from a cache-resident chunk (the floor's arrangement).
void BM_AccumulateFromChunk(benchmark::State& state) {
  const std::size_t per = static_cast<std::size_t>(state.range(0)) / 4;
  std::vector<float> chunk = Update(per);
  std::vector<double> sum(kParams, 0.0);
  for (auto _ : state) {
    for (std::size_t off = 0; off < kParams; off += per) {
      std::size_t n = std::min(per, kParams - off);
      strategy::AccumulateWeighted(std::span<double>(sum).subspan(off, n), std::span<const float>(chunk).first(n), 3.0);
    }
    benchmark::DoNotOptimize(sum.data());
  }
  SetBytes(state, kParams * 4);
}
BENCHMARK(BM_AccumulateFromChunk)->Arg(256 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

// The engine's finiteness and norm check at commit.
void BM_SquaredNorm(benchmark::State& state) {
  std::vector<float> delta = Update(kParams);
  for (auto _ : state) benchmark::DoNotOptimize(strategy::SquaredNorm(delta));
  SetBytes(state, kParams * 4);
}
BENCHMARK(BM_SquaredNorm)->Unit(benchmark::kMillisecond);

// DP clipping of one update (with DP on, every update is clipped in the enclave).
void BM_Clip(benchmark::State& state) {
  std::vector<float> delta = Update(kParams);
  for (auto _ : state) {
    auto scale = dp::ClipToNorm(delta, 1e-3);
    benchmark::DoNotOptimize(scale);
  }
  SetBytes(state, kParams * 4);
}
BENCHMARK(BM_Clip)->Unit(benchmark::kMillisecond);

// Gaussian noise on the double sum, once per round.
void BM_Noise(benchmark::State& state) {
  auto rng = dp::SodiumRandomSource::Create();
  std::vector<double> sum(kParams, 0.0);
  for (auto _ : state) {
    if (!dp::AddGaussianNoise(sum, 1.0, *rng)) state.SkipWithError("AddGaussianNoise failed");
    benchmark::DoNotOptimize(sum.data());
  }
  SetBytes(state, kParams * 8);
}
BENCHMARK(BM_Noise)->Unit(benchmark::kMillisecond);

// Cap'n Proto chunk header, per chunk on both planes.
protocol::ChunkHeader Header() {
  protocol::ChunkHeader h;
  for (std::size_t i = 0; i < h.session.size(); ++i) h.session[i] = static_cast<std::uint8_t>(i);
  h.kind = protocol::ChunkKind::kUpdateChunk;
  h.round = 7;
  h.index = 123;
  h.last = false;
  return h;
}

void BM_ChunkHeaderEncode(benchmark::State& state) {
  auto h = Header();
  for (auto _ : state) benchmark::DoNotOptimize(protocol::EncodeChunkHeader(h));
}
BENCHMARK(BM_ChunkHeaderEncode);

void BM_ChunkHeaderDecode(benchmark::State& state) {
  Bytes b = protocol::EncodeChunkHeader(Header());
  for (auto _ : state) benchmark::DoNotOptimize(protocol::DecodeChunkHeader(b));
}
BENCHMARK(BM_ChunkHeaderDecode);

// The aggregator's data-plane path for a whole 10M update: per chunk, decode the header and open
// the HPKE chunk into the staging buffer (aggregator::Upload::AddChunk), as HandleData does.
void BM_UploadChunkPath(benchmark::State& state) {
  const std::uint32_t chunk = static_cast<std::uint32_t>(state.range(0));
  if (!crypto::Init()) state.SkipWithError("crypto init");
  auto kp = crypto::X25519KeyPair::Generate();
  if (!kp) {
    state.SkipWithError("keygen");
    return;
  }
  aggregator::UploadContext ctx;
  ctx.federation_id = "bench";
  ctx.num_params = kParams;
  ctx.chunk_bytes = chunk;
  auto layout = protocol::ChunkLayout::Make(kParams * 4, chunk);
  Bytes info = protocol::UploadInfo(ctx.federation_id, 1, "p0", ctx.config_hash);
  crypto::HpkeSetupOptions ho;
  ho.info = info;
  auto setup = crypto::HpkeSetupSender(kp->public_key(), ho);
  if (!layout || !setup) {
    state.SkipWithError("setup");
    return;
  }
  std::vector<float> delta = Update(kParams);
  std::vector<Bytes> sealed(layout->chunks);
  std::vector<Bytes> headers(layout->chunks);
  for (std::uint32_t i = 0; i < layout->chunks; ++i) {
    std::uint32_t n = layout->size(i);
    bool last = i + 1 == layout->chunks;
    sealed[i].resize(n + crypto::kAeadTagBytes);
    auto aad = protocol::UploadChunkAad(1, i, last);
    (void)setup->context.SealAt(i, aad, ByteSpan(reinterpret_cast<const std::uint8_t*>(delta.data()) + layout->offset(i), n),
                                sealed[i]);
    auto h = Header();
    h.index = i;
    h.last = last;
    h.round = 1;
    headers[i] = protocol::EncodeChunkHeader(h);
  }
  protocol::UploadBegin begin;
  begin.round = 1;
  begin.enc = setup->enc;
  begin.chunks = layout->chunks;
  begin.total_bytes = layout->total_bytes;
  std::vector<float> staging(kParams);
  for (auto _ : state) {
    auto up = aggregator::Upload::Begin(begin, "p0", 1, *kp, ctx);
    if (!up) {
      state.SkipWithError("begin");
      return;
    }
    (*up)->AttachStaging(std::move(staging));
    for (std::uint32_t i = 0; i < layout->chunks; ++i) {
      auto h = protocol::DecodeChunkHeader(headers[i]);
      if (!h || !(*up)->AddChunk(h->index, h->last, sealed[i])) {
        state.SkipWithError("chunk refused");
        return;
      }
    }
    staging = (*up)->TakeStaging();
  }
  SetBytes(state, kParams * 4);
}
BENCHMARK(BM_UploadChunkPath)->Arg(256 << 10)->Arg(1 << 20)->Arg(4 << 20)->Unit(benchmark::kMillisecond);

// The global model sealed once per version (every download is served from this one copy).
void BM_ModelSeal(benchmark::State& state) {
  std::vector<float> model = Update(kParams);
  for (auto _ : state) {
    auto m = protocol::SealedModel::Seal(1, model, protocol::Encoding::kFloat32, kChunk);
    if (!m) state.SkipWithError("seal");
    benchmark::DoNotOptimize(m);
  }
  SetBytes(state, kParams * 4);
}
BENCHMARK(BM_ModelSeal)->Unit(benchmark::kMillisecond);

// A participant receiving the model: open every chunk, check the hash.
void BM_ModelReceive(benchmark::State& state) {
  std::vector<float> model = Update(kParams);
  auto m = protocol::SealedModel::Seal(1, model, protocol::Encoding::kFloat32, kChunk);
  if (!m) {
    state.SkipWithError("seal");
    return;
  }
  for (auto _ : state) {
    auto rx = protocol::ModelReceiver::Create((*m)->Download());
    if (!rx) {
      state.SkipWithError("receiver");
      return;
    }
    for (std::uint32_t i = 0; i < (*m)->chunks(); ++i) {
      if (!rx->Add(i, (*m)->chunk(i))) state.SkipWithError("chunk");
    }
    auto params = rx->Finish();
    if (!params) state.SkipWithError("finish");
    benchmark::DoNotOptimize(params);
  }
  SetBytes(state, kParams * 4);
}
BENCHMARK(BM_ModelReceive)->Unit(benchmark::kMillisecond);

// The CRC-32 of the model's 40 MB that every global.pt export needs (zip records carry one):
// folded with PCLMULQDQ (range 1) against the tables alone (range 0).
void BM_TorchFileCrc32(benchmark::State& state) {
  std::vector<float> model = Update(kParams);
  ByteSpan bytes(reinterpret_cast<const std::uint8_t*>(model.data()), model.size() * sizeof(float));
  const bool fast = state.range(0) == 1;
  for (auto _ : state) {
    std::uint32_t crc = fast ? model::Crc32(bytes) : model::Crc32WithTables(bytes);
    benchmark::DoNotOptimize(crc);
  }
  SetBytes(state, kParams * 4);
}
BENCHMARK(BM_TorchFileCrc32)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// ZeroMQ over loopback TCP: 40 MB as two-frame messages (header + chunk) from a DEALER thread to
// a ROUTER, with the socket options of the data plane. Zero-copy sends, as the model download.
void BM_ZmqLoopback(benchmark::State& state) {
  const std::size_t chunk = static_cast<std::size_t>(state.range(0));
  const std::size_t count = (kParams * 4 + chunk - 1) / chunk;
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  net::SocketOptions so;
  so.max_message_bytes = protocol::kMaxChunkPayloadBytes;
  so.send_hwm = 4096;
  so.recv_hwm = 4096;
  (void)net::ApplySocketOptions(router, so);
  auto ep = net::Bind(router, "tcp://127.0.0.1:0");
  if (!ep) {
    state.SkipWithError("bind");
    return;
  }
  auto payload = std::make_shared<std::vector<std::uint8_t>>(chunk, 0x5A);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  so.send_hwm = 64;
  so.recv_hwm = 256;
  (void)net::ApplySocketOptions(dealer, so);
  dealer.connect(*ep);
  for (auto _ : state) {
    std::thread sender([&] {
      for (std::size_t i = 0; i < count; ++i) {
        std::vector<zmq::message_t> frames;
        frames.emplace_back(16);
        frames.push_back(net::ZeroCopyFrame(payload->data(), payload->size(), payload));
        (void)net::SendFrames(dealer, frames);
      }
    });
    std::size_t got = 0;
    while (got < count) {
      zmq::pollitem_t item{static_cast<void*>(router), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(1000));
      while (true) {
        auto f = net::RecvFrames(router, 4);
        if (!f || !*f) break;
        ++got;
      }
    }
    sender.join();
  }
  SetBytes(state, count * chunk);
}
BENCHMARK(BM_ZmqLoopback)->Arg(256 << 10)->Arg(1 << 20)->Arg(4 << 20)->Unit(benchmark::kMillisecond)->UseRealTime();

// A catch-up page (512 results) from a results.jsonl of state.range(0) results with eight
// contributors each (~880 bytes a line): the first read of a store indexes the whole file once
// (BM_CatchUpFirstPage); later pages read only their lines (BM_CatchUpPage).
std::filesystem::path ResultsLog(std::size_t rounds) {
  auto dir = std::filesystem::temp_directory_path() / ("cairn-bench-results-" + std::to_string(rounds));
  if (std::filesystem::exists(dir / "results.jsonl")) return dir;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / "results.jsonl");
  protocol::RoundResult r;
  r.federation_id = "bench";
  r.contributors = {"hospital-a", "hospital-b", "hospital-c", "hospital-d",
                    "hospital-e", "hospital-f", "hospital-g", "hospital-h"};
  r.prev_hash = Bytes(32, 7);
  r.signature.fill(9);
  for (std::size_t i = 1; i <= rounds; ++i) {
    r.round = i;
    out << protocol::ResultToJson(r) << "\n";
  }
  return dir;
}
std::unique_ptr<aggregator::StateStore> BenchStore(const std::filesystem::path& dir) {
  model::ModelSpec spec{"logreg", {{"linear.weight", {2, 2}}, {"linear.bias", {2}}}};
  auto store = aggregator::StateStore::Open(dir, spec, crypto::SecretBytes{}, "bench", {});
  if (!store) std::abort();
  return std::move(*store);
}
void BM_CatchUpPage(benchmark::State& state) {
  const auto rounds = static_cast<std::size_t>(state.range(0));
  auto store = BenchStore(ResultsLog(rounds));
  (void)store->ReadResults(1, 1, 1);  // the index
  for (auto _ : state) {
    auto page = store->ReadResults(rounds / 2, rounds, protocol::kMaxCatchUpResults);
    if (!page || page->size() != protocol::kMaxCatchUpResults) std::abort();
    benchmark::DoNotOptimize(page);
  }
}
BENCHMARK(BM_CatchUpPage)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);
void BM_CatchUpFirstPage(benchmark::State& state) {
  const auto rounds = static_cast<std::size_t>(state.range(0));
  const auto dir = ResultsLog(rounds);
  for (auto _ : state) {
    auto store = BenchStore(dir);
    auto page = store->ReadResults(rounds / 2, rounds, protocol::kMaxCatchUpResults);
    if (!page || page->size() != protocol::kMaxCatchUpResults) std::abort();
    benchmark::DoNotOptimize(page);
  }
}
BENCHMARK(BM_CatchUpFirstPage)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cairn

BENCHMARK_MAIN();
