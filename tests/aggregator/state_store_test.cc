#include "aggregator/state_store.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/core/file.h"
#include "protocol/round_result.h"

namespace cairn::aggregator {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    config_hash_[0] = 7;
    auto key = crypto::SecretBytes::Random(32);
    ASSERT_TRUE(key);
    model::ModelSpec spec{"logreg", {{"linear.weight", {2, 2}}, {"linear.bias", {2}}}};
    auto store = StateStore::Open(dir_, spec, std::move(*key), "fed", config_hash_);
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    signer_ = std::make_unique<crypto::Ed25519KeyPair>(*crypto::Ed25519KeyPair::Generate());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EngineState StateAt(std::uint64_t round, const Bytes& prev) {
    protocol::RoundResult r;
    r.federation_id = "fed";
    r.round = round;
    r.prev_hash = prev;
    protocol::SignResult(r, *signer_);
    auto h = protocol::ResultHash(r);
    EngineState s;
    s.next_round = round + 1;
    s.completed_rounds = round;
    s.model_version = round;
    s.model = {1, 2, 3, 4, 5, 6};
    s.head_round = round;
    s.head_hash.assign(h.begin(), h.end());
    s.head_result = protocol::ResultToJson(r);
    s.feature_mean = {0.5};
    s.feature_std = {2.0};
    return s;
  }
  int Lines() {
    std::istringstream in(*ReadFileText(dir_ / "results.jsonl"));
    std::string l;
    int n = 0;
    while (std::getline(in, l)) n += l.empty() ? 0 : 1;
    return n;
  }

  std::filesystem::path dir_;
  crypto::Sha256Digest config_hash_{};
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<crypto::Ed25519KeyPair> signer_;
};

TEST_F(StateStoreTest, CheckpointRoundTripsSealed) {
  EngineState s = StateAt(3, Bytes(32, 1));
  s.strategy_state = {9, 8};
  s.privacy_state = ToBytes("{\"x\":1}");
  ASSERT_TRUE(store_->SaveCheckpoint(s));
  auto back = store_->LoadCheckpoint();
  ASSERT_TRUE(back) << back.error().ToString();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->model, s.model);
  EXPECT_EQ((*back)->head_hash, s.head_hash);
  EXPECT_EQ((*back)->head_result, s.head_result);
  EXPECT_EQ((*back)->strategy_state, s.strategy_state);
  EXPECT_EQ((*back)->privacy_state, s.privacy_state);
  EXPECT_EQ((*back)->feature_std, s.feature_std);
  // The plaintext is not on disk.
  auto raw = ReadFileBytes(dir_ / "checkpoint.sealed");
  ASSERT_TRUE(raw);
  std::string text(raw->begin(), raw->end());
  EXPECT_EQ(text.find("CAIRNCK2"), std::string::npos);
}

TEST_F(StateStoreTest, DecodeRefusesOtherFederationConfigAndTruncation) {
  EngineState s = StateAt(1, {});
  Bytes b = EncodeEngineState(s, "fed", config_hash_);
  EXPECT_TRUE(DecodeEngineState(b, "fed", config_hash_));
  auto other = DecodeEngineState(b, "other", config_hash_);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), ErrorCode::kFailedPrecondition);
  crypto::Sha256Digest changed = config_hash_;
  changed[1] ^= 1;
  auto cfg = DecodeEngineState(b, "fed", changed);
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message().find("another federation configuration"), std::string::npos);
  for (std::size_t cut = 1; cut < b.size(); cut += 7) {
    auto t = DecodeEngineState(ByteSpan(b.data(), b.size() - cut), "fed", config_hash_);
    ASSERT_FALSE(t) << "cut " << cut;
    EXPECT_EQ(t.error().code(), ErrorCode::kDataLoss);
  }
  Bytes trailing = b;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeEngineState(trailing, "fed", config_hash_));
}

TEST_F(StateStoreTest, AnalyticsJobRoundTripsAndVersion1And2CheckpointsStillLoad) {
  EngineState s = StateAt(3, {});
  s.analytics_round = 1;
  s.analytics_json = R"([{"query":"q"}])";
  Bytes b = EncodeEngineState(s, "fed", config_hash_);
  auto back = DecodeEngineState(b, "fed", config_hash_);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->analytics_round, 1u);
  EXPECT_EQ(back->analytics_json, s.analytics_json);
  // Version 2 (before the answers were kept): other magic, no answers blob.
  const std::size_t answers = 8 + s.analytics_json.size();
  Bytes v2(b.begin(), b.end() - static_cast<std::ptrdiff_t>(answers));
  std::memcpy(v2.data(), "CAIRNCK2", 8);
  auto two = DecodeEngineState(v2, "fed", config_hash_);
  ASSERT_TRUE(two) << two.error().message();
  EXPECT_EQ(two->analytics_round, 1u);
  EXPECT_TRUE(two->analytics_json.empty());
  // Version 1 (written before analytics): no analytics round either.
  Bytes v1(b.begin(), b.end() - static_cast<std::ptrdiff_t>(answers + 8));
  std::memcpy(v1.data(), "CAIRNCK1", 8);
  auto one = DecodeEngineState(v1, "fed", config_hash_);
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(one->analytics_round, 0u);
  EXPECT_EQ(one->next_round, back->next_round);
  // A version-3 checkpoint cut before its answers is corrupt, not an old version.
  Bytes cut(b.begin(), b.end() - static_cast<std::ptrdiff_t>(answers));
  auto bad = DecodeEngineState(cut, "fed", config_hash_);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("analytics answers"), std::string::npos) << bad.error().message();
}

TEST_F(StateStoreTest, ARestartFindsAndAppendsAHeadResultTheLogMisses) {
  EngineState one = StateAt(1, {});
  ASSERT_TRUE(AppendLineDurable(dir_ / "results.jsonl", one.head_result));
  EngineState two = StateAt(2, one.head_hash);
  // Crash between the checkpoint of round 2 and its log line: the restart sees it (nobody was
  // sent round 2) and appends it.
  auto missing = store_->HeadMissingFromResults(two);
  ASSERT_TRUE(missing) << missing.error().message();
  EXPECT_TRUE(*missing);
  ASSERT_TRUE(store_->AppendHeadResult(two));
  EXPECT_EQ(Lines(), 2);
  auto again = store_->HeadMissingFromResults(two);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_FALSE(*again);
  EXPECT_EQ(Lines(), 2);
  // A checkpoint older than the log is refused.
  auto older = store_->HeadMissingFromResults(one);
  ASSERT_FALSE(older);
  EXPECT_NE(older.error().message().find("older than the results"), std::string::npos);
}

// ReadResults indexes results.jsonl once and then only what was appended; it returns the last
// line of each round in [from, to], at most `max` rounds from `from`, skipping what is no result.
TEST_F(StateStoreTest, ReadResultsIndexesTheLogAndFollowsItsAppends) {
  auto line = [&](std::uint64_t round, const std::string& detail) {
    protocol::RoundResult r;
    r.federation_id = "fed";
    r.round = round;
    r.detail = detail;
    return protocol::ResultToJson(r);
  };
  const auto path = dir_ / "results.jsonl";
  for (std::uint64_t r = 1; r <= 5; ++r) ASSERT_TRUE(AppendLineDurable(path, line(r, "first")));
  ASSERT_TRUE(AppendLineDurable(path, "not json"));
  ASSERT_TRUE(AppendLineDurable(path, ""));
  ASSERT_TRUE(AppendLineDurable(path, line(3, "again")));  // a round logged twice: the last counts
  auto rounds = [](const std::vector<protocol::RoundResult>& v) {
    std::vector<std::uint64_t> out;
    for (const auto& r : v) out.push_back(r.round);
    return out;
  };
  auto got = store_->ReadResults(2, 4, 10);
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(rounds(*got), (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ((*got)[1].detail, "again");
  got = store_->ReadResults(2, 5, 2);  // at most two rounds from round 2
  ASSERT_TRUE(got);
  EXPECT_EQ(rounds(*got), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_TRUE(store_->ReadResults(6, 9, 10)->empty());
  EXPECT_TRUE(store_->ReadResults(4, 2, 10)->empty());

  // Appends after the first read are found; a line still without its newline is not, until it
  // has one.
  ASSERT_TRUE(AppendLineDurable(path, line(6, "later")));
  {
    std::ofstream partial(path, std::ios::app);
    partial << line(7, "half");
  }
  got = store_->ReadResults(5, 9, 10);
  ASSERT_TRUE(got);
  EXPECT_EQ(rounds(*got), (std::vector<std::uint64_t>{5, 6}));
  {
    std::ofstream rest(path, std::ios::app);
    rest << "\n";
  }
  got = store_->ReadResults(5, 9, 10);
  ASSERT_TRUE(got);
  EXPECT_EQ(rounds(*got), (std::vector<std::uint64_t>{5, 6, 7}));
  EXPECT_EQ(got->back().detail, "half");

  // Another file in its place is indexed again from its start, longer or shorter.
  std::string longer;
  for (std::uint64_t r = 1; r <= 9; ++r) longer += line(r, "replaced, and longer than before") + "\n";
  ASSERT_TRUE(WriteFileAtomic(path, longer));
  got = store_->ReadResults(1, 9, 10);
  ASSERT_TRUE(got);
  EXPECT_EQ(rounds(*got), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  ASSERT_TRUE(WriteFileAtomic(path, line(1, "new") + "\n" + line(2, "new") + "\n"));
  got = store_->ReadResults(1, 9, 10);
  ASSERT_TRUE(got);
  EXPECT_EQ(rounds(*got), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(got->front().detail, "new");

  // Rewritten in place (same inode, longer): indexed again, not read at stale offsets.
  {
    std::ofstream rewrite(path, std::ios::in | std::ios::out | std::ios::binary);
    rewrite.seekp(0);
    rewrite << line(1, "rewritten in place, and much longer than the line it replaced") << "\n"
            << line(2, "rewritten in place, and much longer than the line it replaced") << "\n"
            << line(3, "rewritten") << "\n";
  }
  got = store_->ReadResults(1, 9, 10);
  ASSERT_TRUE(got);
  EXPECT_EQ(rounds(*got), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(got->front().detail, "rewritten in place, and much longer than the line it replaced");

  // A torn repeat of a round does not hide the good line before it; a line above the length
  // limit is no result.
  const std::string torn = line(2, "torn");
  ASSERT_NE(torn.find("\"round\":2"), std::string::npos);
  ASSERT_TRUE(AppendLineDurable(path, torn.substr(0, torn.find("\"round\":2") + 12)));
  ASSERT_TRUE(AppendLineDurable(path, "{\"round\":4," + std::string(5u << 20, ' ') + "}"));
  got = store_->ReadResults(1, 9, 10);
  ASSERT_TRUE(got);
  EXPECT_EQ(rounds(*got), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ((*got)[1].detail, "rewritten in place, and much longer than the line it replaced");

  // No log at all: nothing, and no error.
  std::filesystem::remove(path);
  got = store_->ReadResults(1, 9, 10);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());
}

}  // namespace
}  // namespace cairn::aggregator
