#include <gtest/gtest.h>

#include "common/core/file.h"
#include "common/model/model_files.h"
#include "participant/trainer/torchscript_tools.h"
#include "participant/trainer/trainer.h"
#include "tests/model/test_dir.h"
#include "tests/trainer/toy_data.h"

namespace cairn::trainer {
namespace {

class TorchScriptTest : public testing_support::TempDirTest {
 protected:
  // Makes the example model and its layout; returns the config that trains it.
  model::ModelConfig Prepare(std::int64_t inputs, std::int64_t hidden, std::int64_t classes) {
    auto sha = MakeTorchScriptExample(dir_ / "model.pt", {.inputs = inputs, .hidden = hidden, .classes = classes, .seed = 4});
    EXPECT_TRUE(sha) << sha.error().ToString();
    auto exported = ExportTorchScript(dir_ / "model.pt");
    EXPECT_TRUE(exported) << exported.error().ToString();
    EXPECT_EQ(exported->sha256, *sha);
    EXPECT_TRUE(WriteExport(*exported, dir_ / "model.pt", dir_ / "layout.json", dir_ / "init.bin"));
    exported_ = *exported;
    return model::ModelConfig{.kind = "torchscript", .input_shape = {inputs}, .classes = classes,
                              .torchscript_path = dir_ / "model.pt", .torchscript_sha256 = *sha,
                              .layout_path = dir_ / "layout.json", .initial_parameters_path = dir_ / "init.bin"};
  }
  ExportedModel exported_;
};

TEST_F(TorchScriptTest, ExampleExportsItsLayoutAndInitialValues) {
  auto config = Prepare(5, 8, 2);
  EXPECT_EQ(model::DescribeSpec(exported_.spec), "fc1.weight [8, 5], fc1.bias [8], fc2.weight [2, 8], fc2.bias [2]");
  // PyTorch's Linear initialization: |w| <= 1/sqrt(fan_in).
  for (std::size_t i = 0; i < 40; ++i) EXPECT_LE(std::abs(exported_.parameters[i]), 1 / std::sqrt(5.0) + 1e-6);
  auto spec = model::SpecFor(config);
  ASSERT_TRUE(spec) << spec.error().ToString();
  EXPECT_EQ(*spec, exported_.spec);
  auto init = model::InitialGlobalParameters(config, *spec, 0);
  ASSERT_TRUE(init);
  EXPECT_EQ(*init, exported_.parameters);
}

TEST_F(TorchScriptTest, TrainsAndItsParametersFlatten) {
  auto config = Prepare(5, 8, 2);
  auto t = Trainer::Create({.model = config});
  ASSERT_TRUE(t) << t.error().ToString();
  Trainer& trainer = **t;
  EXPECT_EQ(trainer.spec(), exported_.spec);
  std::vector<float> params(trainer.num_params());
  ASSERT_TRUE(trainer.GetParameters(params));
  EXPECT_EQ(params, exported_.parameters);  // the file's values, in named_parameters order

  const auto test = testing_data::Blobs(200, 5, 2, 2);
  auto stats = trainer.Train(testing_data::Blobs(400, 5, 2, 1),
                             {.local_epochs = 5, .batch_size = 16, .learning_rate = 0.05, .momentum = 0.9});
  ASSERT_TRUE(stats) << stats.error().ToString();
  auto eval = trainer.Evaluate(test);
  ASSERT_TRUE(eval) << eval.error().ToString();
  EXPECT_GE(eval->accuracy, 0.97);
  std::vector<float> trained(trainer.num_params());
  ASSERT_TRUE(trainer.GetParameters(trained));
  EXPECT_NE(trained, params);
  // Set/get round trip and FedProx work on a scripted module too.
  ASSERT_TRUE(trainer.SetParameters(params));
  std::vector<float> back(trainer.num_params());
  ASSERT_TRUE(trainer.GetParameters(back));
  EXPECT_EQ(back, params);
  ASSERT_TRUE(trainer.Train(test, {.learning_rate = 0.05, .proximal_mu = 0.5}));
}

TEST_F(TorchScriptTest, RefusesAChangedFile) {
  auto config = Prepare(5, 8, 2);
  config.torchscript_sha256 = std::string(64, '0');
  auto t = Trainer::Create({.model = config});
  ASSERT_FALSE(t);
  // The layout names the real digest, the config another: refused before any parsing.
  EXPECT_NE(t.error().message().find("layout.json"), std::string::npos) << t.error().message();
}

TEST_F(TorchScriptTest, GarbageFileIsAClearError) {
  auto config = Prepare(5, 8, 2);
  const std::string junk = "this is not a zip archive";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "junk.pt", std::string_view(junk)));
  // A layout that matches the junk file's digest, so the loader itself is reached.
  const std::string sha = model::Sha256Hex(AsBytes(junk));
  ASSERT_TRUE(model::WriteLayout(dir_ / "junk.json", exported_.spec, "junk.pt", sha));
  config.torchscript_path = dir_ / "junk.pt";
  config.torchscript_sha256 = sha;
  config.layout_path = dir_ / "junk.json";
  auto t = Trainer::Create({.model = config});
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("junk.pt"), std::string::npos) << t.error().message();
  EXPECT_NE(t.error().message().find("not a loadable TorchScript module"), std::string::npos);
  EXPECT_EQ(t.error().message().find("\n"), std::string::npos) << "one line, no backtrace";
  auto exported = ExportTorchScript(dir_ / "junk.pt");
  ASSERT_FALSE(exported);
}

TEST_F(TorchScriptTest, OutputShapeMismatchNamesTheFileAndClasses) {
  auto config = Prepare(5, 8, 2);
  config.classes = 3;
  auto t = Trainer::Create({.model = config});
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("model.pt"), std::string::npos) << t.error().message();
  EXPECT_NE(t.error().message().find("[2, 2]"), std::string::npos) << t.error().message();
  EXPECT_NE(t.error().message().find("model.classes = 3"), std::string::npos);

  config.classes = 2;
  config.input_shape = {7};
  auto inputs = Trainer::Create({.model = config});
  ASSERT_FALSE(inputs);
  EXPECT_NE(inputs.error().message().find("model.pt"), std::string::npos) << inputs.error().message();
  EXPECT_NE(inputs.error().message().find("forward()"), std::string::npos);
  // The interpreter's cause, not its traceback header.
  EXPECT_NE(inputs.error().message().find("RuntimeError"), std::string::npos) << inputs.error().message();
  EXPECT_EQ(inputs.error().message().find("Traceback"), std::string::npos) << inputs.error().message();
}

TEST_F(TorchScriptTest, LayoutOfAnotherModelIsRefused) {
  auto config = Prepare(5, 8, 2);
  // Another model's parameters written into a layout that claims this file's digest.
  model::ModelSpec other = exported_.spec;
  other.tensors[0].shape = {9, 5};
  ASSERT_TRUE(model::WriteLayout(dir_ / "layout.json", other, "model.pt", config.torchscript_sha256));
  auto t = Trainer::Create({.model = config});
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("export-layout"), std::string::npos) << t.error().message();
}

}  // namespace
}  // namespace cairn::trainer
