#include "aggregator/server.h"

#include <chrono>
#include <cstring>

#include "common/core/log.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/sealing.h"
#include "protocol/text.h"

namespace cairn::aggregator {

namespace {
// Update chunks a streaming participant may have queued in this process (see Bind). One queued
// chunk (plus the one ZeroMQ is reading) keeps the loop fed: opening and folding a chunk takes
// longer than reading the next from the kernel's socket buffer, which holds the rest. At 16,
// ZeroMQ's I/O thread held ~24 MiB more at N = 8, P = 10M with no gain in round time
// (docs/performance.md, "Memory").
constexpr int kDataRecvHwm = 1;

attestation::Platform ToAttestation(protocol::Platform p) {
  switch (p) {
    case protocol::Platform::kSevSnp: return attestation::Platform::kSevSnp;
    case protocol::Platform::kTdx: return attestation::Platform::kTdx;
    case protocol::Platform::kSim: break;
  }
  return attestation::Platform::kSim;
}
protocol::Platform ToProtocol(attestation::Platform p) {
  switch (p) {
    case attestation::Platform::kSevSnp: return protocol::Platform::kSevSnp;
    case attestation::Platform::kTdx: return protocol::Platform::kTdx;
    case attestation::Platform::kSim: break;
  }
  return protocol::Platform::kSim;
}
}  // namespace

AggregatorServer::AggregatorServer(ServerOptions options, EnclaveKeys& keys, const Clock& clock)
    : options_(std::move(options)), keys_(keys), clock_(clock), context_(1),
      attest_(context_, zmq::socket_type::router), control_(context_, zmq::socket_type::router),
      data_(context_, zmq::socket_type::router) {}

AggregatorServer::~AggregatorServer() {
  attest_.close();
  control_.close();
  data_.close();
  zap_.reset();
}

Result<std::unique_ptr<AggregatorServer>> AggregatorServer::Create(ServerOptions options, EnclaveKeys& keys,
                                                                   const Clock& clock) {
  std::unique_ptr<AggregatorServer> s(new AggregatorServer(std::move(options), keys, clock));
  s->config_hash_ = crypto::Sha256(AsBytes(s->options_.config.canonical_text));
  CAIRN_RETURN_IF_ERROR(s->Bind());
  return s;
}

Status AggregatorServer::Bind() {
  const auto& fed = options_.config.federation;
  // The ZAP handler must exist before the CURVE socket binds. The roster is immutable for the
  // life of the process, so the lookup is thread-safe.
  std::map<net::CurveKey, std::string> roster;
  for (const auto& r : fed.roster) roster[r.curve_key] = r.id;
  CAIRN_ASSIGN_OR_RETURN(zap_, net::ZapAuthenticator::Start(context_, [roster](const net::CurveKey& key)
                                                                       -> std::optional<std::string> {
    auto it = roster.find(key);
    if (it == roster.end()) return std::nullopt;
    return it->second;
  }));

  net::SocketOptions small;
  small.max_message_bytes = protocol::kMaxAttestationMessageBytes;
  CAIRN_RETURN_IF_ERROR(net::ApplySocketOptions(attest_, small));
  net::SocketOptions control_opts;
  control_opts.max_message_bytes = protocol::kMaxControlMessageBytes;
  CAIRN_RETURN_IF_ERROR(net::ApplySocketOptions(control_, control_opts));
  net::SocketOptions data_opts;
  data_opts.max_message_bytes = protocol::kMaxChunkPayloadBytes;
  // Sends are zero-copy model chunks (they reference the one sealed copy): a deep queue costs no
  // memory. Receives are update chunks, each a fresh buffer of up to chunk_bytes in this process
  // until the loop opens it: the HWM (per connection, in messages) bounds that backlog to about
  // kDataRecvHwm x chunk_bytes per streaming participant; the kernel's socket buffers (not in the
  // process's RSS) hold the rest and TCP backpressure does the pacing.
  data_opts.send_hwm = 4096;
  data_opts.recv_hwm = kDataRecvHwm;
  CAIRN_RETURN_IF_ERROR(net::ApplySocketOptions(data_, data_opts));
  try {
    control_.set(zmq::sockopt::curve_server, 1);
    control_.set(zmq::sockopt::curve_secretkey,
                 zmq::const_buffer(keys_.curve.secret_key().data(), keys_.curve.secret_key().size()));
    control_.set(zmq::sockopt::zap_domain, "cairn");
    control_.set(zmq::sockopt::router_mandatory, 1);
    data_.set(zmq::sockopt::router_mandatory, 1);
    attest_.set(zmq::sockopt::router_mandatory, 1);
  } catch (const zmq::error_t& e) {
    return Fail(ErrorCode::kInternal, std::string("cannot configure CurveZMQ: ") + e.what());
  }
  const auto& srv = options_.config.server;
  std::string host = net::EndpointHost(srv.listen);
  CAIRN_ASSIGN_OR_RETURN(endpoints_.attestation, net::Bind(attest_, srv.listen));
  CAIRN_ASSIGN_OR_RETURN(endpoints_.control,
                         net::Bind(control_, srv.control_listen.empty() ? "tcp://" + host + ":0" : srv.control_listen));
  CAIRN_ASSIGN_OR_RETURN(endpoints_.data,
                         net::Bind(data_, srv.data_listen.empty() ? "tcp://" + host + ":0" : srv.data_listen));
  return Ok();
}

bool AggregatorServer::Send(const std::string& participant, const protocol::Message& message) {
  auto it = routes_.find(participant);
  if (it == routes_.end()) return false;
  Bytes payload = protocol::Encode(message);
  std::vector<zmq::message_t> frames;
  frames.emplace_back(it->second.data(), it->second.size());
  frames.emplace_back(payload.data(), payload.size());
  auto s = net::SendFrames(control_, frames, /*dontwait=*/true);
  if (!s) {
    log::Warn("send_failed", {{"participant", participant}, {"error", s.error().message()}});
    return false;
  }
  if (engine_) engine_->CountBytesOut(payload.size());
  return true;
}

void AggregatorServer::HandleAttestation() {
  for (int budget = 0; budget < 16; ++budget) {
    auto frames = net::RecvFrames(attest_, 3);
    if (!frames || !*frames) return;
    auto& f = **frames;
    if (f.size() != 2) continue;
    std::string route = f[0].to_string();
    auto reply = [&](const protocol::Message& m) {
      Bytes payload = protocol::Encode(m);
      std::vector<zmq::message_t> out;
      out.emplace_back(route.data(), route.size());
      out.emplace_back(payload.data(), payload.size());
      (void)net::SendFrames(attest_, out, true);
    };
    auto msg = protocol::Decode(net::FrameBytes(f[1]), protocol::kMaxAttestationMessageBytes);
    if (!msg) {
      log::Warn("attestation_request_refused", {{"reason", msg.error().message()}});
      reply(protocol::ErrorReply{msg.error().code() == ErrorCode::kFailedPrecondition
                                     ? protocol::RejectCode::kVersionMismatch
                                     : protocol::RejectCode::kMalformed,
                                 msg.error().message()});
      continue;
    }
    auto* get = std::get_if<protocol::GetEvidence>(&*msg);
    if (get == nullptr) {
      reply(protocol::ErrorReply{protocol::RejectCode::kMalformed, "the attestation endpoint only answers GetEvidence"});
      continue;
    }
    protocol::Key32 curve_pub, hpke_pub, sign_pub;
    std::memcpy(curve_pub.data(), keys_.curve.public_key().data(), 32);
    std::memcpy(hpke_pub.data(), keys_.hpke.public_key().data(), 32);
    std::memcpy(sign_pub.data(), keys_.signing.public_key().data(), 32);
    auto report_data = protocol::ComputeReportData(get->nonce, curve_pub, hpke_pub, sign_pub, config_hash_);
    auto evidence = options_.evidence->GetEvidence(report_data);
    if (!evidence) {
      log::Error("evidence_failed", {{"error", evidence.error().message()}});
      reply(protocol::ErrorReply{protocol::RejectCode::kAttestationFailed,
                                 "the aggregator could not produce evidence: " + evidence.error().message()});
      continue;
    }
    protocol::Evidence e;
    e.bundle.platform = ToProtocol(evidence->platform);
    e.bundle.report = std::move(evidence->report);
    e.bundle.certificates = std::move(evidence->certificates);
    e.bundle.collateral = std::move(evidence->collateral);
    e.curve_key = curve_pub;
    e.challenge = engine_->IssueChallenge();
    e.hpke_key = hpke_pub;
    e.signing_key = sign_pub;
    e.federation_config = options_.config.canonical_text;
    e.control_port = net::EndpointPort(endpoints_.control);
    e.data_port = net::EndpointPort(endpoints_.data);
    e.software_version = options_.software_version;
    log::Info("evidence_served", {{"participant", protocol::IsValidParticipantId(get->participant_id)
                                                      ? get->participant_id : std::string("(invalid id)")},
                                  {"platform", std::string(attestation::PlatformName(ToAttestation(e.bundle.platform)))}});
    reply(e);
  }
}

void AggregatorServer::HandleControl() {
  for (int budget = 0; budget < 64; ++budget) {
    auto frames = net::RecvFrames(control_, 3);
    if (!frames || !*frames) return;
    auto& f = **frames;
    if (f.size() != 2) continue;
    // The identity comes from the ZAP handler (the roster id of the Curve key), never from a field.
    const char* user = f[1].gets("User-Id");
    if (user == nullptr) continue;
    std::string participant(user);
    std::string route = f[0].to_string();
    auto msg = protocol::Decode(net::FrameBytes(f[1]), protocol::kMaxControlMessageBytes);
    if (!msg) {
      routes_[participant] = route;
      bool version = msg.error().code() == ErrorCode::kFailedPrecondition;
      log::Warn("message_refused", {{"participant", participant}, {"reason", msg.error().message()}});
      // Within what the participant's decoder accepts (UTF-8, 1 KiB), whatever the message says.
      Send(participant, protocol::ErrorReply{version ? protocol::RejectCode::kVersionMismatch
                                                     : protocol::RejectCode::kMalformed,
                                             std::string(protocol::TruncateUtf8(
                                                 protocol::ToValidUtf8(msg.error().message()), protocol::kMaxTextBytes))});
      continue;
    }
    if (auto* hello = std::get_if<protocol::Hello>(&*msg)) {
      routes_[participant] = route;
      engine_->OnHello(participant, *hello);
      continue;
    }
    if (routes_[participant] != route) {
      // A message from an old connection of a participant that has reconnected since: ignore.
      continue;
    }
    engine_->OnMessage(participant, *msg);
  }
}

void AggregatorServer::HandleData() {
  for (int budget = 0; budget < 64; ++budget) {
    auto frames = net::RecvFrames(data_, 4);
    if (!frames || !*frames) return;
    ++profile_.chunks;
    auto& f = **frames;
    if (f.size() < 2 || f.size() > 3) {
      engine_->CountDroppedChunk();
      continue;
    }
    auto header = protocol::DecodeChunkHeader(net::FrameBytes(f[1]));
    if (!header) {
      engine_->CountDroppedChunk();
      continue;
    }
    const std::string* owner = engine_->SessionOwner(header->session);
    if (owner == nullptr) {
      engine_->CountDroppedChunk();  // no such session: dropped at once
      continue;
    }
    if (header->kind == protocol::ChunkKind::kUpdateChunk && f.size() == 3) {
      engine_->OnUpdateChunk(*owner, *header, net::FrameBytes(f[2]));
    } else if (header->kind == protocol::ChunkKind::kModelRequest && f.size() == 2) {
      auto sealed = engine_->SealedModelFor(header->round);
      if (!sealed || header->index >= sealed->chunks()) {
        engine_->CountDroppedChunk();
        continue;
      }
      std::uint32_t end = std::min<std::uint32_t>({header->end, sealed->chunks(),
                                                   header->index + static_cast<std::uint32_t>(options_.max_chunks_per_request)});
      std::string route = f[0].to_string();
      for (std::uint32_t i = header->index; i < end; ++i) {
        protocol::ChunkHeader h;
        h.session = header->session;
        h.kind = protocol::ChunkKind::kModelChunk;
        h.round = sealed->version();
        h.index = i;
        h.last = i + 1 == sealed->chunks();
        Bytes hb = protocol::EncodeChunkHeader(h);
        ByteSpan c = sealed->chunk(i);
        std::vector<zmq::message_t> out;
        out.emplace_back(route.data(), route.size());
        out.emplace_back(hb.data(), hb.size());
        // Zero copy: the frame references the sealed model, which it keeps alive.
        out.push_back(net::ZeroCopyFrame(c.data(), c.size(), sealed));
        if (!net::SendFrames(data_, out, true)) break;
        engine_->CountBytesOut(c.size());
      }
    } else {
      engine_->CountDroppedChunk();
    }
  }
}

void AggregatorServer::ReportLoopProfile(std::uint64_t round) {
  // Debug lines only: one per phase so each carries a single duration (allowlisted keys).
  // Whole milliseconds, as every duration_ms (docs/logging.md): a measured time printed with
  // a few significant digits can read like a data value (the log scan test once matched a
  // 0.06469 ms duration to a cell of the hospital data).
  auto ms = [](std::uint64_t n) { return static_cast<std::uint64_t>((n + 500'000) / 1'000'000); };
  log::Debug("loop_profile", {{"round", round}, {"phase", "idle"}, {"duration_ms", ms(profile_.idle_ns)}});
  log::Debug("loop_profile", {{"round", round}, {"phase", "data"}, {"duration_ms", ms(profile_.data_ns)},
                              {"chunks", profile_.chunks}});
  log::Debug("loop_profile", {{"round", round}, {"phase", "control"}, {"duration_ms", ms(profile_.control_ns)}});
  log::Debug("loop_profile", {{"round", round}, {"phase", "other"}, {"duration_ms", ms(profile_.other_ns)}});
  profile_ = LoopProfile{};
}

Status AggregatorServer::Run(const std::atomic<int>& stop_signals) {
  if (engine_ == nullptr) return Fail(ErrorCode::kInternal, "no engine attached");
  engine_->Tick();
  std::uint64_t profile_round = engine_->state().next_round;
  profile_ = LoopProfile{};
  bool stop_requested = false;
  while (!engine_->done()) {
    int signals = stop_signals.load();
    if (signals >= 2) break;
    if (signals >= 1 && !stop_requested) {
      stop_requested = true;
      log::Warn("stop_requested", {{"round", engine_->state().next_round}});
      engine_->RequestStop();
      if (engine_->phase() != RoundEngine::Phase::kCollecting) engine_->Tick();
    }
    auto now = clock_.Now();
    auto wake = engine_->NextWakeup();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now);
    wait = std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(100));
    zmq::pollitem_t items[] = {{static_cast<void*>(data_), 0, ZMQ_POLLIN, 0},
                               {static_cast<void*>(control_), 0, ZMQ_POLLIN, 0},
                               {static_cast<void*>(attest_), 0, ZMQ_POLLIN, 0}};
    auto t0 = std::chrono::steady_clock::now();
    try {
      zmq::poll(items, 3, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return Fail(ErrorCode::kInternal, std::string("poll failed: ") + e.what());
    }
    auto t1 = std::chrono::steady_clock::now();
    if (items[0].revents & ZMQ_POLLIN) HandleData();
    auto t2 = std::chrono::steady_clock::now();
    if (items[1].revents & ZMQ_POLLIN) HandleControl();
    auto t3 = std::chrono::steady_clock::now();
    if (items[2].revents & ZMQ_POLLIN) HandleAttestation();
    engine_->Tick();
    if (options_.after_events) options_.after_events(*engine_);
    auto t4 = std::chrono::steady_clock::now();
    auto ns = [](auto d) { return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()); };
    profile_.idle_ns += ns(t1 - t0);
    profile_.data_ns += ns(t2 - t1);
    profile_.control_ns += ns(t3 - t2);
    profile_.other_ns += ns(t4 - t3);
    if (engine_->state().next_round != profile_round) {
      ReportLoopProfile(profile_round);
      profile_round = engine_->state().next_round;
    }
  }
  ReportLoopProfile(profile_round);
  if (options_.after_events) options_.after_events(*engine_);
  // Let the last results and goodbyes reach the participants before the sockets close.
  control_.set(zmq::sockopt::linger, 2000);
  return Ok();
}

}  // namespace cairn::aggregator
