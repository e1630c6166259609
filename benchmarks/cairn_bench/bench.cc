#include "benchmarks/cairn_bench/bench.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "aggregator/app.h"
#include "aggregator/strategy/vector_math.h"
#include "common/attestation/attestation.h"
#include "common/core/clock.h"
#include "common/core/log.h"
#include "common/crypto/crypto.h"
#include "common/process/subprocess.h"
#include "participant/client.h"
#include "participant/keys.h"
#include "participant/synthetic_workload.h"
#include "protocol/federation_config.h"
#include "protocol/sealing.h"

namespace cairn::bench {

std::optional<double> ProcStatCpuSeconds(std::string_view stat_line, long ticks_per_second) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields count from the
  // last ')'; utime and stime are fields 14 and 15, the 12th and 13th after it.
  std::size_t close = stat_line.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  std::istringstream in{std::string(stat_line.substr(close + 1))};
  std::string field;
  for (int i = 0; i < 11; ++i) {
    if (!(in >> field)) return std::nullopt;
  }
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  if (!(in >> utime >> stime)) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(ticks_per_second);
}

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::uint64_t kMiB = 1ull << 20;

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

Status WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return Fail(ErrorCode::kInternal, "cannot write " + path.string());
  return Ok();
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// CPU time of every thread of `pid`, by kind (thread names: ZeroMQ names its I/O threads
// "ZMQbg/IO/n"; the main thread carries the process name). schedstat's first field is the time
// on CPU in nanoseconds. A thread that has exited has no entry any more: its time is in the
// process total of /proc/PID/stat (whole clock ticks), so `other` is that total less the loop
// and the I/O threads when it is larger than the live threads' sum.
CpuSplit ReadProcessCpu(int pid) {
  CpuSplit c;
  std::error_code ec;
  std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(tasks, ec)) {
    std::string comm = ReadText(entry.path() / "comm");
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    std::ifstream in(entry.path() / "schedstat");
    std::uint64_t ns = 0;
    if (!(in >> ns)) continue;
    double s = static_cast<double>(ns) / 1e9;
    if (entry.path().filename() == std::to_string(pid)) {
      c.loop_s += s;
    } else if (comm.rfind("ZMQbg/IO", 0) == 0) {
      c.zmq_io_s += s;
    } else {
      c.other_s += s;
    }
  }
  if (auto total = ProcStatCpuSeconds(ReadText("/proc/" + std::to_string(pid) + "/stat"), sysconf(_SC_CLK_TCK))) {
    c.other_s = std::max(c.other_s, *total - c.loop_s - c.zmq_io_s);
  }
  return c;
}

double ThreadCpuSeconds(int tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/schedstat");
  std::uint64_t ns = 0;
  in >> ns;
  return static_cast<double>(ns) / 1e9;
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

CpuSplit Minus(const CpuSplit& a, const CpuSplit& b) {
  return CpuSplit{a.loop_s - b.loop_s, a.zmq_io_s - b.zmq_io_s, a.other_s - b.other_s};
}

// ---------------------------------------------------------------------------------------------
// What participants observe.

struct ResultSeen {
  std::uint64_t round = 0;
  std::uint32_t participant = 0;
  SteadyClock::time_point at;
  protocol::RoundStatus status = protocol::RoundStatus::kCompleted;
  std::vector<std::string> contributors;
  std::uint64_t model_version = 0;
  crypto::Sha256Digest download_key_digest{};  // which sealed copy the download handle names
  bool has_model = false;
};

struct Observations {
  std::mutex mu;
  std::vector<ResultSeen> results;
  // Per round, at the first participant's verification: CPU counters.
  std::map<std::uint64_t, SteadyClock::time_point> first_at;
  std::map<std::uint64_t, CpuSplit> aggregator_cpu_at;
  std::map<std::uint64_t, double> self_cpu_at;
  int aggregator_pid = -1;        // process mode
  int aggregator_loop_tid = -1;   // in-process mode
};

std::string PolicyText(const std::string& sim_public) {
  return "platforms = [\"sim\"]\n\n[sim]\nplatform_key = \"" + sim_public + "\"\n";
}

// The per-round loop profile from the aggregator's debug log (rounds after warm-up).
std::string LoopProfileSummary(const std::string& log_text, std::uint32_t first_timed_round) {
  std::map<std::string, std::vector<double>> by_phase;
  std::istringstream in(log_text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("loop_profile") == std::string::npos) continue;
    auto field = [&](const std::string& key) -> std::string {
      auto p = line.find(key + "=");
      if (p == std::string::npos) return "";
      p += key.size() + 1;
      auto e = line.find(' ', p);
      std::string v = line.substr(p, e == std::string::npos ? std::string::npos : e - p);
      if (!v.empty() && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    };
    std::string round = field("round"), phase = field("phase"), ms = field("duration_ms");
    if (round.empty() || phase.empty() || ms.empty()) continue;
    try {
      if (std::stoull(round) < first_timed_round) continue;
      by_phase[phase].push_back(std::stod(ms));
    } catch (const std::exception&) {
      continue;
    }
  }
  std::ostringstream out;
  for (const auto& [phase, v] : by_phase) {
    if (out.tellp() > 0) out << ", ";
    out << phase << " " << static_cast<long>(std::lround(Median(v))) << " ms";
  }
  return out.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<ModelShape> ShapeForParams(std::uint64_t params) {
  if (params < 4) return Fail(ErrorCode::kInvalidArgument, "--params must be at least 4");
  auto exact = [](std::uint64_t p) -> std::optional<ModelShape> {
    for (std::uint64_t k = 2; k <= 100'000 && k <= p / 2; ++k) {
      if (p % k != 0) continue;
      std::uint64_t inputs = p / k - 1;
      if (inputs >= 1 && inputs <= 1'000'000) {
        return ModelShape{static_cast<std::int64_t>(inputs), static_cast<std::int64_t>(k), p};
      }
    }
    return std::nullopt;
  };
  for (std::uint64_t d = 0; d < params; ++d) {
    if (auto s = exact(params + d)) return *s;
    if (d > 0 && params > d) {
      if (auto s = exact(params - d)) return *s;
    }
  }
  return Fail(ErrorCode::kInvalidArgument, "no logreg shape near " + std::to_string(params) + " parameters");
}

namespace {

// Model-sized buffers sealed as the protocol seals them: chunk i of `layout` under nonce i, with
// the upload AAD (index, last flag), each followed by its tag at a stride of chunk + tag.
class SealedChunks {
 public:
  explicit SealedChunks(const protocol::ChunkLayout& layout)
      : layout_(layout), stride_(std::size_t(layout.chunk_bytes) + crypto::kAeadTagBytes),
        sealed_(std::size_t(layout.chunks) * stride_) {}

  Status Seal(crypto::Aead& aead, const std::uint8_t* plain) {
    for (std::uint32_t i = 0; i < layout_.chunks; ++i) {
      std::uint32_t n = layout_.size(i);
      auto nonce = Nonce(i);
      CAIRN_RETURN_IF_ERROR(aead.Seal(nonce, Aad(i), ByteSpan(plain + layout_.offset(i), n),
                                      MutableByteSpan(sealed_.data() + i * stride_, n + crypto::kAeadTagBytes)));
    }
    return Ok();
  }
  // Opens chunk i into the front of `out` (at least the chunk's size).
  Status Open(crypto::Aead& aead, std::uint32_t i, MutableByteSpan out) const {
    std::uint32_t n = layout_.size(i);
    auto nonce = Nonce(i);
    return aead.Open(nonce, Aad(i), ByteSpan(sealed_.data() + i * stride_, n + crypto::kAeadTagBytes), out.first(n));
  }

 private:
  static std::array<std::uint8_t, crypto::kAeadNonceBytes> Nonce(std::uint32_t i) {
    std::array<std::uint8_t, crypto::kAeadNonceBytes> n{};
    std::memcpy(n.data(), &i, sizeof i);
    return n;
  }
  std::array<std::uint8_t, protocol::kChunkAadBytes> Aad(std::uint32_t i) const {
    return protocol::UploadChunkAad(1, i, i + 1 == layout_.chunks);
  }

  protocol::ChunkLayout layout_;
  std::size_t stride_;
  Bytes sealed_;
};

// P float32 values that are not all alike (the cipher does not care; the accumulator might).
std::vector<float> SampleValues(std::uint64_t params) {
  std::vector<float> v(params);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 2654435761u) % 1000) * 1e-5f;
  return v;
}

}  // namespace

Result<FloorResult> MeasureFloor(std::uint32_t participants, std::uint64_t params, std::uint32_t chunk_bytes,
                                 std::uint32_t repetitions) {
  CAIRN_ASSIGN_OR_RETURN(auto layout, protocol::ChunkLayout::Make(params * 4, chunk_bytes));
  CAIRN_ASSIGN_OR_RETURN(auto key, crypto::SecretBytes::Random(32));
  CAIRN_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, key.span()));
  // One update, sealed as a participant seals it; every "participant" sends these same bytes.
  std::vector<float> update = SampleValues(params);
  SealedChunks sealed(layout);
  CAIRN_RETURN_IF_ERROR(sealed.Seal(aead, reinterpret_cast<const std::uint8_t*>(update.data())));
  update.clear();
  update.shrink_to_fit();
  std::vector<double> sum(params, 0.0);
  std::vector<float> scratch(layout.chunk_bytes / 4);
  FloorResult r;
  for (std::uint32_t rep = 0; rep < repetitions; ++rep) {
    auto t0 = SteadyClock::now();
    for (std::uint32_t p = 0; p < participants; ++p) {
      double weight = 1.0 + p;
      for (std::uint32_t i = 0; i < layout.chunks; ++i) {
        std::uint32_t n = layout.size(i);
        CAIRN_RETURN_IF_ERROR(sealed.Open(aead, i, MutableByteSpan(reinterpret_cast<std::uint8_t*>(scratch.data()),
                                                                   scratch.size() * sizeof(float))));
        std::size_t first = layout.offset(i) / 4;
        strategy::AccumulateWeighted(std::span<double>(sum).subspan(first, n / 4),
                                     std::span<const float>(scratch).first(n / 4), weight);
      }
    }
    r.runs_s.push_back(Seconds(SteadyClock::now() - t0));
  }
  // Keep the sum observable so the work cannot be optimized away.
  volatile double sink = sum[params / 2];
  (void)sink;
  r.median_s = Median(r.runs_s);
  return r;
}

Result<CipherCosts> MeasureCipherCosts(std::uint64_t params, std::uint32_t chunk_bytes, std::uint32_t repetitions) {
  CAIRN_ASSIGN_OR_RETURN(auto layout, protocol::ChunkLayout::Make(params * 4, chunk_bytes));
  CAIRN_ASSIGN_OR_RETURN(auto key, crypto::SecretBytes::Random(32));
  CAIRN_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, key.span()));
  std::vector<float> model = SampleValues(params);
  const auto* plain = reinterpret_cast<const std::uint8_t*>(model.data());
  SealedChunks sealed(layout);
  std::vector<std::uint8_t> opened(layout.chunk_bytes);
  std::vector<double> seal, open, sha;
  volatile std::uint8_t sink = 0;
  for (std::uint32_t rep = 0; rep < repetitions; ++rep) {
    auto t0 = SteadyClock::now();
    CAIRN_RETURN_IF_ERROR(sealed.Seal(aead, plain));
    auto t1 = SteadyClock::now();
    for (std::uint32_t i = 0; i < layout.chunks; ++i) CAIRN_RETURN_IF_ERROR(sealed.Open(aead, i, opened));
    auto t2 = SteadyClock::now();
    auto digest = crypto::Sha256(ByteSpan(plain, layout.total_bytes));
    auto t3 = SteadyClock::now();
    sink = sink ^ digest[0] ^ opened[0];
    seal.push_back(Seconds(t1 - t0));
    open.push_back(Seconds(t2 - t1));
    sha.push_back(Seconds(t3 - t2));
  }
  (void)sink;
  return CipherCosts{Median(seal), Median(open), Median(sha)};
}

ColocatedBound ComputeColocatedBound(const CipherCosts& costs, double floor_s, std::uint32_t participants,
                                     protocol::Encoding encoding, bool checkpoint, unsigned cores) {
  // Costs are linear in the bytes: a 16-bit transport seals and opens half of them.
  const double width = static_cast<double>(protocol::EncodingBytes(encoding)) / 4.0;
  const double n = participants;
  ColocatedBound b;
  b.aggregator_open_add_s = floor_s;
  b.participants_seal_s = n * width * costs.seal_s;
  b.participants_open_hash_s = n * (width * costs.open_s + costs.sha256_s);
  b.aggregator_seal_hash_s = width * costs.seal_s + costs.sha256_s + (checkpoint ? costs.seal_s : 0.0);
  b.cores = std::max(1u, cores);
  return b;
}

unsigned UsableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

Result<BenchReport> RunBench(const BenchOptions& o) {
  if (o.participants < 1 || o.participants > 1000) {
    return Fail(ErrorCode::kInvalidArgument, "--participants must be in [1, 1000]");
  }
  if (o.rounds < 1) return Fail(ErrorCode::kInvalidArgument, "--rounds must be at least 1");
  CAIRN_RETURN_IF_ERROR(crypto::Init());
  BenchReport report;
  report.options = o;
  report.load_start = LoadAverage();
  CAIRN_ASSIGN_OR_RETURN(report.shape, ShapeForParams(o.params));
  const std::uint64_t P = report.shape.params;
  const std::uint32_t N = o.participants;
  report.model_bytes = P * 4;
  report.rss_limit_bytes = 4 * report.model_bytes + 64 * kMiB;

  // Work folder: keys, config, policy, states.
  std::filesystem::path dir = o.work_dir;
  if (dir.empty()) {
    dir = std::filesystem::temp_directory_path() /
          ("cairn-bench-" + std::to_string(::getpid()) + "-" +
           std::to_string(SteadyClock::now().time_since_epoch().count()));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot create " + dir.string() + ": " + ec.message());
  struct Cleanup {
    std::filesystem::path dir;
    bool keep;
    ~Cleanup() {
      std::error_code e;
      if (!keep) std::filesystem::remove_all(dir, e);
    }
  } cleanup{dir, o.keep_work_dir};

  CAIRN_ASSIGN_OR_RETURN(std::string sim_public, attestation::GenerateSimPlatformKeyFile(dir / "sim-platform.key"));
  std::string roster;
  for (std::uint32_t i = 0; i < N; ++i) {
    CAIRN_ASSIGN_OR_RETURN(std::string key, participant::GenerateKeyFile(dir / ("p" + std::to_string(i) + ".key")));
    roster += "\n[[participants]]\nid = \"p" + std::to_string(i) + "\"\ncurve_key = \"" + key + "\"\n";
  }
  const std::uint32_t total_rounds = o.rounds + o.warmup_rounds;
  std::ostringstream fed;
  fed << "[federation]\nid = \"bench\"\nrounds = " << total_rounds << "\nmin_participants = " << N
      << "\nround_timeout_s = " << o.round_timeout_s << "\ncohort_wait_s = 0\nstart_timeout_s = 300\n"
      << "eval_timeout_s = 60\nchunk_bytes = " << o.chunk_bytes << "\nencoding = \""
      << protocol::EncodingName(o.encoding) << "\"\n\n[model]\nkind = \"logreg\"\ninputs = "
      << report.shape.inputs << "\nclasses = " << report.shape.classes << "\n";
  if (o.masking) {
    fed << "\n[masking]\nenabled = true\n";
    if (o.masking_k > 0) fed << "neighborhood_size = " << o.masking_k << "\n";
    if (o.masking_t > 0) fed << "threshold = " << o.masking_t << "\n";
  }
  std::string body = fed.str() + roster;
  std::string server = "\n[server]\nlisten = \"tcp://127.0.0.1:0\"\nstate_dir = \"" + (dir / "aggregator").string() +
                       "\"\nsim_platform_key = \"" + (dir / "sim-platform.key").string() +
                       "\"\nmax_concurrent_uploads = " + std::to_string(o.upload_slots) + "\n";
  if (o.masking) {
    auto parsed = protocol::ParseFederationText(body, "cairn-bench federation", dir);
    if (!parsed) {
      return Fail(ErrorCode::kInvalidArgument, "--masking: the masked federation configuration is refused: " +
                                                   parsed.error().message());
    }
  }
  CAIRN_RETURN_IF_ERROR(WriteText(dir / "federation.toml", body + server));
  CAIRN_RETURN_IF_ERROR(WriteText(dir / "policy.toml", PolicyText(sim_public)));

  // The floor first (the machine is quiet: nothing else of the benchmark runs yet).
  CAIRN_ASSIGN_OR_RETURN(FloorResult before, MeasureFloor(N, P, o.chunk_bytes, o.floor_repetitions));
  CAIRN_ASSIGN_OR_RETURN(CipherCosts cipher_before, MeasureCipherCosts(P, o.chunk_bytes, o.floor_repetitions));

  // The aggregator.
  Observations obs;
  SystemClock clock;
  std::string attestation_endpoint;
  std::optional<process::Subprocess> child;
  std::unique_ptr<aggregator::AggregatorApp> app;
  std::thread aggregator_thread;
  std::atomic<int> aggregator_stop{0};
  Status aggregator_status;
  std::atomic<int> loop_tid{-1};
  if (o.mode == AggregatorMode::kProcess) {
    std::filesystem::path bin = o.aggregator_bin;
    if (bin.empty()) bin = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "cairn-aggregator";
    process::SubprocessOptions po;
    po.args = {bin.string(), "run", "--config", (dir / "federation.toml").string(),
               "--attestation", "sim", "--log-level", "debug",
               "--sealing", o.checkpoint ? "sim" : "none"};
    report.aggregator_log = (dir / "aggregator.log").string();
    po.stderr_file = report.aggregator_log;
    // In this process's group: a Ctrl-C at the terminal stops the aggregator too.
    po.new_process_group = false;
    CAIRN_ASSIGN_OR_RETURN(auto spawned, process::Subprocess::Spawn(po));
    child.emplace(std::move(spawned));
    auto ready = child->WaitForLine("cairn-aggregator: ready", std::chrono::seconds(120));
    if (!ready) {
      return Fail(ErrorCode::kUnavailable, "the aggregator did not become ready; its log (" + report.aggregator_log +
                                               "):\n" + ReadText(report.aggregator_log));
    }
    auto p = ready->find("attestation=");
    if (p == std::string::npos) return Fail(ErrorCode::kInternal, "unexpected readiness line: " + *ready);
    attestation_endpoint = ready->substr(p + 12, ready->find(' ', p) - (p + 12));
    obs.aggregator_pid = child->pid();
  } else {
    CAIRN_ASSIGN_OR_RETURN(auto loaded, protocol::LoadFederationFile(dir / "federation.toml"));
    attestation::ProviderOptions po;
    po.sim_platform_key = dir / "sim-platform.key";
    po.sim_measurement = Bytes(48, 0x5A);
    po.clock = &clock;
    CAIRN_ASSIGN_OR_RETURN(auto provider, attestation::MakeEvidenceProvider("sim", po));
    aggregator::AppOptions ao;
    if (o.checkpoint) {
      attestation::SealingKeyOptions so;
      so.kind = "sim";
      so.sim_platform_key = dir / "sim-platform.key";
      CAIRN_ASSIGN_OR_RETURN(auto sealing, attestation::MakeSealingKeyProvider(so));
      CAIRN_ASSIGN_OR_RETURN(ao.sealing_key, sealing->GetKey());
    }
    ao.config = std::move(loaded);
    ao.evidence = std::move(provider);
    ao.platform = "sim";
    ao.clock = &clock;
    CAIRN_ASSIGN_OR_RETURN(app, aggregator::AggregatorApp::Create(std::move(ao)));
    attestation_endpoint = app->endpoints().attestation;
    aggregator_thread = std::thread([&] {
      loop_tid = static_cast<int>(::syscall(SYS_gettid));
      aggregator_status = app->Run(aggregator_stop);
    });
  }
  // Both modes: make sure the child or the thread does not outlive an early return.
  struct StopAggregator {
    std::optional<process::Subprocess>& child;
    std::thread& thread;
    std::atomic<int>& stop;
    ~StopAggregator() {
      if (child) child->Kill(SIGTERM);
      stop = 2;
      if (thread.joinable()) thread.join();
    }
  } stop_guard{child, aggregator_thread, aggregator_stop};

  // The participants.
  auto policy = attestation::LoadPolicy(dir / "policy.toml");
  if (!policy) return Fail(std::move(policy).error().Context("benchmark policy"));
  participant::SyntheticOptions so;
  so.num_params = P;
  {
    auto update = std::make_shared<std::vector<float>>(P);
    for (std::size_t i = 0; i < P; ++i) (*update)[i] = static_cast<float>((i * 2654435761u) % 2001) * 1e-5f - 0.01f;
    so.shared_update = std::move(update);
  }
  so.reuse_update = true;
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::unique_ptr<participant::ParticipantClient>> clients;
  std::atomic<int> participant_stop{0};
  for (std::uint32_t i = 0; i < N; ++i) {
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(so));
    participant::ClientOptions co;
    co.config.id = "p" + std::to_string(i);
    co.config.aggregator = attestation_endpoint;
    co.config.key_file = dir / ("p" + std::to_string(i) + ".key");
    co.config.policy = dir / "policy.toml";
    co.config.state_dir = dir / ("state-p" + std::to_string(i));
    co.config.connect.attempts = 20;
    co.config.connect.initial_backoff_ms = 100;
    co.config.connect.request_timeout_ms = 60000;
    co.policy = *policy;
    co.clock = &clock;
    co.max_reconnects = 0;
    co.on_result = [&obs, i](const protocol::RoundResult& r) {
      auto now = SteadyClock::now();
      ResultSeen seen;
      seen.round = r.round;
      seen.participant = i;
      seen.at = now;
      seen.status = r.status;
      seen.contributors = r.contributors;
      seen.model_version = r.model_version;
      if (r.model) {
        seen.has_model = true;
        seen.download_key_digest = crypto::Sha256(r.model->key);
      }
      std::lock_guard lock(obs.mu);
      if (!obs.first_at.contains(r.round)) {
        obs.first_at[r.round] = now;
        if (obs.aggregator_pid > 0) obs.aggregator_cpu_at[r.round] = ReadProcessCpu(obs.aggregator_pid);
        if (obs.aggregator_loop_tid > 0) {
          obs.aggregator_cpu_at[r.round] = CpuSplit{ThreadCpuSeconds(obs.aggregator_loop_tid), 0, 0};
        }
        obs.self_cpu_at[r.round] = SelfCpuSeconds();
      }
      obs.results.push_back(std::move(seen));
    };
    CAIRN_ASSIGN_OR_RETURN(auto client, participant::ParticipantClient::Create(std::move(co), *workloads.back()));
    clients.push_back(std::move(client));
  }
  if (o.mode == AggregatorMode::kInProcess) {
    while (loop_tid.load() < 0) std::this_thread::yield();
    obs.aggregator_loop_tid = loop_tid.load();
  }
  std::vector<Status> outcomes(N);
  std::vector<std::thread> threads;
  for (std::uint32_t i = 0; i < N; ++i) {
    threads.emplace_back([&, i] { outcomes[i] = clients[i]->Run(participant_stop); });
  }
  for (auto& t : threads) t.join();

  // The aggregator ends after the evaluation reports of the last round.
  if (child) {
    auto code = child->Wait(std::chrono::seconds(120));
    if (!code) return Fail(ErrorCode::kDeadlineExceeded, "the aggregator did not exit after the federation");
    if (*code != 0) {
      return Fail(ErrorCode::kInternal, "the aggregator exited with status " + std::to_string(*code) + "; its log (" +
                                            report.aggregator_log + "):\n" + ReadText(report.aggregator_log));
    }
    report.aggregator_peak_rss_bytes = child->peak_rss_bytes();
    report.loop_profile = LoopProfileSummary(ReadText(report.aggregator_log), o.warmup_rounds + 1);
  } else {
    aggregator_thread.join();
    if (!aggregator_status) return Fail(std::move(aggregator_status).error().Context("in-process aggregator"));
    if (!app->engine().outcome()) {
      Error e = app->engine().outcome().error();
      return Fail(std::move(e).Context("in-process aggregator"));
    }
  }
  for (std::uint32_t i = 0; i < N; ++i) {
    if (!outcomes[i]) return Fail(std::move(outcomes[i]).error().Context("participant p" + std::to_string(i)));
  }

  // The floor again, after the federation (load drifts on a shared machine).
  CAIRN_ASSIGN_OR_RETURN(FloorResult after, MeasureFloor(N, P, o.chunk_bytes, o.floor_repetitions));
  CAIRN_ASSIGN_OR_RETURN(CipherCosts cipher_after, MeasureCipherCosts(P, o.chunk_bytes, o.floor_repetitions));
  report.floor.runs_s = before.runs_s;
  report.floor.runs_s.insert(report.floor.runs_s.end(), after.runs_s.begin(), after.runs_s.end());
  report.floor.median_s = Median(report.floor.runs_s);
  // Before and after the federation, as the floor: the mean of the two medians.
  report.cipher = CipherCosts{(cipher_before.seal_s + cipher_after.seal_s) / 2,
                              (cipher_before.open_s + cipher_after.open_s) / 2,
                              (cipher_before.sha256_s + cipher_after.sha256_s) / 2};
  report.colocated = ComputeColocatedBound(report.cipher, report.floor.median_s, N, o.encoding, o.checkpoint,
                                           UsableCores());

  // Rounds.
  std::map<std::uint64_t, std::vector<const ResultSeen*>> by_round;
  for (const auto& r : obs.results) by_round[r.round].push_back(&r);
  report.rounds_run = static_cast<std::uint32_t>(by_round.size());
  report.commits.assign(N, 0);
  for (const auto& [round, seen] : by_round) {
    const ResultSeen& first = *seen.front();
    if (first.status == protocol::RoundStatus::kCompleted) ++report.rounds_completed;
    for (const auto& c : first.contributors) {
      if (c.size() > 1 && c[0] == 'p') {
        std::uint32_t idx = static_cast<std::uint32_t>(std::stoul(c.substr(1)));
        if (idx < N) ++report.commits[idx];
      }
    }
    std::set<crypto::Sha256Digest> keys;
    for (const auto* s : seen) {
      if (s->has_model) keys.insert(s->download_key_digest);
    }
    report.max_model_seals_per_round = std::max(report.max_model_seals_per_round, static_cast<std::uint32_t>(keys.size()));
  }
  for (std::uint64_t r = o.warmup_rounds + 1; r <= total_rounds; ++r) {
    if (!obs.first_at.contains(r) || !obs.first_at.contains(r - 1)) continue;
    report.round_s.push_back(Seconds(obs.first_at[r] - obs.first_at[r - 1]));
    if (obs.aggregator_cpu_at.contains(r) && obs.aggregator_cpu_at.contains(r - 1)) {
      report.aggregator_cpu.push_back(Minus(obs.aggregator_cpu_at[r], obs.aggregator_cpu_at[r - 1]));
    }
    report.participants_cpu_s.push_back(obs.self_cpu_at[r] - obs.self_cpu_at[r - 1]);
    auto last = obs.first_at[r];
    for (const auto* s : by_round[r]) last = std::max(last, s->at);
    report.result_spread_s.push_back(Seconds(last - obs.first_at[r]));
  }
  if (o.mode == AggregatorMode::kInProcess) {
    // The participants' CPU is the process's minus the aggregator loop's (its ZeroMQ I/O thread
    // cannot be told apart here, so it counts as participants').
    for (std::size_t i = 0; i < report.participants_cpu_s.size() && i < report.aggregator_cpu.size(); ++i) {
      report.participants_cpu_s[i] -= report.aggregator_cpu[i].total();
    }
  }
  report.round_median_s = Median(report.round_s);
  report.ratio = report.floor.median_s > 0 ? report.round_median_s / report.floor.median_s : 0;
  report.colocated_ratio = report.colocated.bound_s() > 0 ? report.round_median_s / report.colocated.bound_s() : 0;
  // Update chunks into the aggregator: payload (values in the transport encoding) plus one AEAD
  // tag per chunk, per participant — exactly what the engine's bytes_in counter adds up.
  CAIRN_ASSIGN_OR_RETURN(auto layout, protocol::ChunkLayout::Make(P * protocol::EncodingBytes(o.encoding), o.chunk_bytes));
  report.bytes_in_per_round = std::uint64_t(N) * (layout.total_bytes + std::uint64_t(layout.chunks) * crypto::kAeadTagBytes);
  if (app) {
    std::uint64_t counted = app->engine().counters().bytes_in;
    std::uint64_t expected = report.bytes_in_per_round * total_rounds;
    if (counted != expected) {
      return Fail(ErrorCode::kInternal, "the engine counted " + std::to_string(counted) + " bytes in; " +
                                            std::to_string(expected) + " were expected");
    }
  }
  report.gbps = report.round_median_s > 0 ? static_cast<double>(report.bytes_in_per_round) / report.round_median_s / 1e9 : 0;
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  report.process_peak_rss_bytes = static_cast<std::uint64_t>(self.ru_maxrss) * 1024;
  report.load_end = LoadAverage();
  return report;
}

// ---------------------------------------------------------------------------------------------

namespace {

// Issue 7's speed target, as a multiple of the floor.
constexpr double kTargetRatio = 1.5;

// The target round time is below the co-located bound: no implementation can meet it with every
// party on this machine.
bool TargetBelowBound(const BenchReport& r) { return kTargetRatio * r.floor.median_s < r.colocated.bound_s(); }

}  // namespace

std::string ReportJson(const BenchReport& r) {
  nlohmann::ordered_json j;
  const auto& o = r.options;
  j["participants"] = o.participants;
  j["params"] = r.shape.params;
  j["rounds"] = o.rounds;
  j["round_median_s"] = r.round_median_s;
  j["floor_s"] = r.floor.median_s;
  j["ratio"] = r.ratio;
  if (r.aggregator_peak_rss_bytes) {
    j["aggregator_peak_rss_bytes"] = *r.aggregator_peak_rss_bytes;
  } else {
    j["aggregator_peak_rss_bytes"] = nullptr;
  }
  j["gbps"] = r.gbps;
  j["colocated_bound_s"] = r.colocated.bound_s();
  j["colocated_ratio"] = r.colocated_ratio;
  j["colocated"] = {{"cores", r.colocated.cores},
                    {"cpu_s", r.colocated.cpu_s()},
                    {"aggregator_open_add_s", r.colocated.aggregator_open_add_s},
                    {"participants_seal_s", r.colocated.participants_seal_s},
                    {"participants_open_hash_s", r.colocated.participants_open_hash_s},
                    {"aggregator_seal_hash_s", r.colocated.aggregator_seal_hash_s},
                    {"target_1_5x_floor_below_bound", TargetBelowBound(r)}};
  j["cipher_per_model_s"] = {{"seal", r.cipher.seal_s}, {"open", r.cipher.open_s}, {"sha256", r.cipher.sha256_s}};
  j["params_requested"] = o.params;
  j["model"] = {{"kind", "logreg"}, {"inputs", r.shape.inputs}, {"classes", r.shape.classes}};
  j["encoding"] = protocol::EncodingName(o.encoding);
  j["chunk_bytes"] = o.chunk_bytes;
  j["upload_slots"] = o.upload_slots;
  j["checkpoint"] = o.checkpoint;
  j["masking"] = o.masking;
  if (o.masking) {
    j["masking_k"] = o.masking_k;
    j["masking_t"] = o.masking_t;
  }
  if (r.plain_round_median_s) {
    j["plain_round_median_s"] = *r.plain_round_median_s;
    j["plain_round_s"] = r.plain_round_s;
    j["masking_overhead_s"] = r.round_median_s - *r.plain_round_median_s;
  }
  j["aggregator_mode"] = o.mode == AggregatorMode::kProcess ? "process" : "in-process";
  j["warmup_rounds"] = o.warmup_rounds;
  j["round_s"] = r.round_s;
  j["round_min_s"] = r.round_s.empty() ? 0 : *std::min_element(r.round_s.begin(), r.round_s.end());
  j["round_max_s"] = r.round_s.empty() ? 0 : *std::max_element(r.round_s.begin(), r.round_s.end());
  j["floor_runs_s"] = r.floor.runs_s;
  j["bytes_in_per_round"] = r.bytes_in_per_round;
  j["model_bytes"] = r.model_bytes;
  j["rss_limit_bytes"] = r.rss_limit_bytes;
  if (r.aggregator_peak_rss_bytes) j["rss_within_limit"] = *r.aggregator_peak_rss_bytes <= r.rss_limit_bytes;
  j["process_peak_rss_bytes"] = r.process_peak_rss_bytes;
  std::vector<double> loop, io, other, total;
  for (const auto& c : r.aggregator_cpu) {
    loop.push_back(c.loop_s);
    io.push_back(c.zmq_io_s);
    other.push_back(c.other_s);
    total.push_back(c.total());
  }
  j["aggregator_cpu_s"] = {{"loop", Median(loop)}, {"zmq_io", Median(io)}, {"other", Median(other)}, {"total", Median(total)}};
  j["participants_cpu_s"] = Median(r.participants_cpu_s);
  j["result_spread_s"] = Median(r.result_spread_s);
  j["rounds_run"] = r.rounds_run;
  j["rounds_completed"] = r.rounds_completed;
  j["all_rounds_completed"] = r.rounds_completed == o.rounds + o.warmup_rounds && r.rounds_run == r.rounds_completed;
  j["commits_min"] = r.commits.empty() ? 0 : *std::min_element(r.commits.begin(), r.commits.end());
  j["commits_max"] = r.commits.empty() ? 0 : *std::max_element(r.commits.begin(), r.commits.end());
  j["model_seals_per_round_max"] = r.max_model_seals_per_round;
  j["loop_profile"] = r.loop_profile;
  j["load_start"] = r.load_start;
  j["load_end"] = r.load_end;
  return j.dump();
}

std::string ReportText(const BenchReport& r) {
  const auto& o = r.options;
  auto mb = [](double b) { return b / 1e6; };
  auto mib = [](double b) { return b / double(1 << 20); };
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(3);
  s << "cairn-bench: N=" << o.participants << " P=" << r.shape.params << " (logreg " << r.shape.inputs << " inputs x "
    << r.shape.classes << " classes) R=" << o.rounds << " (+" << o.warmup_rounds << " warm-up) encoding="
    << protocol::EncodingName(o.encoding) << " chunk=" << o.chunk_bytes << " slots=" << o.upload_slots
    << " checkpoint=" << (o.checkpoint ? "on" : "off") << " aggregator="
    << (o.mode == AggregatorMode::kProcess ? "process" : "in-process") << "\n";
  auto minmax = [](const std::vector<double>& v) {
    std::ostringstream m;
    m.setf(std::ios::fixed);
    m.precision(3);
    if (!v.empty()) m << "min " << *std::min_element(v.begin(), v.end()) << ", max " << *std::max_element(v.begin(), v.end());
    return m.str();
  };
  s << "  round wall time   median " << r.round_median_s << " s (" << minmax(r.round_s) << ")"
    << (o.masking ? " masked" : "") << "\n";
  if (r.plain_round_median_s) {
    s << "  same, no masking  median " << *r.plain_round_median_s << " s (" << minmax(r.plain_round_s)
      << "; run after the masked one in this invocation)\n";
  }
  s << "  floor             median " << r.floor.median_s << " s (" << minmax(r.floor.runs_s) << "; open + accumulate "
    << mb(double(r.model_bytes) * o.participants) << " MB, one thread)\n";
  s.precision(2);
  s << "  ratio             " << r.ratio << " x floor\n";
  const ColocatedBound& b = r.colocated;
  const bool out_of_reach = TargetBelowBound(r);
  s.precision(3);
  s << "  co-located bound  " << b.bound_s() << " s: " << b.cpu_s() << " s of cipher and hash work on " << b.cores
    << (b.cores == 1 ? " core" : " cores") << " (aggregator open + add " << b.aggregator_open_add_s
    << ", seal + hash " << b.aggregator_seal_hash_s << "; participants seal " << b.participants_seal_s
    << ", open + hash " << b.participants_open_hash_s << ")" << (o.masking ? ", masking not counted" : "") << "\n";
  s << "  round / bound     " << r.colocated_ratio << " x; 1.5 x floor = " << kTargetRatio * r.floor.median_s << " s is "
    << (out_of_reach ? "below the bound: out of reach with every party on this machine" : "above the bound") << "\n";
  s.precision(2);
  s << "  into aggregator   " << mb(double(r.bytes_in_per_round)) << " MB per round, " << r.gbps << " GB/s\n";
  if (r.aggregator_peak_rss_bytes) {
    s << "  aggregator RSS    peak " << mib(double(*r.aggregator_peak_rss_bytes)) << " MiB (limit 4 x model + 64 MiB = "
      << mib(double(r.rss_limit_bytes)) << " MiB: "
      << (*r.aggregator_peak_rss_bytes <= r.rss_limit_bytes ? "within" : "OVER") << ")\n";
  } else {
    s << "  aggregator RSS    not measured in-process (process peak " << mib(double(r.process_peak_rss_bytes))
      << " MiB includes the participants)\n";
  }
  std::vector<double> loop, io, other, total;
  for (const auto& c : r.aggregator_cpu) {
    loop.push_back(c.loop_s);
    io.push_back(c.zmq_io_s);
    other.push_back(c.other_s);
  }
  s.precision(3);
  s << "  CPU per round     aggregator loop " << Median(loop) << " s, aggregator zmq io " << Median(io)
    << " s, other " << Median(other) << " s; participants " << Median(r.participants_cpu_s) << " s\n";
  if (!r.loop_profile.empty()) s << "  aggregator loop   " << r.loop_profile << " (median per timed round)\n";
  std::uint32_t cmin = r.commits.empty() ? 0 : *std::min_element(r.commits.begin(), r.commits.end());
  std::uint32_t cmax = r.commits.empty() ? 0 : *std::max_element(r.commits.begin(), r.commits.end());
  s << "  rounds            " << r.rounds_completed << " of " << r.rounds_run << " completed; commits per participant "
    << cmin << ".." << cmax << " of " << (o.rounds + o.warmup_rounds) << "\n";
  s << "  model sealing     at most " << r.max_model_seals_per_round << " sealed copy per round served all "
    << o.participants << " participants\n";
  s.precision(2);
  s << "  load average      " << r.load_start << " at start, " << r.load_end << " at end\n";
  return s.str();
}

}  // namespace cairn::bench
