// A step-by-step driver of one masked round for the protocol tests: the objects are kept so a
// test can intervene between rounds. Every message goes through Encode → Decode.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include "common/secagg/aggregator.h"
#include "common/secagg/messages.h"
#include "common/secagg/participant.h"
#include "common/secagg/simulation.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg::testing {

inline SimulationOptions Opts(const Params& p, const RoundSetup& s, std::vector<DropPoint> drops = {}) {
  SimulationOptions o;
  o.params = p;
  o.setup = s;
  o.drops = std::move(drops);
  return o;
}

template <typename T>
T ViaBytes(const T& message, const DecodeLimits& limits) {
  auto r = DecodeAs<T>(Encode(message), limits);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r.has_value() ? std::move(*r) : T{};
}

// The connected components of the graph restricted to `subset`, the slow obvious way (BFS over
// Neighbors, with a std::set): the oracle for Graph::Components and the aggregator's check.
inline std::vector<std::vector<std::uint32_t>> NaiveComponents(const Graph& g,
                                                                const std::set<std::uint32_t>& subset) {
  std::vector<std::vector<std::uint32_t>> out;
  std::set<std::uint32_t> seen;
  for (std::uint32_t start : subset) {
    if (seen.count(start)) continue;
    std::vector<std::uint32_t> component, todo = {start};
    seen.insert(start);
    while (!todo.empty()) {
      const std::uint32_t i = todo.back();
      todo.pop_back();
      component.push_back(i);
      for (std::uint32_t j : g.Neighbors(i)) {
        if (subset.count(j) && !seen.count(j)) {
          seen.insert(j);
          todo.push_back(j);
        }
      }
    }
    std::sort(component.begin(), component.end());
    out.push_back(std::move(component));
  }
  return out;  // by smallest member: `subset` is visited in ascending order
}

// Hops from `from` to every member (BFS over Neighbors); -1 for non-members.
inline std::vector<int> Distances(const Graph& g, std::uint32_t from) {
  std::vector<int> d(g.cohort_size(), -1);
  std::vector<std::uint32_t> todo = {from};
  d[from] = 0;
  for (std::size_t head = 0; head < todo.size(); ++head) {
    for (std::uint32_t j : g.Neighbors(todo[head])) {
      if (d[j] < 0) {
        d[j] = d[todo[head]] + 1;
        todo.push_back(j);
      }
    }
  }
  return d;
}

struct Harness {
  Params params;
  RoundSetup setup;
  std::optional<Aggregator> agg;
  std::vector<std::optional<Participant>> parts;
  std::vector<DropPoint> drops;
  std::vector<std::vector<float>> updates;
  std::vector<SharesRelay> share_relays;  // as produced by the aggregator

  DropPoint drop(std::uint32_t i) const { return i < drops.size() ? drops[i] : DropPoint::kNone; }

  // Creates the objects. Participant i's randomness is SeededFill(seed + i).
  void Create(const Params& p, const RoundSetup& s, std::uint64_t seed = 1000,
              MaskedInputObserver observer = {}) {
    params = p;
    setup = s;
    AggregatorOptions ao;
    ao.params = p;
    ao.setup = s;
    ao.observe_masked_input_for_testing = std::move(observer);
    auto a = Aggregator::Create(std::move(ao));
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    agg.emplace(std::move(*a));
    parts.clear();
    parts.resize(s.cohort_size);
    for (std::uint32_t i = 0; i < s.cohort_size; ++i) {
      auto q = Participant::Create(ParticipantOptions{p, s, i, SeededFill(seed + i)});
      ASSERT_TRUE(q.has_value()) << q.error().ToString();
      parts[i].emplace(std::move(*q));
    }
  }

  // Rounds 1 and 2 up to CloseShares (inclusive). Returns false when the aggregator aborted.
  bool RunKeysAndShares() {
    for (std::uint32_t i = 0; i < parts.size(); ++i) {
      if (drop(i) == DropPoint::kBeforeKeys) continue;
      auto st = agg->HandleAdvertiseKeys(ViaBytes(parts[i]->advertisement(), agg->decode_limits()));
      EXPECT_TRUE(st.has_value()) << st.error().ToString();
    }
    auto relays = agg->CloseKeys();
    if (!relays) return false;
    for (const auto& relay : *relays) {
      if (drop(relay.recipient) == DropPoint::kAfterKeys) continue;
      Participant& p = *parts[relay.recipient];
      auto shares = p.HandleKeysRelay(ViaBytes(relay, p.decode_limits()));
      EXPECT_TRUE(shares.has_value()) << shares.error().ToString();
      if (!shares) return false;
      auto st = agg->HandleShareKeys(ViaBytes(*shares, agg->decode_limits()));
      EXPECT_TRUE(st.has_value()) << st.error().ToString();
    }
    auto sr = agg->CloseShares();
    if (!sr) return false;
    share_relays = std::move(*sr);
    return true;
  }

  // Round 3 for everyone still in: deliver relays, mask in chunks, fold, commit.
  void RunMasking(std::size_t chunk = 1000) {
    for (const auto& relay : share_relays) {
      const std::uint32_t i = relay.recipient;
      if (drop(i) == DropPoint::kAfterShares) continue;
      Participant& p = *parts[i];
      auto st = p.HandleSharesRelay(ViaBytes(relay, p.decode_limits()));
      ASSERT_TRUE(st.has_value()) << st.error().ToString();
      std::vector<std::uint32_t> out(chunk);
      for (std::uint64_t off = 0; off < setup.num_elements; off += chunk) {
        const std::size_t len = std::min<std::uint64_t>(chunk, setup.num_elements - off);
        auto m = p.MaskChunk(std::span(updates[i]).subspan(off, len), off, std::span(out).first(len));
        ASSERT_TRUE(m.has_value()) << m.error().ToString();
        MaskedInput mi{setup.round_id, i, off, std::vector<std::uint32_t>(out.begin(), out.begin() + len)};
        ASSERT_TRUE(agg->HandleMaskedInput(ViaBytes(mi, agg->decode_limits())).has_value());
      }
      ASSERT_TRUE(p.FinishMasking().has_value());
      ASSERT_TRUE(agg->CommitInput(i).has_value());
    }
  }

  // Round 4: every member of S not dropping answers. Returns the number of shares revealed.
  std::size_t RunReveals(const UnmaskRequest& request) {
    std::size_t revealed = 0;
    for (std::uint32_t i : request.committed) {
      if (drop(i) == DropPoint::kAfterCommit) continue;
      Participant& p = *parts[i];
      auto resp = p.HandleUnmaskRequest(ViaBytes(request, p.decode_limits()));
      EXPECT_TRUE(resp.has_value()) << resp.error().ToString();
      if (!resp) continue;
      revealed += resp->shares.size();
      auto st = agg->HandleUnmaskResponse(ViaBytes(*resp, agg->decode_limits()));
      EXPECT_TRUE(st.has_value()) << st.error().ToString();
    }
    return revealed;
  }

  // Plain sum of the updates of the given participants, clamped to [−r, r] as masking does.
  std::vector<double> PlainSum(const std::vector<std::uint32_t>& who) const {
    std::vector<double> s(setup.num_elements, 0.0);
    for (std::uint32_t i : who) {
      for (std::size_t e = 0; e < s.size(); ++e) {
        s[e] += std::clamp<double>(updates[i][e], -params.clip_range, params.clip_range);
      }
    }
    return s;
  }
};

}  // namespace cairn::secagg::testing
