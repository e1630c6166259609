// Test federations: a work folder with keys, a sim platform key, a federation config and a
// policy; an in-process aggregator on a thread; participants driven by any Workload; and
// real-binary subprocesses with a readiness pipe. Loopback and ephemeral ports only; nothing
// waits by sleeping: the aggregator's endpoints are known once Create returns, subprocesses are
// waited on through their stdout pipe.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "aggregator/app.h"
#include "common/core/clock.h"
#include "common/metrics/aggregator_metrics.h"
#include "common/process/subprocess.h"
#include "participant/client.h"
#include "participant/workload.h"
#include "protocol/sealing.h"
#include <zmq.hpp>

namespace cairn::testing {

std::filesystem::path MakeTempDir(const std::string& name);
// $CAIRN_BIN_DIR (set by ctest), else build/bin next to the sources.
std::filesystem::path BinDir();
std::filesystem::path SourceDir();

struct FederationSpec {
  int participants = 3;
  // TOML for everything but id, roster and [server]: "[federation]\nrounds = 2\n...\n[model]...".
  // The [federation] table must come first; `id = ...` is added to it.
  std::string body =
      "[federation]\nrounds = 2\nmin_participants = 3\nround_timeout_s = 30\ncohort_wait_s = 0\n"
      "[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n";
  std::string policy_extra;  // appended to the policy file (after platforms and [sim])
  std::string server_extra;  // appended to [server]
};

class TestFederation {
 public:
  static std::unique_ptr<TestFederation> Create(const std::string& name, const FederationSpec& spec);
  ~TestFederation();

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path federation_file() const { return dir_ / "federation.toml"; }
  std::filesystem::path policy_file() const { return dir_ / "policy.toml"; }
  std::filesystem::path state_dir() const { return dir_ / "aggregator-state"; }
  std::string id(int i) const { return "p" + std::to_string(i); }
  std::filesystem::path key_file(int i) const { return dir_ / ("p" + std::to_string(i) + ".key"); }
  const std::string& sim_public_key() const { return sim_public_; }

  // In-process aggregator. `configure` runs on the engine before serving (test hooks).
  Status StartAggregator(std::function<void(aggregator::RoundEngine&)> configure = {});
  // Waits for the aggregator thread (after the federation ends or StopAggregator).
  Status JoinAggregator(std::chrono::seconds timeout = std::chrono::seconds(120));
  void StopAggregator();
  aggregator::AggregatorApp& app() { return *app_; }
  std::string attestation_endpoint() const { return attestation_endpoint_; }

  // A participant config for participant i (policy loaded from the federation's policy file).
  participant::ClientOptions ClientOptions(int i) const;
  // Runs participant i on a thread with `workload` (owned by the caller; outlives the future).
  std::future<Status> RunParticipant(int i, participant::Workload& workload,
                                     std::optional<participant::ClientOptions> options = std::nullopt);

  SystemClock clock;
  // Set before StartAggregator to watch the engine's metrics (not owned; must outlive the run).
  const metrics::AggregatorMetrics* metrics = nullptr;
  std::atomic<int> aggregator_stop{0};
  std::atomic<int> participant_stop{0};

 private:
  std::filesystem::path dir_;
  std::string sim_public_;
  std::unique_ptr<aggregator::AggregatorApp> app_;
  std::thread aggregator_thread_;
  std::promise<Status> aggregator_done_;
  std::future<Status> aggregator_future_;
  std::string attestation_endpoint_;
};

// A child process for these tests: process::Subprocess (common/process/subprocess.h, which
// spawns, reads stdout lines and waits) in the calling convention the tests here use: Start never
// fails (a program that cannot be started behaves as one that exits with 127 and prints why),
// waits return nullopt on timeout or end of output, the child stays in the test's process group.
class Subprocess {
 public:
  // stderr goes to `stderr_file`, or, when it is empty, into the stdout pipe (log lines can then
  // be waited on).
  static std::unique_ptr<Subprocess> Start(const std::vector<std::string>& argv,
                                           const std::filesystem::path& stderr_file,
                                           const std::filesystem::path& cwd = {});
  // Reads stdout until a line starting with `prefix` (returned) or the timeout / EOF (nullopt).
  std::optional<std::string> WaitForLine(const std::string& prefix, std::chrono::milliseconds timeout);
  // Reads until a line containing `text` (returned) or the timeout / EOF (nullopt).
  std::optional<std::string> WaitForText(const std::string& text, std::chrono::milliseconds timeout);
  // Waits for exit; returns the exit status (128+signal when killed), nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  void Kill(int signal);
  int pid() const;
  // The stdout lines read so far, each with its newline (including lines read by WaitForLine;
  // all of them once Wait returned the exit status).
  std::string output() const;

 private:
  std::optional<process::Subprocess> process_;
  std::string start_error_;  // why the program could not be started (then process_ is empty)
};

std::string ReadFile(const std::filesystem::path& path);

// The signed round results in STATE_DIR/results.jsonl, in order. A line that does not parse is
// left out (tests compare counts and contents, so it fails them).
std::vector<protocol::RoundResult> ReadResults(const std::filesystem::path& state_dir);

}  // namespace cairn::testing

namespace cairn::testing {

// A hand-driven participant that speaks the protocol message by message, so tests can send
// what a well-behaved client never would (wrong rounds, duplicate chunks, NaN, late commits).
class RawParticipant {
 public:
  // Fetches evidence, opens the Curve control channel with participant i's key, says Hello and
  // waits for Welcome.
  static Result<std::unique_ptr<RawParticipant>> Connect(TestFederation& federation, int i,
                                                         const std::function<void(protocol::Hello&)>& edit_hello = {});
  ~RawParticipant();

  Status Send(const protocol::Message& message);
  // The next control message within `timeout` (nullopt on timeout).
  Result<std::optional<protocol::Message>> Receive(std::chrono::milliseconds timeout);
  // Waits for a message of type T, skipping others (nullopt on timeout).
  template <typename T>
  std::optional<T> WaitFor(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      auto m = Receive(left);
      if (!m || !*m) return std::nullopt;
      if (auto* t = std::get_if<T>(&**m)) return *t;
      if (std::getenv("CAIRN_TEST_TRACE")) fprintf(stderr, "skipping %s\n", protocol::MessageName(**m));
    }
    return std::nullopt;
  }

  // Begins an upload of `values` for `offer` (UploadBegin, then waits for UploadReady) and keeps
  // the HPKE context; SendChunk seals chunk `index` of the values (optionally tampered) and
  // sends it on the data plane; MakeCommit builds the matching Commit.
  Status BeginUpload(const protocol::RoundOffer& offer, std::span<const float> values,
                     std::optional<std::uint32_t> announced_chunks = std::nullopt,
                     std::optional<std::uint64_t> announced_bytes = std::nullopt);
  Status SendChunk(std::uint32_t index, bool corrupt = false, std::size_t extra_bytes = 0);
  Status SendAllChunks();
  protocol::Commit MakeCommit(std::uint64_t examples = 10) const;
  std::uint32_t chunks() const { return layout_.chunks; }
  const protocol::Welcome& welcome() const { return welcome_; }
  const crypto::Sha256Digest& config_hash() const { return config_hash_; }
  void Close();

 private:
  RawParticipant() = default;
  TestFederation* federation_ = nullptr;
  int index_ = 0;
  std::unique_ptr<zmq::context_t> context_;
  std::unique_ptr<zmq::socket_t> control_;
  std::unique_ptr<zmq::socket_t> data_;
  protocol::Evidence evidence_;
  crypto::Sha256Digest config_hash_{};
  std::string federation_id_;
  protocol::Welcome welcome_;
  protocol::RoundOffer offer_;
  std::vector<float> values_;
  protocol::ChunkLayout layout_;
  std::unique_ptr<crypto::HpkeContext> hpke_;
  std::array<std::uint8_t, 32> enc_{};
  std::vector<std::array<std::uint8_t, 16>> tags_;
};

}  // namespace cairn::testing
