#include "common/model/model_spec.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/model/model_files.h"
#include "common/model/rng.h"

namespace cairn::model {
namespace {

const std::vector<std::string> kKinds = {"logreg", "mlp", "cnn", "torchscript"};

Error Invalid(std::string message) { return Error(ErrorCode::kInvalidArgument, std::move(message)); }

std::filesystem::path Resolve(const std::filesystem::path& base, const std::string& value) {
  std::filesystem::path p(value);
  if (p.is_relative() && !base.empty()) p = base / p;
  return p.lexically_normal();
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::size_t TensorSpec::numel() const {
  std::size_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

std::size_t ModelSpec::num_params() const {
  std::size_t n = 0;
  for (const auto& t : tensors) n += t.numel();
  return n;
}

std::string DescribeShape(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string DescribeSpec(const ModelSpec& spec) {
  std::string s;
  for (const auto& t : spec.tensors) {
    if (!s.empty()) s += ", ";
    s += t.name + " " + DescribeShape(t.shape);
  }
  return s;
}

Status ValidateSpec(const ModelSpec& spec) {
  if (spec.tensors.empty()) return Fail(Invalid("the model has no parameters"));
  if (spec.tensors.size() > kMaxTensors) {
    return Fail(ErrorCode::kOutOfRange, "the model has " + std::to_string(spec.tensors.size()) +
                                            " tensors, above the limit of " +
                                            std::to_string(kMaxTensors));
  }
  std::set<std::string_view> names;
  std::size_t total = 0;
  for (std::size_t i = 0; i < spec.tensors.size(); ++i) {
    const TensorSpec& t = spec.tensors[i];
    const std::string where = "tensor " + std::to_string(i) + " ('" +
                              t.name.substr(0, kMaxTensorNameLength) + "')";
    if (t.name.empty()) return Fail(Invalid("tensor " + std::to_string(i) + " has an empty name"));
    if (t.name.size() > kMaxTensorNameLength) {
      return Fail(Invalid(where + ": name longer than " + std::to_string(kMaxTensorNameLength)));
    }
    if (!names.insert(t.name).second) return Fail(Invalid(where + ": duplicate name"));
    if (t.shape.size() > kMaxTensorRank) {
      return Fail(Invalid(where + ": rank " + std::to_string(t.shape.size()) + " above " +
                          std::to_string(kMaxTensorRank)));
    }
    std::size_t n = 1;
    for (std::int64_t d : t.shape) {
      if (d < 1 || static_cast<std::uint64_t>(d) > kMaxParams) {
        return Fail(Invalid(where + ": dimension " + std::to_string(d) + " is outside [1, " +
                            std::to_string(kMaxParams) + "]"));
      }
      n *= static_cast<std::size_t>(d);
      if (n > kMaxParams) break;
    }
    total += n;
    if (n > kMaxParams || total > kMaxParams) {
      return Fail(ErrorCode::kOutOfRange, "the model has more than " + std::to_string(kMaxParams) +
                                              " parameters (at " + where + ")");
    }
  }
  return Ok();
}

std::int64_t CnnOutputSide(std::int64_t in) {
  std::int64_t s = in;
  for (int stage = 0; stage < 2; ++stage) {
    s = s - (kCnnKernel - 1);
    if (s < kCnnPool) return 0;
    s = s / kCnnPool;
  }
  return s;
}

Result<ModelConfig> ValidateModelConfig(ModelConfig c) {
  if (std::find(kKinds.begin(), kKinds.end(), c.kind) == kKinds.end()) {
    return Fail(Invalid("model kind '" + c.kind + "' is not one of logreg, mlp, cnn, torchscript"));
  }
  if (c.classes < 2 || c.classes > kMaxClasses) {
    return Fail(Invalid("model classes = " + std::to_string(c.classes) + " is outside [2, " +
                        std::to_string(kMaxClasses) + "]"));
  }
  const bool tabular = c.kind == "logreg" || c.kind == "mlp";
  if (c.kind == "cnn" && c.input_shape.empty()) c.input_shape = {1, 28, 28};
  if (c.input_shape.empty()) {
    return Fail(Invalid("model kind '" + c.kind + "' needs its input size (inputs = N)"));
  }
  if (tabular && c.input_shape.size() != 1) {
    return Fail(Invalid("model kind '" + c.kind + "' takes a feature count (inputs = N), not a shape " +
                        DescribeShape(c.input_shape)));
  }
  if (c.kind == "cnn" && c.input_shape.size() != 3) {
    return Fail(Invalid("model kind 'cnn' takes input_shape = [C, H, W], not " +
                        DescribeShape(c.input_shape)));
  }
  if (c.input_shape.size() > kMaxTensorRank) {
    return Fail(Invalid("model input_shape has more than " + std::to_string(kMaxTensorRank) + " dimensions"));
  }
  std::int64_t features = 1;
  for (std::int64_t d : c.input_shape) {
    if (d < 1 || d > kMaxFeatures) {
      return Fail(Invalid("model input dimension " + std::to_string(d) + " is outside [1, " +
                          std::to_string(kMaxFeatures) + "]"));
    }
    features *= d;
    if (features > kMaxFeatures) {
      return Fail(Invalid("model input " + DescribeShape(c.input_shape) + " has more than " +
                          std::to_string(kMaxFeatures) + " values per example"));
    }
  }
  if (c.kind == "mlp") {
    if (c.hidden.empty() || c.hidden.size() > kMaxHiddenLayers) {
      return Fail(Invalid("model kind 'mlp' needs 1 to " + std::to_string(kMaxHiddenLayers) +
                          " hidden layer widths (hidden = [32, 16])"));
    }
    for (std::int64_t h : c.hidden) {
      if (h < 1 || h > kMaxHiddenWidth) {
        return Fail(Invalid("model hidden width " + std::to_string(h) + " is outside [1, " +
                            std::to_string(kMaxHiddenWidth) + "]"));
      }
    }
  } else if (!c.hidden.empty()) {
    return Fail(Invalid("model hidden applies to kind 'mlp' only, not '" + c.kind + "'"));
  }
  if (c.kind == "cnn") {
    if (c.channels.empty()) c.channels = {16, 32};
    if (c.channels.size() != 2) {
      return Fail(Invalid("model channels must list 2 values (the two convolutions), found " +
                          std::to_string(c.channels.size())));
    }
    for (std::int64_t ch : c.channels) {
      if (ch < 1 || ch > kMaxCnnChannels) {
        return Fail(Invalid("model channels value " + std::to_string(ch) + " is outside [1, " +
                            std::to_string(kMaxCnnChannels) + "]"));
      }
    }
    if (CnnOutputSide(c.input_shape[1]) == 0 || CnnOutputSide(c.input_shape[2]) == 0) {
      return Fail(Invalid("model input_shape " + DescribeShape(c.input_shape) +
                          " is too small for the cnn (height and width must be at least 16)"));
    }
  } else if (!c.channels.empty()) {
    return Fail(Invalid("model channels applies to kind 'cnn' only, not '" + c.kind + "'"));
  }
  if (c.kind == "torchscript") {
    if (c.torchscript_path.empty()) return Fail(Invalid("model kind 'torchscript' needs path = \"model.pt\""));
    if (c.torchscript_sha256.size() != 64 || !IsLowerHex(c.torchscript_sha256)) {
      return Fail(Invalid("model sha256 must be the 64 lower-case hex digits of the SHA-256 of " +
                          c.torchscript_path.string()));
    }
    if (c.layout_path.empty()) {
      return Fail(Invalid("model kind 'torchscript' needs layout = \"layout.json\" (cairn-data export-layout)"));
    }
  } else if (!c.torchscript_path.empty() || !c.torchscript_sha256.empty() || !c.layout_path.empty()) {
    return Fail(Invalid("model path, sha256 and layout apply to kind 'torchscript' only, not '" + c.kind + "'"));
  }
  return c;
}

Result<ModelConfig> ParseModelTable(TomlReader& t, const std::filesystem::path& base_dir) {
  ModelConfig c;
  CAIRN_RETURN_IF_ERROR(t.Require("kind", c.kind));
  if (std::find(kKinds.begin(), kKinds.end(), c.kind) == kKinds.end()) {
    return Fail(Invalid(t.Where("kind") + ": '" + c.kind + "' is not one of logreg, mlp, cnn, torchscript"));
  }
  CAIRN_RETURN_IF_ERROR(t.Require("classes", c.classes, std::int64_t{2}, kMaxClasses));

  const bool tabular = c.kind == "logreg" || c.kind == "mlp";
  auto not_for_kind = [&](std::string_view key, std::string_view kinds) -> Status {
    if (!t.Has(key)) return Ok();
    return Fail(Invalid(t.Where(key) + " applies to kind " + std::string(kinds) + " only, not '" +
                        c.kind + "'"));
  };
  if (t.Has("inputs") && t.Has("input_shape")) {
    return Fail(Invalid(t.Where("input_shape") + ": give either inputs or input_shape, not both"));
  }
  if (tabular) {
    CAIRN_RETURN_IF_ERROR(not_for_kind("input_shape", "cnn or torchscript"));
  }
  if (c.kind == "cnn") CAIRN_RETURN_IF_ERROR(not_for_kind("inputs", "logreg, mlp or torchscript"));
  if (t.Has("inputs")) {
    std::int64_t n = 0;
    CAIRN_RETURN_IF_ERROR(t.Get("inputs", n, std::int64_t{1}, kMaxFeatures));
    c.input_shape = {n};
  } else if (t.Has("input_shape")) {
    CAIRN_RETURN_IF_ERROR(t.Get("input_shape", c.input_shape));
  } else if (c.kind != "cnn") {
    return Fail(Invalid(t.source_name() + ": required key 'inputs' (the number of features) is missing from [model]"));
  }

  if (c.kind == "mlp") {
    CAIRN_RETURN_IF_ERROR(t.Require("hidden", c.hidden));
  } else {
    CAIRN_RETURN_IF_ERROR(not_for_kind("hidden", "mlp"));
  }
  if (c.kind == "cnn") {
    CAIRN_RETURN_IF_ERROR(t.Get("channels", c.channels));
  } else {
    CAIRN_RETURN_IF_ERROR(not_for_kind("channels", "cnn"));
  }
  if (c.kind == "torchscript") {
    std::string path, layout;
    CAIRN_RETURN_IF_ERROR(t.Require("path", path));
    CAIRN_RETURN_IF_ERROR(t.Require("sha256", c.torchscript_sha256));
    CAIRN_RETURN_IF_ERROR(t.Require("layout", layout));
    std::transform(c.torchscript_sha256.begin(), c.torchscript_sha256.end(),
                   c.torchscript_sha256.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (c.torchscript_sha256.size() != 64 || !IsLowerHex(c.torchscript_sha256)) {
      return Fail(Invalid(t.Where("sha256") + " must be 64 hex digits (the SHA-256 of the model file)"));
    }
    c.torchscript_path = Resolve(base_dir, path);
    c.layout_path = Resolve(base_dir, layout);
  } else {
    CAIRN_RETURN_IF_ERROR(not_for_kind("path", "torchscript"));
    CAIRN_RETURN_IF_ERROR(not_for_kind("sha256", "torchscript"));
    CAIRN_RETURN_IF_ERROR(not_for_kind("layout", "torchscript"));
  }
  if (t.Has("initial_parameters")) {
    std::string init;
    CAIRN_RETURN_IF_ERROR(t.Get("initial_parameters", init));
    c.initial_parameters_path = Resolve(base_dir, init);
  }
  CAIRN_RETURN_IF_ERROR(t.Finish());
  auto validated = ValidateModelConfig(std::move(c));
  if (!validated) return Fail(std::move(validated).error().Context(t.source_name() + ": [model]"));
  return validated;
}

Result<ModelSpec> SpecFor(const ModelConfig& config) {
  CAIRN_ASSIGN_OR_RETURN(ModelConfig c, ValidateModelConfig(config));
  ModelSpec spec;
  spec.kind = c.kind;
  auto linear = [&](const std::string& name, std::int64_t in, std::int64_t out) {
    spec.tensors.push_back({name + ".weight", {out, in}});
    spec.tensors.push_back({name + ".bias", {out}});
  };
  if (c.kind == "logreg") {
    linear("linear", c.input_shape[0], c.classes);
  } else if (c.kind == "mlp") {
    std::int64_t in = c.input_shape[0];
    for (std::size_t i = 0; i < c.hidden.size(); ++i) {
      linear("fc" + std::to_string(i + 1), in, c.hidden[i]);
      in = c.hidden[i];
    }
    linear("fc" + std::to_string(c.hidden.size() + 1), in, c.classes);
  } else if (c.kind == "cnn") {
    const std::int64_t k = kCnnKernel;
    spec.tensors.push_back({"conv1.weight", {c.channels[0], c.input_shape[0], k, k}});
    spec.tensors.push_back({"conv1.bias", {c.channels[0]}});
    spec.tensors.push_back({"conv2.weight", {c.channels[1], c.channels[0], k, k}});
    spec.tensors.push_back({"conv2.bias", {c.channels[1]}});
    linear("fc", c.channels[1] * CnnOutputSide(c.input_shape[1]) * CnnOutputSide(c.input_shape[2]),
           c.classes);
  } else {
    return ReadLayout(c.layout_path, c.torchscript_sha256);
  }
  CAIRN_RETURN_IF_ERROR(ValidateSpec(spec));
  return spec;
}

Result<std::vector<float>> InitialParameters(const ModelSpec& spec, std::uint64_t seed) {
  if (spec.kind == "torchscript") {
    return Fail(ErrorCode::kFailedPrecondition,
                "a torchscript model's initial parameters come from its file: set "
                "model.initial_parameters (written by cairn-data export-layout --init)");
  }
  if (spec.kind != "logreg" && spec.kind != "mlp" && spec.kind != "cnn") {
    return Fail(Invalid("no built-in initialization for model kind '" + spec.kind + "'"));
  }
  CAIRN_RETURN_IF_ERROR(ValidateSpec(spec));
  std::vector<float> out;
  out.reserve(spec.num_params());
  DeterministicRng rng(seed);
  std::string last_weight_prefix;
  std::size_t last_fan_in = 0;
  for (const auto& t : spec.tensors) {
    std::size_t fan_in = 0;
    if (t.name.ends_with(".weight") && t.shape.size() >= 2) {
      fan_in = t.numel() / static_cast<std::size_t>(t.shape[0]);
      last_weight_prefix = t.name.substr(0, t.name.size() - 7);
      last_fan_in = fan_in;
    } else if (t.name.ends_with(".bias") && t.shape.size() == 1 &&
               t.name.substr(0, t.name.size() - 5) == last_weight_prefix) {
      fan_in = last_fan_in;
    } else {
      return Fail(Invalid("no built-in initialization rule for tensor '" + t.name + "' " +
                          DescribeShape(t.shape)));
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    for (std::size_t i = 0; i < t.numel(); ++i) {
      out.push_back(static_cast<float>((2.0 * rng.UniformDouble() - 1.0) * bound));
    }
  }
  return out;
}

Result<std::vector<float>> InitialGlobalParameters(const ModelConfig& config, const ModelSpec& spec,
                                                   std::uint64_t seed) {
  if (!config.initial_parameters_path.empty()) {
    return ReadFlatParameters(config.initial_parameters_path, spec.num_params());
  }
  return InitialParameters(spec, seed);
}

}  // namespace cairn::model
