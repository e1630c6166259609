#include "participant/commands.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/attestation/attestation.h"
#include "common/core/file.h"
#include "common/core/log.h"
#include "common/crypto/crypto.h"
#include "participant/attack_workload.h"
#include "participant/attest_client.h"
#include "participant/client.h"
#include "participant/config.h"
#include "participant/data/csv.h"
#include "participant/data/standardizer.h"
#include "participant/keys.h"
#include "participant/analytics_session.h"
#include "common/analytics/output.h"
#if CAIRN_PARTICIPANT_TORCH
#include "participant/torch_workload.h"
#include "participant/trainer/trainer.h"
#endif
#include "protocol/federation_config.h"

namespace cairn::participant {

namespace {
constexpr const char* kSimWarning =
    "WARNING: this policy accepts the sim attestation platform. Sim evidence is signed by a software "
    "key: it proves NOTHING about confidentiality. Use it for development and tests only.";

bool PolicyAllowsSim(const attestation::Policy& p) {
  return std::find(p.platforms.begin(), p.platforms.end(), attestation::Platform::kSim) != p.platforms.end();
}
}  // namespace

int RunKeygen(const std::filesystem::path& out_path, std::ostream& out, std::ostream& err) {
  if (auto s = crypto::Init(); !s) {
    err << "cairn-participant: error: " << s.error().message() << std::endl;
    return 1;
  }
  auto pub = GenerateKeyFile(out_path);
  if (!pub) {
    err << "cairn-participant: error: " << pub.error().message() << std::endl;
    return 1;
  }
  out << "Curve key pair written to " << out_path.string() << " (mode 0600)\n"
      << "public key (add to the federation roster as curve_key): " << *pub << std::endl;
  return 0;
}

int RunParticipant(const RunOptions& options, const std::atomic<int>& stop_signals, std::ostream& out,
                   std::ostream& err) {
  auto fail = [&](const Error& e) {
    err << "cairn-participant: error: " << e.message() << std::endl;
    return 1;
  };
  if (auto s = crypto::Init(); !s) return fail(s.error());
  auto config = LoadParticipantConfig(options.config);
  if (!config) return fail(config.error());
  if (!options.policy.empty()) config->policy = options.policy;
  if (!options.data.empty()) config->data.train = options.data;
  if (!options.aggregator.empty()) config->aggregator = options.aggregator;
  if (config->policy.empty()) {
    return fail(Error(ErrorCode::kInvalidArgument, "no attestation policy: set 'policy' in " +
                                                       options.config.string() + " or pass --policy"));
  }
  auto policy = attestation::LoadPolicy(config->policy);
  if (!policy) return fail(policy.error());
  if (PolicyAllowsSim(*policy)) err << kSimWarning << std::endl;
  std::optional<AttackSpec> attack;
  if (!options.attack.empty()) {
    auto spec = ParseAttackSpec(options.attack);
    if (!spec) return fail(spec.error());
    attack = *spec;
  }
  // Data first: a malformed file fails here, before anything connects.
  // A party with an [analytics] table and no [data] only answers queries.
  Result<std::unique_ptr<Workload>> workload = Fail(ErrorCode::kFailedPrecondition, "no workload");
  if (config->analytics && config->data.train.empty()) {
    workload = std::unique_ptr<Workload>(std::make_unique<AnalyticsOnlyWorkload>());
  } else {
#if CAIRN_PARTICIPANT_TORCH
    workload = MakeTorchWorkload(*config);
#else
    workload = Fail(ErrorCode::kFailedPrecondition,
                    "this cairn-participant was built without libtorch (CAIRN_WITH_TORCH=OFF): it answers "
                    "clean-room analytics only ([analytics] table, no [data])");
#endif
  }
  if (!workload) return fail(workload.error());
  if (attack) {
    err << "WARNING: --attack " << attack->ToString() << ": RESEARCH ONLY. This participant "
        << attack->Describe() << " and sends POISONED updates to the federation. Never use it in a "
        << "real federation." << std::endl;
    *workload = std::make_unique<AttackWorkload>(std::move(*workload), *attack,
                                                 std::hash<std::string>{}(config->id));
  }
  SystemClock clock;
  if (!options.attestation.empty()) config->attestation = options.attestation;
  std::unique_ptr<attestation::EvidenceProvider> own_evidence;
  if (config->attestation != "none") {
    attestation::ProviderOptions po;
    po.sim_platform_key = config->sim_platform_key;
    po.clock = &clock;
    if (config->attestation == "sim") {
      // The sim measurement names this binary, as the aggregator's does.
      auto self = ReadFileBytes("/proc/self/exe", 1u << 30);
      if (self) {
        auto digest = crypto::Sha384(*self);
        po.sim_measurement.assign(digest.begin(), digest.end());
      }
    }
    auto provider = attestation::MakeEvidenceProvider(config->attestation, po);
    if (!provider) return fail(provider.error());
    own_evidence = std::move(*provider);
    out << "cairn-participant: own evidence from " << own_evidence->description()
        << (own_evidence->platform() == attestation::Platform::kSim ? " (sim: NOT confidential, development only)" : "")
        << std::endl;
  }
  ClientOptions co;
  co.config = *config;
  co.policy = std::move(*policy);
  co.clock = &clock;
  co.own_evidence = own_evidence.get();
  auto client = ParticipantClient::Create(std::move(co), **workload);
  if (!client) return fail(client.error());
  auto s = (*client)->Run(stop_signals);
  if (!s) return fail(s.error());
  const auto& sum = (*client)->summary();
  if (!sum.analytics_results.empty()) out << analytics::FormatTable(sum.analytics_results);
  for (const auto& reason : sum.analytics_declined) out << "cairn-participant: declined " << reason << std::endl;
  out << "cairn-participant: federation finished (" << sum.end_reason << "): contributed to "
      << sum.rounds_contributed << " rounds, last verified round " << sum.last_round << std::endl;
  return 0;
}

int RunAttest(const AttestOptions& options, std::ostream& out, std::ostream& err) {
  if (auto s = crypto::Init(); !s) {
    err << "cairn-participant: error: " << s.error().message() << std::endl;
    return 2;
  }
  auto policy = attestation::LoadPolicy(options.policy);
  if (!policy) {
    err << "cairn-participant: error: " << policy.error().message() << std::endl;
    return 2;
  }
  if (PolicyAllowsSim(*policy)) err << kSimWarning << std::endl;
  std::string id = "attest-only";
  net::CurveKey key{};
  bool check_roster = false;
  ConnectOptions connect;
  if (!options.config.empty()) {
    auto cfg = LoadParticipantConfig(options.config);
    if (!cfg) {
      err << "cairn-participant: error: " << cfg.error().message() << std::endl;
      return 2;
    }
    auto kp = LoadKeyFile(cfg->key_file);
    if (!kp) {
      err << "cairn-participant: error: " << kp.error().message() << std::endl;
      return 2;
    }
    id = cfg->id;
    key = kp->public_key;
    connect = cfg->connect;
    check_roster = true;
  }
  connect.attempts = std::min<std::uint32_t>(connect.attempts, 3);
  zmq::context_t context(1);
  Nonce nonce;
  crypto::RandomBytes(nonce);
  auto evidence = FetchEvidence(context, options.aggregator, nonce, id, connect);
  if (!evidence) {
    err << "cairn-participant: error: " << evidence.error().message() << std::endl;
    return 2;
  }
  SystemClock clock;
  auto v = VerifyAggregator(*evidence, nonce, *policy, id, key, clock.WallNow());
  if (!v) {
    err << "cairn-participant: error: " << v.error().message() << std::endl;
    return 2;
  }
  std::vector<attestation::Check> checks = v->verdict.checks;
  bool accepted = v->verdict.accepted;
  for (const auto& c : v->checks) {
    if (c.name == "roster" && !check_roster) continue;
    checks.push_back(c);
    accepted = accepted && c.ok;
  }
  if (options.json) {
    nlohmann::ordered_json j;
    j["verdict"] = accepted ? "accept" : "reject";
    j["platform"] = attestation::PlatformName(v->verdict.platform);
    j["measurement"] = HexEncode(v->verdict.measurement);
    j["federation"] = v->federation.id;
    j["config_sha256"] = HexEncode(v->config_hash);
    j["checks"] = nlohmann::json::array();
    for (const auto& c : checks) j["checks"].push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    j["warnings"] = v->verdict.warnings;
    out << j.dump() << std::endl;
  } else {
    out << "aggregator " << options.aggregator << "\n";
    out << "platform     " << attestation::PlatformName(v->verdict.platform) << "\n";
    out << "measurement  " << HexEncode(v->verdict.measurement) << "\n";
    out << "federation   " << v->federation.id << " (config SHA-256 " << HexEncode(v->config_hash) << ")\n";
    for (const auto& c : checks) out << (c.ok ? "  ok    " : "  FAIL  ") << c.name << ": " << c.detail << "\n";
    for (const auto& w : v->verdict.warnings) out << "  warning: " << w << "\n";
    out << "verdict: " << (accepted ? "accept" : "reject") << std::endl;
  }
  return accepted ? 0 : 1;
}

int RunCentral(const CentralOptions& options, std::ostream& out, std::ostream& err) {
  auto fail = [&](const Error& e) {
    err << "cairn-participant: error: " << e.message() << std::endl;
    return 1;
  };
  auto fed = protocol::LoadFederationFile(options.federation);
  if (!fed) return fail(fed.error());
  data::CsvOptions co;
  co.label_column = options.label_column;
  auto train = data::LoadCsv(options.train, co);
  if (!train) return fail(train.error());
  auto test = data::LoadCsv(options.test, co);
  if (!test) return fail(test.error());
  const auto& f = fed->federation;
  if (f.standardization != "none") {
    // Pooled data: its own statistics are the pooled ones.
    auto st = data::Standardizer::Fit(*train);
    if (!st) return fail(st.error());
    if (auto s = st->Apply(*train); !s) return fail(s.error());
    if (auto s = st->Apply(*test); !s) return fail(s.error());
  }
  train->num_classes = test->num_classes = f.model.classes;
#if !CAIRN_PARTICIPANT_TORCH
  (void)out;
  return fail(Error(ErrorCode::kFailedPrecondition, "centralized training needs libtorch (CAIRN_WITH_TORCH=ON)"));
#else
  trainer::TrainerOptions to;
  to.model = f.model;
  to.init_seed = fed->server.init_seed;
  trainer::TrainTask task;
  task.batch_size = f.task.batch_size;
  task.learning_rate = f.task.learning_rate;
  task.optimizer = f.task.optimizer;
  task.momentum = f.task.momentum;
  task.seed = f.task.seed;
  int epochs = options.epochs > 0 ? options.epochs : static_cast<int>(f.rounds * f.task.local_epochs);
  auto spec = model::SpecFor(f.model);
  if (!spec) return fail(spec.error());
  auto initial = model::InitialGlobalParameters(f.model, *spec, fed->server.init_seed);
  if (!initial) return fail(initial.error());
  auto r = trainer::TrainCentralized(to, task, epochs, *train, *test, *initial);
  if (!r) return fail(r.error());
  if (options.json) {
    nlohmann::ordered_json j;
    j["epochs"] = epochs;
    j["test_accuracy"] = r->test.accuracy;
    j["test_loss"] = r->test.loss;
    out << j.dump() << std::endl;
  } else {
    char buf[160];
    std::snprintf(buf, sizeof buf, "centralized: %d epochs on %lld pooled rows, test accuracy %.4f, test loss %.4f",
                  epochs, static_cast<long long>(train->rows), r->test.accuracy, r->test.loss);
    out << buf << std::endl;
  }
  return 0;
#endif
}

}  // namespace cairn::participant
