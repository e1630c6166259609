// Every validation rule of the enclave (issue 6): a refused update gets a specific code, the
// round goes on, and nothing of it reaches the aggregate. Participants are driven message by
// message (RawParticipant) to send what a well-behaved client never would.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <thread>

#include "common/model/model_files.h"
#include "protocol/round_result.h"
#include "tests/integration/harness.h"

namespace cairn {
namespace {

using std::chrono::seconds;
using testing::FederationSpec;
using testing::RawParticipant;
using testing::TestFederation;

constexpr std::size_t kParams = 1000 * 2 + 2;  // logreg 1000 → 2: two 4 KiB chunks

FederationSpec Spec(int participants, int quorum, double timeout_s, const std::string& extra = "",
                    int rounds = 1) {
  FederationSpec s;
  s.participants = participants;
  s.body = "[federation]\nrounds = " + std::to_string(rounds) + "\nmin_participants = " + std::to_string(quorum) +
           "\nround_timeout_s = " + std::to_string(timeout_s) +
           "\ncohort_wait_s = 30\nchunk_bytes = 4096\neval_timeout_s = 0\n" + extra +
           "[model]\nkind = \"logreg\"\ninputs = 1000\nclasses = 2\n";
  return s;
}

class Validation : public ::testing::Test {
 protected:
  void Start(const FederationSpec& spec) {
    fed_ = TestFederation::Create(::testing::UnitTest::GetInstance()->current_test_info()->name(), spec);
    ASSERT_TRUE(fed_);
    ASSERT_TRUE(fed_->StartAggregator());
    initial_ = fed_->app().state().model;
  }
  void TearDown() override {
    if (fed_) {
      fed_->StopAggregator();
      (void)fed_->JoinAggregator();
    }
  }
  std::unique_ptr<RawParticipant> Join(int i) {
    auto p = RawParticipant::Connect(*fed_, i);
    EXPECT_TRUE(p) << p.error().ToString();
    return p ? std::move(*p) : nullptr;
  }
  static std::vector<float> Values(float v) { return std::vector<float>(kParams, v); }
  // Expects a Rejected with `code` as the next rejection.
  static void ExpectRejected(RawParticipant& p, protocol::RejectCode code) {
    auto r = p.WaitFor<protocol::Rejected>(std::chrono::seconds(15));
    ASSERT_TRUE(r) << "no rejection arrived";
    EXPECT_EQ(r->code, code) << protocol::RejectCodeName(r->code) << ": " << r->detail;
    EXPECT_FALSE(r->detail.empty());
  }
  std::vector<protocol::RoundResult> Results() { return testing::ReadResults(fed_->state_dir()); }
  // Chunks the aggregator dropped since `before`, once it has counted at least `expected` (the
  // data and control planes do not order against each other: a chunk sent before the commit may
  // be handled after the ack). A metrics read from the test thread, as federation_test does.
  std::uint64_t DroppedSince(std::uint64_t before, std::uint64_t expected) {
    auto deadline = std::chrono::steady_clock::now() + seconds(10);
    std::uint64_t n = 0;
    while ((n = fed_->app().engine().counters().chunks_dropped - before) < expected &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return n;
  }
  std::unique_ptr<TestFederation> fed_;
  std::vector<float> initial_;
};

TEST_F(Validation, WrongRoundIsRejected) {
  Start(Spec(1, 1, 30));
  auto p = Join(0);
  auto offer = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  protocol::UploadBegin begin;
  begin.round = offer->round + 5;
  begin.chunks = 2;
  begin.total_bytes = kParams * 4;
  ASSERT_TRUE(p->Send(begin));
  ExpectRejected(*p, protocol::RejectCode::kWrongRound);
}

TEST_F(Validation, WrongShapeAndWrongChunkCountAreRejected) {
  Start(Spec(1, 1, 30));
  auto p = Join(0);
  auto offer = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  auto v = Values(0.1f);
  auto s = p->BeginUpload(*offer, v, std::nullopt, kParams * 4 - 4);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("wrong-shape"), std::string::npos) << s.error().message();
  s = p->BeginUpload(*offer, v, 3u);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("wrong-chunk-count"), std::string::npos) << s.error().message();
  // Still served: a correct upload from the same participant goes through.
  ASSERT_TRUE(p->BeginUpload(*offer, v));
  ASSERT_TRUE(p->SendAllChunks());
  ASSERT_TRUE(p->Send(p->MakeCommit()));
  EXPECT_TRUE(p->WaitFor<protocol::CommitAck>(seconds(10)));
}

// The data plane is plain and names an upload by its session id only: whoever sees a frame can
// replay or tamper with it. Such chunks are dropped and counted, never held against the upload
// (the commit digest decides it); a second commit in the round is still a duplicate.
TEST_F(Validation, DuplicateChunkIsDroppedAndDuplicateCommitIsRejected) {
  Start(Spec(2, 1, 30));
  auto p = Join(0);
  auto idle = Join(1);  // keeps the round open after p commits
  auto offer = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  auto v = Values(0.25f);
  const auto dropped_before = fed_->app().engine().counters().chunks_dropped;
  ASSERT_TRUE(p->BeginUpload(*offer, v));
  ASSERT_TRUE(p->SendChunk(0));
  ASSERT_TRUE(p->SendChunk(0));  // a replay of the same frame
  ASSERT_TRUE(p->SendChunk(1));
  ASSERT_TRUE(p->SendChunk(1));
  ASSERT_TRUE(p->Send(p->MakeCommit()));
  auto ack = p->WaitFor<protocol::CommitAck>(seconds(10));
  ASSERT_TRUE(ack) << "the duplicates cost the honest upload";
  EXPECT_EQ(DroppedSince(dropped_before, 2), 2u);
  ASSERT_TRUE(p->Send(p->MakeCommit()));
  ExpectRejected(*p, protocol::RejectCode::kDuplicate);
}

TEST_F(Validation, CorruptAndOversizedChunksAreDroppedAndTheUploadCompletes) {
  Start(Spec(2, 1, 30));
  auto p = Join(0);
  auto idle = Join(1);  // keeps the round open after p commits
  auto offer = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  auto v = Values(0.5f);
  const auto dropped_before = fed_->app().engine().counters().chunks_dropped;
  ASSERT_TRUE(p->BeginUpload(*offer, v));
  ASSERT_TRUE(p->SendChunk(0, /*corrupt=*/true));
  ASSERT_TRUE(p->SendChunk(1, false, /*extra_bytes=*/64));
  ASSERT_TRUE(p->SendAllChunks());
  ASSERT_TRUE(p->Send(p->MakeCommit()));
  auto ack = p->WaitFor<protocol::CommitAck>(seconds(10));
  ASSERT_TRUE(ack) << "the junk chunks cost the honest upload";
  EXPECT_EQ(DroppedSince(dropped_before, 2), 2u);
}

TEST_F(Validation, NonFiniteUpdateIsRejectedAndNeverReachesTheAggregate) {
  Start(Spec(2, 1, 5));
  auto bad = Join(0);
  auto good = Join(1);
  auto offer = bad->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  ASSERT_TRUE(good->WaitFor<protocol::RoundOffer>(seconds(10)));
  auto nan = Values(0.3f);
  nan[1500] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(bad->BeginUpload(*offer, nan));
  ASSERT_TRUE(bad->SendAllChunks());
  ASSERT_TRUE(bad->Send(bad->MakeCommit(1000)));
  ExpectRejected(*bad, protocol::RejectCode::kNonFinite);
  auto inf = Values(0.3f);
  inf[7] = std::numeric_limits<float>::infinity();
  ASSERT_TRUE(bad->BeginUpload(*offer, inf));
  ASSERT_TRUE(bad->SendAllChunks());
  ASSERT_TRUE(bad->Send(bad->MakeCommit(1000)));
  ExpectRejected(*bad, protocol::RejectCode::kNonFinite);
  auto ok = Values(0.5f);
  ASSERT_TRUE(good->BeginUpload(*offer, ok));
  ASSERT_TRUE(good->SendAllChunks());
  ASSERT_TRUE(good->Send(good->MakeCommit(10)));
  ASSERT_TRUE(good->WaitFor<protocol::CommitAck>(seconds(10)));
  auto result = good->WaitFor<protocol::RoundResult>(seconds(30));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->contributors, std::vector<std::string>{"p1"});
  auto model = model::ReadFlatParameters(fed_->state_dir() / "global.f32", kParams);
  ASSERT_TRUE(model);
  for (std::size_t i = 0; i < kParams; ++i) ASSERT_FLOAT_EQ((*model)[i], initial_[i] + 0.5f) << i;
}

TEST_F(Validation, NormAboveTheBoundIsRejected) {
  Start(Spec(1, 1, 30, "max_update_norm = 1.0\n"));
  auto p = Join(0);
  auto offer = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  EXPECT_DOUBLE_EQ(offer->task.clip_norm, 1.0);  // the participant is told the bound
  auto big = Values(0.1f);                       // norm = 0.1·√2002 ≈ 4.5
  ASSERT_TRUE(p->BeginUpload(*offer, big));
  ASSERT_TRUE(p->SendAllChunks());
  ASSERT_TRUE(p->Send(p->MakeCommit()));
  ExpectRejected(*p, protocol::RejectCode::kNormTooLarge);
  auto small = Values(0.01f);  // norm ≈ 0.45
  ASSERT_TRUE(p->BeginUpload(*offer, small));
  ASSERT_TRUE(p->SendAllChunks());
  ASSERT_TRUE(p->Send(p->MakeCommit()));
  EXPECT_TRUE(p->WaitFor<protocol::CommitAck>(seconds(10)));
}

TEST_F(Validation, LateCommitIsRejected) {
  Start(Spec(2, 1, 2, "", /*rounds=*/2));
  auto p = Join(0);
  auto q = Join(1);
  auto offer = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  ASSERT_TRUE(q->WaitFor<protocol::RoundOffer>(seconds(10)));
  // q commits; p uploads but commits only after the round has closed (its result arrives).
  ASSERT_TRUE(q->BeginUpload(*offer, Values(0.1f)));
  ASSERT_TRUE(q->SendAllChunks());
  ASSERT_TRUE(q->Send(q->MakeCommit()));
  ASSERT_TRUE(p->BeginUpload(*offer, Values(0.2f)));
  ASSERT_TRUE(p->SendAllChunks());
  ASSERT_TRUE(p->WaitFor<protocol::RoundResult>(seconds(30)));
  ASSERT_TRUE(p->Send(p->MakeCommit()));
  ExpectRejected(*p, protocol::RejectCode::kLateCommit);
}

TEST_F(Validation, CommitWaitingForMissingChunksIsRejectedAtTheDeadline) {
  Start(Spec(2, 1, 2));
  auto p = Join(0);
  auto q = Join(1);
  auto offer = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  ASSERT_TRUE(q->BeginUpload(*offer, Values(0.1f)));
  ASSERT_TRUE(q->SendAllChunks());
  ASSERT_TRUE(q->Send(q->MakeCommit()));
  ASSERT_TRUE(p->BeginUpload(*offer, Values(0.2f)));
  ASSERT_TRUE(p->SendChunk(0));  // chunk 1 never comes
  ASSERT_TRUE(p->Send(p->MakeCommit()));
  ExpectRejected(*p, protocol::RejectCode::kWrongChunkCount);
}

TEST_F(Validation, ParticipantDyingMidUploadLeavesTheRoundToThoseWhoCommitted) {
  Start(Spec(3, 2, 2));
  auto dying = Join(0);
  auto a = Join(1);
  auto b = Join(2);
  auto offer = a->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  ASSERT_TRUE(dying->BeginUpload(*offer, Values(9.0f)));
  ASSERT_TRUE(dying->SendChunk(0));
  dying->Close();  // gone mid-upload
  for (auto* p : {a.get(), b.get()}) {
    ASSERT_TRUE(p->BeginUpload(*offer, Values(0.5f)));
    ASSERT_TRUE(p->SendAllChunks());
    ASSERT_TRUE(p->Send(p->MakeCommit(10)));
    ASSERT_TRUE(p->WaitFor<protocol::CommitAck>(seconds(10)));
  }
  auto result = a->WaitFor<protocol::RoundResult>(seconds(30));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, protocol::RoundStatus::kCompleted);
  EXPECT_EQ(result->contributors, (std::vector<std::string>{"p1", "p2"}));
  auto model = model::ReadFlatParameters(fed_->state_dir() / "global.f32", kParams);
  ASSERT_TRUE(model);
  EXPECT_FLOAT_EQ((*model)[0], initial_[0] + 0.5f);
}

TEST_F(Validation, TooFewCommitsGiveASignedFailedQuorumResultAndARetry) {
  Start(Spec(2, 2, 2, "max_round_retries = 1\n"));
  auto p = Join(0);
  auto q = Join(1);
  auto offer = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  ASSERT_TRUE(p->BeginUpload(*offer, Values(0.1f)));
  ASSERT_TRUE(p->SendAllChunks());
  ASSERT_TRUE(p->Send(p->MakeCommit()));
  auto failed = p->WaitFor<protocol::RoundResult>(seconds(30));
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, protocol::RoundStatus::kFailedQuorum);
  EXPECT_NE(failed->detail.find("1 of 2"), std::string::npos) << failed->detail;
  EXPECT_FALSE(failed->final);
  // The round is retried under a new round id, and this time both commit.
  auto retry = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->round, offer->round + 1);
  for (auto* x : {p.get(), q.get()}) {
    ASSERT_TRUE(x->BeginUpload(*retry, Values(0.1f)));
    ASSERT_TRUE(x->SendAllChunks());
    ASSERT_TRUE(x->Send(x->MakeCommit()));
  }
  auto done = p->WaitFor<protocol::RoundResult>(seconds(30));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, protocol::RoundStatus::kCompleted);
  EXPECT_TRUE(done->final);
  auto results = Results();
  ASSERT_EQ(results.size(), 2u);
  auto h = protocol::ResultHash(results[0]);
  EXPECT_EQ(results[1].prev_hash, Bytes(h.begin(), h.end()));
}

TEST_F(Validation, QuorumFailureWithFailPolicyStopsTheFederation) {
  Start(Spec(2, 2, 2, "on_quorum_failure = \"fail\"\n"));
  auto p = Join(0);
  auto silent = Join(1);  // connected, never commits
  auto offer = p->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  auto failed = p->WaitFor<protocol::RoundResult>(seconds(30));
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, protocol::RoundStatus::kFailedQuorum);
  EXPECT_TRUE(failed->final);
  auto bye = p->WaitFor<protocol::Goodbye>(seconds(10));
  ASSERT_TRUE(bye);
  auto outcome = fed_->JoinAggregator();
  EXPECT_FALSE(outcome);
  fed_.reset();
}

TEST_F(Validation, OversizedControlMessageDropsOnlyThatConnection) {
  Start(Spec(2, 1, 30));
  auto big = Join(0);
  auto ok = Join(1);
  auto offer = ok->WaitFor<protocol::RoundOffer>(seconds(10));
  ASSERT_TRUE(offer);
  // 2 MiB on the control channel, above its 1 MiB bound: libzmq drops the connection.
  protocol::EvalReport huge;
  huge.metrics.assign(40000, protocol::Metric{std::string(48, 'x'), 1.0});
  ASSERT_TRUE(big->Send(huge));
  ASSERT_TRUE(ok->BeginUpload(*offer, Values(0.25f)));
  ASSERT_TRUE(ok->SendAllChunks());
  ASSERT_TRUE(ok->Send(ok->MakeCommit()));
  EXPECT_TRUE(ok->WaitFor<protocol::CommitAck>(seconds(10)));
}

TEST_F(Validation, MessagesFromParticipantsThatSkippedHelloOrSendServerMessagesAreRefused) {
  Start(Spec(1, 1, 30));
  auto p = Join(0);
  ASSERT_TRUE(p->WaitFor<protocol::RoundOffer>(seconds(10)));
  ASSERT_TRUE(p->Send(protocol::Welcome{}));
  ExpectRejected(*p, protocol::RejectCode::kMalformed);
  ASSERT_TRUE(p->Send(protocol::Commit{}));
  auto r = p->WaitFor<protocol::Rejected>(seconds(10));
  ASSERT_TRUE(r);
}

}  // namespace
}  // namespace cairn
