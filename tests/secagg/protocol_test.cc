// The protocol end to end, in memory: masks cancel, masked = plain within the quantization
// error, dropouts recovered, clean aborts (a split survivor set among them), refusals, detection
// of wrong shares and tampering.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/secagg/aggregator.h"
#include "common/secagg/participant.h"
#include "common/secagg/quantize.h"
#include "common/secagg/simulation.h"
#include "tests/secagg/harness.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg {
namespace {

using testing::Harness;
using testing::StandardParams;
using testing::StandardSetup;

std::vector<std::uint32_t> AllBut(std::uint32_t n, std::set<std::uint32_t> out) {
  std::vector<std::uint32_t> v;
  for (std::uint32_t i = 0; i < n; ++i) if (!out.count(i)) v.push_back(i);
  return v;
}

double MaxAbsDiff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// Values on the quantization grid (8 bits, r = 127.5, step 1): q = x + 127.5 exactly, so the
// ring sum must equal Σ q to the bit.
TEST(SecAggProtocol, MasksCancelExactly) {
  Params p = StandardParams(8, 7, 4);
  p.quantization_bits = 8;
  p.clip_range = 127.5;
  ASSERT_DOUBLE_EQ(QuantizationStep(p), 1.0);
  const RoundSetup s = StandardSetup(8, 3001);
  std::vector<std::vector<float>> updates(8, std::vector<float>(3001));
  std::vector<std::uint32_t> expected(3001, 0);
  for (std::uint32_t i = 0; i < 8; ++i) {
    for (std::size_t e = 0; e < 3001; ++e) {
      const std::uint32_t q = static_cast<std::uint32_t>((e * 31 + i * 97) % 256);
      updates[i][e] = static_cast<float>(q) - 127.5f;
      expected[e] += q;
    }
  }
  SimulationOptions o = testing::Opts(p, s);
  o.chunk_elements = 512;
  auto spans = testing::Spans(updates);
  auto report = SimulateRound(o, spans);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  ASSERT_TRUE(report->outcome.has_value()) << report->outcome.error().ToString();
  EXPECT_EQ(report->ring_sum, expected);
  EXPECT_EQ(report->committed, AllBut(8, {}));
  for (std::size_t e = 0; e < 3001; ++e) {
    double plain = 0;
    for (std::uint32_t i = 0; i < 8; ++i) plain += updates[i][e];
    ASSERT_DOUBLE_EQ(report->sum[e], plain);
  }
}

TEST(SecAggProtocol, MaskedEqualsPlainWithinQuantizationError) {
  for (auto [k, t] : {std::pair{7u, 4u}, std::pair{5u, 3u}}) {
    const Params p = StandardParams(8, k, t);
    const RoundSetup s = StandardSetup(8, 131072);  // 2 chunks; splits across threads
    const auto updates = testing::RandomUpdates(8, 131072, 1.0f, 42 + k);
    SimulationOptions o = testing::Opts(p, s);
    o.participant_random = [](std::uint32_t i) { return testing::SeededFill(500 + i); };
    o.unmask_threads = k == 7 ? 1 : 2;
    auto spans = testing::Spans(updates);
    auto report = SimulateRound(o, spans);
    ASSERT_TRUE(report.has_value()) << report.error().ToString();
    ASSERT_TRUE(report->outcome.has_value()) << report->outcome.error().ToString();
    Harness h;
    h.params = p;
    h.setup = s;
    h.updates = updates;
    const double err = MaxAbsDiff(report->sum, h.PlainSum(AllBut(8, {})));
    EXPECT_LT(err, 8 * QuantizationStep(p)) << "k = " << k;
    EXPECT_GT(report->control_bytes, 0u);
    EXPECT_EQ(report->masked_input_bytes, 8 * (131072 * 4 + std::uint64_t{34} * 2));
  }
}

struct DropCase {
  const char* name;
  std::vector<DropPoint> drops;
};

TEST(SecAggProtocol, DropoutsAreRecoveredWhenNeighbourhoodsKeepT) {
  using D = DropPoint;
  const std::vector<DropCase> cases = {
      {"one after shares", {D::kNone, D::kNone, D::kAfterShares}},
      {"two after shares", {D::kAfterShares, D::kNone, D::kNone, D::kNone, D::kNone, D::kAfterShares}},
      {"one after commit", {D::kNone, D::kNone, D::kNone, D::kAfterCommit}},
      {"mixed", {D::kNone, D::kNone, D::kAfterShares, D::kNone, D::kNone, D::kAfterCommit, D::kAfterKeys}},
      {"before keys", {D::kBeforeKeys}},
      {"before keys and after shares", {D::kBeforeKeys, D::kNone, D::kNone, D::kAfterShares}},
  };
  const Params p = StandardParams(8, 7, 4);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Harness h;
    h.Create(p, StandardSetup(8, 5000));
    h.drops = c.drops;
    h.updates = testing::RandomUpdates(8, 5000, 1.2f, 7);  // some values clamped at r = 1
    ASSERT_TRUE(h.RunKeysAndShares());
    h.RunMasking();
    auto req = h.agg->BeginUnmasking();
    ASSERT_TRUE(req.has_value()) << req.error().ToString();
    std::vector<std::uint32_t> expect_s;
    for (std::uint32_t i = 0; i < 8; ++i) {
      const D d = h.drop(i);
      if (d == D::kNone || d == D::kAfterCommit) expect_s.push_back(i);
    }
    EXPECT_EQ(req->committed, expect_s);
    h.RunReveals(*req);
    auto sum = h.agg->Finalize();
    ASSERT_TRUE(sum.has_value()) << sum.error().ToString();
    std::vector<double> got(5000);
    ASSERT_TRUE(DequantizeSum(p, sum->ring_sum, static_cast<std::uint32_t>(sum->committed.size()), got).has_value());
    EXPECT_LT(MaxAbsDiff(got, h.PlainSum(expect_s)), expect_s.size() * QuantizationStep(p));
    EXPECT_EQ(h.agg->state(), Aggregator::State::kDone);
  }
}

// n = 30 on a sparse ring (k = 5, t = 3): dropouts chosen from the public graph.
TEST(SecAggProtocol, SparseGraphRecoversOrAbortsAsTheGraphSays) {
  const Params p = StandardParams(30, 5, 3);
  const RoundSetup s = StandardSetup(30, 777);
  std::vector<std::uint32_t> everyone(30);
  for (std::uint32_t i = 0; i < 30; ++i) everyone[i] = i;
  auto g = Graph::Build(30, everyone, 5, s.graph_seed);
  ASSERT_TRUE(g.has_value());
  // Greedy: drop participants (after masking) while every neighbourhood keeps ≥ t survivors
  // and the survivors stay connected.
  std::set<std::uint32_t> dropped;
  auto ok_without = [&](const std::set<std::uint32_t>& d) {
    std::set<std::uint32_t> survivors;
    for (std::uint32_t i = 0; i < 30; ++i) {
      const auto holders = d.count(i) ? g->Neighbors(i) : g->ClosedNeighborhood(i);
      std::uint32_t c = 0;
      for (auto h : holders) c += !d.count(h);
      if (c < 3) return false;
      if (!d.count(i)) survivors.insert(i);
    }
    return testing::NaiveComponents(*g, survivors).size() == 1;
  };
  for (std::uint32_t i = 0; i < 30 && dropped.size() < 8; i += 3) {
    auto trial = dropped;
    trial.insert(i);
    if (ok_without(trial)) dropped = trial;
  }
  ASSERT_GE(dropped.size(), 4u);
  // A set that breaks some neighbourhood: a participant and two of its neighbours after shares.
  std::set<std::uint32_t> fatal = {0};
  for (auto j : g->Neighbors(0)) if (fatal.size() < 4) fatal.insert(j);
  ASSERT_FALSE(ok_without(fatal));

  for (bool should_work : {true, false}) {
    const auto& which = should_work ? dropped : fatal;
    std::vector<DropPoint> drops(30, DropPoint::kNone);
    for (auto i : which) drops[i] = DropPoint::kAfterShares;
    const auto updates = testing::RandomUpdates(30, 777, 1.0f, 99);
    SimulationOptions o = testing::Opts(p, s, drops);
    auto spans = testing::Spans(updates);
    auto report = SimulateRound(o, spans);
    ASSERT_TRUE(report.has_value()) << report.error().ToString();
    EXPECT_EQ(report->outcome.has_value(), should_work);
    if (should_work) {
      Harness h;
      h.params = p;
      h.setup = s;
      h.updates = updates;
      EXPECT_LT(MaxAbsDiff(report->sum, h.PlainSum(report->committed)), 30 * QuantizationStep(p));
    } else {
      ASSERT_TRUE(report->abort.has_value());
      EXPECT_FALSE(report->unmask_requested);
      EXPECT_EQ(report->shares_revealed, 0u);
    }
  }
}

TEST(SecAggProtocol, TooManyDropoutsAbortBeforeAnyShareIsRevealed) {
  using D = DropPoint;
  Harness h;
  h.Create(StandardParams(8, 7, 4), StandardSetup(8, 300));
  h.drops = {D::kAfterShares, D::kAfterShares, D::kAfterShares, D::kAfterShares};
  h.updates = testing::RandomUpdates(8, 300, 1.0f, 5);
  ASSERT_TRUE(h.RunKeysAndShares());
  h.RunMasking();
  auto req = h.agg->BeginUnmasking();
  ASSERT_FALSE(req.has_value());
  EXPECT_EQ(req.error().code(), ErrorCode::kAborted);
  const std::string msg = req.error().message();
  EXPECT_NE(msg.find("aborted (unmasking)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fewer than t = 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nothing further is revealed"), std::string::npos) << msg;
  ASSERT_TRUE(h.agg->abort_reason().has_value());
  const AbortReason& r = *h.agg->abort_reason();
  EXPECT_EQ(r.stage, AbortReason::Stage::kUnmasking);
  EXPECT_LT(r.participant, 8u);
  EXPECT_NE(msg.find("participant " + std::to_string(r.participant)), std::string::npos) << msg;
  EXPECT_LT(r.available, 4u);
  EXPECT_EQ(r.threshold, 4u);
  EXPECT_EQ(h.agg->state(), Aggregator::State::kAborted);
  // Nobody was asked anything: every committed participant still holds all its shares.
  for (std::uint32_t i = 4; i < 8; ++i) EXPECT_EQ(h.parts[i]->state(), Participant::State::kCommitted);
  // And the aggregator accepts nothing more.
  EXPECT_EQ(h.agg->Finalize().error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(h.agg->HandleUnmaskResponse(UnmaskResponse{7, 4, {}}).error().code(), ErrorCode::kFailedPrecondition);
}

// Values on the 8-bit grid (r = 127.5, step 1) so that the ring sum is exact: q_i[e] per index.
std::uint32_t GridValue(std::uint32_t i, std::size_t e) { return static_cast<std::uint32_t>((e * 31 + i * 97) % 256); }

Params GridParams(std::uint32_t n, std::uint32_t k, std::uint32_t t) {
  Params p = StandardParams(n, k, t);
  p.quantization_bits = 8;
  p.clip_range = 127.5;
  return p;
}

std::vector<std::vector<float>> GridUpdates(std::uint32_t n, std::size_t elements) {
  std::vector<std::vector<float>> u(n, std::vector<float>(elements));
  for (std::uint32_t i = 0; i < n; ++i) {
    for (std::size_t e = 0; e < elements; ++e) u[i][e] = static_cast<float>(GridValue(i, e)) - 127.5f;
  }
  return u;
}

std::vector<std::uint32_t> GridSum(const std::vector<std::uint32_t>& who, std::size_t elements) {
  std::vector<std::uint32_t> s(elements, 0);
  for (std::uint32_t i : who) for (std::size_t e = 0; e < elements; ++e) s[e] += GridValue(i, e);
  return s;
}

// The per-node counts BeginUnmasking checks: |N[i] ∩ S| ≥ t for i ∈ S, |N(j) ∩ S| ≥ t for the
// rest of U2 (here U2 = everyone).
bool CountsHold(const Graph& g, const std::set<std::uint32_t>& S, std::uint32_t t) {
  if (S.size() < t) return false;
  for (std::uint32_t i : g.members()) {
    const auto holders = S.count(i) ? g.ClosedNeighborhood(i) : g.Neighbors(i);
    std::uint32_t c = 0;
    for (auto h : holders) c += S.count(h);
    if (c < t) return false;
  }
  return true;
}

// The reviewer's repro: 7 on a ring (k = 3, t = 2), the two participants at ring distance 3
// drop after sharing. Every per-node count holds, but S splits into a path of 3 and a path of
// 2, and with every b_i and both dropped mask keys rebuilt each path's sum would come out on
// its own. The round must abort before any share is requested.
TEST(SecAggProtocol, SurvivorsSplitByTheGraphAbortBeforeAnyShareIsRevealed) {
  using D = DropPoint;
  Harness h;
  h.Create(StandardParams(7, 3, 2), StandardSetup(7, 300));
  h.updates = testing::RandomUpdates(7, 300, 1.0f, 11);
  ASSERT_TRUE(h.RunKeysAndShares());
  const Graph& g = *h.agg->graph();
  const auto dist = testing::Distances(g, 0);
  const auto y = static_cast<std::uint32_t>(std::find(dist.begin(), dist.end(), 3) - dist.begin());
  ASSERT_LT(y, 7u) << "no participant at ring distance 3 from participant 0";
  h.drops.assign(7, D::kNone);
  h.drops[0] = h.drops[y] = D::kAfterShares;
  const std::vector<std::uint32_t> S = AllBut(7, {0, y});
  const std::set<std::uint32_t> s_set(S.begin(), S.end());
  ASSERT_TRUE(CountsHold(g, s_set, 2)) << "the counts alone would let this round through";
  const auto groups = testing::NaiveComponents(g, s_set);
  ASSERT_EQ(groups.size(), 2u);
  const auto& small = groups[0].size() < groups[1].size() ? groups[0] : groups[1];
  ASSERT_EQ(small.size(), 2u);
  h.RunMasking();

  auto req = h.agg->BeginUnmasking();
  ASSERT_FALSE(req.has_value());
  EXPECT_EQ(req.error().code(), ErrorCode::kAborted);
  const std::string msg = req.error().message();
  EXPECT_NE(msg.find("aborted (unmasking)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the 5 surviving participants split into 2 groups under the masking graph (sizes 3, 2; "
                     "the smallest is participants " + std::to_string(small[0]) + ", " + std::to_string(small[1]) + ")"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("unmasking would reveal each group's sum, not only the total"), std::string::npos) << msg;
  EXPECT_NE(msg.find("abandoned"), std::string::npos) << msg;
  ASSERT_TRUE(h.agg->abort_reason().has_value());
  const AbortReason& r = *h.agg->abort_reason();
  EXPECT_EQ(r.stage, AbortReason::Stage::kUnmasking);
  EXPECT_EQ(r.participant, AbortReason::kWholeRound);
  EXPECT_EQ(r.groups, 2u);
  EXPECT_EQ(r.available, 5u);
  EXPECT_EQ(r.threshold, 2u);
  EXPECT_EQ(h.agg->state(), Aggregator::State::kAborted);
  // Nobody was asked anything, and the aggregator accepts nothing more.
  for (std::uint32_t i : S) EXPECT_EQ(h.parts[i]->state(), Participant::State::kCommitted) << i;
  EXPECT_EQ(h.agg->Finalize().error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(h.agg->HandleUnmaskResponse(UnmaskResponse{7, S[0], {}}).error().code(), ErrorCode::kFailedPrecondition);

  // A survivor handed this S anyway (an aggregator whose code was replaced) refuses to reveal.
  for (std::uint32_t i : S) {
    auto resp = h.parts[i]->HandleUnmaskRequest(UnmaskRequest{h.setup.round_id, S});
    ASSERT_FALSE(resp.has_value()) << i;
    EXPECT_EQ(resp.error().code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(resp.error().message().find("split into 2 groups"), std::string::npos) << resp.error().message();
    EXPECT_EQ(h.parts[i]->state(), Participant::State::kCommitted) << i;
  }
}

// Dropout patterns that keep S connected (and every count) still complete, with the exact sum.
TEST(SecAggProtocol, ConnectedDropoutsStillGiveTheExactSum) {
  using D = DropPoint;
  struct Case {
    const char* name;
    std::uint32_t k, t;
    int hops;        // y = the first participant this many hops from participant 0
    D drop0, drop_y;
  };
  const std::vector<Case> cases = {
      {"k = 3: one after shares (S is a path)", 3, 2, 3, D::kAfterShares, D::kNone},
      {"k = 3: one after shares, the one at distance 3 after commit", 3, 2, 3, D::kAfterShares, D::kAfterCommit},
      {"k = 5: two at ring distance 3 after shares", 5, 3, 2, D::kAfterShares, D::kAfterShares},
  };
  constexpr std::size_t kElements = 1001;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Harness h;
    h.Create(GridParams(7, c.k, c.t), StandardSetup(7, kElements));
    h.updates = GridUpdates(7, kElements);
    ASSERT_TRUE(h.RunKeysAndShares());
    const Graph& g = *h.agg->graph();
    const auto dist = testing::Distances(g, 0);
    const auto y = static_cast<std::uint32_t>(std::find(dist.begin(), dist.end(), c.hops) - dist.begin());
    ASSERT_LT(y, 7u);
    h.drops.assign(7, D::kNone);
    h.drops[0] = c.drop0;
    h.drops[y] = c.drop_y;
    std::set<std::uint32_t> s_set;
    for (std::uint32_t i = 0; i < 7; ++i) if (h.drop(i) == D::kNone || h.drop(i) == D::kAfterCommit) s_set.insert(i);
    ASSERT_EQ(testing::NaiveComponents(g, s_set).size(), 1u);
    h.RunMasking();
    auto req = h.agg->BeginUnmasking();
    ASSERT_TRUE(req.has_value()) << req.error().ToString();
    const std::vector<std::uint32_t> S(s_set.begin(), s_set.end());
    EXPECT_EQ(req->committed, S);
    EXPECT_GT(h.RunReveals(*req), 0u);
    auto sum = h.agg->Finalize();
    ASSERT_TRUE(sum.has_value()) << sum.error().ToString();
    EXPECT_EQ(sum->committed, S);
    EXPECT_EQ(sum->ring_sum, GridSum(S, kElements));
    EXPECT_EQ(h.agg->state(), Aggregator::State::kDone);
  }
}

// Random dropout patterns (after shares, n = 10): the round completes exactly when every count
// holds *and* S stays connected, with the exact sum; a split S aborts with no share revealed.
TEST(SecAggProtocol, UnmaskingCompletesExactlyWhenCountsHoldAndSurvivorsStayConnected) {
  constexpr std::uint32_t n = 10;
  constexpr std::size_t kElements = 64;
  const auto updates = GridUpdates(n, kElements);
  auto spans = testing::Spans(updates);
  std::mt19937 gen(2024);
  int completed = 0, split = 0, short_count = 0;
  for (auto [k, t] : {std::pair{3u, 2u}, std::pair{5u, 3u}}) {
    const Params p = GridParams(n, k, t);
    const RoundSetup s = StandardSetup(n, kElements);
    auto g = Graph::Build(n, AllBut(n, {}), k, s.graph_seed);  // the aggregator's graph (U1 = all)
    ASSERT_TRUE(g.has_value());
    for (int trial = 0; trial < 40; ++trial) {
      std::bernoulli_distribution drop(0.15 + 0.005 * trial);
      std::vector<DropPoint> drops(n, DropPoint::kNone);
      std::set<std::uint32_t> S;
      for (std::uint32_t i = 0; i < n; ++i) {
        if (drop(gen)) drops[i] = DropPoint::kAfterShares; else S.insert(i);
      }
      const bool counts = CountsHold(*g, S, t);
      const bool connected = testing::NaiveComponents(*g, S).size() <= 1;
      SCOPED_TRACE("k = " + std::to_string(k) + ", trial " + std::to_string(trial) + ", |S| = " +
                   std::to_string(S.size()) + (counts ? "" : ", counts fail") + (connected ? "" : ", split"));
      auto report = SimulateRound(testing::Opts(p, s, drops), spans);
      ASSERT_TRUE(report.has_value()) << report.error().ToString();
      ASSERT_EQ(report->outcome.has_value(), counts && connected)
          << (report->outcome ? std::string("completed") : report->outcome.error().message());
      if (counts && connected) {
        ++completed;
        EXPECT_EQ(report->ring_sum, GridSum(std::vector<std::uint32_t>(S.begin(), S.end()), kElements));
        continue;
      }
      ASSERT_TRUE(report->abort.has_value());
      EXPECT_FALSE(report->unmask_requested);
      EXPECT_EQ(report->shares_revealed, 0u);
      if (counts) {
        ++split;
        EXPECT_EQ(report->abort->groups, testing::NaiveComponents(*g, S).size());
        EXPECT_NE(report->outcome.error().message().find("groups under the masking graph"), std::string::npos);
      } else {
        ++short_count;
        EXPECT_EQ(report->abort->groups, 0u);
      }
    }
  }
  // The patterns drawn exercise all three outcomes.
  EXPECT_GT(completed, 0);
  EXPECT_GT(split, 0);
  EXPECT_GT(short_count, 0);
}

TEST(SecAggProtocol, TooFewCommitsAbortsTheWholeRound) {
  using D = DropPoint;
  SimulationOptions o = testing::Opts(StandardParams(8, 7, 4), StandardSetup(8, 100));
  o.drops = {D::kAfterShares, D::kAfterShares, D::kAfterShares, D::kAfterShares, D::kAfterShares};
  const auto updates = testing::RandomUpdates(8, 100, 1.0f, 5);
  auto spans = testing::Spans(updates);
  auto report = SimulateRound(o, spans);
  ASSERT_TRUE(report.has_value());
  ASSERT_FALSE(report->outcome.has_value());
  EXPECT_NE(report->outcome.error().message().find("3 participants committed, fewer than t = 4"), std::string::npos)
      << report->outcome.error().message();
  EXPECT_FALSE(report->unmask_requested);
  EXPECT_TRUE(report->sum.empty());
}

TEST(SecAggProtocol, AbortsAtKeysAndAtShares) {
  using D = DropPoint;
  const auto updates = testing::RandomUpdates(8, 10, 1.0f, 5);
  auto spans = testing::Spans(updates);
  SimulationOptions o = testing::Opts(StandardParams(8, 7, 4), StandardSetup(8, 10));
  o.drops = {D::kBeforeKeys, D::kBeforeKeys, D::kBeforeKeys, D::kBeforeKeys, D::kBeforeKeys};
  auto report = SimulateRound(o, spans);
  ASSERT_TRUE(report.has_value());
  ASSERT_TRUE(report->abort.has_value());
  EXPECT_EQ(report->abort->stage, AbortReason::Stage::kKeys);
  EXPECT_EQ(report->abort->participant, AbortReason::kWholeRound);
  EXPECT_EQ(report->abort->available, 3u);
  o.drops = {D::kAfterKeys, D::kAfterKeys, D::kAfterKeys, D::kAfterKeys, D::kAfterKeys};
  report = SimulateRound(o, spans);
  ASSERT_TRUE(report.has_value());
  ASSERT_TRUE(report->abort.has_value());
  EXPECT_EQ(report->abort->stage, AbortReason::Stage::kShares);
}

TEST(SecAggProtocol, RespondersVanishingAbortsAtFinalizeWithoutRebuildingAnything) {
  using D = DropPoint;
  Harness h;
  h.Create(StandardParams(8, 7, 4), StandardSetup(8, 100));
  h.drops = {D::kAfterCommit, D::kAfterCommit, D::kAfterCommit, D::kAfterCommit};
  h.updates = testing::RandomUpdates(8, 100, 1.0f, 5);
  ASSERT_TRUE(h.RunKeysAndShares());
  h.RunMasking();
  auto req = h.agg->BeginUnmasking();
  ASSERT_TRUE(req.has_value());
  h.RunReveals(*req);
  auto sum = h.agg->Finalize();
  ASSERT_FALSE(sum.has_value());
  EXPECT_EQ(sum.error().code(), ErrorCode::kAborted);
  ASSERT_TRUE(h.agg->abort_reason().has_value());
  EXPECT_EQ(h.agg->abort_reason()->stage, AbortReason::Stage::kFinalize);
  EXPECT_TRUE(h.agg->abort_reason()->committed);
  EXPECT_NE(sum.error().message().find("responders holding shares of its seed"), std::string::npos)
      << sum.error().message();
}

TEST(SecAggProtocol, ParticipantNeverRevealsBothSharesOfANeighbour) {
  Harness h;
  h.Create(StandardParams(8, 7, 4), StandardSetup(8, 50));
  h.updates = testing::RandomUpdates(8, 50, 1.0f, 5);
  ASSERT_TRUE(h.RunKeysAndShares());
  h.RunMasking();
  auto req = h.agg->BeginUnmasking();
  ASSERT_TRUE(req.has_value());
  Participant& p = *h.parts[0];
  auto first = p.HandleUnmaskRequest(*req);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  for (const auto& s : first->shares) EXPECT_EQ(s.kind, ShareKind::kSelfMaskSeed);
  // A retry of the same request gets the same answer.
  auto again = p.HandleUnmaskRequest(*req);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *first);
  // A request claiming that neighbour j dropped would reveal j's mask-key share too: refused.
  const std::uint32_t j = p.mask_partners().front();
  UnmaskRequest lie = *req;
  lie.committed.erase(std::find(lie.committed.begin(), lie.committed.end(), j));
  auto refused = p.HandleUnmaskRequest(lie);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(refused.error().message().find("mask-key share of participant " + std::to_string(j)), std::string::npos)
      << refused.error().message();
  EXPECT_NE(refused.error().message().find("never both"), std::string::npos);
  // The other way round: a participant that first revealed a key share refuses the seed share.
  Participant& q = *h.parts[1];
  UnmaskRequest lie2 = *req;
  const std::uint32_t j2 = q.mask_partners().back();
  lie2.committed.erase(std::find(lie2.committed.begin(), lie2.committed.end(), j2));
  auto key_first = q.HandleUnmaskRequest(lie2);
  ASSERT_TRUE(key_first.has_value()) << key_first.error().ToString();
  auto seed_after = q.HandleUnmaskRequest(*req);
  ASSERT_FALSE(seed_after.has_value());
  EXPECT_NE(seed_after.error().message().find("self-mask-seed share of participant " + std::to_string(j2)),
            std::string::npos) << seed_after.error().message();
}

TEST(SecAggProtocol, ParticipantRefusesRequestsThatCannotBeHonest) {
  Harness h;
  h.Create(StandardParams(8, 7, 4), StandardSetup(8, 50));
  h.updates = testing::RandomUpdates(8, 50, 1.0f, 5);
  ASSERT_TRUE(h.RunKeysAndShares());
  h.RunMasking();
  Participant& p = *h.parts[2];
  UnmaskRequest without_self{h.setup.round_id, {0, 1, 3, 4, 5}};
  EXPECT_EQ(p.HandleUnmaskRequest(without_self).error().code(), ErrorCode::kFailedPrecondition);
  UnmaskRequest too_few{h.setup.round_id, {1, 2, 3}};
  auto r = p.HandleUnmaskRequest(too_few);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("fewer than t = 4"), std::string::npos);
  UnmaskRequest wrong_round{h.setup.round_id + 1, {0, 1, 2, 3, 4, 5, 6, 7}};
  EXPECT_FALSE(p.HandleUnmaskRequest(wrong_round).has_value());
  EXPECT_EQ(p.state(), Participant::State::kCommitted);  // nothing revealed by the refusals
}

TEST(SecAggProtocol, ParticipantDetectsInconsistentViewsAndTooFewPartners) {
  Harness h;
  h.Create(StandardParams(8, 7, 4), StandardSetup(8, 50));
  h.updates = testing::RandomUpdates(8, 50, 1.0f, 5);
  ASSERT_TRUE(h.RunKeysAndShares());
  // Participant 3 is told that one neighbour sent no shares, although it did.
  SharesRelay relay;
  for (const auto& r : h.share_relays) if (r.recipient == 3) relay = r;
  ASSERT_EQ(relay.shares.size(), 6u);
  const std::uint32_t hidden = relay.shares[0].peer;
  SharesRelay partial = relay;
  partial.shares.erase(partial.shares.begin());
  Participant& p = *h.parts[3];
  ASSERT_TRUE(p.HandleSharesRelay(partial).has_value());
  EXPECT_EQ(p.mask_partners().size(), 5u);
  std::vector<std::uint32_t> out(50);
  ASSERT_TRUE(p.MaskChunk(h.updates[3], 0, out).has_value());
  ASSERT_TRUE(p.FinishMasking().has_value());
  // Later the aggregator lists `hidden` as committed: participant 3 refuses to reveal.
  UnmaskRequest req{h.setup.round_id, {0, 1, 2, 3, 4, 5, 6, 7}};
  auto r = p.HandleUnmaskRequest(req);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("participant " + std::to_string(hidden) + " is listed as committed"),
            std::string::npos) << r.error().message();

  // Too few partners to mask (t − 1 = 3 needed besides itself): refused.
  Participant& q = *h.parts[4];
  SharesRelay tiny;
  for (const auto& x : h.share_relays) if (x.recipient == 4) tiny = x;
  tiny.shares.resize(2);
  auto st = q.HandleSharesRelay(tiny);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message().find("refuses to mask"), std::string::npos) << st.error().message();
  EXPECT_EQ(q.state(), Participant::State::kSharesSent);
  EXPECT_FALSE(q.MaskChunk(h.updates[4], 0, out).has_value());
}

TEST(SecAggProtocol, TamperedCiphertextIsRefusedNamingTheSender) {
  Harness h;
  h.Create(StandardParams(8, 7, 4), StandardSetup(8, 50));
  ASSERT_TRUE(h.RunKeysAndShares());
  SharesRelay relay = h.share_relays[0];
  relay.shares[1].ciphertext[10] ^= 1;
  auto st = h.parts[relay.recipient]->HandleSharesRelay(relay);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(st.error().message().find("participant " + std::to_string(relay.shares[1].peer)), std::string::npos);
  // Shares swapped between senders do not open either (the AAD binds sender and recipient).
  SharesRelay swapped = h.share_relays[0];
  std::swap(swapped.shares[0].ciphertext, swapped.shares[1].ciphertext);
  EXPECT_EQ(h.parts[relay.recipient]->HandleSharesRelay(swapped).error().code(), ErrorCode::kUnauthenticated);
  // The untouched relay still works (refusals changed nothing).
  EXPECT_TRUE(h.parts[relay.recipient]->HandleSharesRelay(h.share_relays[0]).has_value());
}

TEST(SecAggProtocol, DifferentParametersCannotInteroperate) {
  // Participant 0 believes in another context: its shares do not open for anyone. (n = k = 7:
  // the complete graph, so everyone is its neighbour.)
  const Params p = StandardParams(7, 7, 4);
  const RoundSetup s = StandardSetup(7, 50);
  RoundSetup other = s;
  other.context = ToBytes("federation other");
  Harness h;
  h.Create(p, s);
  auto rogue = Participant::Create(ParticipantOptions{p, other, 0, testing::SeededFill(1)});
  ASSERT_TRUE(rogue.has_value());
  h.parts[0].emplace(std::move(*rogue));
  ASSERT_TRUE(h.RunKeysAndShares());  // the aggregator cannot tell
  for (const auto& relay : h.share_relays) {
    if (relay.recipient == 0) continue;
    auto st = h.parts[relay.recipient]->HandleSharesRelay(relay);
    ASSERT_FALSE(st.has_value());
    EXPECT_NE(st.error().message().find("participant 0 do not decrypt"), std::string::npos) << st.error().message();
  }
}

TEST(SecAggProtocol, WrongRevealedShareIsDetected) {
  using D = DropPoint;
  for (bool seed_case : {true, false}) {
    SCOPED_TRACE(seed_case ? "seed share" : "mask-key share");
    Harness h;
    h.Create(StandardParams(7, 7, 4), StandardSetup(7, 50));  // complete: 0 neighbours 1
    h.drops = {D::kNone, D::kAfterShares};
    h.updates = testing::RandomUpdates(7, 50, 1.0f, 5);
    ASSERT_TRUE(h.RunKeysAndShares());
    h.RunMasking();
    auto req = h.agg->BeginUnmasking();
    ASSERT_TRUE(req.has_value());
    for (std::uint32_t i : req->committed) {
      auto resp = h.parts[i]->HandleUnmaskRequest(*req);
      ASSERT_TRUE(resp.has_value());
      if (i == req->committed.front()) {
        // Corrupt every share this responder reveals of the wanted kind.
        for (auto& sh : resp->shares) {
          if ((sh.kind == ShareKind::kSelfMaskSeed) == seed_case) {
            sh.y[0] ^= 0x80;
          }
        }
      }
      ASSERT_TRUE(h.agg->HandleUnmaskResponse(*resp).has_value());
    }
    auto sum = h.agg->Finalize();
    ASSERT_FALSE(sum.has_value());
    EXPECT_EQ(sum.error().code(), ErrorCode::kUnauthenticated);
    ASSERT_TRUE(h.agg->abort_reason().has_value());
    EXPECT_EQ(h.agg->abort_reason()->stage, AbortReason::Stage::kReconstruction);
    EXPECT_NE(sum.error().message().find(seed_case ? "does not match its commitment" : "advertised public key"),
              std::string::npos) << sum.error().message();
  }
}

TEST(SecAggProtocol, AggregatorChecksResponses) {
  using D = DropPoint;
  Harness h;
  h.Create(StandardParams(7, 7, 4), StandardSetup(7, 50));  // complete: 0 neighbours 1
  h.drops = {D::kNone, D::kAfterShares};
  h.updates = testing::RandomUpdates(7, 50, 1.0f, 5);
  ASSERT_TRUE(h.RunKeysAndShares());
  h.RunMasking();
  auto req = h.agg->BeginUnmasking();
  ASSERT_TRUE(req.has_value());
  auto resp = h.parts[0]->HandleUnmaskRequest(*req);
  ASSERT_TRUE(resp.has_value());
  UnmaskResponse bad = *resp;
  for (auto& s : bad.shares) s.kind = s.kind == ShareKind::kMaskKey ? ShareKind::kSelfMaskSeed : s.kind;
  EXPECT_NE(h.agg->HandleUnmaskResponse(bad).error().message().find("wrong kind"), std::string::npos);
  bad = *resp;
  bad.shares.pop_back();
  EXPECT_FALSE(h.agg->HandleUnmaskResponse(bad).has_value());
  bad = *resp;
  bad.sender = 1;  // dropped: not in S
  EXPECT_EQ(h.agg->HandleUnmaskResponse(bad).error().code(), ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(h.agg->HandleUnmaskResponse(*resp).has_value());
  EXPECT_EQ(h.agg->HandleUnmaskResponse(*resp).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(h.agg->responders(), (std::vector<std::uint32_t>{0}));
}

TEST(SecAggProtocol, AggregatorValidatesRoundsOneToThree) {
  Harness h;
  h.Create(StandardParams(8, 7, 4), StandardSetup(8, 50));
  Aggregator& a = *h.agg;
  AdvertiseKeys ad = h.parts[0]->advertisement();
  ASSERT_TRUE(a.HandleAdvertiseKeys(ad).has_value());
  EXPECT_TRUE(a.HandleAdvertiseKeys(ad).has_value());  // retry
  AdvertiseKeys other = h.parts[1]->advertisement();
  other.sender = 0;
  EXPECT_EQ(a.HandleAdvertiseKeys(other).error().code(), ErrorCode::kAlreadyExists);
  AdvertiseKeys copycat = h.parts[1]->advertisement();
  copycat.mask_key = ad.mask_key;  // another participant's key
  EXPECT_NE(a.HandleAdvertiseKeys(copycat).error().message().find("a key of participant 0"), std::string::npos);
  AdvertiseKeys low = h.parts[1]->advertisement();
  low.cipher_key = PublicKey{};  // the all-zero point has order 1
  EXPECT_EQ(a.HandleAdvertiseKeys(low).error().code(), ErrorCode::kUnauthenticated);
  AdvertiseKeys late = h.parts[1]->advertisement();
  late.round_id += 1;
  EXPECT_FALSE(a.HandleAdvertiseKeys(late).has_value());
  EXPECT_EQ(a.CloseShares().error().code(), ErrorCode::kFailedPrecondition);  // out of order
  for (std::uint32_t i = 1; i < 8; ++i) ASSERT_TRUE(a.HandleAdvertiseKeys(h.parts[i]->advertisement()).has_value());
  auto relays = a.CloseKeys();
  ASSERT_TRUE(relays.has_value());
  EXPECT_EQ(a.HandleAdvertiseKeys(ad).error().code(), ErrorCode::kFailedPrecondition);
  auto sk = h.parts[0]->HandleKeysRelay((*relays)[0]);
  ASSERT_TRUE(sk.has_value());
  ShareKeys wrong = *sk;
  wrong.shares.pop_back();
  EXPECT_FALSE(a.HandleShareKeys(wrong).has_value());
  ASSERT_TRUE(a.HandleShareKeys(*sk).has_value());
  EXPECT_TRUE(a.HandleShareKeys(*sk).has_value());  // retry
  wrong = *sk;
  wrong.seed_commitment[0] ^= 1;
  EXPECT_EQ(a.HandleShareKeys(wrong).error().code(), ErrorCode::kAlreadyExists);
  for (std::uint32_t i = 1; i < 8; ++i) {
    auto s = h.parts[i]->HandleKeysRelay((*relays)[i]);
    ASSERT_TRUE(s.has_value());
    ASSERT_TRUE(a.HandleShareKeys(*s).has_value());
  }
  auto share_relays = a.CloseShares();
  ASSERT_TRUE(share_relays.has_value());
  // Round 3: in order, complete, once.
  std::vector<std::uint32_t> v(50, 1);
  EXPECT_FALSE(a.AddMaskedChunk(0, 10, v).has_value());  // not at its next element
  ASSERT_TRUE(a.AddMaskedChunk(0, 0, std::span(v).first(20)).has_value());
  EXPECT_EQ(a.CommitInput(0).error().code(), ErrorCode::kFailedPrecondition);  // 20 of 50
  EXPECT_EQ(a.AddMaskedChunk(0, 20, v).error().code(), ErrorCode::kOutOfRange);
  ASSERT_TRUE(a.AddMaskedChunk(0, 20, std::span(v).first(30)).has_value());
  ASSERT_TRUE(a.CommitInput(0).has_value());
  EXPECT_EQ(a.CommitInput(0).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(a.AddMaskedChunk(0, 50, std::span(v).first(0)).has_value());
  // A sender left half folded makes the sum unusable: the round aborts.
  ASSERT_TRUE(a.AddMaskedChunk(1, 0, std::span(v).first(5)).has_value());
  auto req = a.BeginUnmasking();
  ASSERT_FALSE(req.has_value());
  EXPECT_NE(req.error().message().find("participant 1 has 5 elements folded but did not commit"), std::string::npos);
  EXPECT_EQ(a.state(), Aggregator::State::kAborted);
}

TEST(SecAggProtocol, ParticipantValidatesTheKeysRelay) {
  Harness h;
  h.Create(StandardParams(8, 7, 4), StandardSetup(8, 50));
  for (std::uint32_t i = 0; i < 8; ++i) ASSERT_TRUE(h.agg->HandleAdvertiseKeys(h.parts[i]->advertisement()).has_value());
  auto relays = h.agg->CloseKeys();
  ASSERT_TRUE(relays.has_value());
  Participant& p = *h.parts[5];
  const KeysRelay good = (*relays)[5];
  KeysRelay bad = good;
  bad.neighbors.pop_back();
  EXPECT_FALSE(p.HandleKeysRelay(bad).has_value());
  bad = good;
  bad.neighbors[0].mask_key = p.advertisement().mask_key;  // its own key reflected back
  EXPECT_NE(p.HandleKeysRelay(bad).error().message().find("repeats another key"), std::string::npos);
  bad = good;
  bad.members = {0, 1, 2};  // too few, and without itself
  EXPECT_FALSE(p.HandleKeysRelay(bad).has_value());
  bad = good;
  bad.recipient = 4;
  EXPECT_FALSE(p.HandleKeysRelay(bad).has_value());
  bad = good;
  bad.neighbors[1].index = 99;
  EXPECT_FALSE(p.HandleKeysRelay(bad).has_value());
  EXPECT_EQ(p.state(), Participant::State::kAdvertised);
  EXPECT_FALSE(p.FinishMasking().has_value());
  ASSERT_TRUE(p.HandleKeysRelay(good).has_value());
  EXPECT_EQ(p.state(), Participant::State::kSharesSent);
  EXPECT_EQ(p.HandleKeysRelay(good).error().code(), ErrorCode::kFailedPrecondition);
}

TEST(SecAggProtocol, ChunksMaskedInAnyOrderMatchTheWholeVector) {
  Harness h;
  h.Create(StandardParams(8, 7, 4), StandardSetup(8, 4099));
  h.updates = testing::RandomUpdates(8, 4099, 1.0f, 5);
  ASSERT_TRUE(h.RunKeysAndShares());
  Participant& p = *h.parts[6];
  for (const auto& r : h.share_relays) {
    if (r.recipient == 6) {
      ASSERT_TRUE(p.HandleSharesRelay(r).has_value());
    }
  }
  auto whole = p.MaskAll(h.updates[6]);
  ASSERT_TRUE(whole.has_value());
  std::vector<std::uint32_t> parts(4099);
  for (std::int64_t off = 4096; off >= 0; off -= 1024) {
    const std::size_t len = std::min<std::size_t>(1024, 4099 - off);
    ASSERT_TRUE(p.MaskChunk(std::span(h.updates[6]).subspan(off, len), off, std::span(parts).subspan(off, len)).has_value());
  }
  EXPECT_EQ(parts, whole->values);
  EXPECT_FALSE(p.MaskChunk(std::span(h.updates[6]).first(10), 4095, std::span(parts).first(10)).has_value());
}

}  // namespace
}  // namespace cairn::secagg
