#include "participant/data/prepare.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/core/file.h"
#include "participant/data/csv.h"
#include "participant/data/idx.h"
#include "tests/model/test_dir.h"

namespace cairn::data {
namespace {

// build/datasets/breast_cancer.csv (scripts/setup.sh), else the python3-sklearn copy.
std::filesystem::path FindBreastCancer() {
  std::vector<std::filesystem::path> candidates;
  if (const char* src = std::getenv("CAIRN_SOURCE_DIR")) {
    candidates.push_back(std::filesystem::path(src) / "build/datasets/breast_cancer.csv");
  }
#ifdef CAIRN_DEFAULT_SOURCE_DIR
  // ctest passes only CAIRN_SHARED_DIR in the environment (cmake/CairnHelpers.cmake): without this
  // the test skipped on every machine lacking python3-sklearn, although setup.sh fetched the file.
  candidates.push_back(std::filesystem::path(CAIRN_DEFAULT_SOURCE_DIR) / "build/datasets/breast_cancer.csv");
#endif
  candidates.push_back("/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv");
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c)) return c;
  }
  return {};
}

class PrepareTest : public testing_support::TempDirTest {};

TEST_F(PrepareTest, SplitsTheRealBreastCancerFile) {
  const auto input = FindBreastCancer();
  if (input.empty()) GTEST_SKIP() << "breast_cancer.csv not found (run scripts/setup.sh): skipping the real split";
  SklearnSplitOptions o{.input = input, .out_dir = dir_ / "a", .sites = 3, .seed = 42};
  auto summary = SplitSklearnCsv(o);
  ASSERT_TRUE(summary) << summary.error().ToString();
  ASSERT_EQ(summary->files.size(), 5u);  // 3 sites, test, pooled
  EXPECT_EQ(summary->class_names, (std::vector<std::string>{"malignant", "benign"}));

  std::int64_t site_rows = 0;
  std::vector<Dataset> sites;
  for (int k = 1; k <= 3; ++k) {
    auto d = LoadCsv(dir_ / "a" / ("site-" + std::to_string(k) + ".csv"));
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ(d->feature_names.size(), 30u);
    EXPECT_EQ(d->feature_names.front(), "mean radius");
    EXPECT_EQ(d->feature_names.back(), "worst fractal dimension");
    site_rows += d->rows;
    sites.push_back(std::move(*d));
  }
  auto test = LoadCsv(dir_ / "a" / "test.csv");
  auto pooled = LoadCsv(dir_ / "a" / "pooled.csv");
  ASSERT_TRUE(test && pooled);
  EXPECT_EQ(site_rows, pooled->rows);
  EXPECT_EQ(site_rows + test->rows, 569);
  EXPECT_EQ(test->rows, 113);  // round(0.2 × 212) + round(0.2 × 357) = 42 + 71
  // Label skew: sites 1 and 3 mostly malignant (0), site 2 mostly benign (1).
  auto counts = [](const Dataset& d) { return LabelCounts(d.labels, 2); };
  EXPECT_GT(counts(sites[0])[0], counts(sites[0])[1]);
  EXPECT_GT(counts(sites[1])[1], 5 * counts(sites[1])[0]);
  EXPECT_GT(counts(sites[2])[0], counts(sites[2])[1]);

  // Same seed, same bytes; another seed, other rows.
  ASSERT_TRUE(SplitSklearnCsv({.input = input, .out_dir = dir_ / "b", .sites = 3, .seed = 42}));
  ASSERT_TRUE(SplitSklearnCsv({.input = input, .out_dir = dir_ / "c", .sites = 3, .seed = 43}));
  EXPECT_EQ(*ReadFileBytes(dir_ / "a/site-2.csv"), *ReadFileBytes(dir_ / "b/site-2.csv"));
  EXPECT_NE(*ReadFileBytes(dir_ / "a/site-2.csv"), *ReadFileBytes(dir_ / "c/site-2.csv"));
}

TEST_F(PrepareTest, SplitsAMultiClassSklearnFileWithIndexNames) {
  std::string text = "60,2,a,b,c\n";
  for (int i = 0; i < 60; ++i) text += std::to_string(i) + ".5," + std::to_string(-i) + "," + std::to_string(i % 3) + "\n";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "three.csv", std::string_view(text)));
  auto summary = SplitSklearnCsv({.input = dir_ / "three.csv", .out_dir = dir_ / "o", .sites = 3, .seed = 1,
                                  .test_fraction = 0.2, .dominant_fraction = 1.0});
  ASSERT_TRUE(summary) << summary.error().ToString();
  auto site = LoadCsv(dir_ / "o/site-2.csv", CsvOptions{.num_classes = 3});
  ASSERT_TRUE(site) << site.error().ToString();
  EXPECT_EQ(site->feature_names, (std::vector<std::string>{"f0", "f1"}));
  for (auto l : site->labels) EXPECT_EQ(l, 1);  // dominant fraction 1: site 2 holds class 1 only
  EXPECT_EQ(summary->files[3].class_counts, (std::vector<std::int64_t>{4, 4, 4}));  // test.csv
  auto sklearn_names = SplitSklearnCsv({.input = dir_ / "three.csv", .out_dir = dir_ / "p", .feature_names = "sklearn"});
  ASSERT_FALSE(sklearn_names);
}

TEST_F(PrepareTest, SklearnFileErrorsNameLineAndColumn) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "bad.csv", std::string_view("2,2,x,y\n1,2,0\n1,zz,1\n")));
  auto r = ReadSklearnCsv(dir_ / "bad.csv");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("bad.csv line 3 column 2"), std::string::npos) << r.error().message();
  ASSERT_TRUE(WriteFileAtomic(dir_ / "count.csv", std::string_view("3,2,x,y\n1,2,0\n")));
  auto c = ReadSklearnCsv(dir_ / "count.csv");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("announces 3"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "cls.csv", std::string_view("1,2,x,y\n1,2,2\n")));
  auto cls = ReadSklearnCsv(dir_ / "cls.csv");
  ASSERT_FALSE(cls);
  EXPECT_NE(cls.error().message().find("column 3 (target)"), std::string::npos);
}

TEST_F(PrepareTest, FashionMnistSplitWritesIndexFilesThatCoverTheTrainingSet) {
  Bytes lab = {0, 0, 8, 1, 0, 0, 0x03, 0xE8};  // 1000 labels
  for (int i = 0; i < 1000; ++i) lab.push_back(static_cast<std::uint8_t>((i * 3) % 10));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "train-labels-idx1-ubyte", lab));
  for (std::string split : {"iid", "dirichlet"}) {
    auto summary = SplitFashionMnist({.data_dir = dir_, .out_dir = dir_ / split, .participants = 10,
                                      .split = split, .alpha = 0.5, .seed = 3, .min_per_participant = 5});
    ASSERT_TRUE(summary) << summary.error().ToString();
    ASSERT_EQ(summary->files.size(), 10u);
    std::vector<int> seen(1000, 0);
    for (int k = 1; k <= 10; ++k) {
      auto idx = ReadIndexFile(dir_ / split / ("participant-" + std::to_string(k) + ".txt"), 1000);
      ASSERT_TRUE(idx) << idx.error().ToString();
      EXPECT_GE(idx->size(), 5u);
      for (auto r : *idx) ++seen[r];
    }
    for (int s : seen) ASSERT_EQ(s, 1) << split;
  }
  EXPECT_FALSE(SplitFashionMnist({.data_dir = dir_, .out_dir = dir_ / "x", .split = "pathological"}));
}

}  // namespace
}  // namespace cairn::data
