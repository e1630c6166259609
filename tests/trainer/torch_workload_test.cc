// The real workload's federated standardization (participant/torch_workload.cc): the moments a
// site sends are those of its raw data, however often they are asked for, and pooled statistics
// are always applied to the raw values (an aggregator that restarts in round 1 pools again).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/model/rng.h"
#include "participant/torch_workload.h"

namespace cairn::participant {
namespace {

class TorchWorkloadStandardizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-torch-workload-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    model::DeterministicRng rng(7);
    std::ofstream f(dir_ / "train.csv");
    f << "a,b,c,label\n";
    for (int i = 0; i < 80; ++i) {
      int label = i % 2;
      f << (label ? 30.0 : 10.0) + 4 * rng.Normal() << "," << 1000 + 50 * rng.Normal() << ","
        << -3 + 0.5 * rng.Normal() << "," << label << "\n";
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Workload> Make() {
    ParticipantConfig c;
    c.id = "p0";
    c.data.format = "csv";
    c.data.train = dir_ / "train.csv";
    c.data.holdout_fraction = 0.25;
    auto w = MakeTorchWorkload(c);
    EXPECT_TRUE(w) << w.error().ToString();
    protocol::FederationConfig fed;
    fed.standardization = "federated";
    fed.model.kind = "logreg";
    fed.model.input_shape = {3};
    fed.model.classes = 2;
    auto st = (*w)->Prepare(fed);
    EXPECT_TRUE(st) << st.error().ToString();
    return std::move(*w);
  }

  // Fixed, asymmetric parameters (equal weights for every class would give the same loss on any data).
  static std::vector<float> Parameters(const Workload& w) {
    std::vector<float> p(w.num_params());
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = 0.1f * static_cast<float>(i % 5) - 0.2f;
    return p;
  }

  // Evaluation and one epoch of training from fixed parameters: equal only on equal data.
  static std::vector<double> Fingerprint(Workload& w, const std::vector<double>& mean, const std::vector<double>& sd) {
    auto global = Parameters(w);
    std::vector<double> out;
    auto e = w.Evaluate(global);
    EXPECT_TRUE(e) << e.error().ToString();
    for (const auto& m : *e) out.push_back(m.value);
    protocol::Task task;
    task.seed = 3;
    task.feature_mean = mean;
    task.feature_std = sd;
    std::vector<float> delta(w.num_params());
    auto r = w.Train(global, task, delta);
    EXPECT_TRUE(r) << r.error().ToString();
    out.insert(out.end(), delta.begin(), delta.end());
    return out;
  }

  std::filesystem::path dir_;
};

const std::vector<double> kMeanA = {20, 1000, -3}, kStdA = {10, 50, 0.5};
const std::vector<double> kMeanB = {15, 990, -2.5}, kStdB = {12, 40, 0.7};

TEST_F(TorchWorkloadStandardizationTest, MomentsAreThoseOfTheRawDataWhateverWasApplied) {
  auto w = Make();
  auto before = w->FeatureMoments();
  ASSERT_TRUE(before);
  EXPECT_EQ(before->count, 60u);
  ASSERT_TRUE(w->SetFeatureStandardization(kMeanA, kStdA));
  auto after = w->FeatureMoments();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->count, before->count);
  EXPECT_EQ(after->sum, before->sum);  // bit for bit
  EXPECT_EQ(after->sum_squares, before->sum_squares);
  ASSERT_TRUE(w->SetFeatureStandardization(kMeanB, kStdB));
  auto again = w->FeatureMoments();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->sum, before->sum);
  EXPECT_EQ(again->sum_squares, before->sum_squares);
}

TEST_F(TorchWorkloadStandardizationTest, NewPooledStatisticsApplyToTheRawData) {
  auto a_then_b = Make();
  ASSERT_TRUE(a_then_b->SetFeatureStandardization(kMeanA, kStdA));
  ASSERT_TRUE(a_then_b->SetFeatureStandardization(kMeanA, kStdA));  // the same again: no-op
  ASSERT_TRUE(a_then_b->SetFeatureStandardization(kMeanB, kStdB));  // changed: not an error
  auto only_b = Make();
  ASSERT_TRUE(only_b->SetFeatureStandardization(kMeanB, kStdB));
  auto only_a = Make();
  ASSERT_TRUE(only_a->SetFeatureStandardization(kMeanA, kStdA));

  auto fa_b = Fingerprint(*a_then_b, kMeanB, kStdB);
  auto fb = Fingerprint(*only_b, kMeanB, kStdB);
  EXPECT_EQ(fa_b, fb);
  // The fingerprint tells the two standardizations apart (evaluation only: training would
  // apply B to this one too).
  auto global = Parameters(*only_a);
  auto ea = only_a->Evaluate(global);
  auto eb = only_b->Evaluate(global);
  ASSERT_TRUE(ea && eb);
  EXPECT_NE((*ea)[0].value, (*eb)[0].value);
  // And A again, after B, gives A's data back.
  ASSERT_TRUE(a_then_b->SetFeatureStandardization(kMeanA, kStdA));
  auto ea2 = a_then_b->Evaluate(global);
  ASSERT_TRUE(ea2);
  EXPECT_EQ((*ea2)[0].value, (*ea)[0].value);
}

TEST_F(TorchWorkloadStandardizationTest, InvalidStatisticsLeaveTheAppliedOnesInPlace) {
  auto w = Make();
  auto ref = Make();
  ASSERT_TRUE(w->SetFeatureStandardization(kMeanA, kStdA));
  ASSERT_TRUE(ref->SetFeatureStandardization(kMeanA, kStdA));
  EXPECT_FALSE(w->SetFeatureStandardization({1, 2}, {1, 1}));  // wrong feature count
  auto global = Parameters(*w);
  auto e = w->Evaluate(global);
  auto er = ref->Evaluate(global);
  ASSERT_TRUE(e && er);
  EXPECT_EQ((*e)[0].value, (*er)[0].value);
}

}  // namespace
}  // namespace cairn::participant
