// PRIVATE to participant/trainer (includes libtorch): shared by trainer.cc and
// torchscript_tools.cc. Do not include from other modules.
#pragma once

#include <torch/script.h>

#include <exception>
#include <string>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "common/model/model_spec.h"

namespace cairn::trainer::internal {

// A libtorch exception as one readable message: c10::Error without its C++ backtrace, cut to
// the first few lines (TorchScript errors carry long source excerpts).
std::string TorchMessage(const std::exception& e);

// torch::jit::load from bytes already read (and digest-checked) by the caller. `name` (the file
// path) prefixes errors.
Result<torch::jit::Module> LoadScriptModule(const Bytes& bytes, const std::string& name);

// named_parameters(recurse) as a ModelSpec of kind "torchscript"; every parameter must be a
// float32 CPU tensor. Also returns the tensors, in the same order.
Result<model::ModelSpec> ScriptModuleSpec(const torch::jit::Module& module, const std::string& name,
                                          std::vector<torch::Tensor>* tensors);

}  // namespace cairn::trainer::internal
