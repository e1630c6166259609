// cairn-participant: runs next to a participant's own data; verifies the aggregator itself.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <iostream>

#include "common/core/log.h"
#include "participant/audit/audit.h"
#include "common/crypto/crypto.h"
#include "participant/commands.h"
#include "participant/verify_evidence_command.h"

namespace {
std::atomic<int> g_stop_signals{0};
extern "C" void OnSignal(int) { g_stop_signals.fetch_add(1); }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn-participant: joins a confidential federation after verifying the aggregator's attestation"};
  app.require_subcommand(1);
  app.footer("Run 'cairn-participant SUBCOMMAND --help' for a subcommand's options and an example.");
  std::string log_format = "text", log_level = "info";

  std::string key_out;
  auto* keygen = app.add_subcommand("keygen", "Create this participant's Curve key pair (file mode 0600)");
  keygen->add_option("--out", key_out, "Key file to create (never overwritten)")->required();
  keygen->footer("Example:\n  cairn-participant keygen --out keys/hospital-a.key\n"
                 "Paste the printed public key into the federation roster.");

  cairn::participant::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Attest the aggregator, join the federation and train");
  run_cmd->add_option("--config", run.config, "Participant TOML file (docs/configuration.md)")->required()->check(CLI::ExistingFile);
  run_cmd->add_option("--policy", run.policy, "Attestation policy TOML (overrides the config's 'policy')");
  run_cmd->add_option("--data", run.data, "Training data file (overrides [data] train)");
  run_cmd->add_option("--aggregator", run.aggregator, "Attestation endpoint tcp://HOST:PORT (overrides the config)");
  run_cmd->add_option("--attestation", run.attestation,
                      "Own evidence for mutual attestation: none | sim | sev-snp | tdx | auto (overrides the config)")
      ->check(CLI::IsMember({"none", "sim", "sev-snp", "tdx", "auto"}));
  run_cmd->add_option("--attack", run.attack,
                      "Research only: makes this participant send poisoned updates "
                      "(scale:K, sign-flip, sign-flip:K, noise:S)");
  run_cmd->add_option("--log-format", log_format, "Log format on stderr")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  run_cmd->add_option("--log-level", log_level, "Lowest level logged")->check(CLI::IsMember({"debug", "info", "warn", "error"}))->capture_default_str();
  run_cmd->footer("Example:\n  cairn-participant run --config examples/hospital/hospital-a.toml --policy examples/hospital/policy.toml");

  cairn::participant::AttestOptions attest;
  auto* attest_cmd = app.add_subcommand("attest", "Fetch and verify the aggregator's evidence; print every check; join nothing");
  attest_cmd->add_option("--aggregator", attest.aggregator, "Attestation endpoint tcp://HOST:PORT")->required();
  attest_cmd->add_option("--policy", attest.policy, "Attestation policy TOML")->required()->check(CLI::ExistingFile);
  attest_cmd->add_option("--config", attest.config, "Participant config: also check this participant's roster entry");
  attest_cmd->add_flag("--json", attest.json, "Print JSON");
  attest_cmd->footer("Example:\n  cairn-participant attest --aggregator tcp://10.0.0.5:7700 --policy policy.toml\n"
                     "Exit status: 0 accept, 1 reject, 2 unreadable input or unreachable aggregator.");

  cairn::participant::VerifyEvidenceArgs verify;
  auto* verify_cmd = app.add_subcommand("verify-evidence", "Verify a stored SEV-SNP report, TDX quote or sim report against a policy");
  verify_cmd->add_option("--report", verify.report, "Report or quote file (raw binary or hex text)")->required();
  verify_cmd->add_option("--certs", verify.certs, "Certificate file, PEM or DER, one or several per file (repeatable)");
  verify_cmd->add_option("--collateral", verify.collateral, "TDX collateral: a bundle, or Intel PCS tcbInfo/enclaveIdentity JSON (repeatable)");
  verify_cmd->add_option("--platform", verify.platform, "sev-snp | tdx | sim (default: detected)");
  verify_cmd->add_option("--policy", verify.policy, "Attestation policy TOML")->required();
  verify_cmd->add_option("--at", verify.at, "Verification time, RFC 3339 (default: now)");
  verify_cmd->add_option("--expect-report-data", verify.expect_report_data, "Expected REPORT_DATA, 128 hex digits");
  verify_cmd->add_flag("--json", verify.json, "Print the verdict as JSON");
  verify_cmd->footer("Example:\n  cairn-participant verify-evidence --report attestation.bin --certs vcek.der --certs ask_ark.pem \\\n"
                     "      --policy examples/policies/sev-snp-production.toml --at 2024-01-01T00:00:00Z --json\n"
                     "Exit status: 0 accept, 1 reject, 2 unreadable input or usage error.");

  cairn::participant::CentralOptions central;
  auto* central_cmd = app.add_subcommand("train-central", "Train the federation's model on pooled data (the centralized baseline)");
  central_cmd->add_option("--federation", central.federation, "Federation TOML (model and task)")->required()->check(CLI::ExistingFile);
  central_cmd->add_option("--train", central.train, "Pooled training CSV")->required()->check(CLI::ExistingFile);
  central_cmd->add_option("--test", central.test, "Test CSV")->required()->check(CLI::ExistingFile);
  central_cmd->add_option("--label-column", central.label_column, "Label column")->capture_default_str();
  central_cmd->add_option("--epochs", central.epochs, "Epochs (default: rounds × local epochs)");
  central_cmd->add_flag("--json", central.json, "Print JSON");
  central_cmd->footer("Example:\n  cairn-participant train-central --federation federation.toml --train pooled.csv --test test.csv");

  cairn::participant::audit::AuditArgs audit_args;
  auto* audit_cmd = app.add_subcommand("audit", "Verify a whole run offline: evidence, every signed result, the hash chain, the privacy budget");
  audit_cmd->add_option("--results", audit_args.results, "The aggregator's results.jsonl")->required()->check(CLI::ExistingFile);
  audit_cmd->add_option("--evidence", audit_args.evidence,
                        "Evidence records (STATE_DIR/evidence.jsonl) or a raw Encode(Evidence) file; repeatable")->required();
  audit_cmd->add_option("--policy", audit_args.policy, "Attestation policy TOML")->required()->check(CLI::ExistingFile);
  audit_cmd->add_option("--at", audit_args.at, "Verify the evidence at this RFC 3339 instant (default: when each record was received)");
  audit_cmd->add_option("--nonce", audit_args.nonce_hex, "Nonce (64 hex digits) of a raw evidence file");
  audit_cmd->add_flag("--json", audit_args.json, "Print JSON");
  audit_cmd->footer("Example:\n  cairn-participant audit --results results.jsonl --evidence state-hospital-1/evidence.jsonl --policy policy.toml\n"
                    "Exit status: 0 every check passed, 1 violations (listed), 2 unreadable input.");

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
                   "participant");
  std::signal(SIGPIPE, SIG_IGN);
  if (*keygen) return cairn::participant::RunKeygen(key_out, std::cout, std::cerr);
  if (*run_cmd) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    return cairn::participant::RunParticipant(run, g_stop_signals, std::cout, std::cerr);
  }
  if (*attest_cmd) return cairn::participant::RunAttest(attest, std::cout, std::cerr);
  if (*verify_cmd) {
    if (auto s = cairn::crypto::Init(); !s) {
      std::cerr << "cairn-participant: error: " << s.error().message() << std::endl;
      return 2;
    }
    return cairn::participant::RunVerifyEvidence(verify, std::cout, std::cerr);
  }
  if (*audit_cmd) {
    if (auto s = cairn::crypto::Init(); !s) {
      std::cerr << "cairn-participant: error: " << s.error().message() << std::endl;
      return 2;
    }
    return cairn::participant::audit::RunAudit(audit_args, std::cout, std::cerr);
  }
  if (*central_cmd) return cairn::participant::RunCentral(central, std::cout, std::cerr);
  return 2;
}
