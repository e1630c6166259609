// cairn-aggregator: the aggregation server that runs inside a confidential VM.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <iostream>

#include "aggregator/aggregate_command.h"
#include "aggregator/privacy_command.h"
#include "aggregator/report.h"
#include "aggregator/run_command.h"
#include "common/attestation/attestation.h"
#include "common/core/log.h"

namespace {

std::atomic<int> g_stop_signals{0};
extern "C" void OnSignal(int) { g_stop_signals.fetch_add(1); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn-aggregator: confidential federated learning aggregator (runs inside a SEV-SNP or TDX VM)"};
  app.require_subcommand(1);
  app.footer("Run 'cairn-aggregator SUBCOMMAND --help' for a subcommand's options and an example.");
  std::string log_format = "text", log_level = "info";

  // run
  cairn::aggregator::RunArgs run;
  auto* run_cmd = app.add_subcommand("run", "Serve a federation: attest, run rounds, publish signed results");
  run_cmd->add_option("--config", run.config, "Federation TOML file (docs/configuration.md)")->required()->check(CLI::ExistingFile);
  run_cmd->add_option("--attestation", run.attestation, "Evidence provider")
      ->check(CLI::IsMember({"sim", "sev-snp", "tdx", "auto"}))->capture_default_str();
  run_cmd->add_option("--state-dir", run.state_dir, "State folder (results, model, checkpoint); overrides [server] state_dir");
  run_cmd->add_option("--sealing", run.sealing, "Checkpoint sealing key source")
      ->check(CLI::IsMember({"sim", "key-file", "sev-snp", "auto", "none"}))->capture_default_str();
  run_cmd->add_option("--sealing-key-file", run.sealing_key_file, "32-byte key file (with --sealing key-file)");
  run_cmd->add_option("--configfs-tsm-root", run.configfs_tsm_root, "configfs-tsm report folder (default /sys/kernel/config/tsm/report)");
  run_cmd->add_option("--metrics-listen", run.metrics_listen,
                      "Serve Prometheus /metrics and /healthz on HOST:PORT (port 0: a free port; metadata only, "
                      "no authentication: bind to an internal address)");
  run_cmd->add_option("--log-format", log_format, "Log format on stderr")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  run_cmd->add_option("--log-level", log_level, "Lowest level logged")->check(CLI::IsMember({"debug", "info", "warn", "error"}))->capture_default_str();
  run_cmd->footer(
      "Example:\n  cairn-aggregator run --config examples/hospital/federation.toml --attestation sim --state-dir /tmp/cairn-state\n"
      "Prints 'cairn-aggregator: ready attestation=tcp://… control=… data=…' once serving.");

  // privacy
  cairn::aggregator::PrivacyArgs privacy;
  double noise = 0, target = 0;
  auto* privacy_cmd = app.add_subcommand("privacy", "Privacy accountant: ε for a noise multiplier, or the noise for a target ε");
  privacy_cmd->add_option("--sampling-rate", privacy.sampling_rate, "Participant sampling rate q in (0, 1]")->required();
  auto* noise_opt = privacy_cmd->add_option("--noise-multiplier", noise, "Noise multiplier z ≥ 0");
  auto* target_opt = privacy_cmd->add_option("--target-epsilon", target, "Target ε: print the smallest noise multiplier meeting it");
  noise_opt->excludes(target_opt);
  privacy_cmd->add_option("--rounds", privacy.rounds, "Number of rounds T ≥ 1")->required();
  privacy_cmd->add_option("--delta", privacy.delta, "δ in (0, 1)")->required();
  privacy_cmd->add_option("--conversion", privacy.conversion, "RDP to (ε, δ) conversion: improved | classic")->capture_default_str();
  privacy_cmd->add_option("--orders", privacy.orders, "RDP orders: opacus | tfp | comma-separated list")->capture_default_str();
  privacy_cmd->add_flag("--json", privacy.json, "Print JSON");
  privacy_cmd->footer(
      "Examples:\n  cairn-aggregator privacy --sampling-rate 0.04 --noise-multiplier 1.5 --rounds 2250 --delta 1e-5\n"
      "  cairn-aggregator privacy --sampling-rate 1 --target-epsilon 8 --rounds 20 --delta 1e-5 --json");

  // aggregate
  cairn::aggregator::AggregateArgs aggregate;
  auto* agg_cmd = app.add_subcommand("aggregate", "Apply one round of a strategy to stored flat float32 vectors");
  agg_cmd->add_option("--strategy", aggregate.strategy, "fedavg, fedavgm, fedadam, fedyogi, fedadagrad, fedprox, median, trimmed-mean, krum, multi-krum, bulyan")->required();
  agg_cmd->add_option("--param", aggregate.params, "KEY=VALUE strategy parameter (repeatable)");
  agg_cmd->add_option("--global", aggregate.global, "Current global model (raw little-endian float32)")->required();
  agg_cmd->add_option("--update", aggregate.updates, "FILE[:WEIGHT]: a participant's locally trained model (repeatable)")->required();
  agg_cmd->add_option("--out", aggregate.out, "Where to write the new global model")->required();
  agg_cmd->add_option("--state-in", aggregate.state_in, "Optimizer state to start from");
  agg_cmd->add_option("--state-out", aggregate.state_out, "Where to write the optimizer state");
  agg_cmd->footer(
      "Example:\n  cairn-aggregator aggregate --strategy fedadam --param eta=0.01 --global g.f32 \\\n"
      "      --update a.f32:120 --update b.f32:80 --out g2.f32");

  // report
  std::string report_dir;
  bool report_json = false;
  auto* report_cmd = app.add_subcommand("report", "Per-round table of a run from its state folder");
  report_cmd->add_option("--state-dir", report_dir, "State folder of a run")->required()->check(CLI::ExistingDirectory);
  report_cmd->add_flag("--json", report_json, "One JSON object per round");
  report_cmd->footer("Example:\n  cairn-aggregator report --state-dir /tmp/cairn-state");

  // sim-keygen
  std::string sim_key_out;
  auto* simkey_cmd = app.add_subcommand("sim-keygen", "Create a sim platform key (development only) and print its public key");
  simkey_cmd->add_option("--out", sim_key_out, "Key file to create (mode 0600; never overwritten)")->required();
  simkey_cmd->footer("Example:\n  cairn-aggregator sim-keygen --out /tmp/sim-platform.key\n"
                     "Put the printed public key in participants' policies as [sim] platform_key.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  cairn::log::Init(log_format == "json" ? cairn::log::Format::kJson : cairn::log::Format::kText,
                   log_level == "debug"  ? cairn::log::Level::kDebug
                   : log_level == "warn" ? cairn::log::Level::kWarn
                   : log_level == "error" ? cairn::log::Level::kError
                                          : cairn::log::Level::kInfo,
                   "aggregator");

  if (*run_cmd) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    std::signal(SIGPIPE, SIG_IGN);
    return cairn::aggregator::RunAggregator(run, g_stop_signals, std::cout, std::cerr);
  }
  if (*privacy_cmd) {
    if (*noise_opt) privacy.noise_multiplier = noise;
    if (*target_opt) privacy.target_epsilon = target;
    return cairn::aggregator::RunPrivacyCommand(privacy, std::cout, std::cerr);
  }
  if (*agg_cmd) return cairn::aggregator::RunAggregateCommand(aggregate, std::cout, std::cerr);
  if (*report_cmd) {
    auto rows = cairn::aggregator::ReadRunTable(report_dir);
    if (!rows) {
      std::cerr << "cairn-aggregator: error: " << rows.error().message() << std::endl;
      return 1;
    }
    cairn::aggregator::PrintRunTable(*rows, report_json, std::cout);
    return 0;
  }
  if (*simkey_cmd) {
    if (auto s = cairn::crypto::Init(); !s) {
      std::cerr << "cairn-aggregator: error: " << s.error().message() << std::endl;
      return 1;
    }
    auto pub = cairn::attestation::GenerateSimPlatformKeyFile(sim_key_out);
    if (!pub) {
      std::cerr << "cairn-aggregator: error: " << pub.error().message() << std::endl;
      return 1;
    }
    std::cout << "sim platform key written to " << sim_key_out << "\nplatform_key = \"" << *pub << "\"\n";
    return 0;
  }
  return 2;
}
