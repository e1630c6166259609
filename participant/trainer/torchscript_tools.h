// TorchScript helpers behind `cairn-data export-layout` and `cairn-data make-torchscript-example`.
// Torch-free interface; the implementation links libtorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/core/error.h"
#include "common/model/model_spec.h"

namespace cairn::trainer {

// What `export-layout` needs from a TorchScript file: its parameters (named_parameters order,
// recursive) with their current values, and the file's SHA-256. Fails on a file that does not
// load or has a parameter that is not float32.
struct ExportedModel {
  model::ModelSpec spec;             // kind "torchscript"
  std::string sha256;                // lower-case hex of the file
  std::vector<float> parameters;     // the flat vector of the file's current values
};
Result<ExportedModel> ExportTorchScript(const std::filesystem::path& model_file,
                                        std::uint64_t max_bytes = 1ull << 30);

// Writes the layout JSON (model_files.h) and, when init_out is not empty, the flat initial
// parameters (raw little-endian float32).
Status WriteExport(const ExportedModel& exported, const std::filesystem::path& model_file,
                   const std::filesystem::path& layout_out, const std::filesystem::path& init_out);

// A small TorchScript MLP built in C++ (torch::jit::Module + define(), no Python):
// fc1 = Linear(inputs, hidden), ReLU, fc2 = Linear(hidden, classes); parameters fc1.weight,
// fc1.bias, fc2.weight, fc2.bias initialized like PyTorch's Linear from `seed`. Saved atomically;
// returns the file's SHA-256 (lower-case hex) for the config's model.sha256.
struct TorchScriptExampleOptions {
  std::int64_t inputs = 30;
  std::int64_t hidden = 16;
  std::int64_t classes = 2;
  std::uint64_t seed = 0;
};
Result<std::string> MakeTorchScriptExample(const std::filesystem::path& out,
                                           const TorchScriptExampleOptions& options);

}  // namespace cairn::trainer
