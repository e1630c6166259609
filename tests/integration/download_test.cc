// Model downloads under plain data-plane traffic (docs/protocol.md: the data plane is plain
// ZeroMQ; a chunk that does not authenticate is dropped at once). An on-path proxy in this test
// sits between a participant and the in-process aggregator: it rewrites the advertised data port
// (ports are not part of the attested report data) so the participant's data socket talks to
// it, forwards everything, and injects junk: forged chunks (valid header, bad tag) before each
// genuine one, replays and forged copies after it, malformed frames. The download must still
// complete with the signed model; and one that never gets its chunks must fail at its deadline.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <mutex>
#include <thread>
#include <zmq.hpp>

#include "common/net/net.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/round_result.h"
#include "protocol/sealing.h"
#include "tests/integration/harness.h"

namespace cairn {
namespace {

using testing::FederationSpec;
using testing::TestFederation;

// logreg, 8000 inputs, 10 classes: 80 010 parameters, 79 chunks of 4 KiB (two request windows).
constexpr std::size_t kParams = 8000 * 10 + 10;

// Records every model it is given; "trains" to a small constant update.
class RecordingWorkload final : public participant::Workload {
 public:
  Status Prepare(const protocol::FederationConfig&) override { return Ok(); }
  std::size_t num_params() const override { return kParams; }
  Result<participant::LocalResult> Train(std::span<const float> global, const protocol::Task&,
                                         std::span<float> delta) override {
    std::lock_guard lock(mu);
    trained.emplace_back(global.begin(), global.end());
    std::fill(delta.begin(), delta.end(), 0.001f);
    return participant::LocalResult{10, {}};
  }
  Result<std::vector<protocol::Metric>> Evaluate(std::span<const float> global) override {
    std::lock_guard lock(mu);
    evaluated.emplace_back(global.begin(), global.end());
    return std::vector<protocol::Metric>{};
  }
  std::mutex mu;
  std::vector<std::vector<float>> trained, evaluated;
};

class DataPlaneProxy {
 public:
  enum class Mode { kForwardWithJunk, kBlackHole };

  DataPlaneProxy(std::string attestation, std::string data, Mode mode)
      : attestation_(std::move(attestation)), data_(std::move(data)), mode_(mode) {
    attest_front_.set(zmq::sockopt::linger, 0);
    data_front_.set(zmq::sockopt::linger, 0);
    data_back_.set(zmq::sockopt::linger, 0);
    attest_front_.bind("tcp://127.0.0.1:0");
    data_front_.bind("tcp://127.0.0.1:0");
    data_back_.connect(data_);
    attest_endpoint_ = attest_front_.get(zmq::sockopt::last_endpoint);
    data_port_ = static_cast<std::uint16_t>(net::EndpointPort(data_front_.get(zmq::sockopt::last_endpoint)));
    thread_ = std::thread([this] { Loop(); });
  }
  ~DataPlaneProxy() {
    stop_ = true;
    thread_.join();
  }
  const std::string& attestation_endpoint() const { return attest_endpoint_; }
  std::uint64_t genuine() const { return genuine_; }
  std::uint64_t injected() const { return injected_; }

 private:
  void Send(std::vector<zmq::message_t> frames) { (void)net::SendFrames(data_front_, frames, true); }
  static zmq::message_t Frame(const Bytes& b) { return zmq::message_t(b.data(), b.size()); }
  static Bytes ToBytes(ByteSpan b) { return Bytes(b.begin(), b.end()); }

  void Loop() {
    auto last_junk = std::chrono::steady_clock::now();
    while (!stop_) {
      zmq::pollitem_t items[] = {{static_cast<void*>(attest_front_), 0, ZMQ_POLLIN, 0},
                                 {static_cast<void*>(data_front_), 0, ZMQ_POLLIN, 0},
                                 {static_cast<void*>(data_back_), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 3, std::chrono::milliseconds(5));
      if (items[0].revents & ZMQ_POLLIN) Attestation();
      if (items[1].revents & ZMQ_POLLIN) {
        auto f = net::RecvFrames(data_front_, 4);
        if (f && *f && (*f)->size() >= 2) {
          route_ = (**f)[0].to_string();
          std::vector<zmq::message_t> out;
          for (std::size_t i = 1; i < (*f)->size(); ++i) out.push_back(std::move((**f)[i]));
          (void)net::SendFrames(data_back_, out, true);
        }
      }
      if (items[2].revents & ZMQ_POLLIN) {
        auto f = net::RecvFrames(data_back_, 3);
        if (f && *f && (*f)->size() == 2 && !route_.empty()) FromAggregator(**f);
      }
      // A steady stream of junk while a black hole swallows the chunks: it must not keep the
      // participant's download waiting.
      if (mode_ == Mode::kBlackHole && last_header_ && std::chrono::steady_clock::now() - last_junk > std::chrono::milliseconds(2)) {
        last_junk = std::chrono::steady_clock::now();
        Forged(*last_header_, last_chunk_);
      }
    }
  }

  // The genuine chunk with its tag broken (valid header).
  void Forged(const Bytes& header, const Bytes& chunk) {
    Bytes bad = chunk;
    bad.back() ^= 0x5a;
    bad.front() ^= 0x01;
    std::vector<zmq::message_t> out;
    out.emplace_back(route_.data(), route_.size());
    out.push_back(Frame(header));
    out.push_back(Frame(bad));
    Send(std::move(out));
    ++injected_;
  }

  void FromAggregator(std::vector<zmq::message_t>& f) {
    Bytes header = ToBytes(net::FrameBytes(f[0])), chunk = ToBytes(net::FrameBytes(f[1]));
    auto h = protocol::DecodeChunkHeader(header);
    if (!h) return;
    if (mode_ == Mode::kBlackHole) {
      last_header_ = header;
      last_chunk_ = chunk;
      Forged(header, chunk);
      return;
    }
    // Before the genuine chunk: a forged one (the old client aborted the download on it).
    Forged(header, chunk);
    // Malformed frames: one frame, three frames, a header that does not decode.
    {
      std::vector<zmq::message_t> out;
      out.emplace_back(route_.data(), route_.size());
      out.push_back(Frame(header));
      Send(std::move(out));
    }
    {
      std::vector<zmq::message_t> out;
      out.emplace_back(route_.data(), route_.size());
      out.push_back(Frame(header));
      out.push_back(Frame(chunk));
      out.push_back(Frame(chunk));
      Send(std::move(out));
    }
    {
      std::vector<zmq::message_t> out;
      out.emplace_back(route_.data(), route_.size());
      out.push_back(Frame(Bytes{1, 2, 3}));
      out.push_back(Frame(chunk));
      Send(std::move(out));
    }
    // Out of range, and another session.
    for (int variant = 0; variant < 2; ++variant) {
      auto other = *h;
      if (variant == 0) other.index = 1u << 20;
      if (variant == 1) other.session[0] ^= 0xff;
      std::vector<zmq::message_t> out;
      out.emplace_back(route_.data(), route_.size());
      out.push_back(Frame(protocol::EncodeChunkHeader(other)));
      out.push_back(Frame(chunk));
      Send(std::move(out));
    }
    injected_ += 5;
    // The genuine chunk, then its replay and a forged copy (never overwriting what was taken).
    for (int copy = 0; copy < 2; ++copy) {
      std::vector<zmq::message_t> out;
      out.emplace_back(route_.data(), route_.size());
      out.push_back(Frame(header));
      out.push_back(Frame(chunk));
      Send(std::move(out));
    }
    ++genuine_;
    ++injected_;
    Forged(header, chunk);
  }

  void Attestation() {
    auto f = net::RecvFrames(attest_front_, 3);
    if (!f || !*f || (*f)->size() != 2) return;
    std::string route = (**f)[0].to_string();
    zmq::socket_t back(context_, zmq::socket_type::dealer);
    back.set(zmq::sockopt::linger, 0);
    back.connect(attestation_);
    auto request = net::FrameBytes((**f)[1]);
    if (!net::SendBytes(back, request)) return;
    zmq::pollitem_t item{static_cast<void*>(back), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(10000));
    if (!(item.revents & ZMQ_POLLIN)) return;
    auto r = net::RecvFrames(back, 2);
    if (!r || !*r || (*r)->empty()) return;
    Bytes reply = ToBytes(net::FrameBytes((**r)[0]));
    auto m = protocol::Decode(reply, protocol::kMaxAttestationMessageBytes);
    if (m) {
      if (auto* e = std::get_if<protocol::Evidence>(&*m)) {
        e->data_port = data_port_;
        reply = protocol::Encode(*m);
      }
    }
    std::vector<zmq::message_t> out;
    out.emplace_back(route.data(), route.size());
    out.push_back(Frame(reply));
    (void)net::SendFrames(attest_front_, out, true);
  }

  std::string attestation_, data_;
  Mode mode_;
  zmq::context_t context_{1};
  zmq::socket_t attest_front_{context_, zmq::socket_type::router};
  zmq::socket_t data_front_{context_, zmq::socket_type::router};
  zmq::socket_t data_back_{context_, zmq::socket_type::dealer};
  std::string attest_endpoint_;
  std::uint16_t data_port_ = 0;
  std::string route_;
  std::optional<Bytes> last_header_;
  Bytes last_chunk_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> genuine_{0}, injected_{0};
  std::thread thread_;
};

// Captures what this process writes to stderr (the log) while alive.
class StderrCapture {
 public:
  explicit StderrCapture(const std::filesystem::path& file) : file_(file) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  std::string Stop() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      ::dup2(saved_, 2);
      ::close(saved_);
      saved_ = -1;
    }
    return testing::ReadFile(file_);
  }
  ~StderrCapture() { Stop(); }

 private:
  std::filesystem::path file_;
  int saved_ = -1;
};

FederationSpec Spec(int rounds) {
  FederationSpec spec;
  spec.participants = 1;
  spec.body = "[federation]\nrounds = " + std::to_string(rounds) +
              "\nmin_participants = 1\nround_timeout_s = 60\ncohort_wait_s = 0\nchunk_bytes = 4096\n"
              "[model]\nkind = \"logreg\"\ninputs = 8000\nclasses = 10\n";
  return spec;
}

TEST(ModelDownload, JunkAndReplayedFramesOnTheDataPlaneAreDropped) {
  auto fed = TestFederation::Create("download-junk", Spec(2));
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  std::vector<float> initial = fed->app().state().model;
  ASSERT_EQ(initial.size(), kParams);
  DataPlaneProxy proxy(fed->attestation_endpoint(), fed->app().endpoints().data,
                       DataPlaneProxy::Mode::kForwardWithJunk);
  auto options = fed->ClientOptions(0);
  options.config.aggregator = proxy.attestation_endpoint();
  options.max_reconnects = 0;  // a download that failed would end the run
  RecordingWorkload workload;
  StderrCapture capture(fed->dir() / "participant.log");
  auto run = fed->RunParticipant(0, workload, options);
  auto st = run.get();
  std::string log = capture.Stop();
  ASSERT_TRUE(st) << st.error().ToString();
  ASSERT_TRUE(fed->JoinAggregator());

  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(workload.trained.size(), 2u);
  ASSERT_FALSE(workload.trained.empty());
  EXPECT_EQ(workload.trained[0], initial);  // round 1 trained on the initial model, bit for bit
  ASSERT_EQ(workload.evaluated.size(), 2u);  // each new model downloaded and evaluated
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(protocol::ModelHash(workload.evaluated[i]), results[i].model_hash) << i;
  }
  EXPECT_EQ(workload.trained[1], workload.evaluated[0]);
  EXPECT_GT(proxy.genuine(), 0u);
  EXPECT_GT(proxy.injected(), 5 * proxy.genuine());
  EXPECT_NE(log.find("model_chunks_dropped"), std::string::npos) << log;
}

TEST(ModelDownload, ADownloadThatNeverCompletesFailsAtItsDeadline) {
  auto fed = TestFederation::Create("download-deadline", Spec(1));
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  DataPlaneProxy proxy(fed->attestation_endpoint(), fed->app().endpoints().data,
                       DataPlaneProxy::Mode::kBlackHole);
  auto options = fed->ClientOptions(0);
  options.config.aggregator = proxy.attestation_endpoint();
  options.config.connect.idle_timeout_s = 1;  // the download deadline
  options.config.connect.request_timeout_ms = 5000;  // longer: the deadline ends the download, not a stall
  options.max_reconnects = 0;
  RecordingWorkload workload;
  StderrCapture capture(fed->dir() / "participant.log");
  auto started = std::chrono::steady_clock::now();
  auto run = fed->RunParticipant(0, workload, options);
  ASSERT_EQ(run.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto elapsed = std::chrono::steady_clock::now() - started;
  auto st = run.get();
  std::string log = capture.Stop();
  fed->StopAggregator();
  (void)fed->JoinAggregator();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable) << st.error().ToString();
  EXPECT_TRUE(workload.trained.empty());
  EXPECT_GE(elapsed, std::chrono::seconds(1));
  EXPECT_LT(elapsed, std::chrono::seconds(20));
  EXPECT_GT(proxy.injected(), 0u);
  EXPECT_NE(log.find("model_download_failed"), std::string::npos) << log;
  EXPECT_NE(log.find("no chunk accepted within the idle timeout"), std::string::npos) << log;
  EXPECT_NE(log.find("model_chunks_dropped"), std::string::npos) << log;
}

}  // namespace
}  // namespace cairn
