#include "common/model/model_files.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/core/file.h"
#include "tests/model/test_dir.h"

namespace cairn::model {
namespace {

class ModelFilesTest : public testing_support::TempDirTest {};

const ModelSpec kSpec{"torchscript", {{"fc1.weight", {4, 3}}, {"fc1.bias", {4}}, {"out.weight", {2, 4}}}};
const std::string kSha(64, 'b');

TEST(Sha256Test, KnownAnswer) {
  EXPECT_EQ(Sha256Hex(AsBytes("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(ModelFilesTest, ReadModelFileChecksTheDigest) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "m.pt", std::string_view("abc")));
  auto any = ReadModelFile(dir_ / "m.pt", "");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto good = ReadModelFile(dir_ / "m.pt", any->sha256);
  ASSERT_TRUE(good);
  EXPECT_EQ(good->bytes.size(), 3u);
  auto bad = ReadModelFile(dir_ / "m.pt", kSha);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(bad.error().message().find("m.pt"), std::string::npos);
}

TEST_F(ModelFilesTest, LayoutRoundTrips) {
  ASSERT_TRUE(WriteLayout(dir_ / "layout.json", kSpec, "m.pt", kSha));
  auto spec = ReadLayout(dir_ / "layout.json", kSha);
  ASSERT_TRUE(spec) << spec.error().ToString();
  EXPECT_EQ(*spec, kSpec);
  // Without an expected digest any model file is accepted.
  EXPECT_TRUE(ReadLayout(dir_ / "layout.json", ""));
  // SpecFor reads it for a torchscript config.
  ModelConfig c{.kind = "torchscript", .input_shape = {3}, .classes = 2,
                .torchscript_path = dir_ / "m.pt", .torchscript_sha256 = kSha,
                .layout_path = dir_ / "layout.json"};
  auto via_config = SpecFor(c);
  ASSERT_TRUE(via_config) << via_config.error().ToString();
  EXPECT_EQ(*via_config, kSpec);
}

TEST_F(ModelFilesTest, LayoutErrorsAreSpecific) {
  const std::string good = EncodeLayout(kSpec, "m.pt", kSha);
  auto other_model = ParseLayout(good, "l.json", std::string(64, 'c'));
  ASSERT_FALSE(other_model);
  EXPECT_NE(other_model.error().message().find("export-layout"), std::string::npos);

  auto edit = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    s.replace(pos, from.size(), to);
    return ParseLayout(s, "l.json", "");
  };
  auto unknown = edit("\"kind\"", "\"extra\": 1, \"kind\"");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("unknown key 'extra'"), std::string::npos);
  auto count = edit("\"num_params\": 24", "\"num_params\": 23");
  ASSERT_FALSE(count);
  EXPECT_NE(count.error().message().find("num_params"), std::string::npos);
  auto dup = edit("\"out.weight\"", "\"fc1.bias\"");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("duplicate"), std::string::npos);
  auto zero_dim = edit("[\n        4,\n        3\n      ]", "[4, 0]");
  ASSERT_FALSE(zero_dim);
  EXPECT_NE(zero_dim.error().message().find("dimension 0"), std::string::npos) << zero_dim.error().message();
  auto not_json = ParseLayout("{", "l.json", "");
  ASSERT_FALSE(not_json);
  EXPECT_NE(not_json.error().message().find("l.json"), std::string::npos);
}

TEST_F(ModelFilesTest, FlatParametersRoundTripAndAreChecked) {
  std::vector<float> v = {0.5f, -1.25f, 3.0f};
  ASSERT_TRUE(WriteFlatParameters(dir_ / "p.bin", v));
  auto bytes = ReadFileBytes(dir_ / "p.bin");
  ASSERT_TRUE(bytes);
  ASSERT_EQ(bytes->size(), 12u);
  EXPECT_EQ((*bytes)[3], 0x3f);  // 0.5f = 0x3f000000, little-endian
  auto back = ReadFlatParameters(dir_ / "p.bin", 3);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, v);
  auto wrong = ReadFlatParameters(dir_ / "p.bin", 4);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("12 bytes"), std::string::npos);
  v[1] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(WriteFlatParameters(dir_ / "nan.bin", v));
  auto nan = ReadFlatParameters(dir_ / "nan.bin", 3);
  ASSERT_FALSE(nan);
  EXPECT_NE(nan.error().message().find("value 1"), std::string::npos);
}

}  // namespace
}  // namespace cairn::model
