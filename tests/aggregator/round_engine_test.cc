// The round engine in-process (no sockets), for what an admitted participant can send (review
// items 1-5): it must reject what it cannot use, keep serving, and leave a state a restart loads.
#include "aggregator/round_engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "aggregator/analytics_job.h"
#include "aggregator/report.h"
#include "aggregator/state_store.h"
#include "aggregator/strategy/strategy.h"
#include "common/analytics/partial.h"
#include "common/core/file.h"
#include "common/model/model_spec.h"
#include "protocol/round_result.h"

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
    return RoundEngine::Create(std::move(o), *keys_, clock_, outbox_, *store_, std::move(state));
  }

  void Start() {
    store_ = OpenStore();
    EngineState state;
    state.model = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
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

  // Uploads `values` for the open round as participant p and commits it.
  void Contribute(const std::string& p, std::vector<float> values, std::uint64_t examples,
                  std::vector<protocol::Metric> metrics = {}) {
    auto offers = outbox_.To<protocol::RoundOffer>(p);
    ASSERT_FALSE(offers.empty());
    const protocol::RoundOffer offer = offers.back();
    const protocol::Welcome welcome = outbox_.To<protocol::Welcome>(p).back();
    auto layout = protocol::ChunkLayout::Make(values.size() * 4, offer.upload_chunk_bytes);
    ASSERT_TRUE(layout);
    crypto::HpkeSetupOptions ho;
    Bytes info = protocol::UploadInfo(fed_.id, offer.round, p, config_hash_);
    ho.info = info;
    auto setup = crypto::HpkeSetupSender(keys_->hpke.public_key(), ho);
    ASSERT_TRUE(setup);
    protocol::UploadBegin begin;
    begin.round = offer.round;
    begin.enc = setup->enc;
    begin.chunks = layout->chunks;
    begin.total_bytes = layout->total_bytes;
    const std::size_t ready_before = outbox_.To<protocol::UploadReady>(p).size();
    engine_->OnMessage(p, begin);
    ASSERT_EQ(outbox_.To<protocol::UploadReady>(p).size(), ready_before + 1);
    std::vector<std::array<std::uint8_t, 16>> tags(layout->chunks);
    for (std::uint32_t i = 0; i < layout->chunks; ++i) {
      const std::size_t n = layout->size(i);
      Bytes sealed(n + crypto::kAeadTagBytes);
      std::memcpy(sealed.data(), reinterpret_cast<const std::uint8_t*>(values.data()) + layout->offset(i), n);
      const bool last = i + 1 == layout->chunks;
      auto aad = protocol::UploadChunkAad(offer.round, i, last);
      ASSERT_TRUE(setup->context.SealAt(i, aad, ByteSpan(sealed.data(), n), MutableByteSpan(sealed)));
      std::memcpy(tags[i].data(), sealed.data() + n, 16);
      protocol::ChunkHeader h;
      h.session = welcome.session;
      h.kind = protocol::ChunkKind::kUpdateChunk;
      h.round = offer.round;
      h.index = i;
      h.last = last;
      engine_->OnUpdateChunk(p, h, sealed);
    }
    protocol::Commit c;
    c.round = offer.round;
    c.enc = setup->enc;
    c.chunks = layout->chunks;
    c.digest = crypto::Sha256(ByteSpan(reinterpret_cast<const std::uint8_t*>(tags.data()), tags.size() * 16));
    c.num_examples = examples;
    c.metrics = std::move(metrics);
    engine_->OnMessage(p, c);
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
    EngineOptions o;
    o.federation = fed_;
    o.config_hash = config_hash_;
    RecordingOutbox outbox;
    auto e = RoundEngine::Create(std::move(o), *keys_, clock_, outbox, *store, std::move(**restored));
    ASSERT_TRUE(e) << e.error().ToString();
  }

  std::filesystem::path dir_;
  protocol::FederationConfig fed_;
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

}  // namespace
}  // namespace cairn::aggregator
