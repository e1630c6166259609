#include "participant/data/csv.h"

#include <gtest/gtest.h>

#include "common/core/file.h"
#include "common/model/model_spec.h"
#include "participant/data/split.h"
#include "tests/model/test_dir.h"

namespace cairn::data {
namespace {

// Asserts that parsing fails and that the message contains each fragment.
void ExpectError(std::string_view csv, const std::vector<std::string>& fragments, const CsvOptions& o = {}) {
  auto r = ParseCsv(csv, "site-1.csv", o);
  ASSERT_FALSE(r) << "parsed: " << csv;
  for (const auto& f : fragments) {
    EXPECT_NE(r.error().message().find(f), std::string::npos) << "'" << f << "' not in: " << r.error().message();
  }
}

TEST(CsvTest, LoadsIntegerLabelsAndFeatures) {
  auto d = ParseCsv("a,b,label\n1.5,2,0\n-3e2,+4,1\n\n5,6,2\n", "x.csv");
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->rows, 3);
  EXPECT_EQ(d->feature_shape, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(d->features, (std::vector<float>{1.5f, 2, -300, 4, 5, 6}));
  EXPECT_EQ(d->labels, (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(d->num_classes, 3);
  EXPECT_EQ(d->feature_names, (std::vector<std::string>{"a", "b"}));
}

TEST(CsvTest, LabelColumnAnywhereQuotesCrlfAndBom) {
  auto d = ParseCsv("\xEF\xBB\xBF\"diag\", \"mean radius\" ,x\r\n1, 2.5 ,\"3\"\r\n0,4,5\r\n", "x.csv",
                    CsvOptions{.label_column = "diag"});
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->feature_names, (std::vector<std::string>{"mean radius", "x"}));
  EXPECT_EQ(d->features, (std::vector<float>{2.5f, 3, 4, 5}));
  EXPECT_EQ(d->labels, (std::vector<std::int64_t>{1, 0}));
}

TEST(CsvTest, StringLabelsAreSortedUnlessClassNamesAreGiven) {
  auto sorted = ParseCsv("f,label\n1,benign\n2,malignant\n3,benign\n", "x.csv");
  ASSERT_TRUE(sorted);
  EXPECT_EQ(sorted->labels, (std::vector<std::int64_t>{0, 1, 0}));
  EXPECT_EQ(sorted->num_classes, 2);
  auto named = ParseCsv("f,label\n1,benign\n2,malignant\n", "x.csv",
                        CsvOptions{.class_names = {"malignant", "benign", "other"}});
  ASSERT_TRUE(named);
  EXPECT_EQ(named->labels, (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(named->num_classes, 3);
  ExpectError("f,label\n1,benign\n2,unknown\n", {"line 3", "column 2", "'label'", "unknown"},
              CsvOptions{.class_names = {"malignant", "benign"}});
}

TEST(CsvTest, FeatureSubsetAndFixedClassCount) {
  auto d = ParseCsv("a,b,c,label\n1,2,3,0\n4,5,6,0\n", "x.csv",
                    CsvOptions{.feature_columns = {"c", "a"}, .num_classes = 4});
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->features, (std::vector<float>{3, 1, 6, 4}));
  EXPECT_EQ(d->num_classes, 4);
  ExpectError("a,label\n1,0\n", {"no feature column 'zz'"}, CsvOptions{.feature_columns = {"zz"}});
  ExpectError("a,label\n1,0\n", {"is the label"}, CsvOptions{.feature_columns = {"label"}});
}

TEST(CsvTest, ErrorsNameFileLineAndColumn) {
  ExpectError("a,b,label\n1,2,0\n3,,1\n", {"site-1.csv", "line 3", "column 2", "('b')", "empty field"});
  ExpectError("a,b,label\n1,2,0\n3,x7,1\n", {"site-1.csv", "line 3", "column 2", "not a number: 'x7'"});
  ExpectError("a,b,label\n1,2,0\n3,4\n", {"site-1.csv", "line 3", "column 3", "wrong column count", "found 2"});
  ExpectError("a,b,label\n1,2,0,9\n", {"line 2", "column 4", "found 4 fields"});
  ExpectError("a,b,target\n1,2,0\n", {"site-1.csv", "line 1", "no label column 'label'", "a, b, target"});
  ExpectError("a,b,label\n", {"site-1.csv", "no data rows"});
  ExpectError("", {"site-1.csv", "empty file"});
  ExpectError("a,a,label\n1,2,0\n", {"line 1", "column 2", "duplicate column name"});
  ExpectError("a,b,label\n1,\"2,0\n", {"line 2", "column 2", "unclosed quote"});
  ExpectError("a,b,label\n1,2,-1\n", {"line 2", "column 3", "negative"});
  ExpectError("a,b,label\n1,2,3\n", {"line 2", "column 3", "not below the 2 classes"}, CsvOptions{.num_classes = 2});
  ExpectError("a,b,label\n1,nan,0\n", {"column 2", "not a finite number"});
  ExpectError("a,b,label\n1,1e60,0\n", {"column 2", "float range"});
  ExpectError("a,b,label\n1,2,\n", {"line 2", "column 3", "empty label"});
}

TEST(CsvTest, BoundsAreEnforced) {
  ExpectError("a,label\n1,0\n2,0\n3,0\n", {"line 4", "more than 2 data rows"}, CsvOptions{.max_rows = 2});
  ExpectError("a,b,c,label\n1,2,3,0\n", {"4 columns", "limit of 3"}, CsvOptions{.max_columns = 3});
}

// Review finding: a huge integer label became num_classes = label + 1, and the default hold-out
// split (TrainTestSplit) then allocated that many per-class vectors: length_error / bad_alloc
// aborted the process. Now the label is refused (line and column named, its value never quoted).
TEST(CsvTest, HugeIntegerLabelsAreAnErrorNotAnAbort) {
  const std::string limit = std::to_string(model::kMaxClasses);
  for (const std::string& label : std::vector<std::string>{"999999999999999999", "100000000000000000",
                                                            "99999999999999999999999", limit, "+" + limit}) {
    const std::string csv = "a,b,label\n1,2,0\n3,4," + label + "\n5,6,1\n";
    auto r = ParseCsv(csv, "site-1.csv");
    ASSERT_FALSE(r) << "parsed label of " << label.size() << " characters";
    const std::string& m = r.error().message();
    for (const std::string& f : std::vector<std::string>{"site-1.csv", "line 3", "column 3", "('label')",
                                                         "model::kMaxClasses", limit}) {
      EXPECT_NE(m.find(f), std::string::npos) << "'" << f << "' not in: " << m;
    }
    if (label.size() > 10) {
      EXPECT_EQ(m.find(label), std::string::npos) << "the message quotes the label: " << m;
    }
  }
  // The largest allowed label still loads, and the hold-out split works on it.
  auto ok = ParseCsv("a,label\n1,0\n2," + std::to_string(model::kMaxClasses - 1) + "\n", "x.csv");
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->num_classes, model::kMaxClasses);
  EXPECT_TRUE(TrainTestSplit(ok->labels, ok->num_classes, 0.5, 1));
  // A negative label of any length, and the configured class count, are checked without quoting.
  ExpectError("a,label\n1,-99999999999999999999\n", {"line 2", "column 2", "negative"});
  ExpectError("a,label\n1,99999999999999999999\n", {"line 2", "not below the 4 classes"}, CsvOptions{.num_classes = 4});
  ExpectError("a,label\n1,0\n", {"site-1.csv", "above the limit of " + limit},
              CsvOptions{.num_classes = model::kMaxClasses + 1});
  // The split itself refuses a class count above the bound instead of allocating it.
  const std::vector<std::int64_t> labels = {0, 1};
  auto split = TrainTestSplit(labels, 999999999999999999, 0.2, 1);
  ASSERT_FALSE(split);
  EXPECT_NE(split.error().message().find("number of classes"), std::string::npos);
}

TEST(CsvTest, TooManyDistinctStringLabelsIsAnError) {
  std::string csv = "a,label\n";
  for (std::int64_t i = 0; i <= model::kMaxClasses; ++i) csv += "1,c" + std::to_string(i) + "\n";
  auto r = ParseCsv(csv, "site-1.csv");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("column 2 ('label')"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find(std::to_string(model::kMaxClasses + 1) + " distinct labels"), std::string::npos)
      << r.error().message();
}

class CsvFileTest : public testing_support::TempDirTest {};

// The review's reproduction: a training file with such a label, loaded and split with the
// default hold-out as the participant does.
TEST_F(CsvFileTest, TrainingFileWithAHugeLabelFailsBeforeTheSplit) {
  ASSERT_TRUE(WriteCsvFile(dir_ / "train.csv", {"x", "label"}, {{"1", "0"}, {"2", "999999999999999999"}}));
  auto d = LoadCsv(dir_ / "train.csv");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("train.csv line 3 column 2"), std::string::npos) << d.error().message();
}

TEST_F(CsvFileTest, LoadCsvReadsFilesAndRefusesOversizedOnes) {
  ASSERT_TRUE(WriteCsvFile(dir_ / "d.csv", {"x", "y, z", "label"}, {{"1", "2", "0"}, {"3", "4", "1"}}));
  auto d = LoadCsv(dir_ / "d.csv");
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->feature_names[1], "y, z");
  EXPECT_EQ(d->rows, 2);
  auto big = LoadCsv(dir_ / "d.csv", CsvOptions{.max_file_bytes = 10});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), ErrorCode::kOutOfRange);
  auto missing = LoadCsv(dir_ / "nope.csv");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("nope.csv"), std::string::npos);
  EXPECT_FALSE(WriteCsvFile(dir_ / "bad.csv", {"a\nb"}, {}));
}

}  // namespace
}  // namespace cairn::data
