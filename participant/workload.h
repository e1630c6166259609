// What a participant computes in a round, behind one interface so the network client does not
// depend on libtorch: the real trainer (participant/torch_workload.h) and the synthetic workload
// of benchmarks and load tests implement it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/core/error.h"
#include "protocol/federation_config.h"
#include "protocol/types.h"

namespace cairn::participant {

struct LocalResult {
  std::uint64_t num_examples = 0;
  std::vector<protocol::Metric> metrics;  // aggregate statistics only ("train_loss")
};

class Workload {
 public:
  virtual ~Workload() = default;
  // Called once the federation config has been attested (it names the model and the task).
  virtual Status Prepare(const protocol::FederationConfig& federation) = 0;
  // Number of parameters the workload's model has (checked against every offered model).
  virtual std::size_t num_params() const = 0;
  // Trains from `global` under `task` and writes Δ = w_local − w_global into `delta`.
  virtual Result<LocalResult> Train(std::span<const float> global, const protocol::Task& task,
                                    std::span<float> delta) = 0;
  // Federated standardization: the local training data's feature moments (count, Σx, Σx²), sent
  // only to the attested enclave; nullopt when the workload has no tabular features.
  virtual std::optional<protocol::FeatureStats> FeatureMoments() const { return std::nullopt; }
  // Applies the pooled standardization the round task carries (once; the same values later are
  // a no-op, different ones an error).
  virtual Status SetFeatureStandardization(const std::vector<double>& /*mean*/,
                                           const std::vector<double>& /*std*/) {
    return Ok();
  }
  // Whether Evaluate does anything: when false the client does not download each new model just
  // to evaluate it (synthetic workloads in benchmarks).
  virtual bool evaluates() const { return true; }
  // Evaluates `global` on the local held-out data ("loss", "accuracy", "examples"); empty when
  // the workload has nothing to evaluate on.
  virtual Result<std::vector<protocol::Metric>> Evaluate(std::span<const float> global) = 0;
};

}  // namespace cairn::participant
