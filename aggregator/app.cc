#include "aggregator/app.h"

#include "common/core/log.h"
#include "common/model/model_spec.h"
#include "protocol/sealing.h"

namespace cairn::aggregator {

Result<std::unique_ptr<AggregatorApp>> AggregatorApp::Create(AppOptions options) {
  if (options.clock == nullptr) return Fail(ErrorCode::kInvalidArgument, "a clock is required");
  std::unique_ptr<AggregatorApp> app(new AggregatorApp());
  const auto& loaded = options.config;
  const auto& fed = loaded.federation;

  // The model: built-in spec and initialization, or the provider's files.
  CAIRN_ASSIGN_OR_RETURN(model::ModelSpec spec, model::SpecFor(fed.model));
  CAIRN_ASSIGN_OR_RETURN(std::vector<float> initial,
                         model::InitialGlobalParameters(fed.model, spec, loaded.server.init_seed));
  if (!fed.initial_model_sha256.empty()) {
    auto h = HexEncode(protocol::ModelHash(initial));
    if (h != fed.initial_model_sha256) {
      return Fail(ErrorCode::kInvalidArgument,
                  "federation.initial_model_sha256 does not match the initial model (" + h + ")");
    }
  }

  crypto::Sha256Digest config_hash = crypto::Sha256(AsBytes(loaded.canonical_text));
  CAIRN_ASSIGN_OR_RETURN(app->store_, StateStore::Open(loaded.server.state_dir, spec, std::move(options.sealing_key),
                                                       fed.id, config_hash));
  EngineState state;
  bool head_unpublished = false;
  CAIRN_ASSIGN_OR_RETURN(auto restored, app->store_->LoadCheckpoint());
  if (restored) {
    if (restored->model.size() != initial.size()) {
      return Fail(ErrorCode::kFailedPrecondition, "the checkpoint's model has " + std::to_string(restored->model.size()) +
                                                      " parameters; the configured model has " +
                                                      std::to_string(initial.size()));
    }
    state = std::move(*restored);
    // The engine appends a missing head result to results.jsonl when it starts (EngineOptions).
    CAIRN_ASSIGN_OR_RETURN(head_unpublished, app->store_->HeadMissingFromResults(state));
    app->restored_ = true;
    log::Info("checkpoint_restored", {{"round", state.next_round}, {"model_version", state.model_version},
                                      {"state_dir", loaded.server.state_dir}});
  } else {
    state.model = std::move(initial);
  }
  // The exports (global.f32, global.pt, and a released analytics job's answers) always show the
  // last durable state: they are written after the checkpoint, so a crash or a failed write
  // between the two is mended here.
  CAIRN_RETURN_IF_ERROR(app->store_->SaveModel(state.model));
  if (!state.analytics_json.empty()) CAIRN_RETURN_IF_ERROR(app->store_->SaveAnalytics(state.analytics_json));

  CAIRN_ASSIGN_OR_RETURN(EnclaveKeys keys, EnclaveKeys::Generate());
  app->keys_ = std::make_unique<EnclaveKeys>(std::move(keys));
  ServerOptions so;
  so.config = loaded;
  so.evidence = std::move(options.evidence);
  so.after_events = std::move(options.after_events);
  CAIRN_ASSIGN_OR_RETURN(app->server_, AggregatorServer::Create(std::move(so), *app->keys_, *options.clock));
  EngineOptions eo;
  eo.federation = fed;
  eo.config_hash = config_hash;
  eo.server = loaded.server;
  eo.upload_idle_timeout_s = loaded.server.upload_idle_timeout_s;
  eo.platform = options.platform;
  eo.metrics = options.metrics;
  eo.head_unpublished = head_unpublished;
  CAIRN_ASSIGN_OR_RETURN(app->engine_, RoundEngine::Create(std::move(eo), *app->keys_, *options.clock, *app->server_,
                                                           *app->store_, std::move(state)));
  app->server_->AttachEngine(app->engine_.get());
  return app;
}

}  // namespace cairn::aggregator
