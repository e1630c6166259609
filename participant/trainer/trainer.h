// Local training with libtorch, behind a torch-free interface.
//
// A Trainer owns one model (a built-in logreg / mlp / cnn from common/model, or a TorchScript
// module) and exchanges its parameters as a flat float32 vector in ModelSpec order, the form the
// aggregator works with. libtorch is confined to this library's .cc files: including this header
// costs nothing, and every libtorch exception is caught inside and returned as an Error.
//
// Typical participant round:
//
//   auto trainer = Trainer::Create({.model = config, .threads = 1});   // once
//   trainer->SetParameters(global);            // also becomes w_global for FedProx
//   auto stats = trainer->Train(train_set, task);
//   trainer->GetParameters(local);             // update = local - global
//   auto eval = trainer->Evaluate(test_set);
//
// Thread safety: a Trainer is not thread-safe. TrainerOptions::threads sets, for the whole
// process, libtorch's intra-op thread count (torch::set_num_threads), OpenBLAS's (looked up at run
// time: openblas_set_num_threads, when OpenBLAS provides libblas.so.3) and, once per process, the
// inter-op pool's (at::set_num_interop_threads; the first trainer's setting wins).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/core/error.h"
#include "common/model/model_spec.h"
#include "participant/data/dataset.h"

namespace cairn::trainer {

struct TrainerOptions {
  // The model to build. For torchscript the file is read once, checked against model.sha256,
  // and its parameters must match the layout file.
  model::ModelConfig model{};
  // libtorch intra-op, OpenBLAS and inter-op threads (process-wide, see above). 0 leaves the
  // current settings. On a shared 2-core machine 1 is fastest for the small models here.
  int threads = 1;
  // Built-in models start from model::InitialParameters(spec, init_seed) (PyTorch's default
  // initialization, deterministic); a participant then overwrites them with SetParameters.
  std::uint64_t init_seed = 0;
  // Bound on the TorchScript file size (a bound on untrusted input).
  std::uint64_t max_model_file_bytes = 1ull << 30;
};

// One round of local work, as the aggregator's round task describes it.
struct TrainTask {
  int local_epochs = 1;           // passes over the local data, in [1, 10000]
  std::int64_t batch_size = 32;   // examples per step, >= 1; an epoch's last batch may be smaller
  double learning_rate = 0.01;    // > 0
  std::string optimizer = "sgd";  // "sgd" or "adam" (fresh optimizer state every Train call)
  double momentum = 0.0;          // SGD momentum in [0, 1); must be 0 for adam
  // FedProx: adds mu/2 ||w - w_global||^2 to the loss, w_global = the parameters given to the
  // last SetParameters (or the initial ones). 0 is plain local SGD (FedAvg).
  double proximal_mu = 0.0;
  std::uint64_t seed = 0;         // batch order per epoch; also seeds torch's generator (dropout)
};

struct TrainStats {
  double mean_loss = 0;       // cross-entropy averaged over every example of every epoch (no prox term)
  std::int64_t examples = 0;  // distinct local examples (n_k, the FedAvg weight), not × epochs
  std::int64_t steps = 0;     // optimizer steps taken
};

struct EvalStats {
  double loss = 0;            // mean cross-entropy
  double accuracy = 0;        // fraction of examples whose arg-max logit is the label
  std::int64_t examples = 0;
};

class Trainer {
 public:
  static Result<std::unique_ptr<Trainer>> Create(const TrainerOptions& options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  std::size_t num_params() const;
  // Names and shapes as the torch module's named_parameters() lists them (for built-ins this
  // equals model::SpecFor(config); Create checks it).
  const model::ModelSpec& spec() const;

  // Copies `values` (num_params floats, all finite) into the model and records them as w_global.
  Status SetParameters(std::span<const float> values);
  // Writes the current parameters into `out` (num_params floats), without an intermediate copy.
  Status GetParameters(std::span<float> out) const;

  // Trains in place with cross-entropy (binary tasks use 2 logits). The dataset must have the
  // model's input shape and labels below model.classes; it is read, never modified. Fails with
  // kFailedPrecondition if the loss becomes NaN or infinite (lower the learning rate).
  Result<TrainStats> Train(const data::Dataset& data, const TrainTask& task);
  Result<EvalStats> Evaluate(const data::Dataset& data) const;

  struct Impl;

 private:
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The centralized baseline: the same model and hyperparameters as the federation, trained for
// `epochs` passes over the pooled data (task.local_epochs is ignored), then evaluated on `test`.
// Starts from `initial` when given (e.g. the federation's initial global model), else from
// InitialParameters(spec, options.init_seed).
struct CentralizedResult {
  TrainStats train;
  EvalStats test;
};
Result<CentralizedResult> TrainCentralized(const TrainerOptions& options, const TrainTask& task, int epochs,
                                           const data::Dataset& train, const data::Dataset& test,
                                           std::span<const float> initial = {});

}  // namespace cairn::trainer
