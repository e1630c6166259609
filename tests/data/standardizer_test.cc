#include "participant/data/standardizer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cairn::data {
namespace {

Dataset Make(std::vector<float> features, std::int64_t rows, std::int64_t cols) {
  Dataset d;
  d.features = std::move(features);
  d.rows = rows;
  d.feature_shape = {cols};
  d.labels.assign(static_cast<std::size_t>(rows), 0);
  d.num_classes = 2;
  return d;
}

TEST(StandardizerTest, FitGivesZeroMeanUnitVarianceOnTraining) {
  Dataset train = Make({1, 10, 2, 10, 3, 10, 6, 10}, 4, 2);  // column 2 is constant
  auto s = Standardizer::Fit(train);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->mean()[0], 3.0);
  EXPECT_NEAR(s->stddev()[0], std::sqrt(3.5), 1e-12);
  EXPECT_DOUBLE_EQ(s->stddev()[1], 1.0);  // constant: scale 1
  ASSERT_TRUE(s->Apply(train));
  double sum = 0, sq = 0;
  for (int r = 0; r < 4; ++r) {
    sum += train.features[r * 2];
    sq += train.features[r * 2] * train.features[r * 2];
    EXPECT_FLOAT_EQ(train.features[r * 2 + 1], 0.0f);
  }
  EXPECT_NEAR(sum / 4, 0.0, 1e-6);
  EXPECT_NEAR(sq / 4, 1.0, 1e-6);
}

TEST(StandardizerTest, TestSplitUsesTrainingStatistics) {
  Dataset train = Make({0, 2}, 2, 1);  // mean 1, std 1
  Dataset test = Make({5}, 1, 1);
  auto s = Standardizer::Fit(train);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Apply(test));
  EXPECT_FLOAT_EQ(test.features[0], 4.0f);
}

TEST(StandardizerTest, RefusesEmptyAndMismatchedData) {
  EXPECT_FALSE(Standardizer::Fit(Make({}, 0, 3)));
  auto s = Standardizer::Fit(Make({1, 2}, 1, 2));
  ASSERT_TRUE(s);
  Dataset other = Make({1, 2, 3}, 1, 3);
  auto st = s->Apply(other);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("2 features"), std::string::npos);
}

TEST(StandardizerTest, SummedMomentsGiveThePooledStatistics) {
  Dataset a = Make({1, 10, 2, 20}, 2, 2);
  Dataset b = Make({3, 30, 6, 40, 8, 50}, 3, 2);
  Dataset pooled = Make({1, 10, 2, 20, 3, 30, 6, 40, 8, 50}, 5, 2);
  auto ma = ComputeMoments(a), mb = ComputeMoments(b);
  ASSERT_TRUE(ma && mb);
  FeatureMoments total;
  ASSERT_TRUE(AddMoments(total, *ma));
  ASSERT_TRUE(AddMoments(total, *mb));
  EXPECT_EQ(total.count, 5);
  auto federated = Standardizer::FromMoments(total);
  auto central = Standardizer::Fit(pooled);
  ASSERT_TRUE(federated && central);
  for (int j = 0; j < 2; ++j) {
    EXPECT_NEAR(federated->mean()[j], central->mean()[j], 1e-9);
    EXPECT_NEAR(federated->stddev()[j], central->stddev()[j], 1e-9);
  }
  auto other = ComputeMoments(Make({1, 2, 3}, 1, 3));
  ASSERT_TRUE(other);
  EXPECT_FALSE(AddMoments(total, *other));
  EXPECT_FALSE(Standardizer::FromMoments(FeatureMoments{}));
}

TEST(StandardizerTest, FromStatisticsChecksItsInput) {
  auto s = Standardizer::FromStatistics({1.0, 2.0}, {2.0, 4.0});
  ASSERT_TRUE(s);
  Dataset d = Make({3, 10}, 1, 2);
  ASSERT_TRUE(s->Apply(d));
  EXPECT_FLOAT_EQ(d.features[0], 1.0f);
  EXPECT_FLOAT_EQ(d.features[1], 2.0f);
  EXPECT_FALSE(Standardizer::FromStatistics({1.0}, {0.0}));
  EXPECT_FALSE(Standardizer::FromStatistics({1.0}, {1.0, 2.0}));
}

}  // namespace
}  // namespace cairn::data
