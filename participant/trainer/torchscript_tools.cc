#include "participant/trainer/torchscript_tools.h"

#include <cstring>
#include <sstream>

#include "common/core/file.h"
#include "common/model/model_files.h"
#include "participant/trainer/script_module.h"

namespace cairn::trainer {

using internal::TorchMessage;

Result<ExportedModel> ExportTorchScript(const std::filesystem::path& model_file, std::uint64_t max_bytes) {
  CAIRN_ASSIGN_OR_RETURN(model::ModelFile file, model::ReadModelFile(model_file, "", max_bytes));
  const std::string name = model_file.string();
  CAIRN_ASSIGN_OR_RETURN(torch::jit::Module module, internal::LoadScriptModule(file.bytes, name));
  ExportedModel out;
  out.sha256 = file.sha256;
  std::vector<torch::Tensor> tensors;
  CAIRN_ASSIGN_OR_RETURN(out.spec, internal::ScriptModuleSpec(module, name, &tensors));
  try {
    out.parameters.reserve(out.spec.num_params());
    for (const auto& t : tensors) {
      const torch::Tensor c = t.detach().contiguous();
      const float* p = c.data_ptr<float>();
      out.parameters.insert(out.parameters.end(), p, p + c.numel());
    }
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, name + ": cannot read parameter values: " + TorchMessage(e));
  }
  return out;
}

Status WriteExport(const ExportedModel& exported, const std::filesystem::path& model_file,
                   const std::filesystem::path& layout_out, const std::filesystem::path& init_out) {
  CAIRN_RETURN_IF_ERROR(model::WriteLayout(layout_out, exported.spec, model_file.filename().string(), exported.sha256));
  if (!init_out.empty()) CAIRN_RETURN_IF_ERROR(model::WriteFlatParameters(init_out, exported.parameters));
  return Ok();
}

Result<std::string> MakeTorchScriptExample(const std::filesystem::path& out, const TorchScriptExampleOptions& o) {
  if (o.inputs < 1 || o.inputs > model::kMaxFeatures || o.hidden < 1 || o.hidden > model::kMaxHiddenWidth ||
      o.classes < 2 || o.classes > model::kMaxClasses) {
    return Fail(ErrorCode::kInvalidArgument, "example model sizes out of range: inputs [1, " +
                                                 std::to_string(model::kMaxFeatures) + "], hidden [1, " +
                                                 std::to_string(model::kMaxHiddenWidth) + "], classes [2, " +
                                                 std::to_string(model::kMaxClasses) + "]");
  }
  const model::ModelSpec spec{"mlp",
                              {{"fc1.weight", {o.hidden, o.inputs}},
                               {"fc1.bias", {o.hidden}},
                               {"fc2.weight", {o.classes, o.hidden}},
                               {"fc2.bias", {o.classes}}}};
  CAIRN_ASSIGN_OR_RETURN(std::vector<float> init, model::InitialParameters(spec, o.seed));
  std::string bytes;
  try {
    auto cu = std::make_shared<torch::jit::CompilationUnit>();
    std::size_t offset = 0;
    auto linear = [&](const std::string& name) {
      torch::jit::Module m(c10::QualifiedName("__torch__.cairn_example.Linear_" + name), cu);
      for (const char* part : {"weight", "bias"}) {
        const model::TensorSpec& t = spec.tensors[part[0] == 'w' ? (name == "fc1" ? 0 : 2) : (name == "fc1" ? 1 : 3)];
        torch::Tensor value = torch::from_blob(init.data() + offset, t.shape, torch::kFloat).clone();
        value.set_requires_grad(true);
        m.register_parameter(part, value, /*is_buffer=*/false);
        offset += t.numel();
      }
      m.define("def forward(self, x):\n    return torch.linear(x, self.weight, self.bias)\n");
      return m;
    };
    torch::jit::Module fc1 = linear("fc1");
    torch::jit::Module fc2 = linear("fc2");
    torch::jit::Module top(c10::QualifiedName("__torch__.cairn_example.Mlp"), cu);
    top.register_module("fc1", fc1);
    top.register_module("fc2", fc2);
    top.define("def forward(self, x):\n    return self.fc2.forward(torch.relu(self.fc1.forward(x)))\n");
    std::ostringstream os(std::ios::binary);
    top.save(os);
    bytes = os.str();
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, "building the TorchScript example: " + TorchMessage(e));
  }
  CAIRN_RETURN_IF_ERROR(WriteFileAtomic(out, std::string_view(bytes)));
  return model::Sha256Hex(AsBytes(bytes));
}

}  // namespace cairn::trainer
