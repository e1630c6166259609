// One aggregator, assembled: state store (with checkpoint restore), enclave keys, sockets and
// round engine. `cairn-aggregator run`, the benchmark and the in-process tests all build it here.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "aggregator/enclave_keys.h"
#include "aggregator/round_engine.h"
#include "aggregator/server.h"
#include "aggregator/state_store.h"
#include "common/attestation/attestation.h"
#include "common/core/clock.h"
#include "protocol/federation_config.h"

namespace cairn::aggregator {

struct AppOptions {
  protocol::LoadedFederation config;
  std::unique_ptr<attestation::EvidenceProvider> evidence;  // owned
  crypto::SecretBytes sealing_key;                          // empty: no checkpoints
  std::string platform;                                     // recorded in results ("sim", ...)
  const Clock* clock = nullptr;                             // not owned; outlives the app
  const metrics::AggregatorMetrics* metrics = nullptr;      // optional; not owned; outlives the app
  std::function<void(const RoundEngine&)> after_events;     // optional; see ServerOptions
};

class AggregatorApp {
 public:
  // Opens the state folder, restores the checkpoint if one exists (refusing a corrupt or
  // foreign one), builds the initial model otherwise, generates keys and binds the sockets.
  static Result<std::unique_ptr<AggregatorApp>> Create(AppOptions options);

  const AggregatorServer::Endpoints& endpoints() const { return server_->endpoints(); }
  RoundEngine& engine() { return *engine_; }
  const EngineState& state() const { return engine_->state(); }
  bool restored() const { return restored_; }

  // Serves until the federation ends or `stop_signals` asks (see AggregatorServer::Run); the
  // outcome is engine().outcome().
  Status Run(const std::atomic<int>& stop_signals) { return server_->Run(stop_signals); }

 private:
  AggregatorApp() = default;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<EnclaveKeys> keys_;
  std::unique_ptr<AggregatorServer> server_;
  std::unique_ptr<RoundEngine> engine_;
  bool restored_ = false;
};

}  // namespace cairn::aggregator
