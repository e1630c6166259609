#include "participant/client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>
#include <zmq.hpp>

#include "common/core/file.h"
#include "common/core/log.h"
#include "common/core/progress.h"
#include "common/net/net.h"
#include "participant/analytics_session.h"
#include "participant/attest_client.h"
#include "participant/audit/evidence_record.h"
#include "participant/audit/result_rules.h"
#include "participant/masking_session.h"
#include "protocol/analytics_message.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/masking_config.h"
#include "protocol/round_result.h"
#include "protocol/sealing.h"

namespace cairn::participant {

using Ms = std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Chain state

Result<ChainState> LoadChainState(const std::filesystem::path& state_dir) {
  ChainState s;
  auto path = state_dir / "chain.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return s;
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, 1 << 16));
  try {
    auto j = nlohmann::json::parse(text);
    s.federation_id = j.at("federation").get<std::string>();
    s.last_round = j.at("last_round").get<std::uint64_t>();
    auto h = HexDecode(j.at("last_hash").get<std::string>());
    if (!h || (!h->empty() && h->size() != 32)) throw std::runtime_error("last_hash must be 32 bytes of hex");
    s.last_hash = std::move(*h);
    // Written since results are checked against their predecessor's ε and final flag; older
    // files lack them and start from "nothing known" (ε 0, not final).
    if (j.contains("last_epsilon")) s.last_epsilon = j.at("last_epsilon").get<double>();
    if (j.contains("final")) s.final = j.at("final").get<bool>();
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kDataLoss, path.string() + " is corrupt (" + e.what() +
                                          "): refusing to guess the last verified round");
  }
  return s;
}

Status SaveChainState(const std::filesystem::path& state_dir, const ChainState& s) {
  CAIRN_RETURN_IF_ERROR(EnsureDirectory(state_dir, 0700));
  nlohmann::ordered_json j;
  j["federation"] = s.federation_id;
  j["last_round"] = s.last_round;
  j["last_hash"] = HexEncode(s.last_hash);
  j["last_epsilon"] = s.last_epsilon;
  j["final"] = s.final;
  return WriteFileAtomic(state_dir / "chain.json", j.dump(), 0600);
}

Status CheckChainHead(const ChainState& chain, std::uint64_t head_round, const Bytes& head_hash) {
  if (head_round < chain.last_round) {
    return Fail(ErrorCode::kAborted,
                "rollback detected: the aggregator's last result is round " + std::to_string(head_round) +
                    ", but this participant has verified round " + std::to_string(chain.last_round) +
                    " (an old checkpoint may have been replayed to reset the privacy ledger); refusing to go on");
  }
  if (head_round == chain.last_round && chain.last_round > 0 && head_hash != chain.last_hash) {
    return Fail(ErrorCode::kAborted, "rollback detected: the aggregator's result of round " +
                                         std::to_string(head_round) +
                                         " differs from the one this participant verified (a forked history)");
  }
  return Ok();
}

std::vector<protocol::Message> KeepAfterCatchUp(std::vector<protocol::Message> arrived, std::uint64_t head_round) {
  std::vector<protocol::Message> kept;
  for (auto& m : arrived) {
    if (auto* r = std::get_if<protocol::RoundResult>(&m); r && r->round < head_round) continue;
    if (auto* o = std::get_if<protocol::RoundOffer>(&m); o && o->round <= head_round) continue;
    kept.push_back(std::move(m));
  }
  return kept;
}

CatchUpWalk::CatchUpWalk(const ChainState& chain, const protocol::FederationConfig& fed,
                         const std::array<std::uint8_t, 32>& config_hash)
    : fed_(fed), config_hash_(config_hash), start_round_(chain.last_round), walked_(chain) {
  before_.round = chain.last_round;
  before_.epsilon = chain.last_epsilon;
  before_.final = chain.final;
}

std::string CatchUpWalk::Which() const {
  return "the aggregator's history after round " + std::to_string(start_round_) +
         ", the last result this participant verified";
}

Result<bool> CatchUpWalk::Add(const std::vector<protocol::RoundResult>& page, std::uint64_t head_round,
                              const Bytes& head_hash) {
  if (head_round < std::max(before_.round, highest_head_)) {
    return Fail(ErrorCode::kAborted, "forked history: " + Which() + ": the aggregator now announces round " +
                                         std::to_string(head_round) + " as its head, behind round " +
                                         std::to_string(std::max(before_.round, highest_head_)) +
                                         " it already announced or sent; refusing to go on");
  }
  highest_head_ = head_round;
  if (head_round > before_.round && page.empty()) {
    return Fail(ErrorCode::kAborted,
                "cannot check " + Which() + ": it sent none of the " + std::to_string(head_round - before_.round) +
                    " results after round " + std::to_string(before_.round) + " up to its head, round " +
                    std::to_string(head_round) +
                    " (its host's results.jsonl may lack them); refusing to go on, since a history that does not "
                    "continue this participant's could have reset the privacy ledger");
  }
  for (const auto& r : page) {
    const std::uint64_t want = before_.round + 1;
    std::string problem;
    if (r.round != want) {
      problem = "holds round " + std::to_string(r.round) + " where round " + std::to_string(want) + " belongs";
    } else if (r.round > head_round) {
      problem = "holds round " + std::to_string(r.round) + " beyond the head it announced, round " +
                std::to_string(head_round);
    } else if (r.prev_hash != walked_.last_hash) {
      problem = "round " + std::to_string(r.round) + " does not chain to the result of round " +
                std::to_string(before_.round) + (before_.round == start_round_ ? " this participant verified" : "");
    } else if (r.federation_id != fed_.id || r.config_hash != config_hash_) {
      problem = "round " + std::to_string(r.round) + " names another federation or configuration";
    } else {
      PreviousResult before{before_.round, before_.epsilon, before_.final};
      auto broken = CheckResultAgainstConfig(r, fed_);
      for (auto& v : CheckResultSuccession(r, before)) broken.push_back(std::move(v));
      if (!broken.empty()) {
        problem = "round " + std::to_string(r.round) + " breaks the attested rules (" + JoinViolations(broken) + ")";
      }
    }
    if (!problem.empty()) {
      return Fail(ErrorCode::kAborted, "forked history: " + Which() + " " + problem +
                                           " (a host may have restarted the enclave from an older checkpoint and run "
                                           "other rounds, which would reset the privacy ledger); refusing to go on");
    }
    auto h = protocol::ResultHash(r);
    walked_.last_hash.assign(h.begin(), h.end());
    walked_.last_round = r.round;
    walked_.last_epsilon = r.epsilon_spent;
    walked_.final = r.final;
    before_ = {r.round, r.epsilon_spent, r.final};
  }
  if (before_.round < head_round) return false;  // more pages to come
  if (walked_.last_hash != head_hash) {
    return Fail(ErrorCode::kAborted, "forked history: " + Which() + " does not end at the head the aggregator "
                                     "announced (round " + std::to_string(head_round) + "); refusing to go on");
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// One session: the sockets and the attested aggregator.

struct ParticipantClient::Session {
  zmq::context_t& context;
  protocol::Evidence evidence;
  AggregatorVerification verified;
  zmq::socket_t control;
  zmq::socket_t data;
  std::unique_ptr<net::HandshakeMonitor> monitor;
  std::array<std::uint8_t, 16> session_id{};
  std::deque<protocol::Message> deferred;  // control messages that arrived while waiting for another

  explicit Session(zmq::context_t& ctx)
      : context(ctx), control(ctx, zmq::socket_type::dealer), data(ctx, zmq::socket_type::dealer) {}

  Status Send(const protocol::Message& m) {
    Bytes b = protocol::Encode(m);
    return net::SendBytes(control, b);
  }

  // Receives one control message within `timeout`; nullopt on timeout. A handshake refusal is
  // reported as an error; a disconnect as kUnavailable (the caller re-attests).
  Result<std::optional<protocol::Message>> Receive(Ms timeout) {
    if (!deferred.empty()) {
      auto m = std::move(deferred.front());
      deferred.pop_front();
      return std::optional<protocol::Message>(std::move(m));
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      // Messages already received come first: a server that says Goodbye and closes must not
      // look like a lost connection.
      CAIRN_ASSIGN_OR_RETURN(auto frames, net::RecvFrames(control, 2));
      if (frames && frames->size() == 1) {
        auto m = protocol::Decode(net::FrameBytes((*frames)[0]), protocol::kMaxControlMessageBytes);
        if (!m) return Fail(std::move(m).error().Context("message from the aggregator"));
        return std::optional<protocol::Message>(std::move(*m));
      }
      if (frames) continue;  // a malformed multipart message: dropped
      if (monitor) {
        auto st = monitor->Poll();
        if (st == net::HandshakeMonitor::State::kAuthFailed) {
          return Fail(ErrorCode::kPermissionDenied,
                      "the aggregator refused this participant's Curve key at the channel: it is not in the "
                      "federation roster");
        }
        if (st == net::HandshakeMonitor::State::kDisconnected || st == net::HandshakeMonitor::State::kProtocolFailed) {
          return Fail(ErrorCode::kUnavailable, "the control connection to the aggregator was lost");
        }
      }
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return std::optional<protocol::Message>();
      auto wait = std::min(std::chrono::duration_cast<Ms>(deadline - now), Ms(200));
      zmq::pollitem_t items[] = {{static_cast<void*>(control), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, wait);
    }
  }
};

namespace {

Error FromReject(const protocol::Rejected& r) {
  return Error(ErrorCode::kAborted, std::string("the aggregator rejected the update (") +
                                        protocol::RejectCodeName(r.code) + "): " + r.detail);
}

}  // namespace

ParticipantClient::ParticipantClient(ClientOptions options, Workload& workload, CurveKeyPair key)
    : options_(std::move(options)), workload_(workload), key_(std::move(key)) {}
ParticipantClient::~ParticipantClient() = default;

Result<std::unique_ptr<ParticipantClient>> ParticipantClient::Create(ClientOptions options, Workload& workload) {
  if (options.clock == nullptr) return Fail(ErrorCode::kInvalidArgument, "a clock is required");
  CAIRN_ASSIGN_OR_RETURN(CurveKeyPair key, LoadKeyFile(options.config.key_file));
  std::unique_ptr<ParticipantClient> c(new ParticipantClient(std::move(options), workload, std::move(key)));
  CAIRN_ASSIGN_OR_RETURN(c->chain_, LoadChainState(c->options_.config.state_dir));
  return c;
}

Status ParticipantClient::Run(const std::atomic<int>& stop_signals) {
  std::uint32_t reconnects = 0;
  std::uint32_t backoff = options_.config.connect.initial_backoff_ms;
  while (true) {
    ++summary_.sessions;
    CAIRN_ASSIGN_OR_RETURN(SessionEnd end, RunSession(stop_signals));
    if (end == SessionEnd::kFinished) return Ok();
    if (stop_signals.load() > 0) return Fail(ErrorCode::kAborted, "stopped by a signal");
    if (++reconnects > options_.max_reconnects) {
      return Fail(ErrorCode::kUnavailable, "lost the aggregator " + std::to_string(reconnects - 1) +
                                               " times; giving up");
    }
    log::Warn("reattesting", {{"attempt", reconnects}, {"backoff_ms", backoff}});
    std::this_thread::sleep_for(Ms(backoff));  // backoff before re-attesting a restarted aggregator
    backoff = std::min(options_.config.connect.max_backoff_ms, backoff * 2);
  }
}

Result<ParticipantClient::SessionEnd> ParticipantClient::RunSession(const std::atomic<int>& stop_signals) {
  const ParticipantConfig& cfg = options_.config;
  zmq::context_t context(1);
  Session s(context);

  // 1. Attestation: the only message sent before verification is GetEvidence.
  Nonce nonce;
  crypto::RandomBytes(nonce);
  auto evidence = FetchEvidence(context, cfg.aggregator, nonce, cfg.id, cfg.connect);
  if (!evidence) {
    // After a first successful session, an unreachable aggregator is worth waiting for.
    if (summary_.sessions > 1 && evidence.error().code() == ErrorCode::kUnavailable) return SessionEnd::kReconnect;
    return Fail(evidence.error());
  }
  s.evidence = std::move(*evidence);
  CAIRN_ASSIGN_OR_RETURN(s.verified, VerifyAggregator(s.evidence, nonce, options_.policy, cfg.id, key_.public_key,
                                                      options_.clock->WallNow()));
  for (const auto& w : s.verified.verdict.warnings) log::Warn("attestation_warning", {{"reason", w}});
  if (!s.verified.accepted) {
    log::Error("attestation_refused", {{"reason", s.verified.FirstFailure()}});
    return Fail(ErrorCode::kPermissionDenied, "attestation refused: " + s.verified.FirstFailure() +
                                                  " (nothing was sent to the aggregator)");
  }
  const protocol::FederationConfig& fed = s.verified.federation;
  log::Info("attestation_accepted", {{"platform", std::string(attestation::PlatformName(s.verified.verdict.platform))},
                                     {"federation", fed.id}, {"measurement", HexEncode(s.verified.verdict.measurement)}});
  if (!chain_.federation_id.empty() && chain_.federation_id != fed.id) {
    return Fail(ErrorCode::kFailedPrecondition,
                "this participant's state folder belongs to federation '" + chain_.federation_id +
                    "', but the aggregator serves '" + fed.id + "': use another state_dir");
  }
  chain_.federation_id = fed.id;
  // Keep the evidence as served, for `cairn-participant audit` (one record per session).
  audit::EvidenceRecord record{UnixMillis(options_.clock->WallNow()), cfg.aggregator, nonce, s.evidence, ""};
  CAIRN_RETURN_IF_ERROR(EnsureDirectory(cfg.state_dir, 0700));
  CAIRN_RETURN_IF_ERROR(audit::AppendEvidenceRecord(cfg.state_dir / "evidence.jsonl", record));
  ProgressLine progress = ProgressLine::ForStderr(*options_.clock);
  CAIRN_RETURN_IF_ERROR(workload_.Prepare(fed));

  // 2. Control channel with the attested Curve key; data channel (sessions are opened on control).
  std::string host = net::EndpointHost(cfg.aggregator);
  net::SocketOptions co;
  co.max_message_bytes = protocol::kMaxControlMessageBytes;
  CAIRN_RETURN_IF_ERROR(net::ApplySocketOptions(s.control, co));
  net::SocketOptions dopt;
  dopt.max_message_bytes = protocol::kMaxChunkPayloadBytes;
  // Backpressure on uploads: a few chunks queued in ZeroMQ (the kernel's socket buffer holds
  // more). Their frames come from a pool that holds that many, plus the one ZeroMQ is writing and
  // the one being sealed, so a round's upload reuses the last round's buffers (no malloc, page
  // faults or trimming per chunk; docs/performance.md, "Participants' upload frames"); but never
  // more than 32 MiB of them between rounds, whatever federation.chunk_bytes is.
  constexpr int kUploadQueue = 16;
  dopt.send_hwm = kUploadQueue;
  dopt.recv_hwm = 256;
  // An upload blocks while the queue is full; an aggregator that reads nothing for the idle
  // timeout is treated as gone (the session ends and the participant attests again), as on the
  // control channel, instead of the send waiting forever.
  dopt.send_timeout_ms = static_cast<int>(cfg.connect.idle_timeout_s * 1000);
  net::FramePool upload_frames(kUploadQueue + 2, std::size_t{32} << 20);
  CAIRN_RETURN_IF_ERROR(net::ApplySocketOptions(s.data, dopt));
  try {
    s.control.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(s.evidence.curve_key.data(), 32));
    s.control.set(zmq::sockopt::curve_publickey, zmq::const_buffer(key_.public_key.data(), 32));
    s.control.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(key_.secret_key.data(), 32));
    CAIRN_ASSIGN_OR_RETURN(s.monitor, net::HandshakeMonitor::Attach(context, s.control,
                                                                   cfg.id + "-" + std::to_string(summary_.sessions)));
    s.control.connect(net::MakeEndpoint(host, s.evidence.control_port));
    s.data.connect(net::MakeEndpoint(host, s.evidence.data_port));
  } catch (const zmq::error_t& e) {
    return Fail(ErrorCode::kInternal, std::string("cannot open the control channel: ") + e.what());
  }

  protocol::Hello hello;
  hello.config_hash = s.verified.config_hash;
  hello.last_round = chain_.last_round;
  hello.last_result_hash = chain_.last_hash;
  if (!fed.participant_attestation_policy.empty()) {
    // Mutual attestation: our own evidence binds the aggregator's fresh challenge and our Curve key.
    if (options_.own_evidence == nullptr) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "federation '" + fed.id + "' requires mutual attestation ([participant_attestation] in its "
                  "config): run this participant in a TEE with --attestation sev-snp|tdx|auto");
    }
    if (s.evidence.challenge.size() != 32) {
      return Fail(ErrorCode::kFailedPrecondition, "the aggregator sent no 32-byte challenge for mutual attestation");
    }
    std::array<std::uint8_t, 32> challenge{};
    std::copy(s.evidence.challenge.begin(), s.evidence.challenge.end(), challenge.begin());
    auto rd = protocol::ComputeParticipantReportData(challenge, key_.public_key, s.verified.config_hash);
    auto own = options_.own_evidence->GetEvidence(rd);
    if (!own) return Fail(own.error().code(), "cannot produce this participant's own evidence: " + own.error().message());
    hello.mutual_evidence = ToProtocolEvidence(*own);
    hello.challenge = s.evidence.challenge;
  }
  CAIRN_RETURN_IF_ERROR(s.Send(hello));

  Ms request_timeout(cfg.connect.request_timeout_ms);
  Ms idle_timeout(static_cast<std::int64_t>(cfg.connect.idle_timeout_s) * 1000);
  auto welcome_deadline = std::chrono::steady_clock::now() + request_timeout * 2;
  std::optional<protocol::Welcome> welcome;
  while (!welcome) {
    auto left = std::chrono::duration_cast<Ms>(welcome_deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return SessionEnd::kReconnect;
    auto m = s.Receive(left);
    if (!m) {
      if (m.error().code() == ErrorCode::kUnavailable) return SessionEnd::kReconnect;
      return Fail(m.error());
    }
    if (!*m) continue;
    if (auto* w = std::get_if<protocol::Welcome>(&**m)) {
      welcome = *w;
    } else if (auto* r = std::get_if<protocol::Rejected>(&**m)) {
      if (r->code == protocol::RejectCode::kBusy) {
        // The aggregator paces catch-up pages and this Hello needed one: come back later.
        log::Warn("rejected", {{"code", protocol::RejectCodeName(r->code)}, {"reason", r->detail}});
        return SessionEnd::kReconnect;
      }
      if (r->code == protocol::RejectCode::kRollback) {
        return Fail(ErrorCode::kAborted, "rollback detected: " + r->detail +
                                             " (an old checkpoint may have been replayed to reset the privacy ledger); refusing to go on");
      }
      return Fail(ErrorCode::kPermissionDenied, std::string("the aggregator refused to admit this participant (") +
                                                    protocol::RejectCodeName(r->code) + "): " + r->detail);
    } else if (auto* e = std::get_if<protocol::ErrorReply>(&**m)) {
      return Fail(ErrorCode::kFailedPrecondition, "the aggregator answered: " + e->message);
    }
  }
  // Rollback: the aggregator's chain head must not be behind what this participant verified.
  if (auto st = CheckChainHead(chain_, welcome->head_round, welcome->head_hash); !st) {
    log::Error("rollback_detected", {{"round", welcome->head_round}, {"reason", "aggregator behind participant"}});
    return Fail(st.error());
  }
  // Ahead of us: the results we missed must continue our chain before anything is sent.
  if (chain_.last_round > 0 && welcome->head_round > chain_.last_round) {
    const std::uint64_t from = chain_.last_round;
    CatchUpWalk walk(chain_, fed, s.verified.config_hash);
    auto done = walk.Add(welcome->catch_up, welcome->head_round, welcome->head_hash);
    // More than one Welcome carries: ask for the next page until a page ends at the head. What
    // else arrives meanwhile (an offer, a result) is handled after the walk.
    std::vector<protocol::Message> later;
    std::uint64_t pages = 1;
    std::uint64_t busy = 0;
    while (done && !*done) {
      CAIRN_RETURN_IF_ERROR(s.Send(protocol::CatchUpRequest{walk.position()}));
      std::optional<protocol::CatchUp> page;
      auto page_deadline = std::chrono::steady_clock::now() + request_timeout * 2;
      while (!page) {
        auto left = std::chrono::duration_cast<Ms>(page_deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          // A busy aggregator (a long finalization) is no reason to give up: nothing was
          // accepted yet, so a new session walks again from the verified chain.
          log::Warn("catch_up_timeout", {{"round", walk.position()}});
          return SessionEnd::kReconnect;
        }
        auto m = s.Receive(left);
        if (!m) {
          if (m.error().code() == ErrorCode::kUnavailable) return SessionEnd::kReconnect;
          return Fail(m.error());
        }
        if (!*m) continue;
        if (auto* c = std::get_if<protocol::CatchUp>(&**m)) {
          page = std::move(*c);
        } else if (auto* r = std::get_if<protocol::Rejected>(&**m); r && r->code == protocol::RejectCode::kBusy) {
          // The aggregator paces catch-up pages (each reads its results log): wait a refill
          // (250 ms; 300 to be sure), keeping what arrives meanwhile, then ask again.
          ++busy;
          const auto resume = std::chrono::steady_clock::now() + Ms(300);
          for (auto now = std::chrono::steady_clock::now(); now < resume; now = std::chrono::steady_clock::now()) {
            auto pause = s.Receive(std::chrono::duration_cast<Ms>(resume - now));
            if (!pause && pause.error().code() == ErrorCode::kUnavailable) return SessionEnd::kReconnect;
            if (!pause) return Fail(pause.error());
            if (*pause) later.push_back(std::move(**pause));
          }
          page_deadline = std::chrono::steady_clock::now() + request_timeout * 2;
          CAIRN_RETURN_IF_ERROR(s.Send(protocol::CatchUpRequest{walk.position()}));
        } else if (auto* bye = std::get_if<protocol::Goodbye>(&**m)) {
          return Fail(ErrorCode::kAborted, "the aggregator ended the federation (" + bye->reason +
                                               ") while this participant checked the results it missed; its "
                                               "verified chain stays at round " + std::to_string(from));
        } else if (auto* e = std::get_if<protocol::ErrorReply>(&**m)) {
          return Fail(ErrorCode::kFailedPrecondition, "the aggregator answered the catch-up request: " + e->message);
        } else if (auto* refused = std::get_if<protocol::Rejected>(&**m)) {
          // An aggregator older than protocol 1.1 does not know the request.
          return Fail(ErrorCode::kAborted, "cannot check the aggregator's history after round " + std::to_string(from) +
                                               ": it refused the request for the results after round " +
                                               std::to_string(walk.position()) + " (" +
                                               protocol::RejectCodeName(refused->code) + ": " + refused->detail +
                                               "); refusing to go on");
        } else {
          later.push_back(std::move(**m));
        }
      }
      done = walk.Add(page->results, page->head_round, page->head_hash);
      ++pages;
    }
    if (!done) {
      log::Error("rollback_detected", {{"round", welcome->head_round}, {"reason", "history does not continue the verified chain"}});
      return Fail(done.error());
    }
    chain_ = walk.chain();
    CAIRN_RETURN_IF_ERROR(SaveChainState(cfg.state_dir, chain_));
    log::Info("chain_caught_up", {{"round", chain_.last_round}, {"count", chain_.last_round - from}, {"pages", pages}});
    if (options_.on_caught_up) options_.on_caught_up(pages, busy);
    for (auto& m : KeepAfterCatchUp(std::move(later), chain_.last_round)) s.deferred.push_back(std::move(m));
  }
  if (options_.on_joined) options_.on_joined(welcome->head_round);
  s.session_id = welcome->session;
  if (welcome->want_feature_stats) {
    // Federated standardization: local moments go to the enclave only (Curve channel).
    auto moments = workload_.FeatureMoments();
    if (!moments) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the federation standardizes features across sites, but this participant's data has no tabular features");
    }
    CAIRN_RETURN_IF_ERROR(s.Send(*moments));
  }
  log::Info("joined", {{"federation", fed.id}, {"round", welcome->head_round + 1},
                       {"model_version", welcome->model_version}});

  crypto::Ed25519PublicKey signing_key;
  std::memcpy(signing_key.data(), s.evidence.signing_key.data(), 32);
  AnalyticsSession analytics(cfg, fed);

  // Downloads a sealed model over the data plane, window by window, into the cache's storage
  // (the previous version is no longer needed once a new one is offered): no 40 MB allocation,
  // page faults or copy per round. The reference stays valid until the next download.
  auto download = [&](const protocol::ModelDownload& d) -> Result<std::reference_wrapper<const std::vector<float>>> {
    if (d.num_params != workload_.num_params()) {
      return Fail(ErrorCode::kFailedPrecondition, "the aggregator's model has " + std::to_string(d.num_params) +
                                                      " parameters; the local model has " +
                                                      std::to_string(workload_.num_params()));
    }
    if (d.model_version == cached_version_ && d.model_hash == cached_hash_ && !cached_model_.empty()) {
      return std::cref(cached_model_);
    }
    cached_version_ = 0;  // the cache's storage goes to the receiver: nothing cached until it verifies
    CAIRN_ASSIGN_OR_RETURN(auto rx, protocol::ModelReceiver::Create(d, std::move(cached_model_)));
    cached_model_.clear();
    // Plain data-plane traffic cannot end a download (docs/protocol.md): a frame that is
    // malformed, names another session or version, is out of range, repeats a chunk already
    // here (which is never overwritten) or does not authenticate is dropped and counted; what is
    // still missing is asked for again, as after a stall. Frames do not extend the wait for a
    // window, and a download that takes no chunk for connect.idle_timeout_s (the longest this
    // participant waits on the aggregator elsewhere) ends with kUnavailable, so the session attests
    // again. Only an accepted chunk moves that deadline: junk cannot keep a download alive, and a
    // large model on a slow link is not cut off while it progresses.
    auto deadline = std::chrono::steady_clock::now() + idle_timeout;
    std::uint64_t dropped = 0;
    auto report_dropped = [&] {
      if (dropped == 0) return;
      log::Warn("model_chunks_dropped", {{"model_version", d.model_version}, {"count", dropped},
                                         {"chunks", d.chunks}});
    };
    std::uint32_t next = 0;
    int stalls = 0;
    while (!rx.complete()) {
      while (next < d.chunks && rx.has(next)) ++next;
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        report_dropped();
        log::Warn("model_download_failed", {{"model_version", d.model_version}, {"chunks", rx.received()},
                                            {"deadline_ms", static_cast<std::int64_t>(idle_timeout.count())},
                                            {"reason", "no chunk accepted within the idle timeout"}});
        return Fail(ErrorCode::kUnavailable,
                    "the model download of version " + std::to_string(d.model_version) + " took no chunk for " +
                        std::to_string(idle_timeout.count()) + " ms (connect.idle_timeout_s): " +
                        std::to_string(rx.received()) + " of " + std::to_string(d.chunks) + " chunks arrived, " +
                        std::to_string(dropped) + " frames were dropped");
      }
      // Ask for a window of chunks; on a stall ask again (chunks already here are skipped).
      std::uint32_t end = std::min<std::uint32_t>(d.chunks, next + 64);
      protocol::ChunkHeader h;
      h.session = s.session_id;
      h.kind = protocol::ChunkKind::kModelRequest;
      h.round = d.model_version;
      h.index = next;
      h.end = end;
      Bytes hb = protocol::EncodeChunkHeader(h);
      CAIRN_RETURN_IF_ERROR(net::SendBytes(s.data, hb));
      auto window_done = [&] {
        for (std::uint32_t i = next; i < end; ++i) {
          if (!rx.has(i)) return false;
        }
        return true;
      };
      const auto window_deadline = std::min(now + request_timeout, deadline);
      while (!window_done()) {
        auto left = std::chrono::ceil<Ms>(window_deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        zmq::pollitem_t items[] = {{static_cast<void*>(s.data), 0, ZMQ_POLLIN, 0}};
        zmq::poll(items, 1, left);
        if (!(items[0].revents & ZMQ_POLLIN)) continue;
        CAIRN_ASSIGN_OR_RETURN(auto frames, net::RecvFrames(s.data, 3));
        if (!frames) continue;
        if (frames->size() != 2) {
          ++dropped;
          continue;
        }
        auto ch = protocol::DecodeChunkHeader(net::FrameBytes((*frames)[0]));
        // Any missing chunk of this download is taken, also one a late answer to an earlier
        // request brings.
        if (!ch || ch->kind != protocol::ChunkKind::kModelChunk || ch->session != s.session_id ||
            ch->round != d.model_version || ch->index >= d.chunks || rx.has(ch->index) ||
            !rx.Add(ch->index, net::FrameBytes((*frames)[1]))) {
          ++dropped;
        } else {
          deadline = std::chrono::steady_clock::now() + idle_timeout;  // progress
        }
      }
      if (!window_done()) {
        if (++stalls > 3) {
          report_dropped();
          return Fail(ErrorCode::kUnavailable, "the model download stalled at chunk " + std::to_string(next) +
                                                   " of " + std::to_string(d.chunks));
        }
        continue;
      }
      stalls = 0;
      next = end;
    }
    report_dropped();
    CAIRN_ASSIGN_OR_RETURN(cached_model_, rx.Finish());
    cached_version_ = d.model_version;
    cached_hash_ = d.model_hash;
    return std::cref(cached_model_);
  };

  // Pairwise masking (participant/masking_session.h): the session of the masked round in
  // progress. Waits on the control channel until `done()` holds, handling the secagg messages
  // of the session and keeping the rest for later.
  std::unique_ptr<MaskingSession> masking;
  auto masking_step = [&](const protocol::RoundOffer& offer, const std::function<bool()>& done) -> Status {
    while (!done()) {
      CAIRN_ASSIGN_OR_RETURN(auto m, s.Receive(Ms(static_cast<std::int64_t>(offer.deadline_ms) + 5000)));
      if (!m) return Fail(ErrorCode::kDeadlineExceeded, "the masked round's key exchange did not finish before its deadline");
      if (auto* sa = std::get_if<protocol::SecaggMessage>(&*m)) {
        CAIRN_ASSIGN_OR_RETURN(auto reply, masking->Handle(sa->data));
        if (reply) CAIRN_RETURN_IF_ERROR(s.Send(protocol::SecaggMessage{std::move(*reply)}));
        continue;
      }
      if (auto* r = std::get_if<protocol::Rejected>(&*m)) return Fail(FromReject(*r));
      s.deferred.push_back(std::move(*m));
      if (std::holds_alternative<protocol::RoundResult>(s.deferred.back())) {
        return Fail(ErrorCode::kDeadlineExceeded, "the masked round closed during its key exchange");
      }
    }
    return Ok();
  };

  // Handles one round offer: download, train, clip, (mask,) seal, upload, commit.
  auto run_round = [&](const protocol::RoundOffer& offer) -> Status {
    auto start = std::chrono::steady_clock::now();
    masking.reset();
    if (fed.masking.enabled) {
      // Rounds 1 and 2 of the masking protocol before training, so the key exchange overlaps
      // nobody's training time: advertise keys, then answer the keys relay with the shares.
      CAIRN_ASSIGN_OR_RETURN(masking, MaskingSession::Create(fed, s.verified.config_hash, offer, cfg.id,
                                                             workload_.num_params()));
      CAIRN_RETURN_IF_ERROR(s.Send(protocol::SecaggMessage{masking->Advertisement()}));
      CAIRN_RETURN_IF_ERROR(masking_step(offer, [&] { return masking->shares_sent(); }));
    }
    CAIRN_ASSIGN_OR_RETURN(const std::vector<float>& global, download(offer.model));
    // The update buffer is kept across rounds (zeroed, not reallocated: a fresh 40 MB vector per
    // round costs more in page faults than the zeroing).
    delta_.resize(global.size());
    std::fill(delta_.begin(), delta_.end(), 0.0f);
    std::span<float> delta(delta_);
    CAIRN_ASSIGN_OR_RETURN(LocalResult local, workload_.Train(global, offer.task, delta));
    // Clip locally to the bound the enclave enforces (it clips again whatever we do).
    bool within_clip = true;
    if (offer.task.clip_norm > 0) {
      double sq = 0;
      for (float v : delta) sq += double(v) * v;
      double norm = std::sqrt(sq);
      within_clip = norm <= offer.task.clip_norm;
      if (!within_clip) {
        float scale = static_cast<float>(offer.task.clip_norm * (1 - 1e-6) / norm);
        for (float& v : delta) v *= scale;
      }
    }
    double mask_weight = protocol::MaskingWeight(fed, local.num_examples);
    if (masking) CAIRN_RETURN_IF_ERROR(masking_step(offer, [&] { return masking->ready_to_mask(); }));
    std::vector<std::uint32_t> ring;
    // Seal with HPKE to the attested key; info binds federation, round, participant and config.
    std::size_t width = protocol::EncodingBytes(offer.upload_encoding);
    CAIRN_ASSIGN_OR_RETURN(auto layout, protocol::ChunkLayout::Make(delta.size() * width, offer.upload_chunk_bytes));
    crypto::HpkeSetupOptions ho;
    Bytes info = protocol::UploadInfo(fed.id, offer.round, cfg.id, s.verified.config_hash);
    ho.info = info;
    CAIRN_ASSIGN_OR_RETURN(auto setup, crypto::HpkeSetupSender(s.evidence.hpke_key, ho));
    protocol::UploadBegin begin;
    begin.round = offer.round;
    begin.enc = setup.enc;
    begin.chunks = layout.chunks;
    begin.total_bytes = layout.total_bytes;
    CAIRN_RETURN_IF_ERROR(s.Send(begin));
    // Wait for a staging slot.
    while (true) {
      CAIRN_ASSIGN_OR_RETURN(auto m, s.Receive(Ms(static_cast<std::int64_t>(offer.deadline_ms) + 5000)));
      if (!m) return Fail(ErrorCode::kDeadlineExceeded, "no upload slot before the round's deadline");
      if (auto* ready = std::get_if<protocol::UploadReady>(&*m); ready && ready->round == offer.round) break;
      if (auto* r = std::get_if<protocol::Rejected>(&*m)) return Fail(FromReject(*r));
      s.deferred.push_back(std::move(*m));
      if (std::holds_alternative<protocol::RoundResult>(s.deferred.back())) {
        return Fail(ErrorCode::kDeadlineExceeded, "the round closed before an upload slot was free");
      }
    }
    std::vector<std::array<std::uint8_t, crypto::kAeadTagBytes>> tags(layout.chunks);
    for (std::uint32_t i = 0; i < layout.chunks; ++i) {
      std::uint32_t n = layout.size(i);
      // Seal straight into the frame's buffer: the cipher's output is the only copy of the
      // update. float32 (EncodeValues returns the values' own bytes) and the masked ring elements
      // are sealed from where they are; a 16-bit transport is encoded into the frame first and
      // sealed in place.
      zmq::message_t payload = upload_frames.Take(n + crypto::kAeadTagBytes);
      auto* buf = static_cast<std::uint8_t*>(payload.data());
      std::size_t first = layout.offset(i) / width;
      std::span<const float> values = std::span<const float>(delta).subspan(first, n / width);
      ByteSpan plain;
      if (masking) {
        // Masked: quantize, add the masks, and send elements of Z_{2^32} (little-endian u32).
        ring.resize(n / width);
        CAIRN_RETURN_IF_ERROR(masking->Mask(values, mask_weight, first, ring));
        plain = ByteSpan(reinterpret_cast<const std::uint8_t*>(ring.data()), n);
      } else {
        plain = protocol::EncodeValues(values, offer.upload_encoding, MutableByteSpan(buf, n));
      }
      bool last = i + 1 == layout.chunks;
      auto aad = protocol::UploadChunkAad(offer.round, i, last);
      CAIRN_RETURN_IF_ERROR(setup.context.SealAt(i, aad, plain, MutableByteSpan(buf, n + crypto::kAeadTagBytes)));
      std::memcpy(tags[i].data(), buf + n, crypto::kAeadTagBytes);
      protocol::ChunkHeader h;
      h.session = s.session_id;
      h.kind = protocol::ChunkKind::kUpdateChunk;
      h.round = offer.round;
      h.index = i;
      h.last = last;
      Bytes hb = protocol::EncodeChunkHeader(h);
      std::vector<zmq::message_t> frames;
      frames.emplace_back(hb.data(), hb.size());
      frames.push_back(std::move(payload));
      CAIRN_RETURN_IF_ERROR(net::SendFrames(s.data, frames));
    }
    crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(delta.data()), delta.size() * sizeof(float)));
    protocol::Commit commit;
    commit.round = offer.round;
    commit.enc = setup.enc;
    commit.chunks = layout.chunks;
    commit.digest = crypto::Sha256(ByteSpan(reinterpret_cast<const std::uint8_t*>(tags.data()), tags.size() * 16));
    commit.num_examples = local.num_examples;
    commit.metrics = local.metrics;
    commit.within_clip = within_clip;
    CAIRN_RETURN_IF_ERROR(s.Send(commit));
    while (true) {
      CAIRN_ASSIGN_OR_RETURN(auto m, s.Receive(Ms(static_cast<std::int64_t>(offer.deadline_ms) + 5000)));
      if (!m) return Fail(ErrorCode::kDeadlineExceeded, "no acknowledgement of the commit");
      if (auto* ack = std::get_if<protocol::CommitAck>(&*m); ack && ack->round == offer.round) break;
      if (auto* r = std::get_if<protocol::Rejected>(&*m)) return Fail(FromReject(*r));
      s.deferred.push_back(std::move(*m));
      if (std::holds_alternative<protocol::RoundResult>(s.deferred.back())) break;
    }
    if (masking) {
      CAIRN_RETURN_IF_ERROR(masking->Committed());
      if (masking->clamped() > 0) log::Warn("masking_clamped", {{"round", offer.round}, {"count", masking->clamped()}});
    }
    ++summary_.rounds_contributed;
    auto ms = std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - start).count();
    log::Info("update_sent", {{"round", offer.round}, {"examples", local.num_examples},
                              {"chunks", layout.chunks}, {"bytes", layout.total_bytes}, {"duration_ms", ms}});
    RoundProgress sent;
    sent.round = offer.round;
    sent.bytes_out = layout.total_bytes;
    sent.stage = "update sent";
    progress.Update(FormatRoundProgress(sent), true);
    return Ok();
  };

  // Verifies a signed result and advances the chain.
  auto accept_result = [&](const protocol::RoundResult& r) -> Status {
    CAIRN_RETURN_IF_ERROR(protocol::VerifyResultSignature(r, signing_key));
    if (r.federation_id != fed.id || r.config_hash != s.verified.config_hash) {
      return Fail(ErrorCode::kUnauthenticated, "round result " + std::to_string(r.round) +
                                                   " names another federation or configuration");
    }
    const auto r_hash = protocol::ResultHash(r);
    const bool already_verified = r.round == chain_.last_round && chain_.last_round > 0 &&
                                  Bytes(r_hash.begin(), r_hash.end()) == chain_.last_hash;
    if (r.round <= chain_.last_round && !already_verified) {
      return Fail(ErrorCode::kAborted, "rollback detected: round result " + std::to_string(r.round) +
                                           " does not come after round " + std::to_string(chain_.last_round) +
                                           ", which this participant already verified");
    }
    if (chain_.last_round > 0 && r.round == chain_.last_round + 1 && r.prev_hash != chain_.last_hash) {
      return Fail(ErrorCode::kAborted, "round result " + std::to_string(r.round) +
                                           " does not chain to the result of round " +
                                           std::to_string(chain_.last_round) + " this participant verified");
    }
    if (chain_.last_round > 0 && r.round > chain_.last_round + 1) {
      log::Warn("chain_gap", {{"round", r.round}, {"count", r.round - chain_.last_round - 1}});
    }
    // The rules `cairn-participant audit` applies afterwards, applied before the result counts:
    // contributors from the roster, the quorum, ε within the attested budget and never falling,
    // nothing after a final result.
    // A result already verified (the head, checked through the Welcome's catch-up and now sent for
    // delivery) passed these and is not recorded twice.
    if (!already_verified) {
      auto broken = CheckResultAgainstConfig(r, fed);
      if (chain_.last_round > 0) {
        for (auto& v : CheckResultSuccession(r, {chain_.last_round, chain_.last_epsilon, chain_.final})) {
          broken.push_back(std::move(v));
        }
      }
      if (!broken.empty()) {
        return Fail(ErrorCode::kAborted, "round result " + std::to_string(r.round) +
                                             " breaks the attested federation's rules (" + JoinViolations(broken) +
                                             "); refusing it");
      }
      chain_.last_round = r.round;
      chain_.last_hash.assign(r_hash.begin(), r_hash.end());
      chain_.last_epsilon = r.epsilon_spent;
      chain_.final = r.final;
      CAIRN_RETURN_IF_ERROR(SaveChainState(cfg.state_dir, chain_));
    }
    summary_.last_round = r.round;
    analytics.OnVerifiedResult(r);
    log::Info("result_verified", {{"round", r.round}, {"status", protocol::RoundStatusName(r.status)},
                                  {"epsilon", r.epsilon_spent}, {"participants", r.contributors.size()}});
    if (options_.on_result) options_.on_result(r);
    // Evaluate the new global model locally and report aggregate metrics.
    if (r.status == protocol::RoundStatus::kCompleted && r.model && !workload_.evaluates()) {
      // Nothing to evaluate on: say so (after the final round this tells the aggregator we are done).
      CAIRN_RETURN_IF_ERROR(s.Send(protocol::EvalReport{r.model_version, r.round, {}}));
    } else if (r.status == protocol::RoundStatus::kCompleted && r.model) {
      if (r.model->model_hash != r.model_hash || r.model->model_version != r.model_version) {
        return Fail(ErrorCode::kUnauthenticated, "the download handle does not match the signed model hash");
      }
      CAIRN_ASSIGN_OR_RETURN(const std::vector<float>& model, download(*r.model));
      CAIRN_ASSIGN_OR_RETURN(auto metrics, workload_.Evaluate(model));
      // Sent even when empty: after the final round it tells the aggregator this participant is done.
      if (!metrics.empty()) summary_.last_evaluation = metrics;
      CAIRN_RETURN_IF_ERROR(s.Send(protocol::EvalReport{r.model_version, r.round, metrics}));
    }
    return Ok();
  };

  // Kept in chain.json: after a reconnect the aggregator only says goodbye to a participant that
  // already verified the final result, which is then the federation's normal end.
  bool seen_final = chain_.final;
  auto last_activity = std::chrono::steady_clock::now();
  while (true) {
    if (stop_signals.load() > 0) {
      (void)s.Send(protocol::Goodbye{"participant stopping"});
      return Fail(ErrorCode::kAborted, "stopped by a signal");
    }
    auto m = s.Receive(Ms(500));
    if (!m) {
      if (m.error().code() == ErrorCode::kUnavailable) return SessionEnd::kReconnect;
      return Fail(m.error());
    }
    if (!*m) {
      if (std::chrono::steady_clock::now() - last_activity > idle_timeout) {
        log::Warn("aggregator_silent", {{"duration_ms", static_cast<std::int64_t>(idle_timeout.count())}});
        return SessionEnd::kReconnect;
      }
      continue;
    }
    last_activity = std::chrono::steady_clock::now();
    protocol::Message& msg = **m;
    if (auto* offer = std::get_if<protocol::RoundOffer>(&msg)) {
      log::Info("round_offered", {{"round", offer->round}, {"model_version", offer->model.model_version},
                                  {"cohort", offer->cohort_size}});
      RoundProgress training;
      training.round = offer->round;
      training.stage = "training";
      progress.Update(FormatRoundProgress(training), true);
      auto st = run_round(*offer);
      if (!st) {
        if (st.error().code() == ErrorCode::kUnavailable) return SessionEnd::kReconnect;
        if (st.error().code() == ErrorCode::kPermissionDenied) return Fail(st.error());
        // A refused or late update is this round's loss, not the federation's end.
        masking.reset();
        log::Warn("round_skipped", {{"round", offer->round}, {"reason", st.error().message()}});
      }
    } else if (auto* sa = std::get_if<protocol::SecaggMessage>(&msg)) {
      // Round 4 of masking: the unmask request of the round this participant committed to.
      if (!masking) {
        log::Warn("masking_unexpected", {{"reason", "a secagg message arrived with no masked round in progress"}});
        continue;
      }
      auto reply = masking->Handle(sa->data);
      if (!reply) {
        log::Warn("masking_refused", {{"round", masking->round()}, {"reason", reply.error().message()}});
        masking.reset();
      } else if (*reply) {
        CAIRN_RETURN_IF_ERROR(s.Send(protocol::SecaggMessage{std::move(**reply)}));
      }
    } else if (auto* r = std::get_if<protocol::RoundResult>(&msg)) {
      if (masking && r->round >= masking->round()) masking.reset();
      auto st = accept_result(*r);
      if (!st) {
        // The aggregator went away while the new model was downloading: the result itself is
        // verified and recorded; attest again and go on.
        if (st.error().code() == ErrorCode::kUnavailable) return SessionEnd::kReconnect;
        return Fail(st.error());
      }
      if (r->final) seen_final = true;
    } else if (auto* data = std::get_if<protocol::AnalyticsData>(&msg)) {
      auto am = protocol::DecodeAnalytics(data->payload);
      if (!am) return Fail(std::move(am).error().Context("analytics message from the aggregator"));
      if (auto* req = std::get_if<protocol::AnalyticsRequest>(&*am)) {
        log::Info("analytics_requested", {{"round", req->job}, {"queries", req->queries.size()}});
        for (auto& answer : analytics.Answer(*req)) {
          if (auto* d = std::get_if<protocol::AnalyticsDecline>(&answer)) summary_.analytics_declined.push_back(d->reason);
          CAIRN_ASSIGN_OR_RETURN(Bytes b, protocol::EncodeAnalytics(answer));
          CAIRN_RETURN_IF_ERROR(s.Send(protocol::AnalyticsData{std::move(b)}));
        }
      } else if (auto* rel = std::get_if<protocol::AnalyticsRelease>(&*am)) {
        CAIRN_ASSIGN_OR_RETURN(summary_.analytics_results, analytics.AcceptRelease(*rel));
      }
    } else if (auto* bye = std::get_if<protocol::Goodbye>(&msg)) {
      if (seen_final) {
        // The federation ended as its signed final result says (completed, or stopped early,
        // e.g. because the privacy budget is spent: the reason is kept for the summary).
        summary_.end_reason = bye->reason;
        progress.Finish();
        log::Info("federation_finished", {{"round", chain_.last_round}, {"reason", bye->reason}});
        return SessionEnd::kFinished;
      }
      return Fail(ErrorCode::kAborted, "the aggregator ended the federation: " + bye->reason);
    } else if (auto* rej = std::get_if<protocol::Rejected>(&msg)) {
      log::Warn("rejected", {{"round", rej->round}, {"code", protocol::RejectCodeName(rej->code)},
                             {"reason", rej->detail}});
    } else if (auto* err = std::get_if<protocol::ErrorReply>(&msg)) {
      return Fail(ErrorCode::kFailedPrecondition, "the aggregator reported an error: " + err->message);
    }
  }
}

}  // namespace cairn::participant
