// A workload without data or training, for benchmarks, load tests and protocol tests: every
// round it "trains" to a deterministic pseudo-random update (or a constant one), so the network,
// sealing and aggregation paths run at full size with no libtorch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "participant/workload.h"

namespace cairn::participant {

struct SyntheticOptions {
  std::size_t num_params = 0;       // must equal the federation model's parameter count
  std::uint64_t num_examples = 100; // reported example count (the FedAvg weight)
  std::uint64_t seed = 1;           // per-participant seed of the update values
  float scale = 0.01f;              // updates are uniform in [-scale, scale)
  std::optional<float> constant;    // when set, every coordinate of the update is this value
  // Reuse one pseudo-random update every round instead of drawing a new one (benchmarks: keeps
  // the generator out of the measured path).
  bool reuse_update = false;
  // When set, every round's update is a copy of this vector, whose size must be num_params
  // (benchmarks with many participants share one read-only buffer instead of holding one each).
  // Shared between threads; nobody writes it while clients run.
  std::shared_ptr<const std::vector<float>> shared_update;
  // Test hook: may rewrite the update before it is sent (e.g. inject NaN, scale for poisoning).
  std::function<void(std::uint64_t round_seed, std::span<float> delta)> tamper;
};

class SyntheticWorkload final : public Workload {
 public:
  explicit SyntheticWorkload(SyntheticOptions options) : options_(std::move(options)) {}
  Status Prepare(const protocol::FederationConfig& federation) override;
  std::size_t num_params() const override { return options_.num_params; }
  Result<LocalResult> Train(std::span<const float> global, const protocol::Task& task,
                            std::span<float> delta) override;
  Result<std::vector<protocol::Metric>> Evaluate(std::span<const float> global) override;
  std::optional<protocol::FeatureStats> FeatureMoments() const override;
  bool evaluates() const override { return false; }

 private:
  SyntheticOptions options_;
  std::vector<float> cached_;
};

}  // namespace cairn::participant
