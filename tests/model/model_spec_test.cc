#include "common/model/model_spec.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/core/toml_reader.h"
#include "common/model/model_files.h"
#include "tests/model/test_dir.h"

namespace cairn::model {
namespace {

Result<ModelConfig> ParseModel(const std::string& toml, const std::filesystem::path& base = "/cfg") {
  auto root = TomlReader::ParseString(toml, "federation.toml");
  if (!root) return Fail(root.error());
  auto table = root->Table("model");
  if (!table) return Fail(table.error());
  if (!*table) return Fail(ErrorCode::kNotFound, "no [model]");
  return ParseModelTable(**table, base);
}

TEST(ModelSpecTest, LogregSpec) {
  ModelConfig c{.kind = "logreg", .input_shape = {30}, .classes = 2};
  auto spec = SpecFor(c);
  ASSERT_TRUE(spec) << spec.error().ToString();
  ASSERT_EQ(spec->tensors.size(), 2u);
  EXPECT_EQ(spec->tensors[0], (TensorSpec{"linear.weight", {2, 30}}));
  EXPECT_EQ(spec->tensors[1], (TensorSpec{"linear.bias", {2}}));
  EXPECT_EQ(spec->num_params(), 62u);
  EXPECT_EQ(spec->kind, "logreg");
}

TEST(ModelSpecTest, MlpSpec) {
  ModelConfig c{.kind = "mlp", .input_shape = {30}, .hidden = {32, 16}, .classes = 3};
  auto spec = SpecFor(c);
  ASSERT_TRUE(spec) << spec.error().ToString();
  EXPECT_EQ(DescribeSpec(*spec),
            "fc1.weight [32, 30], fc1.bias [32], fc2.weight [16, 32], fc2.bias [16], "
            "fc3.weight [3, 16], fc3.bias [3]");
  EXPECT_EQ(spec->num_params(), 30u * 32 + 32 + 32 * 16 + 16 + 16 * 3 + 3);
}

TEST(ModelSpecTest, CnnSpecDefaultsTo28x28AndChannels16And32) {
  ModelConfig c{.kind = "cnn", .classes = 10};
  auto spec = SpecFor(c);
  ASSERT_TRUE(spec) << spec.error().ToString();
  EXPECT_EQ(DescribeSpec(*spec),
            "conv1.weight [16, 1, 5, 5], conv1.bias [16], conv2.weight [32, 16, 5, 5], "
            "conv2.bias [32], fc.weight [10, 512], fc.bias [10]");
  EXPECT_EQ(spec->num_params(), 18378u);
  EXPECT_EQ(CnnOutputSide(28), 4);
  EXPECT_EQ(CnnOutputSide(15), 0);
  EXPECT_EQ(CnnOutputSide(16), 1);
}

TEST(ModelSpecTest, ConfigChecksNameTheProblem) {
  auto bad_kind = SpecFor(ModelConfig{.kind = "rnn", .input_shape = {3}, .classes = 2});
  ASSERT_FALSE(bad_kind);
  EXPECT_NE(bad_kind.error().message().find("rnn"), std::string::npos);
  auto no_hidden = SpecFor(ModelConfig{.kind = "mlp", .input_shape = {3}, .classes = 2});
  ASSERT_FALSE(no_hidden);
  EXPECT_NE(no_hidden.error().message().find("hidden"), std::string::npos);
  auto one_class = SpecFor(ModelConfig{.kind = "logreg", .input_shape = {3}, .classes = 1});
  ASSERT_FALSE(one_class);
  EXPECT_NE(one_class.error().message().find("classes"), std::string::npos);
  auto tiny = SpecFor(ModelConfig{.kind = "cnn", .input_shape = {1, 8, 8}, .classes = 2});
  ASSERT_FALSE(tiny);
  EXPECT_NE(tiny.error().message().find("too small"), std::string::npos);
  auto hidden_on_logreg =
      SpecFor(ModelConfig{.kind = "logreg", .input_shape = {3}, .hidden = {4}, .classes = 2});
  ASSERT_FALSE(hidden_on_logreg);
}

TEST(ModelSpecTest, ParsesTomlTables) {
  auto mlp = ParseModel("[model]\nkind = \"mlp\"\ninputs = 30\nhidden = [32, 16]\nclasses = 2\n");
  ASSERT_TRUE(mlp) << mlp.error().ToString();
  EXPECT_EQ(mlp->input_shape, (std::vector<std::int64_t>{30}));
  EXPECT_EQ(mlp->hidden, (std::vector<std::int64_t>{32, 16}));
  auto cnn = ParseModel("[model]\nkind = \"cnn\"\nclasses = 10\nchannels = [8, 16]\n");
  ASSERT_TRUE(cnn) << cnn.error().ToString();
  EXPECT_EQ(cnn->input_shape, (std::vector<std::int64_t>{1, 28, 28}));
  EXPECT_EQ(cnn->channels, (std::vector<std::int64_t>{8, 16}));
  auto ts = ParseModel(
      "[model]\nkind = \"torchscript\"\npath = \"m.pt\"\nsha256 = \"" + std::string(64, 'A') +
      "\"\nlayout = \"/abs/layout.json\"\ninputs = 30\nclasses = 2\ninitial_parameters = \"i.bin\"\n");
  ASSERT_TRUE(ts) << ts.error().ToString();
  EXPECT_EQ(ts->torchscript_path, std::filesystem::path("/cfg/m.pt"));
  EXPECT_EQ(ts->layout_path, std::filesystem::path("/abs/layout.json"));
  EXPECT_EQ(ts->initial_parameters_path, std::filesystem::path("/cfg/i.bin"));
  EXPECT_EQ(ts->torchscript_sha256, std::string(64, 'a'));
}

TEST(ModelSpecTest, TomlErrorsNameKeyAndFile) {
  auto unknown = ParseModel("[model]\nkind = \"logreg\"\ninputs = 3\nclasses = 2\nhiden = [3]\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("model.hiden"), std::string::npos) << unknown.error().message();
  EXPECT_NE(unknown.error().message().find("federation.toml"), std::string::npos);

  auto misplaced = ParseModel("[model]\nkind = \"logreg\"\ninputs = 3\nclasses = 2\nhidden = [3]\n");
  ASSERT_FALSE(misplaced);
  EXPECT_NE(misplaced.error().message().find("model.hidden"), std::string::npos) << misplaced.error().message();
  EXPECT_NE(misplaced.error().message().find(":5"), std::string::npos) << misplaced.error().message();

  auto no_inputs = ParseModel("[model]\nkind = \"mlp\"\nhidden = [3]\nclasses = 2\n");
  ASSERT_FALSE(no_inputs);
  EXPECT_NE(no_inputs.error().message().find("inputs"), std::string::npos);

  auto wrong_type = ParseModel("[model]\nkind = \"mlp\"\ninputs = \"30\"\nhidden = [3]\nclasses = 2\n");
  ASSERT_FALSE(wrong_type);
  EXPECT_NE(wrong_type.error().message().find("model.inputs"), std::string::npos);

  auto bad_sha = ParseModel(
      "[model]\nkind = \"torchscript\"\npath = \"m.pt\"\nsha256 = \"abc\"\nlayout = \"l.json\"\n"
      "inputs = 3\nclasses = 2\n");
  ASSERT_FALSE(bad_sha);
  EXPECT_NE(bad_sha.error().message().find("model.sha256"), std::string::npos);

  auto no_kind = ParseModel("[model]\nclasses = 2\n");
  ASSERT_FALSE(no_kind);
  EXPECT_NE(no_kind.error().message().find("kind"), std::string::npos);
}

TEST(ModelSpecTest, InitialParametersAreDeterministicAndWithinPyTorchBounds) {
  auto spec = SpecFor(ModelConfig{.kind = "cnn", .classes = 10});
  ASSERT_TRUE(spec);
  auto a = InitialParameters(*spec, 1);
  auto b = InitialParameters(*spec, 1);
  auto c = InitialParameters(*spec, 2);
  ASSERT_TRUE(a && b && c);
  ASSERT_EQ(a->size(), spec->num_params());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  // fan_in: conv1 25, conv2 400, fc 512; bias shares its weight's bound.
  const double bounds[] = {1 / 5.0, 1 / 5.0, 1 / 20.0, 1 / 20.0, 1 / std::sqrt(512.0), 1 / std::sqrt(512.0)};
  std::size_t offset = 0;
  for (std::size_t t = 0; t < spec->tensors.size(); ++t) {
    double max_abs = 0;
    for (std::size_t i = 0; i < spec->tensors[t].numel(); ++i) {
      double v = (*a)[offset + i];
      ASSERT_LE(std::abs(v), bounds[t] + 1e-7) << spec->tensors[t].name;
      max_abs = std::max(max_abs, std::abs(v));
    }
    // The draws spread over the interval (not all zero, not a narrower range).
    if (spec->tensors[t].numel() >= 100) {
      EXPECT_GT(max_abs, 0.9 * bounds[t]) << spec->tensors[t].name;
    }
    offset += spec->tensors[t].numel();
  }
}

TEST(ModelSpecTest, TorchscriptInitialParametersComeFromAFile) {
  ModelSpec spec{"torchscript", {{"w", {2, 2}}}};
  auto init = InitialParameters(spec, 1);
  ASSERT_FALSE(init);
  EXPECT_NE(init.error().message().find("initial_parameters"), std::string::npos);
}

class ModelFileTest : public testing_support::TempDirTest {};

TEST_F(ModelFileTest, InitialGlobalParametersReadsTheConfiguredFile) {
  ModelConfig c{.kind = "logreg", .input_shape = {2}, .classes = 2};
  auto spec = SpecFor(c);
  ASSERT_TRUE(spec);
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(WriteFlatParameters(dir_ / "init.bin", values));
  c.initial_parameters_path = dir_ / "init.bin";
  auto loaded = InitialGlobalParameters(c, *spec, 99);
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_EQ(*loaded, values);
}

}  // namespace
}  // namespace cairn::model
