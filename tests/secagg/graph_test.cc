// The masking graph: regular, symmetric, seeded, complete when k ≥ m, distinct share slots;
// connected components of a subset (the connectivity rule of unmasking).
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "common/secagg/graph.h"
#include "tests/secagg/harness.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg {
namespace {

std::array<std::uint8_t, 32> Seed(std::uint8_t b) {
  std::array<std::uint8_t, 32> s;
  s.fill(b);
  return s;
}

std::vector<std::uint32_t> Range(std::uint32_t n) {
  std::vector<std::uint32_t> v(n);
  for (std::uint32_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

void CheckGraph(const Graph& g, std::uint32_t expected_k) {
  for (std::uint32_t i : g.members()) {
    const auto closed = g.ClosedNeighborhood(i);
    ASSERT_EQ(closed.size(), expected_k) << "participant " << i;
    ASSERT_TRUE(std::binary_search(closed.begin(), closed.end(), i));
    std::set<int> xs;
    for (std::uint32_t h : closed) {
      ASSERT_TRUE(g.InNeighborhood(i, h));
      ASSERT_TRUE(g.InNeighborhood(h, i)) << "not symmetric: " << i << " " << h;
      const int x = g.ShareX(i, h);
      ASSERT_GE(x, 1);
      ASSERT_LE(x, static_cast<int>(expected_k));
      xs.insert(x);
    }
    ASSERT_EQ(xs.size(), expected_k) << "share slots repeat for owner " << i;
    EXPECT_EQ(g.Neighbors(i).size(), expected_k - 1);
  }
}

TEST(SecAggGraph, RingIsKRegularAndSymmetric) {
  for (std::uint32_t n : {8u, 9u, 20u, 101u}) {
    for (std::uint32_t k : {3u, 5u, 7u}) {
      auto g = Graph::Build(n, Range(n), k, Seed(1));
      ASSERT_TRUE(g.has_value());
      EXPECT_EQ(g->neighborhood_size(), std::min(k, n));
      CheckGraph(*g, std::min(k, n));
      // Edge count: n·(k − 1)/2 when the ring is not complete.
      std::size_t degree_sum = 0;
      for (std::uint32_t i = 0; i < n; ++i) degree_sum += g->Neighbors(i).size();
      EXPECT_EQ(degree_sum, static_cast<std::size_t>(n) * (std::min(k, n) - 1));
    }
  }
}

TEST(SecAggGraph, CompleteWhenKCoversTheMembers) {
  for (std::uint32_t m : {4u, 5u, 7u}) {  // even and odd member counts
    auto g = Graph::Build(10, Range(m), 7, Seed(2));
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->neighborhood_size(), m);
    CheckGraph(*g, m);
    for (std::uint32_t i = 0; i < m; ++i) EXPECT_EQ(g->ClosedNeighborhood(i), Range(m));
  }
}

TEST(SecAggGraph, SeededPermutationIsDeterministicAndVaries) {
  auto a = Graph::Build(50, Range(50), 5, Seed(3));
  auto b = Graph::Build(50, Range(50), 5, Seed(3));
  auto c = Graph::Build(50, Range(50), 5, Seed(4));
  ASSERT_TRUE(a && b && c);
  int same_ab = 0, same_ac = 0;
  for (std::uint32_t i = 0; i < 50; ++i) {
    same_ab += a->ClosedNeighborhood(i) == b->ClosedNeighborhood(i);
    same_ac += a->ClosedNeighborhood(i) == c->ClosedNeighborhood(i);
  }
  EXPECT_EQ(same_ab, 50);
  EXPECT_LT(same_ac, 5);
  // Not the roster-order ring: some neighbour of 0 is not 1 or 49 or 2 or 48.
  const auto nb = a->Neighbors(0);
  EXPECT_FALSE(nb == (std::vector<std::uint32_t>{1, 2, 48, 49}));
}

TEST(SecAggGraph, SubsetOfTheCohort) {
  std::vector<std::uint32_t> members = {9, 2, 4, 7, 11, 0, 5};
  auto g = Graph::Build(12, members, 3, Seed(5));
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->members(), (std::vector<std::uint32_t>{0, 2, 4, 5, 7, 9, 11}));
  EXPECT_FALSE(g->IsMember(1));
  EXPECT_TRUE(g->ClosedNeighborhood(1).empty());
  EXPECT_EQ(g->ShareX(1, 0), 0);
  CheckGraph(*g, 3);
}

TEST(SecAggGraph, ComponentsMatchABreadthFirstSearch) {
  std::mt19937 gen(17);
  for (std::uint32_t n : {7u, 12u, 30u}) {
    for (std::uint32_t k : {3u, 5u, 7u}) {
      auto g = Graph::Build(n, Range(n), k, Seed(static_cast<std::uint8_t>(n + k)));
      ASSERT_TRUE(g.has_value());
      for (int trial = 0; trial < 60; ++trial) {
        std::bernoulli_distribution keep(0.3 + 0.01 * trial);
        std::set<std::uint32_t> subset;
        for (std::uint32_t i = 0; i < n; ++i) if (keep(gen)) subset.insert(i);
        std::vector<std::uint32_t> v(subset.begin(), subset.end());
        std::shuffle(v.begin(), v.end(), gen);  // any order
        ASSERT_EQ(g->Components(v), testing::NaiveComponents(*g, subset))
            << "n = " << n << ", k = " << k << ", trial " << trial;
      }
      EXPECT_EQ(g->Components(Range(n)).size(), 1u);  // the whole ring is connected
      EXPECT_TRUE(g->Components({}).empty());
    }
  }
}

TEST(SecAggGraph, RingWithoutTwoMembersAtDistanceThreeSplits) {
  // The reviewer's example: 7 on a ring with k = 3; without two members at ring distance 3 the
  // rest is a path of 3 and a path of 2.
  auto g = Graph::Build(7, Range(7), 3, Seed(9));
  ASSERT_TRUE(g.has_value());
  const auto d = testing::Distances(*g, 0);
  const auto y = static_cast<std::uint32_t>(std::find(d.begin(), d.end(), 3) - d.begin());
  ASSERT_LT(y, 7u);
  std::vector<std::uint32_t> rest;
  for (std::uint32_t i = 1; i < 7; ++i) if (i != y) rest.push_back(i);
  const auto groups = g->Components(rest);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].size() + groups[1].size(), 5u);
  EXPECT_EQ(std::min(groups[0].size(), groups[1].size()), 2u);
  // Without one member only, the ring is a path: connected.
  auto path = Range(7);
  path.erase(path.begin());
  EXPECT_EQ(g->Components(path).size(), 1u);
}

TEST(SecAggGraph, ComponentsOfTheCompleteGraphAndOfNonMembers) {
  auto g = Graph::Build(12, {0, 2, 4, 5, 7}, 7, Seed(6));  // m = 5 ≤ k: complete
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->Components(std::vector<std::uint32_t>{7, 0, 4}),
            (std::vector<std::vector<std::uint32_t>>{{0, 4, 7}}));
  // 3 and 11 are not members: each is a group of its own (they share no mask with anyone).
  EXPECT_EQ(g->Components(std::vector<std::uint32_t>{11, 5, 3, 2}),
            (std::vector<std::vector<std::uint32_t>>{{2, 5}, {3}, {11}}));
}

TEST(SecAggGraph, RejectsBadInput) {
  EXPECT_FALSE(Graph::Build(5, {}, 3, Seed(1)).has_value());
  EXPECT_FALSE(Graph::Build(5, {0, 1, 1}, 3, Seed(1)).has_value());
  EXPECT_FALSE(Graph::Build(5, {0, 5}, 3, Seed(1)).has_value());
  EXPECT_FALSE(Graph::Build(5, Range(5), 4, Seed(1)).has_value());
  EXPECT_FALSE(Graph::Build(5, Range(5), 3, ByteSpan()).has_value());
}

}  // namespace
}  // namespace cairn::secagg
