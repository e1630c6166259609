#include "common/model/model_files.h"

#include <openssl/evp.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/core/file.h"

namespace cairn::model {

static_assert(std::endian::native == std::endian::little,
              "flat parameter files are little-endian float32; add byte swapping for this platform");
static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559);

std::string Sha256Hex(ByteSpan data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest fails only on allocation failure; a wrong digest would be caught by every check
  // that uses it, so report it as the impossible digest "".
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    return std::string();
  }
  return HexEncode(ByteSpan(digest, len));
}

Result<ModelFile> ReadModelFile(const std::filesystem::path& path, std::string_view expected_sha256,
                                std::uint64_t max_bytes) {
  ModelFile file;
  CAIRN_ASSIGN_OR_RETURN(file.bytes, ReadFileBytes(path, max_bytes));
  file.sha256 = Sha256Hex(file.bytes);
  if (file.sha256.empty()) {
    return Fail(ErrorCode::kInternal, "cannot compute the SHA-256 of " + path.string());
  }
  if (!expected_sha256.empty() && file.sha256 != expected_sha256) {
    return Fail(ErrorCode::kPermissionDenied,
                path.string() + ": SHA-256 is " + file.sha256 + " but the configuration expects " +
                    std::string(expected_sha256) + " (the model file was changed or is the wrong one)");
  }
  return file;
}

std::string EncodeLayout(const ModelSpec& spec, std::string_view model_file_name,
                         std::string_view model_sha256) {
  nlohmann::ordered_json j;
  j["format"] = "cairn-model-layout";
  j["version"] = kLayoutVersion;
  j["kind"] = spec.kind;
  j["model_file"] = model_file_name;
  j["model_sha256"] = model_sha256;
  j["num_params"] = spec.num_params();
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const auto& t : spec.tensors) {
    nlohmann::ordered_json e;
    e["name"] = t.name;
    e["shape"] = t.shape;
    tensors.push_back(std::move(e));
  }
  j["tensors"] = std::move(tensors);
  return j.dump(2) + "\n";
}

Status WriteLayout(const std::filesystem::path& path, const ModelSpec& spec,
                   std::string_view model_file_name, std::string_view model_sha256) {
  if (spec.kind != "torchscript") {
    return Fail(ErrorCode::kInvalidArgument, "a layout file describes a torchscript model, not '" + spec.kind + "'");
  }
  CAIRN_RETURN_IF_ERROR(ValidateSpec(spec));
  return WriteFileAtomic(path, EncodeLayout(spec, model_file_name, model_sha256));
}

Result<ModelSpec> ParseLayout(std::string_view text, std::string_view source_name,
                              std::string_view expected_sha256) {
  const std::string src(source_name);
  auto bad = [&](const std::string& what) {
    return Fail(ErrorCode::kInvalidArgument, src + ": " + what);
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return bad(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return bad("a layout must be a JSON object");
  static const std::set<std::string> kKeys = {"format", "version", "kind", "model_file",
                                              "model_sha256", "num_params", "tensors"};
  for (const auto& [key, value] : j.items()) {
    if (!kKeys.contains(key)) return bad("unknown key '" + key + "'");
  }
  for (const auto& key : kKeys) {
    if (!j.contains(key)) return bad("required key '" + key + "' is missing");
  }
  if (j["format"] != "cairn-model-layout") return bad("key 'format' must be \"cairn-model-layout\"");
  if (!j["version"].is_number_integer() || j["version"].get<std::int64_t>() != kLayoutVersion) {
    return bad("key 'version' must be " + std::to_string(kLayoutVersion));
  }
  if (j["kind"] != "torchscript") return bad("key 'kind' must be \"torchscript\"");
  if (!j["model_file"].is_string()) return bad("key 'model_file' must be a string");
  if (!j["model_sha256"].is_string()) return bad("key 'model_sha256' must be a string");
  const std::string sha = j["model_sha256"].get<std::string>();
  if (!expected_sha256.empty() && sha != expected_sha256) {
    return bad("made from a model file with SHA-256 " + sha + ", but the configuration names " +
               std::string(expected_sha256) + " (re-run cairn-data export-layout on the model)");
  }
  if (!j["num_params"].is_number_unsigned()) return bad("key 'num_params' must be a non-negative integer");
  const auto& tensors = j["tensors"];
  if (!tensors.is_array()) return bad("key 'tensors' must be an array");
  if (tensors.size() > kMaxTensors) {
    return Fail(ErrorCode::kOutOfRange, src + ": more than " + std::to_string(kMaxTensors) + " tensors");
  }
  ModelSpec spec;
  spec.kind = "torchscript";
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& e = tensors[i];
    const std::string where = "tensors[" + std::to_string(i) + "]";
    if (!e.is_object() || e.size() != 2 || !e.contains("name") || !e.contains("shape")) {
      return bad(where + " must be an object with exactly the keys 'name' and 'shape'");
    }
    if (!e["name"].is_string()) return bad(where + ".name must be a string");
    if (!e["shape"].is_array() || e["shape"].size() > kMaxTensorRank) {
      return bad(where + ".shape must be an array of at most " + std::to_string(kMaxTensorRank) + " integers");
    }
    TensorSpec t;
    t.name = e["name"].get<std::string>();
    for (const auto& d : e["shape"]) {
      if (!d.is_number_integer()) return bad(where + ".shape must hold integers");
      t.shape.push_back(d.get<std::int64_t>());
    }
    spec.tensors.push_back(std::move(t));
  }
  if (auto st = ValidateSpec(spec); !st) return Fail(std::move(st).error().Context(src));
  if (j["num_params"].get<std::uint64_t>() != spec.num_params()) {
    return bad("num_params is " + std::to_string(j["num_params"].get<std::uint64_t>()) +
               " but the tensors hold " + std::to_string(spec.num_params()));
  }
  return spec;
}

Result<ModelSpec> ReadLayout(const std::filesystem::path& path, std::string_view expected_sha256) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, kMaxLayoutFileBytes));
  return ParseLayout(text, path.string(), expected_sha256);
}

Result<std::vector<float>> ReadFlatParameters(const std::filesystem::path& path,
                                              std::size_t expected_count) {
  if (expected_count > kMaxParams) {
    return Fail(ErrorCode::kOutOfRange, "expected parameter count above " + std::to_string(kMaxParams));
  }
  CAIRN_ASSIGN_OR_RETURN(Bytes bytes, ReadFileBytes(path, expected_count * 4 + 1));
  if (bytes.size() != expected_count * 4) {
    return Fail(ErrorCode::kInvalidArgument,
                path.string() + " holds " + std::to_string(bytes.size()) + " bytes; the model needs " +
                    std::to_string(expected_count) + " float32 values (" +
                    std::to_string(expected_count * 4) + " bytes)");
  }
  std::vector<float> values(expected_count);
  if (expected_count > 0) std::memcpy(values.data(), bytes.data(), bytes.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return Fail(ErrorCode::kInvalidArgument, path.string() + ": value " + std::to_string(i) +
                                                   " (byte offset " + std::to_string(i * 4) +
                                                   ") is not a finite number");
    }
  }
  return values;
}

Status WriteFlatParameters(const std::filesystem::path& path, std::span<const float> values) {
  return WriteFileAtomic(path, ByteSpan(reinterpret_cast<const std::uint8_t*>(values.data()),
                                        values.size() * sizeof(float)));
}

}  // namespace cairn::model
