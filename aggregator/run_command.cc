#include "aggregator/run_command.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "aggregator/server.h"
#include "common/core/file.h"
#include "common/core/log.h"
#include "common/model/model_files.h"
#include "protocol/sealing.h"

namespace cairn::aggregator {
namespace {

// SHA-384 of this executable: the sim platform's stand-in for a launch measurement.
Bytes OwnMeasurement() {
  auto exe = ReadFileBytes("/proc/self/exe", 1ull << 31);
  if (!exe) return Bytes(48, 0);
  auto d = crypto::Sha384(*exe);
  return Bytes(d.begin(), d.end());
}

constexpr const char* kSimWarning =
    "WARNING: the sim attestation platform is in use. Sim evidence is signed by a software key on "
    "this machine: it proves NOTHING about confidentiality. Use it for development and tests only.";

Status Serve(const RunArgs& args, const std::atomic<int>& stop_signals, std::ostream& out, std::ostream& err,
             Status& outcome) {
  CAIRN_ASSIGN_OR_RETURN(protocol::LoadedFederation loaded, protocol::LoadFederationFile(args.config));
  if (!args.state_dir.empty()) loaded.server.state_dir = args.state_dir.string();
  const auto& fed = loaded.federation;

  // The model: built-in spec and initialization, or the provider's files.
  CAIRN_ASSIGN_OR_RETURN(model::ModelSpec spec, model::SpecFor(fed.model));
  CAIRN_ASSIGN_OR_RETURN(std::vector<float> initial,
                         model::InitialGlobalParameters(fed.model, spec, loaded.server.init_seed));
  if (!fed.initial_model_sha256.empty()) {
    auto h = HexEncode(protocol::ModelHash(initial));
    if (h != fed.initial_model_sha256) {
      return Fail(ErrorCode::kInvalidArgument, args.config.string() +
                                                   ": federation.initial_model_sha256 does not match the initial model ("
                                                   + h + ")");
    }
  }

  // Evidence.
  attestation::ProviderOptions po;
  if (!args.configfs_tsm_root.empty()) po.configfs_tsm_root = args.configfs_tsm_root;
  po.sim_platform_key = loaded.server.sim_platform_key;
  po.sim_measurement = OwnMeasurement();
  CAIRN_ASSIGN_OR_RETURN(auto provider, attestation::MakeEvidenceProvider(args.attestation, po));
  bool sim = provider->platform() == attestation::Platform::kSim;
  if (sim) err << kSimWarning << std::endl;
  std::string platform = std::string(attestation::PlatformName(provider->platform()));
  log::Info("evidence_provider", {{"platform", platform}, {"mode", provider->description()}});

  // Sealing key for checkpoints.
  crypto::SecretBytes sealing_key;
  std::string sealing = args.sealing;
  if (sealing == "auto" && sim) sealing = "sim";
  if (sealing != "none") {
    attestation::SealingKeyOptions so;
    so.kind = sealing;
    so.key_file = args.sealing_key_file;
    so.sim_platform_key = loaded.server.sim_platform_key;
    auto kp = attestation::MakeSealingKeyProvider(so);
    if (!kp) return Fail(std::move(kp).error().Context("sealing key"));
    CAIRN_ASSIGN_OR_RETURN(sealing_key, (*kp)->GetKey());
  } else {
    err << "WARNING: --sealing none: no checkpoint is written; a restart starts the federation over." << std::endl;
  }

  crypto::Sha256Digest config_hash = crypto::Sha256(AsBytes(loaded.canonical_text));
  CAIRN_ASSIGN_OR_RETURN(auto store, StateStore::Open(loaded.server.state_dir, spec, std::move(sealing_key), fed.id,
                                                      config_hash));
  EngineState state;
  CAIRN_ASSIGN_OR_RETURN(auto restored, store->LoadCheckpoint());
  if (restored) {
    if (restored->model.size() != initial.size()) {
      return Fail(ErrorCode::kFailedPrecondition, "the checkpoint's model has " + std::to_string(restored->model.size()) +
                                                      " parameters; the configured model has " +
                                                      std::to_string(initial.size()));
    }
    state = std::move(*restored);
    log::Info("checkpoint_restored", {{"round", state.next_round}, {"model_version", state.model_version},
                                      {"state_dir", loaded.server.state_dir}});
  } else {
    state.model = std::move(initial);
    CAIRN_RETURN_IF_ERROR(store->SaveModel(state.model));
  }

  CAIRN_ASSIGN_OR_RETURN(EnclaveKeys keys, EnclaveKeys::Generate());
  SystemClock clock;
  ServerOptions so;
  so.config = loaded;
  so.evidence = std::move(provider);
  CAIRN_ASSIGN_OR_RETURN(auto server, AggregatorServer::Create(std::move(so), keys, clock));
  EngineOptions eo;
  eo.federation = fed;
  eo.config_hash = config_hash;
  eo.server = loaded.server;
  eo.platform = platform;
  CAIRN_ASSIGN_OR_RETURN(auto engine, RoundEngine::Create(std::move(eo), keys, clock, *server, *store, std::move(state)));
  server->AttachEngine(engine.get());

  const auto& ep = server->endpoints();
  nlohmann::ordered_json ready;
  ready["attestation"] = ep.attestation;
  ready["control"] = ep.control;
  ready["data"] = ep.data;
  ready["pid"] = ::getpid();
  CAIRN_RETURN_IF_ERROR(WriteFileAtomic(std::filesystem::path(loaded.server.state_dir) / "endpoints.json", ready.dump()));
  log::Info("ready", {{"attestation_endpoint", ep.attestation}, {"control_endpoint", ep.control},
                      {"data_endpoint", ep.data}, {"federation", fed.id}, {"rounds", fed.rounds},
                      {"params", engine->state().model.size()}});
  out << "cairn-aggregator: ready attestation=" << ep.attestation << " control=" << ep.control
      << " data=" << ep.data << std::endl;

  CAIRN_RETURN_IF_ERROR(server->Run(stop_signals));
  outcome = engine->outcome();
  if (!engine->done()) outcome = Fail(ErrorCode::kAborted, "stopped by a signal");
  return Ok();
}

}  // namespace

int RunAggregator(const RunArgs& args, const std::atomic<int>& stop_signals, std::ostream& out,
                  std::ostream& err) {
  if (auto s = crypto::Init(); !s) {
    err << "cairn-aggregator: error: " << s.error().message() << std::endl;
    return 1;
  }
  Status outcome;
  auto s = Serve(args, stop_signals, out, err, outcome);
  if (!s) {
    err << "cairn-aggregator: error: " << s.error().message() << std::endl;
    return 1;
  }
  if (!outcome) {
    err << "cairn-aggregator: " << outcome.error().message() << std::endl;
    return stop_signals.load() > 0 ? 3 : 1;
  }
  out << "cairn-aggregator: federation finished" << std::endl;
  return 0;
}

}  // namespace cairn::aggregator
