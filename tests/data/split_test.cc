#include "participant/data/split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "participant/data/dataset.h"

namespace cairn::data {
namespace {

// Each of 0..n-1 exactly once, every site sorted.
void ExpectPartition(const Partition& p, std::int64_t n) {
  std::vector<int> seen(static_cast<std::size_t>(n), 0);
  for (const auto& site : p) {
    EXPECT_TRUE(std::is_sorted(site.begin(), site.end()));
    for (std::int64_t r : site) {
      ASSERT_GE(r, 0);
      ASSERT_LT(r, n);
      ++seen[static_cast<std::size_t>(r)];
    }
  }
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)], 1) << "row " << i;
}

std::vector<std::int64_t> Labels(std::int64_t n, std::int64_t classes) {
  std::vector<std::int64_t> l(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) l[i] = (i * 7 + i / 3) % classes;
  return l;
}

std::vector<std::int64_t> SiteCounts(const std::vector<std::int64_t>& site, const std::vector<std::int64_t>& labels,
                                     std::int64_t classes) {
  std::vector<std::int64_t> l;
  for (std::int64_t r : site) l.push_back(labels[r]);
  return LabelCounts(l, classes);
}

TEST(SplitTest, IidIsABalancedSeededPartition) {
  auto a = IidSplit(103, 4, 5);
  auto b = IidSplit(103, 4, 5);
  auto c = IidSplit(103, 4, 6);
  ASSERT_TRUE(a && b && c);
  ExpectPartition(*a, 103);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  for (const auto& s : *a) EXPECT_TRUE(s.size() == 25 || s.size() == 26);
  EXPECT_FALSE(IidSplit(10, 0, 1));
}

TEST(SplitTest, LabelSkewIsSkewedAndSeeded) {
  // 2 classes over 3 sites, 0.8 dominant: sites 1 and 3 mostly class 0, site 2 mostly class 1.
  std::vector<std::int64_t> labels(600);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 2);
  auto p = LabelSkewSplit(labels, 2, 3, 0.8, 1);
  ASSERT_TRUE(p);
  ExpectPartition(*p, 600);
  EXPECT_EQ(*p, *LabelSkewSplit(labels, 2, 3, 0.8, 1));
  EXPECT_NE(*p, *LabelSkewSplit(labels, 2, 3, 0.8, 2));
  auto c0 = SiteCounts((*p)[0], labels, 2), c1 = SiteCounts((*p)[1], labels, 2), c2 = SiteCounts((*p)[2], labels, 2);
  EXPECT_GT(c0[0], 3 * c0[1]);
  EXPECT_GT(c1[1], 10 * c1[0]);
  EXPECT_GT(c2[0], 3 * c2[1]);
  // Fraction 0 is a stratified split: every site close to the global 50/50.
  auto flat = LabelSkewSplit(labels, 2, 3, 0.0, 1);
  ASSERT_TRUE(flat);
  for (const auto& s : *flat) {
    auto c = SiteCounts(s, labels, 2);
    EXPECT_NEAR(c[0], c[1], 2);
  }
  // Fraction 1 with 10 classes and 10 sites: each site holds one class only.
  std::vector<std::int64_t> ten = Labels(1000, 10);
  auto pure = LabelSkewSplit(ten, 10, 10, 1.0, 3);
  ASSERT_TRUE(pure);
  for (std::size_t k = 0; k < 10; ++k) {
    auto c = SiteCounts((*pure)[k], ten, 10);
    EXPECT_EQ(c[k], static_cast<std::int64_t>((*pure)[k].size()));
  }
  EXPECT_FALSE(LabelSkewSplit(labels, 2, 3, 1.5, 1));
  EXPECT_FALSE(LabelSkewSplit(std::vector<std::int64_t>{0, 5}, 2, 3, 0.5, 1));
}

TEST(SplitTest, DirichletSizesSumAndSkewGrowsAsAlphaShrinks) {
  std::vector<std::int64_t> labels = Labels(5000, 10);
  auto a = DirichletSplit(labels, 10, 10, 0.5, 7, 10);
  ASSERT_TRUE(a) << a.error().ToString();
  ExpectPartition(*a, 5000);
  EXPECT_EQ(*a, *DirichletSplit(labels, 10, 10, 0.5, 7, 10));
  EXPECT_NE(*a, *DirichletSplit(labels, 10, 10, 0.5, 8, 10));
  std::size_t total = 0;
  for (const auto& s : *a) {
    EXPECT_GE(s.size(), 10u);
    total += s.size();
  }
  EXPECT_EQ(total, 5000u);
  // Mean share of a site's largest class: high for alpha 0.1, near 1/10 for alpha 1000.
  auto max_share = [&](const Partition& p) {
    double sum = 0;
    for (const auto& s : p) {
      auto c = SiteCounts(s, labels, 10);
      sum += static_cast<double>(*std::max_element(c.begin(), c.end())) / static_cast<double>(s.size());
    }
    return sum / static_cast<double>(p.size());
  };
  auto skewed = DirichletSplit(labels, 10, 10, 0.1, 7, 1);
  auto even = DirichletSplit(labels, 10, 10, 1000, 7, 1);
  ASSERT_TRUE(skewed && even);
  ExpectPartition(*skewed, 5000);
  EXPECT_GT(max_share(*skewed), 0.4);
  EXPECT_LT(max_share(*even), 0.15);
  auto impossible = DirichletSplit(labels, 10, 10, 0.5, 7, 600);
  ASSERT_FALSE(impossible);
  EXPECT_FALSE(DirichletSplit(labels, 10, 10, 0.0, 7, 1));
}

TEST(SplitTest, TrainTestIsStratified) {
  std::vector<std::int64_t> labels(100, 0);
  for (int i = 0; i < 40; ++i) labels[i] = 1;
  auto s = TrainTestSplit(labels, 2, 0.25, 3);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->test.size(), 25u);
  EXPECT_EQ(s->train.size(), 75u);
  auto test_counts = SiteCounts(s->test, labels, 2);
  EXPECT_EQ(test_counts[1], 10);
  EXPECT_EQ(test_counts[0], 15);
  ExpectPartition(Partition{s->train, s->test}, 100);
  EXPECT_FALSE(TrainTestSplit(labels, 2, 1.0, 3));
}

TEST(DatasetTest, SubsetAndValidate) {
  Dataset d{.features = {1, 2, 3, 4, 5, 6}, .labels = {0, 1, 1}, .rows = 3, .feature_shape = {2},
            .num_classes = 2, .feature_names = {"a", "b"}};
  ASSERT_TRUE(ValidateDataset(d));
  std::vector<std::int64_t> idx = {2, 0};
  auto s = Subset(d, idx);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->features, (std::vector<float>{5, 6, 1, 2}));
  EXPECT_EQ(s->labels, (std::vector<std::int64_t>{1, 0}));
  std::vector<std::int64_t> bad = {3};
  EXPECT_FALSE(Subset(d, bad));
  d.labels[1] = 2;
  EXPECT_FALSE(ValidateDataset(d));
}

}  // namespace
}  // namespace cairn::data
