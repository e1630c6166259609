// Files that describe or hold a model, readable without libtorch.
//
// Layout file (JSON, written by `cairn-data export-layout`, read by the aggregator and the
// participant for a TorchScript model):
//
//   {
//     "format": "cairn-model-layout",
//     "version": 1,
//     "kind": "torchscript",
//     "model_file": "model.pt",             // informational: the file name it was made from
//     "model_sha256": "<64 lower-case hex>", // SHA-256 of that file's bytes
//     "num_params": 1058,                    // sum of the tensors' element counts
//     "tensors": [ {"name": "fc1.weight", "shape": [32, 30]}, {"name": "fc1.bias", "shape": [32]}, … ]
//   }
//
// Tensors are listed in named_parameters() order (recursive, registration order), which is the
// order of the flat vector. Every key is required; unknown keys are an error. Limits: file
// <= 16 MiB, the bounds of model_spec.h.
//
// Flat parameter file: the flat vector as raw little-endian IEEE-754 float32, no header; its
// size must be 4 × num_params. Used for initial models (`export-layout --init`) and by
// `cairn-aggregator aggregate`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "common/model/model_spec.h"

namespace cairn::model {

inline constexpr std::uint64_t kMaxLayoutFileBytes = 16u << 20;
inline constexpr int kLayoutVersion = 1;

// Lower-case hex SHA-256 (OpenSSL).
std::string Sha256Hex(ByteSpan data);

// Reads a model file (bounded by max_bytes) and checks that its SHA-256 equals `expected_sha256`
// (lower-case hex; an empty string skips the check, e.g. when exporting a layout). The caller
// then parses the returned bytes, not the path again, so the file cannot change in between.
struct ModelFile {
  Bytes bytes;
  std::string sha256;  // lower-case hex of bytes
};
Result<ModelFile> ReadModelFile(const std::filesystem::path& path, std::string_view expected_sha256,
                                std::uint64_t max_bytes = 1ull << 30);

// The layout JSON described above. `spec.kind` must be "torchscript".
std::string EncodeLayout(const ModelSpec& spec, std::string_view model_file_name,
                         std::string_view model_sha256);
Status WriteLayout(const std::filesystem::path& path, const ModelSpec& spec,
                   std::string_view model_file_name, std::string_view model_sha256);
// Parses and checks a layout; when expected_sha256 is not empty, the layout's model_sha256 must
// equal it (a layout made from another model file is refused). Errors name the file and key.
Result<ModelSpec> ParseLayout(std::string_view json, std::string_view source_name,
                              std::string_view expected_sha256);
Result<ModelSpec> ReadLayout(const std::filesystem::path& path, std::string_view expected_sha256);

// Flat parameter files (raw little-endian float32). Read checks the size against
// expected_count and that every value is finite; write is atomic.
Result<std::vector<float>> ReadFlatParameters(const std::filesystem::path& path,
                                              std::size_t expected_count);
Status WriteFlatParameters(const std::filesystem::path& path, std::span<const float> values);

}  // namespace cairn::model
