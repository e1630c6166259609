// The aggregator's network side: three ZeroMQ ROUTER sockets and one event loop.
//   attestation  plain; answers GetEvidence with evidence bound to the participant's nonce
//   control      CurveZMQ with the attested key; the ZAP handler admits roster keys only
//   data         plain; sealed chunks, each naming a session opened on the control plane
// One thread runs the loop and drives the RoundEngine; the ZAP handler has its own thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "aggregator/enclave_keys.h"
#include "aggregator/round_engine.h"
#include "aggregator/state_store.h"
#include "common/attestation/attestation.h"
#include "common/core/clock.h"
#include "common/net/net.h"
#include "protocol/federation_config.h"

namespace cairn::aggregator {

struct ServerOptions {
  protocol::LoadedFederation config;
  std::unique_ptr<attestation::EvidenceProvider> evidence;  // owned
  std::string software_version = "cairn 0.1.0";
  std::size_t max_chunks_per_request = 64;  // model download window per request
  // Called on the loop thread after each batch of events and once at the end (health, progress).
  std::function<void(const RoundEngine&)> after_events;
};

class AggregatorServer final : public Outbox {
 public:
  struct Endpoints {
    std::string attestation;
    std::string control;
    std::string data;
  };

  // Binds the sockets (a port in use is an error naming it) and starts the ZAP handler.
  static Result<std::unique_ptr<AggregatorServer>> Create(ServerOptions options, EnclaveKeys& keys,
                                                          const Clock& clock);
  ~AggregatorServer() override;

  const Endpoints& endpoints() const { return endpoints_; }
  // The engine is created by the caller (it needs the store and state) and attached here.
  void AttachEngine(RoundEngine* engine) { engine_ = engine; }

  // Serves until the engine is done or `stop` becomes true (then the engine is asked to stop
  // after the current round, and the loop ends when it is done or a second stop arrives).
  Status Run(const std::atomic<int>& stop_signals);

  bool Send(const std::string& participant, const protocol::Message& message) override;

  const crypto::Sha256Digest& config_hash() const { return config_hash_; }

 private:
  AggregatorServer(ServerOptions options, EnclaveKeys& keys, const Clock& clock);
  Status Bind();
  void HandleAttestation();
  void HandleControl();
  void HandleData();
  // Where the loop's time went since the last report; written as debug lines ("loop_profile",
  // one per phase) when the round number changes, so benchmarks can attribute a round's time.
  struct LoopProfile {
    std::uint64_t idle_ns = 0;     // blocked in zmq::poll
    std::uint64_t data_ns = 0;     // data plane: chunk decryption, model chunk sends
    std::uint64_t control_ns = 0;  // control plane: commits (validation, accumulation), finalize
    std::uint64_t other_ns = 0;    // attestation requests and timer ticks
    std::uint64_t chunks = 0;      // data-plane messages handled
  };
  void ReportLoopProfile(std::uint64_t round);

  ServerOptions options_;
  EnclaveKeys& keys_;
  const Clock& clock_;
  crypto::Sha256Digest config_hash_{};
  zmq::context_t context_;
  std::unique_ptr<net::ZapAuthenticator> zap_;
  zmq::socket_t attest_;
  zmq::socket_t control_;
  zmq::socket_t data_;
  Endpoints endpoints_;
  RoundEngine* engine_ = nullptr;
  std::map<std::string, std::string> routes_;  // participant id → control routing id
  LoopProfile profile_;
};

}  // namespace cairn::aggregator
