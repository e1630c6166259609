#include "participant/synthetic_workload.h"

#include <cstring>

#include "common/model/rng.h"

namespace cairn::participant {

Status SyntheticWorkload::Prepare(const protocol::FederationConfig&) { return Ok(); }

Result<LocalResult> SyntheticWorkload::Train(std::span<const float> global, const protocol::Task& task,
                                             std::span<float> delta) {
  if (global.size() != options_.num_params || delta.size() != options_.num_params) {
    return Fail(ErrorCode::kInvalidArgument, "synthetic workload: model size mismatch");
  }
  if (options_.constant) {
    std::fill(delta.begin(), delta.end(), *options_.constant);
  } else if (options_.shared_update) {
    if (options_.shared_update->size() != delta.size()) {
      return Fail(ErrorCode::kInvalidArgument, "synthetic workload: the shared update has " +
                                                   std::to_string(options_.shared_update->size()) +
                                                   " values; the model has " + std::to_string(delta.size()));
    }
    std::memcpy(delta.data(), options_.shared_update->data(), delta.size_bytes());
  } else if (options_.reuse_update && !cached_.empty()) {
    std::memcpy(delta.data(), cached_.data(), delta.size_bytes());
  } else {
    model::DeterministicRng rng(model::DeterministicRng::DeriveSeed(options_.seed, options_.reuse_update ? 0 : task.seed));
    // Two floats per 64-bit draw keeps generation cheap at 10M parameters.
    const float unit = options_.scale / static_cast<float>(1u << 31);
    std::size_t i = 0;
    for (; i + 1 < delta.size(); i += 2) {
      std::uint64_t r = rng.NextU64();
      delta[i] = static_cast<float>(static_cast<std::int32_t>(r)) * unit;
      delta[i + 1] = static_cast<float>(static_cast<std::int32_t>(r >> 32)) * unit;
    }
    if (i < delta.size()) delta[i] = static_cast<float>(static_cast<std::int32_t>(rng.NextU64())) * unit;
    if (options_.reuse_update) cached_.assign(delta.begin(), delta.end());
  }
  if (options_.tamper) options_.tamper(task.seed, delta);
  LocalResult r;
  r.num_examples = options_.num_examples;
  r.metrics.push_back({"train_loss", 0.0});
  return r;
}

Result<std::vector<protocol::Metric>> SyntheticWorkload::Evaluate(std::span<const float>) {
  return std::vector<protocol::Metric>{};
}

std::optional<protocol::FeatureStats> SyntheticWorkload::FeatureMoments() const { return std::nullopt; }

}  // namespace cairn::participant
