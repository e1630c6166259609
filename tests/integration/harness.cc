#include "tests/integration/harness.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/attestation/attestation.h"
#include "common/core/file.h"
#include "participant/keys.h"
#include "protocol/round_result.h"

namespace cairn::testing {

std::filesystem::path MakeTempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("cairn-" + name + "-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir);
  return dir;
}

std::filesystem::path SourceDir() {
  if (const char* s = std::getenv("CAIRN_SOURCE_DIR")) return s;
  return CAIRN_DEFAULT_SOURCE_DIR;
}

std::filesystem::path BinDir() {
  if (const char* s = std::getenv("CAIRN_BIN_DIR")) return s;
  return CAIRN_DEFAULT_BIN_DIR;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<protocol::RoundResult> ReadResults(const std::filesystem::path& state_dir) {
  std::vector<protocol::RoundResult> out;
  std::istringstream in(ReadFile(state_dir / "results.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (auto r = protocol::ResultFromJson(line)) out.push_back(*r);
  }
  return out;
}

namespace {
void WriteText(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
}
}  // namespace

std::unique_ptr<TestFederation> TestFederation::Create(const std::string& name, const FederationSpec& spec) {
  if (!crypto::Init()) return nullptr;
  auto f = std::unique_ptr<TestFederation>(new TestFederation());
  f->dir_ = MakeTempDir(name);
  auto pub = attestation::GenerateSimPlatformKeyFile(f->dir_ / "sim-platform.key");
  if (!pub) return nullptr;
  f->sim_public_ = *pub;
  std::string roster;
  for (int i = 0; i < spec.participants; ++i) {
    auto key = participant::GenerateKeyFile(f->key_file(i));
    if (!key) return nullptr;
    roster += "\n[[participants]]\nid = \"" + f->id(i) + "\"\ncurve_key = \"" + *key + "\"\n";
  }
  std::string body = spec.body;
  auto pos = body.find("[federation]\n");
  if (pos == std::string::npos) return nullptr;
  body.insert(pos + 13, "id = \"" + name + "\"\n");
  std::string fed = body + roster + "\n[server]\nlisten = \"tcp://127.0.0.1:0\"\nstate_dir = \"" +
                    f->state_dir().string() + "\"\nsim_platform_key = \"" +
                    (f->dir_ / "sim-platform.key").string() + "\"\n" + spec.server_extra;
  WriteText(f->federation_file(), fed);
  WriteText(f->policy_file(), "platforms = [\"sim\"]\n" + spec.policy_extra +
                                  "\n[sim]\nplatform_key = \"" + f->sim_public_ + "\"\n");
  return f;
}

TestFederation::~TestFederation() {
  StopAggregator();
  if (aggregator_thread_.joinable()) aggregator_thread_.join();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

Status TestFederation::StartAggregator(std::function<void(aggregator::RoundEngine&)> configure) {
  CAIRN_ASSIGN_OR_RETURN(auto loaded, protocol::LoadFederationFile(federation_file()));
  attestation::ProviderOptions po;
  po.sim_platform_key = dir_ / "sim-platform.key";
  po.sim_measurement = Bytes(48, 0x5A);
  po.clock = &clock;
  CAIRN_ASSIGN_OR_RETURN(auto provider, attestation::MakeEvidenceProvider("sim", po));
  attestation::SealingKeyOptions so;
  so.kind = "sim";
  so.sim_platform_key = dir_ / "sim-platform.key";
  CAIRN_ASSIGN_OR_RETURN(auto sealing, attestation::MakeSealingKeyProvider(so));
  CAIRN_ASSIGN_OR_RETURN(auto key, sealing->GetKey());
  aggregator::AppOptions ao;
  ao.config = std::move(loaded);
  ao.evidence = std::move(provider);
  ao.sealing_key = std::move(key);
  ao.platform = "sim";
  ao.clock = &clock;
  ao.metrics = metrics;
  CAIRN_ASSIGN_OR_RETURN(app_, aggregator::AggregatorApp::Create(std::move(ao)));
  if (configure) configure(app_->engine());
  attestation_endpoint_ = app_->endpoints().attestation;
  aggregator_stop = 0;
  aggregator_done_ = std::promise<Status>();
  aggregator_future_ = aggregator_done_.get_future();
  aggregator_thread_ = std::thread([this] {
    Status s = app_->Run(aggregator_stop);
    if (s && !app_->engine().done()) s = Fail(ErrorCode::kAborted, "stopped");
    if (s) s = app_->engine().outcome();
    aggregator_done_.set_value(s);
  });
  return Ok();
}

Status TestFederation::JoinAggregator(std::chrono::seconds timeout) {
  if (!aggregator_thread_.joinable()) return Fail(ErrorCode::kFailedPrecondition, "no aggregator");
  if (aggregator_future_.wait_for(timeout) != std::future_status::ready) {
    StopAggregator();
    aggregator_thread_.join();
    return Fail(ErrorCode::kDeadlineExceeded, "the aggregator did not finish in time");
  }
  aggregator_thread_.join();
  Status s = aggregator_future_.get();
  app_.reset();
  return s;
}

void TestFederation::StopAggregator() { aggregator_stop = 2; }

participant::ClientOptions TestFederation::ClientOptions(int i) const {
  participant::ClientOptions o;
  o.config.id = id(i);
  o.config.aggregator = attestation_endpoint_;
  o.config.key_file = key_file(i);
  o.config.policy = policy_file();
  o.config.state_dir = dir_ / ("state-" + id(i));
  o.config.connect.attempts = 3;
  o.config.connect.initial_backoff_ms = 50;
  o.config.connect.request_timeout_ms = 3000;
  auto policy = attestation::LoadPolicy(policy_file());
  if (policy) o.policy = std::move(*policy);
  o.clock = &clock;
  return o;
}

std::future<Status> TestFederation::RunParticipant(int i, participant::Workload& workload,
                                                   std::optional<participant::ClientOptions> options) {
  auto o = std::make_shared<participant::ClientOptions>();
  if (options.has_value()) {
    *o = std::move(*options);
  } else {
    *o = ClientOptions(i);
  }
  return std::async(std::launch::async, [this, o, &workload]() -> Status {
    CAIRN_ASSIGN_OR_RETURN(auto client, participant::ParticipantClient::Create(std::move(*o), workload));
    return client->Run(participant_stop);
  });
}

// ---------------------------------------------------------------------------------------------

std::unique_ptr<Subprocess> Subprocess::Start(const std::vector<std::string>& argv,
                                              const std::filesystem::path& stderr_file,
                                              const std::filesystem::path& cwd) {
  process::SubprocessOptions o;
  o.args = argv;
  o.working_dir = cwd;
  o.stderr_file = stderr_file;
  o.stderr_to_stdout = stderr_file.empty();
  o.new_process_group = false;
  auto p = std::unique_ptr<Subprocess>(new Subprocess());
  auto spawned = process::Subprocess::Spawn(o);
  if (spawned) {
    p->process_.emplace(std::move(*spawned));
  } else {
    p->start_error_ = spawned.error().message();
  }
  return p;
}

std::optional<std::string> Subprocess::WaitForText(const std::string& text, std::chrono::milliseconds timeout) {
  if (!process_) return std::nullopt;
  auto line = process_->WaitForLineMatching(
      [&](std::string_view l) { return l.find(text) != std::string_view::npos; }, "a line containing '" + text + "'",
      timeout);
  return line ? std::optional<std::string>(std::move(*line)) : std::nullopt;
}

std::optional<std::string> Subprocess::WaitForLine(const std::string& prefix, std::chrono::milliseconds timeout) {
  if (!process_) return std::nullopt;
  auto line = process_->WaitForLine(prefix, timeout);
  return line ? std::optional<std::string>(std::move(*line)) : std::nullopt;
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (!process_) return 127;  // as a shell reports a command it cannot run
  auto code = process_->Wait(timeout);
  return code ? std::optional<int>(*code) : std::nullopt;
}

void Subprocess::Kill(int signal) {
  if (process_) process_->Kill(signal);
}

int Subprocess::pid() const { return process_ ? process_->pid() : -1; }

std::string Subprocess::output() const { return process_ ? process_->StdoutText() : start_error_ + "\n"; }

}  // namespace cairn::testing

// ---------------------------------------------------------------------------------------------

#include "participant/attest_client.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/sealing.h"

namespace cairn::testing {

Result<std::unique_ptr<RawParticipant>> RawParticipant::Connect(TestFederation& federation, int i,
                                                                const std::function<void(protocol::Hello&)>& edit_hello) {
  std::unique_ptr<RawParticipant> p(new RawParticipant());
  p->federation_ = &federation;
  p->index_ = i;
  p->context_ = std::make_unique<zmq::context_t>(1);
  participant::Nonce nonce;
  crypto::RandomBytes(nonce);
  participant::ConnectOptions co;
  co.attempts = 3;
  CAIRN_ASSIGN_OR_RETURN(p->evidence_, participant::FetchEvidence(*p->context_, federation.attestation_endpoint(),
                                                                  nonce, federation.id(i), co));
  p->config_hash_ = crypto::Sha256(AsBytes(p->evidence_.federation_config));
  CAIRN_ASSIGN_OR_RETURN(auto fed, protocol::ParseAttestedFederation(p->evidence_.federation_config));
  p->federation_id_ = fed.id;
  CAIRN_ASSIGN_OR_RETURN(auto key, participant::LoadKeyFile(federation.key_file(i)));
  p->control_ = std::make_unique<zmq::socket_t>(*p->context_, zmq::socket_type::dealer);
  p->data_ = std::make_unique<zmq::socket_t>(*p->context_, zmq::socket_type::dealer);
  p->control_->set(zmq::sockopt::linger, 0);
  p->data_->set(zmq::sockopt::linger, 0);
  p->control_->set(zmq::sockopt::curve_serverkey, zmq::const_buffer(p->evidence_.curve_key.data(), 32));
  p->control_->set(zmq::sockopt::curve_publickey, zmq::const_buffer(key.public_key.data(), 32));
  p->control_->set(zmq::sockopt::curve_secretkey, zmq::const_buffer(key.secret_key.data(), 32));
  p->control_->connect(net::MakeEndpoint("127.0.0.1", p->evidence_.control_port));
  p->data_->connect(net::MakeEndpoint("127.0.0.1", p->evidence_.data_port));
  protocol::Hello hello;
  hello.config_hash = p->config_hash_;
  if (edit_hello) edit_hello(hello);
  CAIRN_RETURN_IF_ERROR(p->Send(hello));
  auto welcome = p->WaitFor<protocol::Welcome>(std::chrono::seconds(10));
  if (!welcome) return Fail(ErrorCode::kDeadlineExceeded, "no Welcome");
  p->welcome_ = *welcome;
  return p;
}

RawParticipant::~RawParticipant() { Close(); }

void RawParticipant::Close() {
  if (data_) data_->close();
  if (control_) control_->close();
  data_.reset();
  control_.reset();
}

Status RawParticipant::Send(const protocol::Message& message) {
  Bytes b = protocol::Encode(message);
  return net::SendBytes(*control_, b);
}

Result<std::optional<protocol::Message>> RawParticipant::Receive(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return std::optional<protocol::Message>();
    zmq::pollitem_t item{static_cast<void*>(*control_), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, left);
    if (!(item.revents & ZMQ_POLLIN)) continue;
    // poll may report input that is not a whole message yet: only a message counts.
    CAIRN_ASSIGN_OR_RETURN(auto frames, net::RecvFrames(*control_, 2));
    if (!frames || frames->size() != 1) continue;
    CAIRN_ASSIGN_OR_RETURN(auto m, protocol::Decode(net::FrameBytes((*frames)[0]), protocol::kMaxControlMessageBytes));
    return std::optional<protocol::Message>(std::move(m));
  }
}

Status RawParticipant::BeginUpload(const protocol::RoundOffer& offer, std::span<const float> values,
                                   std::optional<std::uint32_t> announced_chunks,
                                   std::optional<std::uint64_t> announced_bytes) {
  offer_ = offer;
  values_.assign(values.begin(), values.end());
  CAIRN_ASSIGN_OR_RETURN(layout_, protocol::ChunkLayout::Make(values_.size() * 4, offer.upload_chunk_bytes));
  crypto::HpkeSetupOptions ho;
  Bytes info = protocol::UploadInfo(federation_id_, offer.round, federation_->id(index_), config_hash_);
  ho.info = info;
  CAIRN_ASSIGN_OR_RETURN(auto setup, crypto::HpkeSetupSender(evidence_.hpke_key, ho));
  enc_ = setup.enc;
  hpke_ = std::make_unique<crypto::HpkeContext>(std::move(setup.context));
  tags_.clear();
  tags_.resize(layout_.chunks);
  protocol::UploadBegin begin;
  begin.round = offer.round;
  begin.enc = enc_;
  begin.chunks = announced_chunks.value_or(layout_.chunks);
  begin.total_bytes = announced_bytes.value_or(layout_.total_bytes);
  CAIRN_RETURN_IF_ERROR(Send(begin));
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(auto m, Receive(std::chrono::seconds(10)));
    if (!m) return Fail(ErrorCode::kDeadlineExceeded, "no UploadReady");
    if (std::holds_alternative<protocol::UploadReady>(*m)) return Ok();
    if (auto* r = std::get_if<protocol::Rejected>(&*m)) {
      return Fail(ErrorCode::kAborted, std::string(protocol::RejectCodeName(r->code)) + ": " + r->detail);
    }
  }
}

Status RawParticipant::SendChunk(std::uint32_t index, bool corrupt, std::size_t extra_bytes) {
  std::size_t n = layout_.size(index);
  Bytes sealed(n + crypto::kAeadTagBytes + extra_bytes, 0);
  std::memcpy(sealed.data(), reinterpret_cast<const std::uint8_t*>(values_.data()) + layout_.offset(index), n);
  bool last = index + 1 == layout_.chunks;
  auto aad = protocol::UploadChunkAad(offer_.round, index, last);
  CAIRN_RETURN_IF_ERROR(hpke_->SealAt(index, aad, ByteSpan(sealed.data(), n),
                                      MutableByteSpan(sealed.data(), n + crypto::kAeadTagBytes)));
  std::memcpy(tags_[index].data(), sealed.data() + n, 16);
  if (corrupt) sealed[0] ^= 1;
  protocol::ChunkHeader h;
  h.session = welcome_.session;
  h.kind = protocol::ChunkKind::kUpdateChunk;
  h.round = offer_.round;
  h.index = index;
  h.last = last;
  Bytes hb = protocol::EncodeChunkHeader(h);
  std::vector<zmq::message_t> frames;
  frames.emplace_back(hb.data(), hb.size());
  frames.emplace_back(sealed.data(), sealed.size());
  return net::SendFrames(*data_, frames);
}

Status RawParticipant::SendAllChunks() {
  for (std::uint32_t i = 0; i < layout_.chunks; ++i) CAIRN_RETURN_IF_ERROR(SendChunk(i));
  return Ok();
}

protocol::Commit RawParticipant::MakeCommit(std::uint64_t examples) const {
  protocol::Commit c;
  c.round = offer_.round;
  c.enc = enc_;
  c.chunks = layout_.chunks;
  c.digest = crypto::Sha256(ByteSpan(reinterpret_cast<const std::uint8_t*>(tags_.data()), tags_.size() * 16));
  c.num_examples = examples;
  return c;
}

}  // namespace cairn::testing
