// Model descriptions shared by the aggregator (no torch) and the participant's trainer (torch).
//
// A model is a list of named float32 tensors; its "flat vector" is their values concatenated in
// that order, each tensor in row-major order. The built-in architectures are described here once:
// the trainer builds torch modules whose named_parameters() give exactly these names and shapes
// (tests/trainer checks it), so the aggregator can create, store and check the global model
// without linking libtorch. For a TorchScript model the list comes from a layout file written by
// `cairn-data export-layout` (common/model/model_files.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "common/core/error.h"
#include "common/core/toml_reader.h"

namespace cairn::model {

// Bounds on what a config or layout may describe; they keep an untrusted file from asking for
// absurd allocations. 500M float32 parameters = 2 GB, also the limit of SaveTorchFile's zip
// format without zip64.
inline constexpr std::size_t kMaxParams = 500'000'000;
inline constexpr std::size_t kMaxTensors = 100'000;
inline constexpr std::size_t kMaxTensorRank = 8;
inline constexpr std::size_t kMaxTensorNameLength = 256;
inline constexpr std::int64_t kMaxFeatures = 1'000'000;
inline constexpr std::int64_t kMaxClasses = 100'000;
inline constexpr std::int64_t kMaxHiddenWidth = 65'536;
inline constexpr std::size_t kMaxHiddenLayers = 16;
inline constexpr std::int64_t kMaxCnnChannels = 1'024;
// The built-in CNN: conv(k×k) → ReLU → max-pool 2 → conv(k×k) → ReLU → max-pool 2 → linear.
inline constexpr std::int64_t kCnnKernel = 5;
inline constexpr std::int64_t kCnnPool = 2;

struct TensorSpec {
  std::string name;                 // as torch's named_parameters(): "fc1.weight"
  std::vector<std::int64_t> shape;  // row-major; every dimension >= 1
  std::size_t numel() const;
  bool operator==(const TensorSpec&) const = default;
};

struct ModelSpec {
  std::string kind;                 // "logreg" | "mlp" | "cnn" | "torchscript"
  std::vector<TensorSpec> tensors;  // in flat-vector order
  std::size_t num_params() const;
  bool operator==(const ModelSpec&) const = default;
};

// "fc1.weight [16, 30], fc1.bias [16], ..." for messages (shapes only, never values).
std::string DescribeSpec(const ModelSpec& spec);
std::string DescribeShape(std::span<const std::int64_t> shape);  // "[16, 30]"

// Checks the bounds above: at least one tensor, names non-empty, unique and at most
// kMaxTensorNameLength, every dimension >= 1, rank <= kMaxTensorRank, total <= kMaxParams.
Status ValidateSpec(const ModelSpec& spec);

// The [model] table of a federation or participant config.
struct ModelConfig {
  // "logreg" (one linear layer), "mlp" (linear layers with ReLU between), "cnn" (see kCnnKernel)
  // or "torchscript" (a module file exported from PyTorch or by cairn-data).
  std::string kind{};
  // Shape of one example: {features} for logreg and mlp (TOML `inputs = 30`); {C, H, W} for cnn
  // (TOML `input_shape = [1, 28, 28]`, the default); either form for torchscript.
  std::vector<std::int64_t> input_shape{};
  // mlp only: widths of the hidden layers, input side first (TOML `hidden = [32, 16]`).
  std::vector<std::int64_t> hidden{};
  // cnn only: output channels of the two convolutions (TOML `channels = [16, 32]`, the default).
  std::vector<std::int64_t> channels{};
  // Number of classes K >= 2; the model outputs K logits (binary tasks use K = 2 and softmax).
  std::int64_t classes = 0;
  // torchscript only: the module file, the lower-case hex SHA-256 the file must have, and the
  // layout file that lists its parameters (cairn-data export-layout).
  std::filesystem::path torchscript_path{};
  std::string torchscript_sha256{};
  std::filesystem::path layout_path{};
  // Optional: raw little-endian float32 flat vector to start from (required for torchscript,
  // whose initial values live in its file: `cairn-data export-layout --init`). Empty: the
  // built-in initialization with the federation's seed.
  std::filesystem::path initial_parameters_path{};
};

// Reads the keys of a [model] table (the caller passes the sub-table's reader) and calls
// Finish() on it, so an unknown or misplaced key is an error naming file, line and key.
// Relative paths are resolved against `base_dir` (normally the config file's folder).
//
//   kind = "mlp"   inputs = 30   hidden = [32, 16]   classes = 2
//   kind = "cnn"   input_shape = [1, 28, 28]   channels = [16, 32]   classes = 10
//   kind = "torchscript"   path = "model.pt"   sha256 = "…"   layout = "layout.json"
//   inputs = 30   classes = 2   initial_parameters = "init.bin"
Result<ModelConfig> ParseModelTable(TomlReader& table, const std::filesystem::path& base_dir);

// Checks a config built in code against the same rules as ParseModelTable (kinds, bounds, which
// fields apply to which kind). Fills defaults: cnn input_shape {1, 28, 28}, channels {16, 32}.
Result<ModelConfig> ValidateModelConfig(ModelConfig config);

// The tensor list of a model. Built-ins are computed; for torchscript the layout file is read
// (and must name the same SHA-256 as the config).
Result<ModelSpec> SpecFor(const ModelConfig& config);

// PyTorch's default initialization of a built-in model, from a seeded deterministic generator
// (DeterministicRng): for each Linear or Conv2d layer, weight and bias ~ U(-b, b) with
// b = 1 / sqrt(fan_in), fan_in = product of the weight's dimensions after the first (this is
// kaiming_uniform(a = sqrt(5)) for weights and torch's bias rule). Tensors are drawn in spec order.
// Fails for torchscript (its values come from its file).
Result<std::vector<float>> InitialParameters(const ModelSpec& spec, std::uint64_t seed);

// The initial global model: config.initial_parameters_path when set (size checked against the
// spec, values must be finite), else InitialParameters(spec, seed).
Result<std::vector<float>> InitialGlobalParameters(const ModelConfig& config,
                                                   const ModelSpec& spec, std::uint64_t seed);

// Per-example output spatial size of the built-in CNN for an input of height or width `in`
// (0 when the input is too small for two conv+pool stages).
std::int64_t CnnOutputSide(std::int64_t in);

}  // namespace cairn::model
