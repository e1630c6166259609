// The round engine in-process (no sockets), for what an admitted participant can send (review
// items 1-5): it must reject what it cannot use, keep serving, and leave a state a restart loads.
#include "aggregator/round_engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "aggregator/analytics_job.h"
#include "aggregator/privacy_engine.h"
#include "aggregator/report.h"
#include "aggregator/state_store.h"
#include "aggregator/strategy/strategy.h"
#include "common/analytics/partial.h"
#include "common/core/file.h"
#include "common/model/model_files.h"
#include "common/model/model_spec.h"
#include "protocol/round_result.h"
#include "tests/aggregator/freed_scan.h"

namespace cairn::aggregator {
namespace {

using protocol::Message;

class RecordingOutbox : public Outbox {
 public:
  bool Send(const std::string& participant, const Message& message) override {
    sent.emplace_back(participant, message);
    return true;
  }
  template <typename T>
  std::vector<T> To(const std::string& participant) const {
    std::vector<T> out;
    for (const auto& [p, m] : sent) {
      if (auto* t = std::get_if<T>(&m); t && p == participant) out.push_back(*t);
    }
    return out;
  }
  std::vector<std::pair<std::string, Message>> sent;
};

std::vector<std::string> Lines(const std::filesystem::path& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

class RoundEngineTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kParams = 6;  // logreg, 2 inputs, 2 classes

  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-engine-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    fed_.id = "fed";
    fed_.rounds = 5;
    fed_.min_participants = 1;
    fed_.round_timeout_s = 30;
    fed_.cohort_wait_s = 0;
    fed_.eval_timeout_s = 0;
    fed_.chunk_bytes = 4096;
    fed_.model.kind = "logreg";
    fed_.model.input_shape = {2};
    fed_.model.classes = 2;
    fed_.roster = {{"p0", protocol::Key32{}}, {"p1", protocol::Key32{1}}};
    config_hash_[0] = 42;
    auto keys = EnclaveKeys::Generate();
    ASSERT_TRUE(keys);
    keys_ = std::make_unique<EnclaveKeys>(std::move(*keys));
    auto key = crypto::SecretBytes::Random(32);
    ASSERT_TRUE(key);
    sealing_key_ = std::move(*key);
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<StateStore> OpenStore() {
    auto spec = model::SpecFor(fed_.model);
    EXPECT_TRUE(spec);
    auto key = sealing_key_.Clone();
    EXPECT_TRUE(key);
    auto store = StateStore::Open(dir_, *spec, std::move(*key), fed_.id, config_hash_);
    EXPECT_TRUE(store);
    return std::move(*store);
  }

  Result<std::unique_ptr<RoundEngine>> MakeEngine(EngineState state) {
    EngineOptions o;
    o.federation = fed_;
    o.config_hash = config_hash_;
    o.platform = "sim";
    o.server = server_;
    o.upload_idle_timeout_s = upload_idle_timeout_s_;
    return RoundEngine::Create(std::move(o), *keys_, clock_, outbox_, *store_, std::move(state));
  }

  void Start(std::vector<float> model = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}) {
    store_ = OpenStore();
    EngineState state;
    state.model = std::move(model);
    auto e = MakeEngine(std::move(state));
    ASSERT_TRUE(e) << e.error().ToString();
    engine_ = std::move(*e);
  }

  void Join(const std::string& p) {
    protocol::Hello hello;
    hello.config_hash = config_hash_;
    engine_->OnHello(p, hello);
    ASSERT_FALSE(outbox_.To<protocol::Welcome>(p).empty());
  }

  // One participant's upload in progress, driven step by step (what a well-behaved client sends,
  // or not).
  struct TestUpload {
    std::string participant;
    protocol::RoundOffer offer;
    protocol::Welcome welcome;
    protocol::ChunkLayout layout;
    std::vector<float> values;
    std::unique_ptr<crypto::HpkeContext> context;
    std::array<std::uint8_t, 32> enc{};
    std::vector<std::array<std::uint8_t, 16>> tags;
  };

  // Sends UploadBegin for the open round (the caller checks UploadReady).
  std::unique_ptr<TestUpload> BeginUpload(const std::string& p, std::vector<float> values) {
    auto u = std::make_unique<TestUpload>();
    u->participant = p;
    auto offers = outbox_.To<protocol::RoundOffer>(p);
    EXPECT_FALSE(offers.empty());
    if (offers.empty()) return nullptr;
    u->offer = offers.back();
    u->welcome = outbox_.To<protocol::Welcome>(p).back();
    auto layout = protocol::ChunkLayout::Make(values.size() * 4, u->offer.upload_chunk_bytes);
    EXPECT_TRUE(layout);
    if (!layout) return nullptr;
    u->layout = *layout;
    u->values = std::move(values);
    crypto::HpkeSetupOptions ho;
    Bytes info = protocol::UploadInfo(fed_.id, u->offer.round, p, config_hash_);
    ho.info = info;
    auto setup = crypto::HpkeSetupSender(keys_->hpke.public_key(), ho);
    EXPECT_TRUE(setup);
    if (!setup) return nullptr;
    u->enc = setup->enc;
    u->context = std::make_unique<crypto::HpkeContext>(std::move(setup->context));
    u->tags.resize(u->layout.chunks);
    protocol::UploadBegin begin;
    begin.round = u->offer.round;
    begin.enc = u->enc;
    begin.chunks = u->layout.chunks;
    begin.total_bytes = u->layout.total_bytes;
    engine_->OnMessage(p, begin);
    return u;
  }

  // Chunk i of `values` (the upload's own by default), sealed as the participant would seal it.
  Bytes SealChunk(TestUpload& u, std::uint32_t i, const std::vector<float>* values = nullptr) {
    const std::vector<float>& v = values ? *values : u.values;
    const std::size_t n = u.layout.size(i);
    Bytes sealed(n + crypto::kAeadTagBytes);
    std::memcpy(sealed.data(), reinterpret_cast<const std::uint8_t*>(v.data()) + u.layout.offset(i), n);
    auto aad = protocol::UploadChunkAad(u.offer.round, i, i + 1 == u.layout.chunks);
    EXPECT_TRUE(u.context->SealAt(i, aad, ByteSpan(sealed.data(), n), MutableByteSpan(sealed)));
    return sealed;
  }

  // Delivers `payload` on the data plane as chunk i of u's session (anyone who saw a frame can).
  void DeliverChunk(TestUpload& u, std::uint32_t i, ByteSpan payload, std::optional<bool> last = std::nullopt) {
    protocol::ChunkHeader h;
    h.session = u.welcome.session;
    h.kind = protocol::ChunkKind::kUpdateChunk;
    h.round = u.offer.round;
    h.index = i;
    h.last = last.value_or(i + 1 == u.layout.chunks);
    engine_->OnUpdateChunk(u.participant, h, payload);
  }

  // The participant's own chunk i, sealed and sent; its tag goes into the commit digest.
  Bytes SendChunk(TestUpload& u, std::uint32_t i) {
    Bytes sealed = SealChunk(u, i);
    std::memcpy(u.tags[i].data(), sealed.data() + u.layout.size(i), 16);
    DeliverChunk(u, i, sealed);
    return sealed;
  }

  void SendCommit(TestUpload& u, std::uint64_t examples, std::vector<protocol::Metric> metrics = {},
                  bool within_clip = false) {
    protocol::Commit c;
    c.within_clip = within_clip;
    c.round = u.offer.round;
    c.enc = u.enc;
    c.chunks = u.layout.chunks;
    c.digest = crypto::Sha256(ByteSpan(reinterpret_cast<const std::uint8_t*>(u.tags.data()), u.tags.size() * 16));
    c.num_examples = examples;
    c.metrics = std::move(metrics);
    engine_->OnMessage(u.participant, c);
  }

  // Uploads `values` for the open round as participant p and commits it.
  void Contribute(const std::string& p, std::vector<float> values, std::uint64_t examples,
                  std::vector<protocol::Metric> metrics = {}, bool within_clip = false) {
    const std::size_t ready_before = outbox_.To<protocol::UploadReady>(p).size();
    auto u = BeginUpload(p, std::move(values));
    ASSERT_TRUE(u);
    ASSERT_EQ(outbox_.To<protocol::UploadReady>(p).size(), ready_before + 1);
    for (std::uint32_t i = 0; i < u->layout.chunks; ++i) SendChunk(*u, i);
    SendCommit(*u, examples, std::move(metrics), within_clip);
  }

  std::vector<protocol::RoundResult> Results(const std::string& p) const {
    return outbox_.To<protocol::RoundResult>(p);
  }

  // A restart: the checkpoint opens, results.jsonl's last line parses, and a new engine starts
  // from the restored state (strategy state included).
  void ExpectRestartWorks() {
    auto store = OpenStore();
    auto restored = store->LoadCheckpoint();
    ASSERT_TRUE(restored) << restored.error().ToString();
    ASSERT_TRUE(restored->has_value());
    auto missing = store->HeadMissingFromResults(**restored);
    ASSERT_TRUE(missing) << missing.error().ToString();
    EXPECT_FALSE(*missing);
    auto e = Restart(*store, std::move(**restored));
    ASSERT_TRUE(e) << e.error().ToString();
  }

  // A new engine from a restored state, as the aggregator's start does.
  Result<std::unique_ptr<RoundEngine>> Restart(StateStore& store, EngineState state) {
    EngineOptions o;
    o.federation = fed_;
    o.config_hash = config_hash_;
    return RoundEngine::Create(std::move(o), *keys_, clock_, restart_outbox_, store, std::move(state));
  }
  RecordingOutbox restart_outbox_;

  std::filesystem::path dir_;
  protocol::FederationConfig fed_;
  protocol::ServerConfig server_;
  double upload_idle_timeout_s_ = 30;
  crypto::Sha256Digest config_hash_{};
  std::unique_ptr<EnclaveKeys> keys_;
  crypto::SecretBytes sealing_key_;
  FakeClock clock_;
  RecordingOutbox outbox_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<RoundEngine> engine_;
};

// Item 1: a participant-chosen metric name was a JSON key, dumped strictly (type_error.316 on
// invalid UTF-8: abort); a metric named "participant" overwrote the aggregator's field.
TEST_F(RoundEngineTest, EvaluationMetricsCannotCrashOrOverwriteTheRecord) {
  Start();
  Join("p0");
  engine_->OnMessage("p0", protocol::EvalReport{0, 0,
                                                {{"acc\xff", 1.0},
                                                 {"participant", 5.0},
                                                 {"model_version", 7.0},
                                                 {"accuracy", 0.75}}});
  auto lines = Lines(dir_ / "evaluations.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["participant"], "p0");
  EXPECT_EQ(j["model_version"], 0);
  EXPECT_EQ(j["metrics"]["accuracy"], 0.75);
  EXPECT_EQ(j["metrics"]["participant"], 5.0);
  // The engine keeps serving.
  engine_->OnMessage("p0", protocol::Ping{});
  EXPECT_FALSE(engine_->done());
}

// evaluations.jsonl's "metrics" object is what `cairn-aggregator report` (and plot-run.sh through
// it) reads; lines in the earlier flat form still count.
TEST_F(RoundEngineTest, ReportReadsTheMetricsObjectAndTheFlatForm) {
  Start();
  Join("p0");
  Contribute("p0", std::vector<float>(kParams, 0.01f), 10, {{"train_loss", 0.5}});
  ASSERT_EQ(engine_->model_version(), 1u);
  engine_->OnMessage("p0", protocol::EvalReport{1, 1, {{"accuracy", 0.8}, {"loss", 0.4}, {"examples", 30}}});
  {
    std::ofstream legacy(dir_ / "evaluations.jsonl", std::ios::app);
    legacy << R"({"participant":"p1","model_version":1,"round":1,"accuracy":0.4,"loss":0.8,"examples":10})" << "\n";
  }
  auto rows = ReadRunTable(dir_);
  ASSERT_TRUE(rows) << rows.error().ToString();
  ASSERT_FALSE(rows->empty());
  ASSERT_TRUE((*rows)[0].eval_accuracy);
  EXPECT_DOUBLE_EQ(*(*rows)[0].eval_accuracy, (0.8 * 30 + 0.4 * 10) / 40);
  ASSERT_TRUE((*rows)[0].train_loss);
  EXPECT_DOUBLE_EQ(*(*rows)[0].train_loss, 0.5);
}

// Item 1: at most one evaluation report per (participant, model version); each costs an fsync.
TEST_F(RoundEngineTest, OneEvaluationReportPerModelVersion) {
  Start();
  Join("p0");
  for (int i = 0; i < 5; ++i) engine_->OnMessage("p0", protocol::EvalReport{0, 0, {{"accuracy", 0.5}}});
  EXPECT_EQ(Lines(dir_ / "evaluations.jsonl").size(), 1u);
  EXPECT_EQ(engine_->counters().rejections.at("duplicate"), 4u);
  auto rejected = outbox_.To<protocol::Rejected>("p0");
  ASSERT_EQ(rejected.size(), 4u);
  EXPECT_EQ(rejected[0].code, protocol::RejectCode::kDuplicate);
  EXPECT_NE(rejected[0].detail.find("already reported model version 0"), std::string::npos) << rejected[0].detail;
  // The next version is accepted once.
  Contribute("p0", std::vector<float>(kParams, 0.01f), 10);
  ASSERT_EQ(engine_->model_version(), 1u);
  engine_->OnMessage("p0", protocol::EvalReport{1, 1, {{"accuracy", 0.6}}});
  engine_->OnMessage("p0", protocol::EvalReport{0, 0, {{"accuracy", 0.6}}});
  EXPECT_EQ(Lines(dir_ / "evaluations.jsonl").size(), 2u);
}

// Item 2: train_loss 1e300 × 2^40 examples overflowed; the signed result carried inf, written as
// null, and no restart could read results.jsonl again.
TEST_F(RoundEngineTest, HugeTrainLossIsLeftOutAndTheRunRestarts) {
  Start();
  Join("p0");
  Contribute("p0", std::vector<float>(kParams, 0.01f), 1ull << 40, {{"train_loss", 1e300}});
  auto results = Results("p0");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, protocol::RoundStatus::kCompleted);
  for (const auto& m : results[0].metrics) {
    EXPECT_TRUE(std::isfinite(m.value)) << m.name;
    EXPECT_NE(m.name, "train_loss");
  }
  EXPECT_EQ(engine_->counters().metrics_dropped, 1u);
  auto lines = Lines(dir_ / "results.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find("null"), std::string::npos) << lines[0];
  ExpectRestartWorks();
}

// A stop signs its last result as final; participants refuse anything after a final result, so
// a restart from that checkpoint must not resume the rounds (it says why and what to do).
TEST_F(RoundEngineTest, AFederationStoppedWithAFinalResultIsNotResumed) {
  Start();
  Join("p0");
  engine_->RequestStop();  // the open round finishes, no new one starts
  Contribute("p0", std::vector<float>(kParams, 0.01f), 10);
  auto results = Results("p0");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].final);
  auto store = OpenStore();
  auto restored = store->LoadCheckpoint();
  ASSERT_TRUE(restored && restored->has_value());
  auto e = Restart(*store, std::move(**restored));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(e.error().message().find("the federation ended at round 1: its last result is signed as final"),
            std::string::npos) << e.error().message();
}

TEST_F(RoundEngineTest, BoundedTrainLossIsAveraged) {
  Start();
  Join("p0");
  Contribute("p0", std::vector<float>(kParams, 0.01f), 1ull << 40, {{"train_loss", 2.5}, {"train_loss", 1e300}});
  auto results = Results("p0");
  ASSERT_EQ(results.size(), 1u);
  ASSERT_FALSE(results[0].metrics.empty());
  EXPECT_EQ(results[0].metrics[0].name, "train_loss");
  EXPECT_DOUBLE_EQ(results[0].metrics[0].value, 2.5);
  EXPECT_EQ(engine_->counters().metrics_dropped, 0u);  // only the first train_loss counts
}

// Item 4: with max_update_norm = 0 and no DP, an update of 1e21 made Adam's v = +inf (float32);
// the checkpoint stored it and every restart refused it.
TEST_F(RoundEngineTest, OptimizerOverflowAbortsTheRoundAndNothingBadIsCheckpointed) {
  fed_.strategy.name = "fedadam";
  Start();
  Join("p0");
  Contribute("p0", std::vector<float>(kParams, 0.01f), 10);  // a normal round: state saved
  ASSERT_EQ(engine_->model_version(), 1u);
  const Bytes strategy_state = engine_->state().strategy_state;
  Contribute("p0", std::vector<float>(kParams, 1e21f), 10);
  auto results = Results("p0");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status, protocol::RoundStatus::kAborted);
  EXPECT_NE(results[1].detail.find("overflow"), std::string::npos) << results[1].detail;
  EXPECT_EQ(engine_->model_version(), 1u);
  EXPECT_EQ(engine_->state().strategy_state, strategy_state);
  EXPECT_FALSE(engine_->done());  // retried
  ExpectRestartWorks();
  // The next, sane round completes from the unchanged state.
  Contribute("p0", std::vector<float>(kParams, 0.01f), 10);
  EXPECT_EQ(engine_->model_version(), 2u);
}

// With DP, an abort on overflow happens after the noise: the signed abort (and where it would
// overflow) is a function of the noised sum, so the round is charged, and the checkpoint that
// records the abort carries the charge (a restart must not sign a lower ε than the abort did).
TEST_F(RoundEngineTest, ADpRoundAbortedAfterTheNoiseIsCharged) {
  fed_.strategy.params["eta"] = 1e37;  // η·Δ on a model value near FLT_MAX overflows
  fed_.privacy.enabled = true;
  fed_.privacy.noise_multiplier = 0.01;
  fed_.privacy.clip_norm = 1.0;
  fed_.privacy.epsilon_budget = 1e6;
  fed_.privacy.sampling_rate = 1.0;
  Start({3.4e38f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f});
  Join("p0");
  std::vector<float> update(kParams, 0.0f);
  update[0] = 1.0f;
  Contribute("p0", update, 10);
  auto results = Results("p0");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, protocol::RoundStatus::kAborted);
  EXPECT_NE(results[0].detail.find("overflow"), std::string::npos) << results[0].detail;
  EXPECT_GT(results[0].epsilon_spent, 0.0);
  EXPECT_EQ(engine_->model_version(), 0u);
  // The checkpoint holds the same spending as the signed abort.
  auto store = OpenStore();
  auto restored = store->LoadCheckpoint();
  ASSERT_TRUE(restored) << restored.error().ToString();
  ASSERT_TRUE(restored->has_value());
  auto privacy = PrivacyEngine::Create(fed_, (*restored)->privacy_state);
  ASSERT_TRUE(privacy) << privacy.error().ToString();
  EXPECT_DOUBLE_EQ((*privacy)->epsilon_spent(), results[0].epsilon_spent);
  ExpectRestartWorks();
}

TEST(StrategyOverflow, ApplyLeavesModelAndStateUnchangedWhenItWouldOverflow) {
  const std::size_t p = 4;
  for (const char* name : {"fedadam", "fedyogi", "fedadagrad", "fedavgm", "fedavg"}) {
    auto s = strategy::MakeStrategy(name, {}, p);
    ASSERT_TRUE(s) << name;
    std::vector<float> global(p, 1.0f);
    global[3] = 3e38f;  // η·Δ added to it overflows float32 even without state
    const Bytes before = (*s)->SaveState();
    const std::vector<float> model = global;
    std::vector<double> mean(p, 1e21);
    mean[3] = 3e38;
    auto st = (*s)->ApplyMean(global, mean);
    ASSERT_FALSE(st) << name;
    EXPECT_EQ(st.error().code(), ErrorCode::kOutOfRange) << name;
    EXPECT_EQ(global, model) << name;
    EXPECT_EQ((*s)->SaveState(), before) << name;
    EXPECT_EQ((*s)->rounds_applied(), 0u) << name;
  }
  for (const char* name : {"median", "trimmed-mean"}) {
    auto s = strategy::MakeStrategy(name, {}, p);
    ASSERT_TRUE(s) << name;
    std::vector<float> global(p, 3e38f);
    const std::vector<float> model = global;
    const Bytes before = (*s)->SaveState();
    std::vector<std::vector<float>> held(5, std::vector<float>(p, 3e38f));
    std::vector<std::span<const float>> deltas(held.begin(), held.end());
    std::vector<double> weights(5, 1.0);
    auto st = (*s)->ApplyRobust(global, deltas, weights);
    ASSERT_FALSE(st) << name;
    EXPECT_EQ(st.error().code(), ErrorCode::kOutOfRange) << name;
    EXPECT_EQ(global, model) << name;
    EXPECT_EQ((*s)->SaveState(), before) << name;
    // A sane round still applies.
    std::vector<std::vector<float>> small(5, std::vector<float>(p, -1e38f));
    std::vector<std::span<const float>> ok(small.begin(), small.end());
    EXPECT_TRUE((*s)->ApplyRobust(global, ok, weights)) << name;
  }
}

// CatchUpRequest pages: the results after the round asked for, within the page size, with the
// head; each page reads results.jsonl, so a member gets a burst of 16 and then one per 250 ms.
TEST_F(RoundEngineTest, CatchUpPagesArePacedPerMember) {
  fed_.rounds = 10;
  Start();
  engine_->SetCatchUpPageForTesting(2);
  Join("p0");
  for (int r = 0; r < 5; ++r) Contribute("p0", std::vector<float>(kParams, 0.01f), 10);
  ASSERT_EQ(engine_->model_version(), 5u);
  engine_->OnMessage("p0", protocol::CatchUpRequest{1});
  auto pages = outbox_.To<protocol::CatchUp>("p0");
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_EQ(pages[0].head_round, 5u);
  EXPECT_EQ(pages[0].head_hash.size(), 32u);
  EXPECT_EQ(pages[0].head_hash, engine_->state().head_hash);
  ASSERT_EQ(pages[0].results.size(), 2u);
  EXPECT_EQ(pages[0].results[0].round, 2u);
  EXPECT_EQ(pages[0].results[1].round, 3u);
  // The stored results, as signed and sent at the time.
  EXPECT_EQ(protocol::ResultHash(pages[0].results[0]), protocol::ResultHash(Results("p0")[1]));
  EXPECT_EQ(protocol::ResultHash(pages[0].results[1]), protocol::ResultHash(Results("p0")[2]));
  engine_->OnMessage("p0", protocol::CatchUpRequest{5});  // at the head: nothing more
  pages = outbox_.To<protocol::CatchUp>("p0");
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_TRUE(pages[1].results.empty());
  // 14 more fill the burst of 16; the 17th is refused with the wait.
  for (int i = 0; i < 14; ++i) engine_->OnMessage("p0", protocol::CatchUpRequest{3});
  EXPECT_EQ(outbox_.To<protocol::CatchUp>("p0").size(), 16u);
  engine_->OnMessage("p0", protocol::CatchUpRequest{3});
  EXPECT_EQ(outbox_.To<protocol::CatchUp>("p0").size(), 16u);
  auto rejected = outbox_.To<protocol::Rejected>("p0");
  ASSERT_FALSE(rejected.empty());
  EXPECT_EQ(rejected.back().code, protocol::RejectCode::kBusy);
  EXPECT_NE(rejected.back().detail.find("retry in 250 ms"), std::string::npos) << rejected.back().detail;
  // Coming back (a new Hello) does not refill it, and a Hello that needs a page of its own takes
  // it from the same allowance: refused as busy, before anything changes.
  Join("p0");
  engine_->OnMessage("p0", protocol::CatchUpRequest{3});
  EXPECT_EQ(outbox_.To<protocol::CatchUp>("p0").size(), 16u);
  EXPECT_EQ(outbox_.To<protocol::Rejected>("p0").back().code, protocol::RejectCode::kBusy);
  const std::size_t welcomes = outbox_.To<protocol::Welcome>("p0").size();
  protocol::Hello behind;
  behind.config_hash = config_hash_;
  behind.last_round = 1;
  behind.last_result_hash = Bytes(32, 0);
  engine_->OnHello("p0", behind);
  EXPECT_EQ(outbox_.To<protocol::Welcome>("p0").size(), welcomes);
  EXPECT_EQ(outbox_.To<protocol::Rejected>("p0").back().code, protocol::RejectCode::kBusy);
  EXPECT_EQ(engine_->counters().catch_up_pages, 16u);
  // Another member has its own allowance, and time refills this one's.
  Join("p1");
  engine_->OnMessage("p1", protocol::CatchUpRequest{3});
  EXPECT_EQ(outbox_.To<protocol::CatchUp>("p1").size(), 1u);
  clock_.Advance(std::chrono::milliseconds(250));
  engine_->OnHello("p0", behind);  // one page refilled: the Hello gets it
  ASSERT_EQ(outbox_.To<protocol::Welcome>("p0").size(), welcomes + 1);
  EXPECT_EQ(outbox_.To<protocol::Welcome>("p0").back().catch_up.size(), 2u);
  clock_.Advance(std::chrono::milliseconds(250));
  engine_->OnMessage("p0", protocol::CatchUpRequest{3});
  pages = outbox_.To<protocol::CatchUp>("p0");
  ASSERT_EQ(pages.size(), 17u);
  ASSERT_EQ(pages.back().results.size(), 2u);
  EXPECT_EQ(pages.back().results[0].round, 4u);
  EXPECT_FALSE(engine_->done());
}

// Item 3: a decline reason (and a partial's query name) are the party's bytes; logged in the
// text format they threw out of a strict dump.
TEST(AnalyticsJobText, DeclineReasonAndQueryNameNeverCrash) {
  analytics::QuerySpec q;
  q.name = "q1";
  AnalyticsJob job(7, {q}, {"p0", "p1"});
  EXPECT_FALSE(job.OnMessage("p0", protocol::AnalyticsDecline{7, "q1", "policy \xff rule"}).has_value());
  analytics::Partial partial;
  partial.query = "q\xfe\xff";
  partial.groups.resize(1);
  auto bytes = analytics::EncodePartial(partial);
  ASSERT_TRUE(bytes) << bytes.error().ToString();
  auto rejected = job.OnMessage("p1", protocol::AnalyticsPartial{7, *bytes});
  ASSERT_TRUE(rejected.has_value());
  EXPECT_NE(rejected->detail.find("a query with a malformed name"), std::string::npos) << rejected->detail;
  EXPECT_EQ(rejected->detail.find("\xfe"), std::string::npos);
}

// Item 5: after cohort_wait with too few feature statistics NextWakeup returned a time in the
// past (the server loop spun); each report's moments are now checked.
TEST_F(RoundEngineTest, FeatureStatisticsWaitDoesNotSpinAndReportsAreChecked) {
  fed_.standardization = "federated";
  fed_.min_participants = 2;
  fed_.cohort_wait_s = 1;
  Start();
  Join("p0");
  Join("p1");
  clock_.Advance(std::chrono::seconds(5));
  engine_->Tick();
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kWaitingForCohort);
  EXPECT_GT(engine_->NextWakeup(), clock_.Now());

  auto stats = [](std::uint64_t count, std::vector<double> sum, std::vector<double> sq) {
    protocol::FeatureStats s;
    s.count = count;
    s.sum = std::move(sum);
    s.sum_squares = std::move(sq);
    return s;
  };
  // sum² > count·sum_squares (impossible moments), |mean| beyond 1e12, non-finite, empty.
  engine_->OnMessage("p0", stats(10, {100, 1}, {1, 1}));
  engine_->OnMessage("p0", stats(1, {1e15, 1}, {1e30, 1}));
  engine_->OnMessage("p0", stats(10, {std::numeric_limits<double>::infinity(), 1}, {1, 1}));
  engine_->OnMessage("p0", stats(0, {0, 0}, {0, 0}));
  EXPECT_EQ(outbox_.To<protocol::Rejected>("p0").size(), 4u);
  EXPECT_TRUE(engine_->state().feature_mean.empty());
  EXPECT_GT(engine_->NextWakeup(), clock_.Now());

  engine_->OnMessage("p0", stats(10, {10, 20}, {20, 50}));
  EXPECT_GT(engine_->NextWakeup(), clock_.Now());
  engine_->OnMessage("p1", stats(30, {30, 60}, {60, 150}));
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kCollecting);
  ASSERT_EQ(engine_->state().feature_mean.size(), 2u);
  EXPECT_DOUBLE_EQ(engine_->state().feature_mean[0], 1.0);
  EXPECT_DOUBLE_EQ(engine_->state().feature_mean[1], 2.0);
  for (double v : engine_->state().feature_std) EXPECT_TRUE(std::isfinite(v));
}


// Review fix 1: two parties that begin uploads and go silent held both staging slots until the
// deadline, and the party waiting behind them got its UploadReady only when the round closed.
TEST_F(RoundEngineTest, IdleUploadersLoseTheirSlotsToWaitingParticipants) {
  fed_.roster = {{"p0", protocol::Key32{}}, {"p1", protocol::Key32{1}}, {"p2", protocol::Key32{2}},
                 {"p3", protocol::Key32{3}}};
  fed_.min_participants = 2;
  fed_.cohort_wait_s = 60;  // the whole roster joins first
  fed_.round_timeout_s = 300;
  fed_.chunk_bytes = 8;  // 3 chunks
  server_.max_concurrent_uploads = 2;
  Start();
  for (const char* p : {"p0", "p1", "p2", "p3"}) Join(p);
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kCollecting);
  const auto round_deadline = clock_.Now() + std::chrono::seconds(300);
  auto dead0 = BeginUpload("p0", std::vector<float>(kParams, 0.5f));
  auto dead1 = BeginUpload("p1", std::vector<float>(kParams, 0.5f));
  ASSERT_TRUE(dead0 && dead1);
  ASSERT_EQ(outbox_.To<protocol::UploadReady>("p0").size(), 1u);
  ASSERT_EQ(outbox_.To<protocol::UploadReady>("p1").size(), 1u);
  clock_.Advance(std::chrono::seconds(10));
  engine_->Tick();
  SendChunk(*dead0, 0);  // progress: p0's timeout runs from here, 10 s after p1's
  auto u2 = BeginUpload("p2", std::vector<float>(kParams, 0.01f));
  auto u3 = BeginUpload("p3", std::vector<float>(kParams, 0.03f));
  ASSERT_TRUE(u2 && u3);
  EXPECT_TRUE(outbox_.To<protocol::UploadReady>("p2").empty());
  EXPECT_TRUE(outbox_.To<protocol::UploadReady>("p3").empty());
  // The engine wakes for the idle timeout (driven by NextWakeup/Tick, no sleeps).
  EXPECT_EQ(engine_->NextWakeup(), clock_.Now() + std::chrono::seconds(20));
  EXPECT_LT(engine_->NextWakeup(), round_deadline);

  clock_.Advance(std::chrono::seconds(20));
  engine_->Tick();
  auto rejected = outbox_.To<protocol::Rejected>("p1");
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_NE(rejected[0].detail.find("upload_idle_timeout_s"), std::string::npos) << rejected[0].detail;
  EXPECT_NE(rejected[0].detail.find("30 s"), std::string::npos) << rejected[0].detail;
  EXPECT_TRUE(outbox_.To<protocol::Rejected>("p0").empty());  // it sent a chunk at the start: not idle yet
  EXPECT_EQ(outbox_.To<protocol::UploadReady>("p2").size(), 1u);
  EXPECT_TRUE(outbox_.To<protocol::UploadReady>("p3").empty());
  for (std::uint32_t i = 0; i < u2->layout.chunks; ++i) SendChunk(*u2, i);
  SendCommit(*u2, 10);
  EXPECT_EQ(outbox_.To<protocol::CommitAck>("p2").size(), 1u);
  EXPECT_EQ(outbox_.To<protocol::UploadReady>("p3").size(), 1u);  // p2's slot, freed by its commit

  for (std::uint32_t i = 0; i < u3->layout.chunks; ++i) SendChunk(*u3, i);
  SendCommit(*u3, 10);
  EXPECT_EQ(outbox_.To<protocol::CommitAck>("p3").size(), 1u);
  // p0 still holds a slot; its timeout is its last progress plus 30 s.
  EXPECT_EQ(engine_->NextWakeup(), clock_.Now() + std::chrono::seconds(10));
  clock_.Advance(std::chrono::seconds(10));
  engine_->Tick();
  EXPECT_EQ(outbox_.To<protocol::Rejected>("p0").size(), 1u);
  clock_.Advance(std::chrono::seconds(300));
  engine_->Tick();
  auto results = Results("p2");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, protocol::RoundStatus::kCompleted);
  EXPECT_EQ(results[0].contributors, (std::vector<std::string>{"p2", "p3"}));
}

// Review fix 1: the deadline released the uploads in flight and granted their slots to the
// uploads waiting behind them: an UploadReady for a round that was closing.
// An upload whose chunks have all opened only waits for its commit: the idle timeout leaves it.
TEST_F(RoundEngineTest, ACompleteUploadWaitingForItsCommitIsNotIdle) {
  fed_.round_timeout_s = 300;
  Start();
  Join("p0");
  auto u = BeginUpload("p0", std::vector<float>(kParams, 0.01f));
  ASSERT_TRUE(u);
  for (std::uint32_t i = 0; i < u->layout.chunks; ++i) SendChunk(*u, i);
  clock_.Advance(std::chrono::seconds(120));  // four idle timeouts, the round deadline not reached
  engine_->Tick();
  EXPECT_TRUE(outbox_.To<protocol::Rejected>("p0").empty());
  SendCommit(*u, 10);
  auto results = Results("p0");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, protocol::RoundStatus::kCompleted);
}

TEST_F(RoundEngineTest, FinalizeGrantsNoSlots) {
  fed_.round_timeout_s = 20;
  fed_.cohort_wait_s = 60;  // both in the cohort
  server_.max_concurrent_uploads = 1;
  Start();
  Join("p0");
  Join("p1");
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kCollecting);
  auto u0 = BeginUpload("p0", std::vector<float>(kParams, 0.5f));
  auto u1 = BeginUpload("p1", std::vector<float>(kParams, 0.5f));
  ASSERT_TRUE(u0 && u1);
  ASSERT_EQ(outbox_.To<protocol::UploadReady>("p0").size(), 1u);
  ASSERT_TRUE(outbox_.To<protocol::UploadReady>("p1").empty());
  clock_.Advance(std::chrono::seconds(20));  // the deadline, before p0's idle timeout
  engine_->Tick();
  ASSERT_FALSE(Results("p1").empty());
  EXPECT_TRUE(outbox_.To<protocol::UploadReady>("p1").empty());
  EXPECT_EQ(Results("p1")[0].status, protocol::RoundStatus::kFailedQuorum);
}

// Review fix 2: the session id is in clear on the data plane; a replayed, truncated or forged
// chunk made the engine reject and drop the honest upload. Such chunks are dropped and counted;
// the upload completes, and an accepted chunk is never overwritten.
TEST_F(RoundEngineTest, ForgedAndReplayedChunksAreDroppedAndTheUploadCompletes) {
  fed_.chunk_bytes = 8;  // 6 floats: 3 chunks
  Start();
  Join("p0");
  Join("p1");  // keeps the round open after p0 commits
  const std::vector<float> values = {0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 0.06f};
  auto u = BeginUpload("p0", values);
  ASSERT_TRUE(u);
  ASSERT_EQ(u->layout.chunks, 3u);
  ASSERT_EQ(outbox_.To<protocol::UploadReady>("p0").size(), 1u);
  const auto dropped_before = engine_->counters().chunks_dropped;

  Bytes c0 = SendChunk(*u, 0);
  DeliverChunk(*u, 0, c0);  // replayed verbatim
  // An authentic-looking chunk 0 with other values (even one that authenticates) never
  // overwrites the accepted chunk.
  const std::vector<float> other(kParams, 9.0f);
  Bytes forged0 = SealChunk(*u, 0, &other);
  DeliverChunk(*u, 0, forged0);
  Bytes c1 = SealChunk(*u, 1);
  Bytes flipped = c1;
  flipped[0] ^= 1;
  DeliverChunk(*u, 1, flipped);                                  // does not authenticate
  DeliverChunk(*u, 1, ByteSpan(c1.data(), c1.size() - 1));       // truncated
  Bytes longer = c1;
  longer.push_back(0);
  DeliverChunk(*u, 1, longer);                                   // oversized
  DeliverChunk(*u, 1, c1, /*last=*/true);                        // wrong last flag
  DeliverChunk(*u, 7, c1);                                       // out of range
  EXPECT_EQ(engine_->counters().chunks_dropped - dropped_before, 7u);
  EXPECT_TRUE(outbox_.To<protocol::Rejected>("p0").empty());

  SendChunk(*u, 1);
  SendChunk(*u, 2);
  DeliverChunk(*u, 2, SealChunk(*u, 2));  // a duplicate of the last chunk
  EXPECT_EQ(engine_->counters().chunks_dropped - dropped_before, 8u);
  std::vector<float> seen;
  engine_->SetUpdateObserverForTesting([&](const std::string&, std::span<const float> d) { seen.assign(d.begin(), d.end()); });
  SendCommit(*u, 10);
  EXPECT_EQ(outbox_.To<protocol::CommitAck>("p0").size(), 1u);
  EXPECT_TRUE(outbox_.To<protocol::Rejected>("p0").empty());
  EXPECT_EQ(seen, values);
}

// Review fix 3: a failed round freed the robust rule's held updates and the streaming running
// sum (with one contributor: that party's update) without wiping them.
TEST_F(RoundEngineTest, FailedRoundsWipeHeldUpdatesAndTheRunningSum) {
  // The scanner works in this build: a freed vector holding the marker is seen.
  {
    cairn::freed_scan::hits = 0;
    auto* v = new std::vector<float>(16, cairn::freed_scan::kMarker);
    cairn::freed_scan::armed = true;
    delete v;
    cairn::freed_scan::armed = false;
    ASSERT_EQ(cairn::freed_scan::hits.load(), 1) << "sized operator delete is not used: the scan cannot see freed vectors";
  }
  for (const char* strategy : {"fedavg", "median"}) {
    SCOPED_TRACE(strategy);
    TearDown();
    outbox_.sent.clear();
    fed_.strategy.name = strategy;
    fed_.min_participants = 2;
    fed_.max_round_retries = 3;
    Start();
    Join("p0");
    Join("p1");
    ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kCollecting);
    Contribute("p0", std::vector<float>(kParams, cairn::freed_scan::kMarker), 1);
    ASSERT_EQ(outbox_.To<protocol::CommitAck>("p0").size(), 1u);
    clock_.Advance(std::chrono::seconds(31));  // p1 never uploads: failed quorum at the deadline
    cairn::freed_scan::hits = 0;
    cairn::freed_scan::armed = true;
    engine_->Tick();
    cairn::freed_scan::armed = false;
    auto results = Results("p0");
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].status, protocol::RoundStatus::kFailedQuorum);
    EXPECT_EQ(cairn::freed_scan::hits.load(), 0);
  }
}

}  // namespace
}  // namespace cairn::aggregator

namespace cairn::aggregator {
namespace {

// privacy.hide_cohort: every connected member is in the cohort; the Poisson sample is secret and
// only decides whose update counts.
TEST(HiddenCohort, EveryConnectedMemberIsInvitedAndTheSampleStaysInside) {
  protocol::FederationConfig fed;
  fed.privacy.enabled = true;
  fed.privacy.noise_multiplier = 1.0;
  fed.privacy.epsilon_budget = 1e6;
  fed.privacy.sampling_rate = 0.3;
  fed.privacy.hide_cohort = true;
  std::vector<std::string> roster;
  for (int i = 0; i < 10; ++i) {
    roster.push_back("p" + std::to_string(i));
    fed.roster.push_back({roster.back(), protocol::Key32{static_cast<std::uint8_t>(i)}});
  }
  auto engine = PrivacyEngine::Create(fed, {});
  ASSERT_TRUE(engine) << engine.error().ToString();
  ASSERT_TRUE((*engine)->hides_cohort());
  const std::set<std::string> connected = {"p0", "p2", "p3", "p5", "p6", "p7", "p9"};
  double sampled = 0;
  constexpr int kRounds = 400;
  for (int r = 0; r < kRounds; ++r) {
    auto cohort = (*engine)->SelectCohort(roster, connected);
    ASSERT_TRUE(cohort);
    EXPECT_EQ(std::set<std::string>(cohort->begin(), cohort->end()), connected);
    for (const auto& p : *cohort) {
      const double w = (*engine)->SampleWeight(p);
      ASSERT_TRUE(w == 0.0 || w == 1.0) << w;
      sampled += w;
    }
    EXPECT_EQ((*engine)->SampleWeight("p1"), 0.0);  // not connected: never counts
    EXPECT_EQ((*engine)->SampleWeight("stranger"), 0.0);
  }
  // Rate q among the connected: 2800 draws, standard deviation ~0.009.
  EXPECT_NEAR(sampled / (kRounds * connected.size()), 0.3, 0.05);

  // A config that did not come through the loader still cannot pair it with masking or fixed
  // sampling.
  fed.masking.enabled = true;
  auto masked = PrivacyEngine::Create(fed, {});
  ASSERT_FALSE(masked);
  EXPECT_NE(masked.error().message().find("hide_cohort needs"), std::string::npos) << masked.error().message();
  fed.masking.enabled = false;
  fed.privacy.sampling = "fixed";
  fed.privacy.participants_per_round = 3;
  EXPECT_FALSE(PrivacyEngine::Create(fed, {}));
  fed.privacy.sampling = "poisson";

  // Without hide_cohort the cohort is the sample itself and every commit counts.
  fed.privacy.hide_cohort = false;
  auto plain = PrivacyEngine::Create(fed, {});
  ASSERT_TRUE(plain);
  EXPECT_FALSE((*plain)->hides_cohort());
  std::size_t invited = 0;
  for (int r = 0; r < 100; ++r) {
    auto cohort = (*plain)->SelectCohort(roster, connected);
    ASSERT_TRUE(cohort);
    invited += cohort->size();
    for (const auto& p : *cohort) EXPECT_EQ((*plain)->SampleWeight(p), 1.0);
  }
  EXPECT_LT(invited, 100 * connected.size() / 2);
}

// The engine folds only the sampled updates into the model, while the signed result names every
// member that uploaded: each member's update is one coordinate, and the noise is small enough to
// read the secret sample off the model.
TEST_F(RoundEngineTest, AHiddenCohortCountsOnlyTheSampledUpdatesAndNamesEveryUploader) {
  fed_.roster.clear();
  for (int i = 0; i < 6; ++i) {
    fed_.roster.push_back({"p" + std::to_string(i), protocol::Key32{static_cast<std::uint8_t>(i + 1)}});
  }
  fed_.privacy.enabled = true;
  fed_.privacy.noise_multiplier = 0.01;  // noise stddev 0.01 / 3 on the mean: far below 1/3
  fed_.privacy.clip_norm = 1.0;
  fed_.privacy.epsilon_budget = 1e6;
  fed_.privacy.sampling_rate = 0.5;
  fed_.privacy.hide_cohort = true;
  fed_.rounds = 4;
  fed_.min_participants = 6;  // the first round waits for everyone
  Start();
  for (int i = 0; i < 6; ++i) Join("p" + std::to_string(i));
  int counted = 0;
  // The engine parks the model while a round is open; each checkpoint exports it to global.f32.
  std::vector<float> before = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  for (std::uint64_t round = 0; round < 4; ++round) {
    for (int i = 0; i < 6; ++i) {
      const std::string p = "p" + std::to_string(i);
      ASSERT_EQ(outbox_.To<protocol::RoundOffer>(p).size(), round + 1) << p;  // everyone is invited
      std::vector<float> update(kParams, 0.0f);
      update[static_cast<std::size_t>(i)] = 1.0f;
      Contribute(p, update, 10);
    }
    ASSERT_EQ(engine_->model_version(), round + 1);
    auto after = model::ReadFlatParameters(dir_ / "global.f32", kParams);
    ASSERT_TRUE(after) << after.error().ToString();
    const auto result = Results("p0").back();
    EXPECT_EQ(result.status, protocol::RoundStatus::kCompleted);
    EXPECT_EQ(result.contributors.size(), 6u);  // every uploader, sampled or not
    // The fixed denominator q·n = 3: a sampled update moves its coordinate by ~1/3.
    for (std::size_t j = 0; j < kParams; ++j) {
      const double change = static_cast<double>((*after)[j]) - before[j];
      const bool in_sample = std::abs(change - 1.0 / 3) < 0.05;
      EXPECT_TRUE(in_sample || std::abs(change) < 0.05) << "round " << round << " coordinate " << j << ": " << change;
      counted += in_sample ? 1 : 0;
    }
    before = *after;
  }
  // 24 draws at q = 0.5: some in, some out (each bound fails with probability 2^-24).
  EXPECT_GT(counted, 0);
  EXPECT_LT(counted, 24);
  // Every commit was folded, sampled or not: the same work either way.
  EXPECT_EQ(engine_->counters().updates_folded, 24u);
}

// Adaptive clipping with a hidden cohort counts the clip bits of the sampled updates only (the
// ledger charges the sampled step, so counting everyone's bits would leak unamplified). Members
// p0, p2, p4 report "within the clip", p1, p3, p5 do not. Counting all six gives 3 of 6, half, so
// the clip would never move (target quantile 0.5). Counting the sample gives e of k (e sampled
// evens among k sampled), and the clip moves by exp(−(e − k/2)/(q·n)) with q·n = 3.
TEST_F(RoundEngineTest, AHiddenCohortsAdaptiveClipCountsOnlyTheSample) {
  fed_.roster.clear();
  for (int i = 0; i < 6; ++i) {
    fed_.roster.push_back({"p" + std::to_string(i), protocol::Key32{static_cast<std::uint8_t>(i + 1)}});
  }
  fed_.privacy.enabled = true;
  fed_.privacy.noise_multiplier = 0.01;
  fed_.privacy.clip_norm = 1.0;
  fed_.privacy.epsilon_budget = 1e6;
  fed_.privacy.sampling_rate = 0.5;
  fed_.privacy.hide_cohort = true;
  fed_.privacy.adaptive_clipping = true;
  fed_.privacy.clip_count_stddev = 0.01;  // count noise 0.01 / 3 on the fraction: far below the steps tested
  fed_.privacy.clip_learning_rate = 1.0;
  fed_.privacy.target_quantile = 0.5;
  fed_.rounds = 8;
  fed_.min_participants = 6;
  Start();
  for (int i = 0; i < 6; ++i) Join("p" + std::to_string(i));
  std::vector<float> before = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  double clip = 1.0;
  int moved = 0;
  for (std::uint64_t round = 0; round < 7; ++round) {
    for (int i = 0; i < 6; ++i) {
      std::vector<float> update(kParams, 0.0f);
      update[static_cast<std::size_t>(i)] = 1.0f;
      Contribute("p" + std::to_string(i), update, 10, {}, /*within_clip=*/i % 2 == 0);
    }
    auto after = model::ReadFlatParameters(dir_ / "global.f32", kParams);
    ASSERT_TRUE(after) << after.error().ToString();
    // A sampled update (norm 1, clipped to the round's clip) moves its coordinate by about
    // min(clip, 1) / 3.
    int evens = 0, sampled = 0;
    for (std::size_t j = 0; j < kParams; ++j) {
      const bool in = static_cast<double>((*after)[j]) - before[j] > std::min(clip, 1.0) / 6;
      sampled += in ? 1 : 0;
      evens += in && j % 2 == 0 ? 1 : 0;
    }
    before = *after;
    const double expected = clip * std::exp(-(evens - sampled / 2.0) / 3.0);
    const double next = outbox_.To<protocol::RoundOffer>("p0").back().task.clip_norm;
    // The count noise (0.01 / 3 on the fraction) moves the clip by 0.33 % (one standard
    // deviation); counting everyone instead would be off by 15 % or more whenever 2e ≠ k.
    EXPECT_NEAR(next, expected, 0.03 * expected) << "round " << round << ": " << evens << " of " << sampled;
    moved += std::abs(next - clip) > 0.05 * clip ? 1 : 0;
    clip = next;
  }
  // Counting everyone would never move it; the sample does in most rounds (2e ≠ k: 69 % a round).
  EXPECT_GT(moved, 0);
}

}  // namespace
}  // namespace cairn::aggregator
