// In-process federations: a real aggregator (sockets, engine, state store) on a thread and
// participants on threads, with synthetic workloads. Loopback, ephemeral ports.
#include <gtest/gtest.h>
#include <zmq.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <future>
#include <sstream>
#include <optional>
#include <mutex>
#include <map>

#include "common/core/file.h"
#include "common/model/model_files.h"
#include "common/net/net.h"
#include "participant/attest_client.h"
#include "participant/synthetic_workload.h"
#include "protocol/round_result.h"
#include "protocol/sealing.h"
#include "tests/integration/harness.h"
#include "tests/metrics/exposition.h"

namespace cairn {
namespace {

using testing::FederationSpec;
using testing::TestFederation;

constexpr std::size_t kLogregParams = 4 * 2 + 2;  // logreg, 4 inputs, 2 classes

// Runs participant i with a synthetic update of constant values[i] and examples[i], until each
// finishes, and returns how each ended.
std::vector<Status> RunConstantParticipantsToEnd(TestFederation& fed, const std::vector<float>& values,
                                                 const std::vector<std::uint64_t>& examples) {
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::future<Status>> runs;
  for (std::size_t i = 0; i < values.size(); ++i) {
    participant::SyntheticOptions o;
    o.num_params = kLogregParams;
    o.constant = values[i];
    o.num_examples = examples[i];
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(o));
    runs.push_back(fed.RunParticipant(static_cast<int>(i), *workloads.back()));
  }
  std::vector<Status> ends;
  for (auto& r : runs) ends.push_back(r.get());
  return ends;
}

// The same; every participant must succeed.
void RunConstantParticipants(TestFederation& fed, const std::vector<float>& values,
                             const std::vector<std::uint64_t>& examples) {
  for (const auto& s : RunConstantParticipantsToEnd(fed, values, examples)) EXPECT_TRUE(s) << s.error().ToString();
}

TEST(Federation, FedAvgOfConstantUpdatesIsExactAndResultsChain) {
  auto fed = TestFederation::Create("fedavg", FederationSpec{});
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  std::vector<float> initial = fed->app().state().model;
  RunConstantParticipants(*fed, {0.1f, 0.2f, 0.3f}, {100, 200, 300});
  ASSERT_TRUE(fed->JoinAggregator());

  // Two FedAvg rounds: w = w0 + 2 · (0.1·100 + 0.2·200 + 0.3·300) / 600.
  auto model = model::ReadFlatParameters(fed->state_dir() / "global.f32", kLogregParams);
  ASSERT_TRUE(model) << model.error().ToString();
  for (std::size_t i = 0; i < kLogregParams; ++i) {
    EXPECT_NEAR((*model)[i], initial[i] + 2 * (140.0 / 600.0), 1e-6) << i;
  }
  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].prev_hash.size(), 0u);
  auto h0 = protocol::ResultHash(results[0]);
  EXPECT_EQ(results[1].prev_hash, Bytes(h0.begin(), h0.end()));
  for (const auto& r : results) {
    EXPECT_EQ(r.status, protocol::RoundStatus::kCompleted);
    EXPECT_EQ(r.contributors.size(), 3u);
    EXPECT_EQ(r.num_examples, 600u);
    EXPECT_EQ(r.strategy, "fedavg");
    EXPECT_EQ(r.platform, "sim");
  }
  EXPECT_TRUE(results[1].final);
  EXPECT_EQ(results[1].model_hash, protocol::ModelHash(*model));
}

Result<metrics::AggregatorMetrics> MakeMetrics(metrics::Registry& registry) {
  metrics::AggregatorMetricsOptions mo;
  mo.round_statuses = {"completed", "failed-quorum", "aborted"};
  mo.rejection_reasons = {"malformed"};
  return metrics::AggregatorMetrics::Create(registry, mo);
}

// Puts a non-empty directory where the state file `name` goes: that defeats the atomic rename,
// even for root.
void BlockStateFile(const TestFederation& fed, const char* name) {
  std::filesystem::remove(fed.state_dir() / name);
  std::filesystem::create_directories(fed.state_dir() / name / "blocker");
}

// A state folder that cannot take the model files does not stop the federation: every round
// completes, the participants are served, results.jsonl is written, and each failed write is
// counted in cairn_state_write_failures_total{file}.
TEST(Federation, FailedModelWritesAreCountedAndTheRoundsGoOn) {
  auto fed = TestFederation::Create("statefail", FederationSpec{});
  ASSERT_TRUE(fed);
  metrics::Registry registry;
  auto m = MakeMetrics(registry);
  ASSERT_TRUE(m) << m.error().ToString();
  fed->metrics = &*m;
  // After start-up (which reads any checkpoint and writes the initial model), before round 1.
  ASSERT_TRUE(fed->StartAggregator([&](aggregator::RoundEngine&) { BlockStateFile(*fed, "global.f32"); }));
  RunConstantParticipants(*fed, {0.1f, 0.1f, 0.1f}, {100, 100, 100});
  ASSERT_TRUE(fed->JoinAggregator());

  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) EXPECT_EQ(r.status, protocol::RoundStatus::kCompleted);
  // No temporary file of a failed write is left behind.
  for (const auto& e : std::filesystem::directory_iterator(fed->state_dir())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  auto exposition = testing_support::ParseExposition(registry.RenderText());
  ASSERT_TRUE(exposition) << exposition.error().ToString();
  auto& parsed = exposition->samples;
  EXPECT_EQ(parsed.at("cairn_state_write_failures_total{file=\"model\"}"), 2);  // one per new model
  EXPECT_EQ(parsed.at("cairn_state_write_failures_total{file=\"checkpoint\"}"), 0);
  EXPECT_EQ(parsed.at("cairn_state_write_failures_total{file=\"results\"}"), 0);
  EXPECT_EQ(parsed.at("cairn_rounds_total{status=\"completed\"}"), 2);
}

// Runs a 2-round federation whose state file `file` cannot be written from round 1 on: the
// federation must stop with round 1's result withheld (no participant receives it, the model
// files do not show it) and the participants told `reason`. Once the disk is fixed, a restart in
// the same state folder, with the same participants (and their chains), completes both rounds
// with a whole results.jsonl.
void ExpectRoundWithheldThenResumed(const std::string& name, const char* file, const char* metric_label,
                                    const std::string& reason) {
  auto fed = TestFederation::Create(name, FederationSpec{});
  ASSERT_TRUE(fed);
  metrics::Registry registry;
  auto m = MakeMetrics(registry);
  ASSERT_TRUE(m) << m.error().ToString();
  fed->metrics = &*m;
  ASSERT_TRUE(fed->StartAggregator([&](aggregator::RoundEngine&) { BlockStateFile(*fed, file); }));
  std::vector<float> initial = fed->app().state().model;
  for (const auto& s : RunConstantParticipantsToEnd(*fed, {0.1f, 0.1f, 0.1f}, {100, 100, 100})) {
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::kAborted);
    EXPECT_NE(s.error().message().find(reason), std::string::npos) << s.error().message();
  }
  Status outcome = fed->JoinAggregator();
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().message().find("its result is withheld"), std::string::npos) << outcome.error().message();

  EXPECT_TRUE(testing::ReadResults(fed->state_dir()).empty());
  auto exported = model::ReadFlatParameters(fed->state_dir() / "global.f32", kLogregParams);
  ASSERT_TRUE(exported) << exported.error().ToString();
  EXPECT_EQ(*exported, initial);  // the withheld round's model never reached the disk
  auto exposition = testing_support::ParseExposition(registry.RenderText());
  ASSERT_TRUE(exposition) << exposition.error().ToString();
  EXPECT_EQ(exposition->samples.at("cairn_state_write_failures_total{file=\"" + std::string(metric_label) + "\"}"), 1);
  EXPECT_EQ(exposition->samples.at("cairn_rounds_total{status=\"completed\"}"), 0);

  // The disk is fixed.
  std::filesystem::remove_all(fed->state_dir() / file);
  fed->metrics = nullptr;
  ASSERT_TRUE(fed->StartAggregator());
  RunConstantParticipants(*fed, {0.1f, 0.1f, 0.1f}, {100, 100, 100});
  ASSERT_TRUE(fed->JoinAggregator());
  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 2u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].round, i + 1);
    EXPECT_EQ(results[i].status, protocol::RoundStatus::kCompleted);
  }
  auto h1 = protocol::ResultHash(results[0]);
  EXPECT_EQ(results[1].prev_hash, Bytes(h1.begin(), h1.end()));
  auto model = model::ReadFlatParameters(fed->state_dir() / "global.f32", kLogregParams);
  ASSERT_TRUE(model) << model.error().ToString();
  for (std::size_t i = 0; i < kLogregParams; ++i) EXPECT_NEAR((*model)[i], initial[i] + 0.2f, 1e-6f) << i;
}

// Round 1 was never durable: the restart runs it again (nobody saw it).
TEST(Federation, CheckpointThatCannotBeWrittenWithholdsTheRoundAndStops) {
  ExpectRoundWithheldThenResumed("ckptfail", "checkpoint.sealed", "checkpoint",
                                 "the checkpoint of round 1 could not be written");
}

// Round 1 is in the checkpoint but not in the public log: the restart appends it from the
// checkpoint and runs round 2 (the participants, who never received round 1, see a gap).
TEST(Federation, ResultThatCannotBeLoggedIsWithheldAndTheRestartLogsIt) {
  ExpectRoundWithheldThenResumed("logfail", "results.jsonl", "results",
                                 "the results log entry of round 1 could not be written");
}

// The model files follow the checkpoint; a crash between the two (here: the files removed) is
// mended at the next start, which writes them from the checkpoint's model.
// A synthetic participant that evaluates: it keeps the global model it was given.
class EvaluatingWorkload final : public participant::Workload {
 public:
  explicit EvaluatingWorkload(participant::SyntheticOptions o) : inner_(std::move(o)) {}
  Status Prepare(const protocol::FederationConfig& federation) override { return inner_.Prepare(federation); }
  std::size_t num_params() const override { return inner_.num_params(); }
  Result<participant::LocalResult> Train(std::span<const float> global, const protocol::Task& task,
                                         std::span<float> delta) override {
    return inner_.Train(global, task, delta);
  }
  Result<std::vector<protocol::Metric>> Evaluate(std::span<const float> global) override {
    evaluated.assign(global.begin(), global.end());
    return std::vector<protocol::Metric>{{"accuracy", 0.5}};
  }
  std::vector<float> evaluated;

 private:
  participant::SyntheticWorkload inner_;
};

// The last round's results.jsonl line cannot be written: its result is withheld and nobody gets
// the final model. Once the disk is fixed, the restart does not stop at once as a finished
// federation would: it signs the result again with its own key, logs it, and hands it to each
// participant that comes back, which verifies it, fetches and evaluates the model it names, and
// is sent away after its report.
TEST(Federation, FinalRoundWithheldForItsLogLineIsDeliveredByTheRestart) {
  FederationSpec spec;
  spec.body.replace(spec.body.find("rounds = 2"), 10, "rounds = 1");
  auto fed = TestFederation::Create("finalfail", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator([&](aggregator::RoundEngine&) { BlockStateFile(*fed, "results.jsonl"); }));
  std::vector<float> initial = fed->app().state().model;
  for (const auto& s : RunConstantParticipantsToEnd(*fed, {0.1f, 0.1f, 0.1f}, {100, 100, 100})) {
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message().find("could not be written"), std::string::npos) << s.error().message();
  }
  Status outcome = fed->JoinAggregator();
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().message().find("its result is withheld"), std::string::npos) << outcome.error().message();

  std::filesystem::remove_all(fed->state_dir() / "results.jsonl");
  ASSERT_TRUE(fed->StartAggregator());
  EXPECT_EQ(fed->app().engine().phase(), aggregator::RoundEngine::Phase::kDelivering);
  auto logged = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_TRUE(logged[0].final);
  EXPECT_EQ(logged[0].status, protocol::RoundStatus::kCompleted);

  std::vector<std::unique_ptr<EvaluatingWorkload>> workloads;
  std::vector<std::vector<protocol::RoundResult>> seen(3);
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < 3; ++i) {
    participant::SyntheticOptions o;
    o.num_params = kLogregParams;
    o.constant = 0.1f;
    o.num_examples = 100;
    workloads.push_back(std::make_unique<EvaluatingWorkload>(o));
    auto co = fed->ClientOptions(i);
    co.on_result = [&seen, i](const protocol::RoundResult& r) { seen[i].push_back(r); };
    runs.push_back(fed->RunParticipant(i, *workloads.back(), std::move(co)));
  }
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().ToString();
  }
  ASSERT_TRUE(fed->JoinAggregator());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(seen[i].size(), 1u) << i;
    EXPECT_EQ(protocol::ResultHash(seen[i][0]), protocol::ResultHash(logged[0])) << i;
    ASSERT_EQ(workloads[i]->evaluated.size(), kLogregParams) << i;
    for (std::size_t j = 0; j < kLogregParams; ++j) EXPECT_NEAR(workloads[i]->evaluated[j], initial[j] + 0.1f, 1e-6f);
  }
  EXPECT_EQ(testing::ReadResults(fed->state_dir()).size(), 1u);  // nothing was signed again
  // Each participant's evaluation of the delivered model was recorded.
  std::string evaluations = testing::ReadFile(fed->state_dir() / "evaluations.jsonl");
  EXPECT_EQ(std::count(evaluations.begin(), evaluations.end(), '\n'), 3) << evaluations;
}

TEST(Federation, ModelFilesAreRewrittenFromTheCheckpointAtStart) {
  auto fed = TestFederation::Create("reexport", FederationSpec{});
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  RunConstantParticipants(*fed, {0.1f, 0.2f, 0.3f}, {100, 200, 300});
  ASSERT_TRUE(fed->JoinAggregator());
  auto final_model = model::ReadFlatParameters(fed->state_dir() / "global.f32", kLogregParams);
  ASSERT_TRUE(final_model) << final_model.error().ToString();
  std::string final_pt = testing::ReadFile(fed->state_dir() / "global.pt");
  ASSERT_FALSE(final_pt.empty());
  std::filesystem::remove(fed->state_dir() / "global.f32");
  std::filesystem::remove(fed->state_dir() / "global.pt");

  ASSERT_TRUE(fed->StartAggregator());  // restores round 2's checkpoint: the federation is done
  EXPECT_TRUE(fed->app().engine().done());
  ASSERT_TRUE(fed->JoinAggregator());
  auto rewritten = model::ReadFlatParameters(fed->state_dir() / "global.f32", kLogregParams);
  ASSERT_TRUE(rewritten) << rewritten.error().ToString();
  EXPECT_EQ(*rewritten, *final_model);
  EXPECT_EQ(testing::ReadFile(fed->state_dir() / "global.pt"), final_pt);
}

TEST(Federation, ParticipantWhosePolicyLacksSimRefusesAndSendsNothing) {
  auto fed = TestFederation::Create("nosim", FederationSpec{});
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  auto options = fed->ClientOptions(0);
  auto policy = attestation::ParsePolicy("platforms = [\"sev-snp\"]\n", "strict-policy.toml");
  ASSERT_TRUE(policy) << policy.error().ToString();
  options.policy = std::move(*policy);
  participant::SyntheticOptions so;
  so.num_params = kLogregParams;
  participant::SyntheticWorkload w(so);
  auto status = fed->RunParticipant(0, w, std::move(options)).get();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(status.error().message().find("sim"), std::string::npos) << status.error().message();
  EXPECT_NE(status.error().message().find("nothing was sent"), std::string::npos);
  // Only GetEvidence reached the aggregator: no control connection, no data.
  EXPECT_EQ(fed->app().engine().connected(), 0u);
  EXPECT_EQ(fed->app().engine().counters().bytes_in, 0u);
  fed->StopAggregator();
  (void)fed->JoinAggregator();
}

TEST(Federation, KeyNotInRosterIsRefusedAtTheChannel) {
  auto fed = TestFederation::Create("roster", FederationSpec{});
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  zmq::context_t ctx(1);
  participant::Nonce nonce{};
  participant::ConnectOptions co;
  co.attempts = 2;
  auto evidence = participant::FetchEvidence(ctx, fed->attestation_endpoint(), nonce, "intruder", co);
  ASSERT_TRUE(evidence) << evidence.error().ToString();
  // A well-formed Curve client whose key is not in the roster.
  auto stranger = crypto::X25519KeyPair::Generate();
  ASSERT_TRUE(stranger);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(evidence->curve_key.data(), 32));
  s.set(zmq::sockopt::curve_publickey, zmq::const_buffer(stranger->public_key().data(), 32));
  s.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(stranger->secret_key().data(), 32));
  auto monitor = net::HandshakeMonitor::Attach(ctx, s, "stranger");
  ASSERT_TRUE(monitor);
  s.connect(net::MakeEndpoint("127.0.0.1", evidence->control_port));
  auto state = net::HandshakeMonitor::State::kPending;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (state == net::HandshakeMonitor::State::kPending && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{static_cast<void*>((*monitor)->socket()), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(500));
    state = (*monitor)->Poll();
  }
  EXPECT_EQ(state, net::HandshakeMonitor::State::kAuthFailed);
  EXPECT_EQ(fed->app().engine().connected(), 0u);
  fed->StopAggregator();
  (void)fed->JoinAggregator();
}

TEST(Federation, ChangingOneByteOfARoundResultStopsTheParticipant) {
  FederationSpec spec;
  spec.participants = 1;
  spec.body = "[federation]\nrounds = 2\nmin_participants = 1\nround_timeout_s = 30\ncohort_wait_s = 0\n"
              "[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n";
  auto fed = TestFederation::Create("tamper", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator([](aggregator::RoundEngine& e) {
    e.SetResultTamperForTesting([](protocol::RoundResult& r) { r.epsilon_spent += 1e-9; });
  }));
  participant::SyntheticOptions so;
  so.num_params = kLogregParams;
  participant::SyntheticWorkload w(so);
  auto status = fed->RunParticipant(0, w).get();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(status.error().message().find("signature of round result 1"), std::string::npos)
      << status.error().message();
  fed->StopAggregator();
  (void)fed->JoinAggregator();
}

TEST(Federation, EvidenceWhoseReportDataDoesNotMatchIsRefused) {
  auto fed = TestFederation::Create("reportdata", FederationSpec{});
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  zmq::context_t ctx(1);
  participant::Nonce nonce;
  crypto::RandomBytes(nonce);
  participant::ConnectOptions co;
  auto evidence = participant::FetchEvidence(ctx, fed->attestation_endpoint(), nonce, "p0", co);
  ASSERT_TRUE(evidence);
  auto options = fed->ClientOptions(0);
  auto key = participant::LoadKeyFile(fed->key_file(0));
  ASSERT_TRUE(key);
  auto verify = [&](const protocol::Evidence& e, const participant::Nonce& n) {
    auto v = participant::VerifyAggregator(e, n, options.policy, "p0", key->public_key, fed->clock.WallNow());
    EXPECT_TRUE(v) << v.error().ToString();
    return *v;
  };
  EXPECT_TRUE(verify(*evidence, nonce).accepted) << verify(*evidence, nonce).FirstFailure();
  participant::Nonce other = nonce;
  other[0] ^= 1;
  auto v1 = verify(*evidence, other);
  EXPECT_FALSE(v1.accepted);
  EXPECT_NE(v1.FirstFailure().find("report"), std::string::npos) << v1.FirstFailure();
  auto swapped = *evidence;
  std::swap(swapped.curve_key, swapped.hpke_key);
  EXPECT_FALSE(verify(swapped, nonce).accepted);
  auto other_signer = *evidence;
  other_signer.signing_key[5] ^= 1;
  EXPECT_FALSE(verify(other_signer, nonce).accepted);
  auto other_config = *evidence;
  other_config.federation_config += "\n";
  EXPECT_FALSE(verify(other_config, nonce).accepted);
  fed->StopAggregator();
  (void)fed->JoinAggregator();
}

TEST(Federation, ParticipantDetectsARollbackOfTheChain) {
  auto fed = TestFederation::Create("rollback", FederationSpec{});
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  // This participant has verified round 5 of this federation before; the aggregator's head is 0.
  participant::ChainState chain;
  chain.federation_id = "rollback";
  chain.last_round = 5;
  chain.last_hash = Bytes(32, 7);
  ASSERT_TRUE(participant::SaveChainState(fed->dir() / "state-p0", chain));
  participant::SyntheticOptions so;
  so.num_params = kLogregParams;
  participant::SyntheticWorkload w(so);
  auto status = fed->RunParticipant(0, w).get();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kAborted);
  EXPECT_NE(status.error().message().find("rollback"), std::string::npos) << status.error().message();
  fed->StopAggregator();
  (void)fed->JoinAggregator();
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// Synthetic logreg workloads that outlive the participants running them.
struct LogregWorkloads {
  participant::SyntheticWorkload* Add() {
    participant::SyntheticOptions so;
    so.num_params = kLogregParams;
    owned.push_back(std::make_unique<participant::SyntheticWorkload>(so));
    return owned.back().get();
  }
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> owned;
};

// A participant state folder whose chain.json says it verified round 1 with hash `hash` (as a
// member that was away since then).
Status SeedChainAtRoundOne(testing::TestFederation& fed, const std::string& federation, int i, const Bytes& hash) {
  participant::ChainState c;
  c.federation_id = federation;
  c.last_round = 1;
  c.last_hash = hash;
  return participant::SaveChainState(fed.dir() / ("state-p" + std::to_string(i)), c);
}

// Starts participant i and waits until the aggregator admitted it; sets `error` when it was not
// admitted, or at another head than `head`.
std::future<Status> RunUntilAdmitted(testing::TestFederation& fed, int i, participant::Workload& workload,
                                     std::uint64_t head, std::string& error,
                                     std::function<void(std::uint64_t, std::uint64_t)> on_caught_up = {}) {
  auto joined = std::make_shared<std::promise<std::uint64_t>>();
  auto options = fed.ClientOptions(i);
  options.on_caught_up = std::move(on_caught_up);
  options.on_joined = [joined](std::uint64_t h) { joined->set_value(h); };
  auto head_seen = joined->get_future();
  auto run = fed.RunParticipant(i, workload, options);
  if (head_seen.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    error = "p" + std::to_string(i) + " was not admitted";
  } else if (head_seen.get() != head) {
    error = "p" + std::to_string(i) + " was admitted at another head";
  }
  return run;
}

// A participant returning after missed rounds: the aggregator's Welcome carries the results it
// missed (from results.jsonl), and the participant goes on only if they continue its own chain.
// p1 and p2 run the federation; when p1 has verified round 3 (and before it uploads for round 4,
// which needs it), p3 comes back having verified round 1, and p0 comes back having verified a
// round 1 that is not this history's (as after a host restarted the enclave from an older
// checkpoint and ran the rounds again).
TEST(ChainHead, AReturningParticipantChecksTheResultsItMissed) {
  testing::FederationSpec spec;
  spec.participants = 4;
  spec.body = "[federation]\nrounds = 4\nmin_participants = 2\nround_timeout_s = 60\ncohort_wait_s = 0\n"
              "eval_timeout_s = 0\n[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n";
  auto fed = testing::TestFederation::Create("catchup", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  std::mutex mu;
  std::map<std::uint64_t, Bytes> hashes;
  std::optional<protocol::Welcome> forged_welcome;
  std::string setup_error;
  LogregWorkloads workloads;
  auto workload = [&] { return workloads.Add(); };
  participant::SyntheticWorkload* w0 = workload();
  participant::SyntheticWorkload* w3 = workload();
  std::future<Status> forked_run, honest_run;
  auto opts = fed->ClientOptions(1);
  opts.on_result = [&](const protocol::RoundResult& r) {
    auto h = protocol::ResultHash(r);
    std::lock_guard lock(mu);
    hashes[r.round] = Bytes(h.begin(), h.end());
    if (r.round != 3) return;
    // What the aggregator sends a returning participant (head = round 3 now).
    auto raw = testing::RawParticipant::Connect(*fed, 0, [&](protocol::Hello& hello) {
      hello.last_round = 1;
      hello.last_result_hash = hashes[1];
    });
    if (!raw) {
      setup_error = raw.error().ToString();
      return;
    }
    forged_welcome = (*raw)->welcome();
    (void)(*raw)->Send(protocol::Goodbye{"test done"});
    (*raw)->Close();
    if (auto st = SeedChainAtRoundOne(*fed, "catchup", 0, Bytes(32, 0x5a)); !st) setup_error = st.error().ToString();
    if (auto st = SeedChainAtRoundOne(*fed, "catchup", 3, hashes[1]); !st) setup_error = st.error().ToString();
    // Round 4 cannot finish while this callback holds p1: p0 is refused, and p3 is admitted
    // (and will receive round 4's result) before it returns.
    forked_run = fed->RunParticipant(0, *w0);
    if (forked_run.wait_for(std::chrono::seconds(60)) != std::future_status::ready) setup_error = "p0 did not end";
    honest_run = RunUntilAdmitted(*fed, 3, *w3, 3, setup_error);
  };
  std::vector<std::future<Status>> runs;
  runs.push_back(fed->RunParticipant(1, *workload(), opts));
  runs.push_back(fed->RunParticipant(2, *workload()));
  for (auto& r : runs) {
    auto st = r.get();
    EXPECT_TRUE(st) << st.error().ToString();
  }
  ASSERT_TRUE(setup_error.empty()) << setup_error;
  ASSERT_TRUE(forked_run.valid() && honest_run.valid());
  auto forked = forked_run.get();
  ASSERT_FALSE(forked);
  EXPECT_EQ(forked.error().code(), ErrorCode::kAborted);
  EXPECT_NE(forked.error().message().find("forked history"), std::string::npos) << forked.error().message();
  EXPECT_NE(forked.error().message().find("does not chain to the result of round 1 this participant verified"),
            std::string::npos) << forked.error().message();
  auto honest = honest_run.get();
  EXPECT_TRUE(honest) << honest.error().ToString();
  ASSERT_TRUE(fed->JoinAggregator());

  // The Welcome held rounds 2 and 3, chaining from round 1 to the head.
  ASSERT_TRUE(forged_welcome);
  EXPECT_EQ(forged_welcome->head_round, 3u);
  ASSERT_EQ(forged_welcome->catch_up.size(), 2u);
  EXPECT_EQ(forged_welcome->catch_up[0].round, 2u);
  EXPECT_EQ(forged_welcome->catch_up[0].prev_hash, hashes[1]);
  EXPECT_EQ(forged_welcome->catch_up[1].round, 3u);
  // p3 caught up to round 3, then verified round 4 as usual; p0's chain did not move.
  auto p3 = participant::LoadChainState(fed->dir() / "state-p3");
  ASSERT_TRUE(p3);
  EXPECT_EQ(p3->last_round, 4u);
  EXPECT_EQ(p3->last_hash, hashes[4]);
  auto p0 = participant::LoadChainState(fed->dir() / "state-p0");
  ASSERT_TRUE(p0);
  EXPECT_EQ(p0->last_round, 1u);
}

// A member away for longer than one page: with pages of one result, p2 comes back having
// verified round 1 when the head is round 41, and walks forty pages (the Welcome's, then 39
// CatchUpRequests). That is more than the aggregator's burst of 16 plus what 250 ms refills give
// a walk of a few seconds, so some requests are refused as busy and asked again after a pause.
TEST(ChainHead, AMemberAwayForSeveralPagesWalksThemAndRejoins) {
  testing::FederationSpec spec;
  spec.participants = 3;
  spec.body = "[federation]\nrounds = 42\nmin_participants = 2\nround_timeout_s = 60\ncohort_wait_s = 0\n"
              "eval_timeout_s = 0\n[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n";
  auto fed = testing::TestFederation::Create("catchpages", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator([](aggregator::RoundEngine& e) { e.SetCatchUpPageForTesting(1); }));
  LogregWorkloads workloads;
  auto workload = [&] { return workloads.Add(); };
  participant::SyntheticWorkload* w2 = workload();
  std::mutex mu;
  std::map<std::uint64_t, Bytes> hashes;
  std::string setup_error;
  std::future<Status> returning_run;
  std::atomic<std::uint64_t> walked_pages{0}, busy_refusals{0};
  auto opts = fed->ClientOptions(0);
  opts.on_result = [&](const protocol::RoundResult& r) {
    auto h = protocol::ResultHash(r);
    std::lock_guard lock(mu);
    hashes[r.round] = Bytes(h.begin(), h.end());
    if (r.round != 41) return;
    if (auto st = SeedChainAtRoundOne(*fed, "catchpages", 2, hashes[1]); !st) setup_error = st.error().ToString();
    // Round 42 cannot finish while this callback holds p0: p2 is admitted at head 41.
    returning_run = RunUntilAdmitted(*fed, 2, *w2, 41, setup_error, [&](std::uint64_t pages, std::uint64_t busy) {
      walked_pages = pages;
      busy_refusals = busy;
    });
  };
  std::vector<std::future<Status>> runs;
  runs.push_back(fed->RunParticipant(0, *workload(), opts));
  runs.push_back(fed->RunParticipant(1, *workload()));
  for (auto& r : runs) {
    auto st = r.get();
    EXPECT_TRUE(st) << st.error().ToString();
  }
  ASSERT_TRUE(setup_error.empty()) << setup_error;
  ASSERT_TRUE(returning_run.valid());
  auto returned = returning_run.get();
  EXPECT_TRUE(returned) << returned.error().ToString();
  ASSERT_TRUE(fed->JoinAggregator());
  // Forty pages of one result each, some of them after a busy refusal; then round 42 as usual.
  EXPECT_EQ(walked_pages.load(), 40u);
  EXPECT_GE(busy_refusals.load(), 1u);
  auto p2 = participant::LoadChainState(fed->dir() / "state-p2");
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->last_round, 42u);
  EXPECT_EQ(p2->last_hash, hashes[42]);
}

TEST(ChainHead, ParticipantRefusesAHeadBehindOrForkedFromWhatItVerified) {
  participant::ChainState chain;
  chain.last_round = 4;
  chain.last_hash = Bytes(32, 1);
  auto behind = participant::CheckChainHead(chain, 2, Bytes(32, 9));
  ASSERT_FALSE(behind);
  EXPECT_EQ(behind.error().code(), ErrorCode::kAborted);
  EXPECT_NE(behind.error().message().find("rollback detected"), std::string::npos);
  auto fork = participant::CheckChainHead(chain, 4, Bytes(32, 2));
  ASSERT_FALSE(fork);
  EXPECT_NE(fork.error().message().find("forked"), std::string::npos);
  EXPECT_TRUE(participant::CheckChainHead(chain, 4, Bytes(32, 1)));
  EXPECT_TRUE(participant::CheckChainHead(chain, 7, Bytes(32, 5)));
  EXPECT_TRUE(participant::CheckChainHead(participant::ChainState{}, 0, {}));
}

// A chain of unsigned results 1..n (CheckCatchUp needs no signature: the head's hash comes from
// the attested aggregator's Welcome, and each link is a SHA-256).
std::vector<protocol::RoundResult> Chain(int n, const std::string& seed) {
  std::vector<protocol::RoundResult> out;
  Bytes prev;
  for (int i = 1; i <= n; ++i) {
    protocol::RoundResult r;
    r.federation_id = "f";
    r.round = static_cast<std::uint64_t>(i);
    r.detail = seed;
    r.contributors = {"p0", "p1"};
    r.prev_hash = prev;
    r.epsilon_spent = 0;
    auto h = protocol::ResultHash(r);
    prev.assign(h.begin(), h.end());
    out.push_back(r);
  }
  return out;
}

// What the catch-up tests walk against: federation "f" with roster p0, p1 and a quorum of two.
protocol::FederationConfig WalkFederation() {
  protocol::FederationConfig fed;
  fed.id = "f";
  fed.min_participants = 2;
  fed.roster = {{"p0", {}}, {"p1", {}}};
  return fed;
}
Bytes HashOf(const protocol::RoundResult& r) {
  auto h = protocol::ResultHash(r);
  return Bytes(h.begin(), h.end());
}
// A participant's chain at `round`, whose result hashed to `hash`.
participant::ChainState VerifiedAt(std::uint64_t round, const Bytes& hash) {
  participant::ChainState c;
  c.federation_id = "f";
  c.last_round = round;
  c.last_hash = hash;
  return c;
}

TEST(ChainHead, ReturningParticipantAcceptsOnlyAHistoryThatContinuesItsOwn) {
  const protocol::FederationConfig fed = WalkFederation();
  const std::array<std::uint8_t, 32> config{};
  auto ours = Chain(5, "ours");
  const auto& hash = HashOf;
  const participant::ChainState at_two = VerifiedAt(2, hash(ours[1]));
  const Bytes head = hash(ours[4]);
  // One page up to the head (round 5).
  {
    participant::CatchUpWalk walk(at_two, fed, config);
    auto done = walk.Add({ours[2], ours[3], ours[4]}, 5, head);
    ASSERT_TRUE(done) << done.error().ToString();
    EXPECT_TRUE(*done);
    EXPECT_EQ(walk.chain().last_round, 5u);
    EXPECT_EQ(walk.chain().last_hash, head);
  }

  // Another history from round 1 on (a host restarted the enclave from an older checkpoint and
  // ran rounds 2..5 again): its round 3 does not chain to our round 2.
  auto theirs = Chain(5, "theirs");
  {
    participant::CatchUpWalk walk(at_two, fed, config);
    auto forked = walk.Add({theirs[2], theirs[3], theirs[4]}, 5, hash(theirs[4]));
    ASSERT_FALSE(forked);
    EXPECT_EQ(forked.error().code(), ErrorCode::kAborted);
    EXPECT_NE(forked.error().message().find("forked history"), std::string::npos) << forked.error().message();
    EXPECT_NE(forked.error().message().find("round 3 does not chain to the result of round 2 this participant verified"),
              std::string::npos) << forked.error().message();
  }

  // Nothing where results are missing (a host that deleted results.jsonl): nothing proves the
  // history continues.
  {
    participant::CatchUpWalk walk(at_two, fed, config);
    auto unproven = walk.Add({}, 5, head);
    ASSERT_FALSE(unproven);
    EXPECT_NE(unproven.error().message().find("it sent none of the 3 results after round 2"), std::string::npos)
        << unproven.error().message();
  }

  // Our results, but a head the aggregator did not announce.
  {
    participant::CatchUpWalk walk(at_two, fed, config);
    auto wrong_end = walk.Add({ours[2], ours[3], ours[4]}, 5, hash(theirs[4]));
    ASSERT_FALSE(wrong_end);
    EXPECT_NE(wrong_end.error().message().find("does not end at the head"), std::string::npos);
  }

  // The attested rules apply to the missed results too (here: a stranger among the contributors).
  auto strange = Chain(5, "ours");
  strange[3].contributors = {"p0", "mallory"};
  Bytes prev = hash(strange[2]);
  for (int i = 3; i < 5; ++i) {
    strange[i].prev_hash = prev;
    prev = hash(strange[i]);
  }
  {
    participant::CatchUpWalk walk(at_two, fed, config);
    auto broken = walk.Add({strange[2], strange[3], strange[4]}, 5, prev);
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().message().find("contributors: not in the attested roster: mallory"), std::string::npos)
        << broken.error().message();
  }
}

// A member away for longer than one page walks the results it missed page by page; nothing is
// proven (and its chain does not move) until a page ends at the announced head.
TEST(ChainHead, ACatchUpWalksPagesAndProvesThemOnlyAtTheHead) {
  const protocol::FederationConfig fed = WalkFederation();
  const std::array<std::uint8_t, 32> config{};
  auto ours = Chain(9, "ours");
  const auto& hash = HashOf;
  const participant::ChainState at_one = VerifiedAt(1, hash(ours[0]));
  // Pages of three; the head moves from 7 to 9 while the member walks.
  participant::CatchUpWalk walk(at_one, fed, config);
  auto done = walk.Add({ours[1], ours[2], ours[3]}, 7, hash(ours[6]));
  ASSERT_TRUE(done) << done.error().ToString();
  EXPECT_FALSE(*done);
  EXPECT_EQ(walk.position(), 4u);
  done = walk.Add({ours[4], ours[5], ours[6]}, 9, hash(ours[8]));
  ASSERT_TRUE(done) << done.error().ToString();
  EXPECT_FALSE(*done);
  EXPECT_EQ(walk.position(), 7u);
  done = walk.Add({ours[7], ours[8]}, 9, hash(ours[8]));
  ASSERT_TRUE(done) << done.error().ToString();
  EXPECT_TRUE(*done);
  EXPECT_EQ(walk.chain().last_round, 9u);
  EXPECT_EQ(walk.chain().last_hash, hash(ours[8]));

  // A first page from another history is not refused by its own links (they chain from ours:
  // a host can compute SHA-256 too), but no later page can reach the real head from it.
  auto fake = Chain(9, "fake");
  fake[1].prev_hash = hash(ours[0]);
  Bytes prev = hash(fake[1]);
  for (int i = 2; i < 9; ++i) {
    fake[i].prev_hash = prev;
    prev = hash(fake[i]);
  }
  participant::CatchUpWalk misled(at_one, fed, config);
  done = misled.Add({fake[1], fake[2], fake[3]}, 9, hash(ours[8]));
  ASSERT_TRUE(done) << done.error().ToString();
  EXPECT_FALSE(*done);
  EXPECT_EQ(misled.chain().last_hash, hash(fake[3]));  // walked, not proven
  auto refused = misled.Add({ours[4], ours[5], ours[6], ours[7], ours[8]}, 9, hash(ours[8]));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("round 5 does not chain to the result of round 4"), std::string::npos)
      << refused.error().message();
  auto fake_end = participant::CatchUpWalk(at_one, fed, config);
  ASSERT_TRUE(fake_end.Add({fake[1], fake[2], fake[3]}, 9, hash(ours[8])));
  auto wrong_head = fake_end.Add({fake[4], fake[5], fake[6], fake[7], fake[8]}, 9, hash(ours[8]));
  ASSERT_FALSE(wrong_head);
  EXPECT_NE(wrong_head.error().message().find("does not end at the head"), std::string::npos);

  // A head that goes backwards, or a page running past the head, is a fork.
  participant::CatchUpWalk back(at_one, fed, config);
  ASSERT_TRUE(back.Add({ours[1], ours[2], ours[3]}, 7, hash(ours[6])));
  auto behind = back.Add({ours[4]}, 3, hash(ours[2]));
  ASSERT_FALSE(behind);
  EXPECT_NE(behind.error().message().find("behind round 7 it already announced or sent"), std::string::npos)
      << behind.error().message();
  participant::CatchUpWalk lower(at_one, fed, config);  // a head lower than an earlier one, still ahead
  ASSERT_TRUE(lower.Add({ours[1], ours[2]}, 9, hash(ours[8])));
  auto lowered = lower.Add({ours[3]}, 7, hash(ours[6]));
  ASSERT_FALSE(lowered);
  EXPECT_NE(lowered.error().message().find("behind round 9"), std::string::npos) << lowered.error().message();
  participant::CatchUpWalk past(at_one, fed, config);
  auto beyond = past.Add({ours[1], ours[2], ours[3]}, 3, hash(ours[2]));
  ASSERT_FALSE(beyond);
  EXPECT_NE(beyond.error().message().find("beyond the head"), std::string::npos) << beyond.error().message();
}

// Messages that arrive while a returning member walks its pages: what the walk covered is
// dropped (an earlier result would look like a rollback once the walk reached a later head).
TEST(ChainHead, MessagesThatArriveDuringAWalkAreKeptUnlessItCoveredThem) {
  auto result = [](std::uint64_t round) {
    protocol::RoundResult r;
    r.round = round;
    return protocol::Message(r);
  };
  auto offer = [](std::uint64_t round) {
    protocol::RoundOffer o;
    o.round = round;
    return protocol::Message(o);
  };
  std::vector<protocol::Message> arrived = {offer(6), result(6), offer(7), result(7), offer(8),
                                            protocol::Message(protocol::Ping{}), result(8)};
  auto kept = participant::KeepAfterCatchUp(arrived, 7);  // the walk reached round 7
  ASSERT_EQ(kept.size(), 4u);
  EXPECT_EQ(std::get<protocol::RoundResult>(kept[0]).round, 7u);  // the head: "already verified"
  EXPECT_EQ(std::get<protocol::RoundOffer>(kept[1]).round, 8u);
  EXPECT_TRUE(std::holds_alternative<protocol::Ping>(kept[2]));
  EXPECT_EQ(std::get<protocol::RoundResult>(kept[3]).round, 8u);
}

// chain.json keeps what the next result is checked against (ε never falls, nothing after a
// final result) and what makes a goodbye after a reconnect the normal end; files written before
// those fields existed still load.
TEST(ChainHead, ChainFileKeepsEpsilonAndFinalAndReadsOlderFiles) {
  auto dir = testing::MakeTempDir("chain-file");
  participant::ChainState chain;
  chain.federation_id = "f";
  chain.last_round = 9;
  chain.last_hash = Bytes(32, 3);
  chain.last_epsilon = 2.5;
  chain.final = true;
  ASSERT_TRUE(participant::SaveChainState(dir, chain));
  auto back = participant::LoadChainState(dir);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->last_round, 9u);
  EXPECT_EQ(back->last_hash, chain.last_hash);
  EXPECT_EQ(back->last_epsilon, 2.5);
  EXPECT_TRUE(back->final);
  ASSERT_TRUE(WriteFileAtomic(dir / "chain.json",
                              std::string_view(R"({"federation":"f","last_round":4,"last_hash":")" + HexEncode(Bytes(32, 1)) + R"("})")));
  auto older = participant::LoadChainState(dir);
  ASSERT_TRUE(older) << older.error().ToString();
  EXPECT_EQ(older->last_round, 4u);
  EXPECT_EQ(older->last_epsilon, 0.0);
  EXPECT_FALSE(older->final);
  ASSERT_TRUE(WriteFileAtomic(dir / "chain.json", std::string_view(R"({"federation":"f","last_round":4,"last_hash":"","final":"yes"})")));
  auto bad = participant::LoadChainState(dir);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// Mutual attestation (issue 3): the federation config names the TEE participants must run in;
// each participant's own evidence binds the aggregator's challenge and its Curve key.
TEST(MutualAttestation, ParticipantsWhoseEvidencePassesTrainAndOthersAreRefused) {
  auto keys_dir = testing::MakeTempDir("mutual-keys");
  auto tee_pub = attestation::GenerateSimPlatformKeyFile(keys_dir / "tee.key");
  ASSERT_TRUE(tee_pub) << tee_pub.error().ToString();
  auto rogue_pub = attestation::GenerateSimPlatformKeyFile(keys_dir / "rogue.key");
  ASSERT_TRUE(rogue_pub) << rogue_pub.error().ToString();
  FederationSpec spec;
  spec.body = "[federation]\nrounds = 2\nmin_participants = 2\nround_timeout_s = 30\ncohort_wait_s = 0\n"
              "[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n"
              "[participant_attestation]\nplatforms = [\"sim\"]\n"
              "[participant_attestation.sim]\nplatform_key = \"" + *tee_pub + "\"\n";
  auto fed = TestFederation::Create("mutual", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  auto provider = [&](const std::string& key) {
    attestation::ProviderOptions po;
    po.sim_platform_key = keys_dir / key;
    po.sim_measurement = Bytes(48, 0x33);
    po.clock = &fed->clock;
    auto p = attestation::MakeEvidenceProvider("sim", po);
    EXPECT_TRUE(p) << p.error().ToString();
    return std::move(*p);
  };
  participant::SyntheticOptions so;
  so.num_params = kLogregParams;

  // No evidence at all: the participant itself stops before saying Hello, and says why.
  participant::SyntheticWorkload w_none(so);
  auto none = fed->RunParticipant(2, w_none).get();
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("requires mutual attestation"), std::string::npos) << none.error().message();

  // Evidence from a platform the federation does not trust: the enclave refuses the Hello.
  auto rogue = provider("rogue.key");
  auto rogue_options = fed->ClientOptions(2);
  rogue_options.own_evidence = rogue.get();
  participant::SyntheticWorkload w_rogue(so);
  auto refused = fed->RunParticipant(2, w_rogue, std::move(rogue_options)).get();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(refused.error().message().find("evidence was refused"), std::string::npos) << refused.error().message();
  EXPECT_EQ(fed->app().engine().connected(), 0u);

  // Two participants in the trusted TEE train both rounds.
  auto tee0 = provider("tee.key");
  auto tee1 = provider("tee.key");
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::future<Status>> runs;
  attestation::EvidenceProvider* tees[2] = {tee0.get(), tee1.get()};
  for (int i = 0; i < 2; ++i) {
    auto options = fed->ClientOptions(i);
    options.own_evidence = tees[i];
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(so));
    runs.push_back(fed->RunParticipant(i, *workloads.back(), std::move(options)));
  }
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().ToString();
  }
  ASSERT_TRUE(fed->JoinAggregator());
  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status, protocol::RoundStatus::kCompleted);
    auto who = r.contributors;  // in commit order
    std::sort(who.begin(), who.end());
    EXPECT_EQ(who, (std::vector<std::string>{"p0", "p1"}));
  }
  std::filesystem::remove_all(keys_dir);
}

}  // namespace
}  // namespace cairn
