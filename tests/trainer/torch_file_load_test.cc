// SaveTorchFile's output loaded by libtorch itself (the only test TU that includes torch).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/core/file.h"
#include "common/model/torch_file.h"
#include "participant/trainer/trainer.h"
#include "tests/model/test_dir.h"

namespace cairn::model {
namespace {

class TorchFileLoadTest : public testing_support::TempDirTest {};

TEST_F(TorchFileLoadTest, PickleLoadReadsNamesShapesAndValues) {
  auto t = trainer::Trainer::Create({.model = ModelConfig{.kind = "cnn", .channels = {4, 8}, .classes = 10}, .init_seed = 3});
  ASSERT_TRUE(t) << t.error().ToString();
  const ModelSpec& spec = (*t)->spec();
  std::vector<float> values(spec.num_params());
  ASSERT_TRUE((*t)->GetParameters(values));
  ASSERT_TRUE(SaveTorchFile(dir_ / "global.pt", spec, values));

  auto bytes = ReadFileBytes(dir_ / "global.pt");
  ASSERT_TRUE(bytes);
  torch::IValue loaded;
  try {
    loaded = torch::pickle_load(std::vector<char>(bytes->begin(), bytes->end()));
  } catch (const c10::Error& e) {
    FAIL() << "pickle_load: " << e.what_without_backtrace();
  }
  ASSERT_TRUE(loaded.isGenericDict());
  auto dict = loaded.toGenericDict();
  ASSERT_EQ(dict.size(), spec.tensors.size());
  std::size_t i = 0, offset = 0;
  for (const auto& entry : dict) {  // insertion order = spec order
    const TensorSpec& ts = spec.tensors[i++];
    EXPECT_EQ(entry.key().toStringRef(), ts.name);
    const torch::Tensor tensor = entry.value().toTensor();
    EXPECT_EQ(tensor.sizes().vec(), ts.shape) << ts.name;
    EXPECT_EQ(tensor.scalar_type(), torch::kFloat);
    ASSERT_TRUE(tensor.is_contiguous());
    const float* p = tensor.data_ptr<float>();
    for (std::size_t k = 0; k < ts.numel(); ++k) ASSERT_EQ(p[k], values[offset + k]) << ts.name << "[" << k << "]";
    offset += ts.numel();
  }
  EXPECT_EQ(offset, values.size());
}

TEST_F(TorchFileLoadTest, LargeDimensionsAndScalarsRoundTrip) {
  ModelSpec spec{"mlp", {{"w", {70000}}, {"m", {3, 300, 2}}}};
  std::vector<float> values(spec.num_params());
  for (std::size_t k = 0; k < values.size(); ++k) values[k] = static_cast<float>(k) * 0.5f;
  auto bytes = EncodeTorchFile(spec, values);
  ASSERT_TRUE(bytes);
  auto dict = torch::pickle_load(std::vector<char>(bytes->begin(), bytes->end())).toGenericDict();
  torch::Tensor w = dict.at("w").toTensor();
  torch::Tensor m = dict.at("m").toTensor();
  EXPECT_EQ(w.size(0), 70000);
  EXPECT_EQ(m.sizes().vec(), (std::vector<std::int64_t>{3, 300, 2}));
  EXPECT_EQ(w[69999].item<float>(), 69999 * 0.5f);
  EXPECT_EQ(m[2][299][1].item<float>(), (70000 + 1799) * 0.5f);
}

}  // namespace
}  // namespace cairn::model
