#include "participant/data/idx.h"

#include <gtest/gtest.h>

#include "common/core/file.h"
#include "tests/model/test_dir.h"

namespace cairn::data {
namespace {

void Be32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

class IdxTest : public testing_support::TempDirTest {
 protected:
  // n images of 2×3 pixels, image i has pixels 10*i + p; label i % 3.
  void WriteFiles(std::uint32_t n) {
    Bytes img = {0, 0, 8, 3};
    Be32(img, n);
    Be32(img, 2);
    Be32(img, 3);
    Bytes lab = {0, 0, 8, 1};
    Be32(lab, n);
    for (std::uint32_t i = 0; i < n; ++i) {
      for (int p = 0; p < 6; ++p) img.push_back(static_cast<std::uint8_t>(10 * i + p));
      lab.push_back(static_cast<std::uint8_t>(i % 3));
    }
    ASSERT_TRUE(WriteFileAtomic(dir_ / "train-images-idx3-ubyte", img));
    ASSERT_TRUE(WriteFileAtomic(dir_ / "train-labels-idx1-ubyte", lab));
  }
};

TEST_F(IdxTest, LoadsAllRowsScaledToUnitRange) {
  WriteFiles(4);
  auto d = LoadFashionMnist(dir_, FashionMnistPart::kTrain, IdxOptions{.num_classes = 3});
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->rows, 4);
  EXPECT_EQ(d->feature_shape, (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(d->labels, (std::vector<std::int64_t>{0, 1, 2, 0}));
  EXPECT_EQ(d->num_classes, 3);
  ASSERT_EQ(d->features.size(), 24u);
  EXPECT_FLOAT_EQ(d->features[0], 0.0f);
  EXPECT_FLOAT_EQ(d->features[7], 11.0f / 255.0f);
  EXPECT_TRUE(ValidateDataset(*d));
}

TEST_F(IdxTest, LoadsOnlyTheGivenRowsInOrderAndNormalizes) {
  WriteFiles(5);
  IdxOptions o{.indices = {3, 1, 3}, .normalize = true, .mean = 0.5f, .stddev = 0.25f, .num_classes = 0};
  auto d = LoadIdx(dir_ / "train-images-idx3-ubyte", dir_ / "train-labels-idx1-ubyte", o);
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->rows, 3);
  EXPECT_EQ(d->labels, (std::vector<std::int64_t>{0, 1, 0}));
  EXPECT_EQ(d->num_classes, 2);  // inferred from the loaded rows
  EXPECT_FLOAT_EQ(d->features[0], (30.0f / 255.0f - 0.5f) / 0.25f);
  EXPECT_FLOAT_EQ(d->features[6], (10.0f / 255.0f - 0.5f) / 0.25f);
  EXPECT_FLOAT_EQ(d->features[12], d->features[0]);
}

TEST_F(IdxTest, RejectsBadFilesAndIndices) {
  WriteFiles(3);
  auto out_of_range = LoadIdx(dir_ / "train-images-idx3-ubyte", dir_ / "train-labels-idx1-ubyte",
                              IdxOptions{.indices = {0, 3}});
  ASSERT_FALSE(out_of_range);
  EXPECT_NE(out_of_range.error().message().find("row 3"), std::string::npos);
  // gzip magic, as if the file were not uncompressed.
  ASSERT_TRUE(WriteFileAtomic(dir_ / "gz", Bytes{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}));
  auto gz = LoadIdxLabels(dir_ / "gz");
  ASSERT_FALSE(gz);
  EXPECT_NE(gz.error().message().find("gzip"), std::string::npos);
  // Truncated payload.
  auto bytes = ReadFileBytes(dir_ / "train-images-idx3-ubyte");
  ASSERT_TRUE(bytes);
  bytes->pop_back();
  ASSERT_TRUE(WriteFileAtomic(dir_ / "short", *bytes));
  auto truncated = LoadIdx(dir_ / "short", dir_ / "train-labels-idx1-ubyte");
  ASSERT_FALSE(truncated);
  EXPECT_NE(truncated.error().message().find("truncated"), std::string::npos);
  // Label above num_classes.
  auto labels = LoadIdx(dir_ / "train-images-idx3-ubyte", dir_ / "train-labels-idx1-ubyte", IdxOptions{.num_classes = 2});
  ASSERT_FALSE(labels);
  EXPECT_NE(labels.error().message().find("is not below 2 classes"), std::string::npos) << labels.error().message();
  EXPECT_EQ(labels.error().message().find("label 2"), std::string::npos) << "a label value in the message";
  auto missing = LoadFashionMnist(dir_, FashionMnistPart::kTest);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

// Review finding: header dimensions were multiplied unchecked and N = 0 was accepted, so images
// (0, 2^31, 2^31) with an empty labels file passed the size check and the loader aborted with
// bad_alloc. Each case must now be an error naming the file and the header field.
TEST_F(IdxTest, HostileHeadersAreErrorsNamingTheField) {
  auto images = [&](std::uint32_t n, std::uint32_t h, std::uint32_t w, std::size_t payload = 0) {
    Bytes b = {0, 0, 8, 3};
    Be32(b, n);
    Be32(b, h);
    Be32(b, w);
    b.resize(b.size() + payload, 0);
    EXPECT_TRUE(WriteFileAtomic(dir_ / "img", b));
    return dir_ / "img";
  };
  auto labels = [&](std::uint32_t n, std::size_t payload) {
    Bytes b = {0, 0, 8, 1};
    Be32(b, n);
    b.resize(b.size() + payload, 0);
    EXPECT_TRUE(WriteFileAtomic(dir_ / "lab", b));
    return dir_ / "lab";
  };
  auto expect_error = [](const Result<Dataset>& r, const std::vector<std::string>& fragments) {
    ASSERT_FALSE(r);
    for (const auto& f : fragments) {
      EXPECT_NE(r.error().message().find(f), std::string::npos) << "'" << f << "' not in: " << r.error().message();
    }
  };
  // The review's reproduction.
  expect_error(LoadIdx(images(0, 1u << 31, 1u << 31), labels(0, 0)),
               {"img", "header field 'number of images'", "is 0"});
  // The same sides with one image: the side limit, before any product.
  expect_error(LoadIdx(images(1, 1u << 31, 1u << 31), labels(1, 1)), {"img", "header field 'rows'", "limit of 16384"});
  expect_error(LoadIdx(images(1, 28, 0), labels(1, 1)), {"img", "header field 'columns'", "is 0"});
  expect_error(LoadIdx(images(0xFFFFFFFFu, 28, 28), labels(1, 1)), {"img", "'number of images'", "limit of"});
  // Within the limits but more than the file holds: refused as soon as the product exceeds it.
  expect_error(LoadIdx(images(1u << 30, 28, 28, 10 * 784), labels(1, 1)),
               {"img", "header field 'number of images'", "larger than the 7840 bytes after the header"});
  // Sides within the limit, a matching file, but more pixels than a model may take as features.
  expect_error(LoadIdx(images(1, 1001, 1000, 1001 * 1000), labels(1, 1)), {"img", "1001 x 1000", "kMaxFeatures"});
  // Labels file: an empty one, and one whose count exceeds its payload.
  auto empty = LoadIdxLabels(labels(0, 0));
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("header field 'number of labels'"), std::string::npos);
  auto huge = LoadIdxLabels(labels(1u << 30, 3));
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message().find("'number of labels'"), std::string::npos) << huge.error().message();
}

TEST_F(IdxTest, NoMoreRowIndicesThanRows) {
  WriteFiles(3);
  auto r = LoadIdx(dir_ / "train-images-idx3-ubyte", dir_ / "train-labels-idx1-ubyte",
                   IdxOptions{.indices = {0, 0, 1, 2}, .num_classes = 3});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("4 row indices for the 3 rows"), std::string::npos) << r.error().message();
  auto repeats = LoadIdx(dir_ / "train-images-idx3-ubyte", dir_ / "train-labels-idx1-ubyte",
                         IdxOptions{.indices = {2, 2, 2}, .num_classes = 3});
  EXPECT_TRUE(repeats) << repeats.error().ToString();
}

TEST_F(IdxTest, IndexFilesRoundTripAndNameBadLines) {
  std::vector<std::int64_t> idx = {4, 0, 17};
  ASSERT_TRUE(WriteIndexFile(dir_ / "p.txt", idx, "participant 1 of 2"));
  auto text = ReadFileText(dir_ / "p.txt");
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "# participant 1 of 2\n4\n0\n17\n");
  auto back = ReadIndexFile(dir_ / "p.txt", 18);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, idx);
  auto range = ReadIndexFile(dir_ / "p.txt", 17);
  ASSERT_FALSE(range);
  EXPECT_NE(range.error().message().find("line 4"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "bad.txt", std::string_view("1\n\nx2\n")));
  auto bad = ReadIndexFile(dir_ / "bad.txt", 10);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("bad.txt line 3"), std::string::npos);
}

}  // namespace
}  // namespace cairn::data
