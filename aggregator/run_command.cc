#include "aggregator/run_command.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "aggregator/app.h"
#include "common/analytics/output.h"
#include "common/core/file.h"
#include "common/core/log.h"
#include "common/core/progress.h"
#include "common/metrics/aggregator_metrics.h"
#include "common/metrics/http_server.h"
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

  SystemClock clock;

  // Metrics: always registered (cheap); served only with --metrics-listen. Declared before the
  // app, so they outlive its server and engine (the HTTP threads read the registry until Stop).
  metrics::Registry registry;
  metrics::AggregatorMetricsOptions mo;
  for (int c = 0; c <= static_cast<int>(protocol::RejectCode::kAttestationFailed); ++c) {
    mo.rejection_reasons.push_back(protocol::RejectCodeName(static_cast<protocol::RejectCode>(c)));
  }
  for (auto st : {protocol::RoundStatus::kCompleted, protocol::RoundStatus::kFailedQuorum,
                  protocol::RoundStatus::kAborted}) {
    mo.round_statuses.push_back(protocol::RoundStatusName(st));
  }
  CAIRN_ASSIGN_OR_RETURN(metrics::AggregatorMetrics agg_metrics, metrics::AggregatorMetrics::Create(registry, mo));
  metrics::HealthState health;
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (!args.metrics_listen.empty()) {
    metrics::MetricsServerOptions mso;
    mso.listen = args.metrics_listen;
    CAIRN_ASSIGN_OR_RETURN(metrics_server, metrics::MetricsServer::Start(mso, registry, health.Function()));
  }
  ProgressLine progress = ProgressLine::ForStderr(clock);

  agg_metrics.health = &health;  // the engine updates /healthz where its round and phase change
  AppOptions ao;
  ao.metrics = &agg_metrics;
  ao.after_events = [&](const RoundEngine& e) {
    // "round 3/20": the third of the rounds to complete (failed rounds use round ids too).
    bool running = e.phase() == RoundEngine::Phase::kWaitingForCohort || e.phase() == RoundEngine::Phase::kCollecting;
    RoundProgress rp;
    rp.round = e.state().completed_rounds + (running ? 1 : 0);
    rp.total_rounds = fed.rounds;
    if (e.phase() == RoundEngine::Phase::kCollecting) {
      rp.committed = e.committed_in_round();
      rp.cohort = e.cohort_in_round();
    } else {
      rp.stage = PhaseName(e.phase());
    }
    rp.bytes_in = e.counters().bytes_in;
    progress.Update(FormatRoundProgress(rp), e.done());
  };
  ao.config = loaded;
  ao.evidence = std::move(provider);
  ao.sealing_key = std::move(sealing_key);
  ao.platform = platform;
  ao.clock = &clock;
  CAIRN_ASSIGN_OR_RETURN(auto app, AggregatorApp::Create(std::move(ao)));

  const auto& ep = app->endpoints();
  nlohmann::ordered_json ready;
  ready["attestation"] = ep.attestation;
  ready["control"] = ep.control;
  ready["data"] = ep.data;
  if (metrics_server) ready["metrics"] = metrics_server->url();
  ready["pid"] = ::getpid();
  CAIRN_RETURN_IF_ERROR(WriteFileAtomic(std::filesystem::path(loaded.server.state_dir) / "endpoints.json", ready.dump()));
  std::string metrics_url = metrics_server ? metrics_server->url() : "";
  log::Info("ready", {{"attestation_endpoint", ep.attestation}, {"control_endpoint", ep.control},
                      {"data_endpoint", ep.data}, {"metrics_endpoint", metrics_url}, {"federation", fed.id},
                      {"rounds", fed.rounds}, {"params", app->state().model.size()}});
  out << "cairn-aggregator: ready attestation=" << ep.attestation << " control=" << ep.control
      << " data=" << ep.data << (metrics_server ? " metrics=" + metrics_url : "") << std::endl;

  CAIRN_RETURN_IF_ERROR(app->Run(stop_signals));
  progress.Finish();
  if (const auto& answers = app->engine().analytics_results(); !answers.empty()) {
    // Released (signed) answers with the ε of each query; the files are in the state folder.
    out << analytics::FormatTable(answers);
    out << "cairn-aggregator: analytics: " << answers.size() << " of " << fed.queries.size()
        << " queries released; results in " << (std::filesystem::path(loaded.server.state_dir) / "analytics.json").string()
        << " and analytics.csv; signed in round " << app->engine().state().analytics_round << std::endl;
  }
  outcome = app->engine().outcome();
  if (!app->engine().done()) outcome = Fail(ErrorCode::kAborted, "stopped by a signal");
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
