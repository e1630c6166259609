// Aggregation strategies: how one round's participant updates become the next global model.
//
// A strategy is (a) an aggregation rule that turns the round's deltas Δ_i = w_i − w_global
// (weights = example counts) into one Δ, then (b) a server optimizer that applies Δ to the
// global model and keeps state between rounds. docs/strategies.md states every formula, default,
// precondition and memory cost.
//
// Two ways in, chosen by needs_all_updates():
// - streaming (fedavg, fedavgm, fedadam, fedyogi, fedadagrad, fedprox): the engine folds each
//   update into a double-precision running sum (AccumulateWeighted in vector_math.h) and calls
//   ApplyMean with the weighted mean. Norm bounding cannot be applied after the fold: the engine
//   must have participants clip to norm_bound() (the task's clip norm) and reject an update whose
//   norm exceeds norm_bound()·(1 + kNormBoundSlack), or scale each update by ClipScale before
//   folding it.
// - robust (median, trimmed-mean, krum, multi-krum, bulyan): the engine holds every update of the
//   round and calls ApplyRobust. ApplyRobust also accepts the streaming strategies (it computes
//   the weighted mean itself), which the offline tools and the tests use.
//
// Thread safety: none; a Strategy belongs to one federation and is driven by one thread. Apply*
// either succeeds, or fails before touching the model or the state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn::strategy {

class Strategy {
 public:
  virtual ~Strategy() = default;

  // "fedavg", "median", ...: the name recorded in every signed round result.
  virtual std::string name() const = 0;

  // Every parameter with its effective value (defaults filled in), in a fixed order per strategy:
  // what the signed round result records. norm_bound appears only when it was set.
  virtual std::vector<std::pair<std::string, double>> params() const = 0;

  // True for the robust rules (the engine must hold all updates and call ApplyRobust).
  virtual bool needs_all_updates() const = 0;

  // Model size this instance was built for (number of float32 parameters).
  virtual std::size_t n_params() const = 0;

  // FedProx's μ, carried to participants in the round's task; 0 for the other strategies.
  virtual double proximal_mu() const = 0;

  // L2 bound applied to each Δ_i before the rule; 0 when norm bounding is off.
  virtual double norm_bound() const = 0;

  // Whether a round with n contributing participants can be aggregated (Krum needs n ≥ f + 2,
  // Bulyan n ≥ 4f + 3, Multi-Krum m ≤ n − f, ...). The engine calls it at start with its minimum
  // cohort, and ApplyRobust calls it with the actual count. kFailedPrecondition names the rule.
  virtual Status CheckCohort(std::size_t n_participants) const = 0;

  // Bytes this strategy needs for one round with n participants, beyond the global model itself:
  // for streaming strategies the engine's double running sum plus the optimizer state; for robust
  // ones the n float32 updates the engine holds, the rule's workspace and the optimizer state.
  // Saturates at UINT64_MAX. The formulas are in docs/strategies.md; the engine refuses to start
  // when this exceeds its memory limit.
  virtual std::uint64_t MemoryBytes(std::size_t n_participants) const = 0;

  // Streaming strategies only. mean_delta = Σ w_i·Δ_i / Σ w_i, n_params() long, finite.
  // kFailedPrecondition for robust strategies; kInvalidArgument for a size mismatch or a
  // non-finite value (with its index); kOutOfRange when applying it would overflow float32 in the
  // model or the optimizer state (checked first: nothing is changed).
  virtual Status ApplyMean(std::span<float> global, std::span<const double> mean_delta) = 0;

  // All strategies. deltas[i] = w_i − global for participant i (borrowed for the call), each
  // n_params() long and finite; weights[i] = its example count, > 0 and finite (robust rules
  // ignore weights: a claimed example count is untrusted). Clips each Δ_i to norm_bound() first.
  // kInvalidArgument names the participant index for a bad size, weight or value; kOutOfRange as
  // ApplyMean (the rule runs once as a dry run to check, then once to apply).
  virtual Status ApplyRobust(std::span<float> global,
                             const std::vector<std::span<const float>>& deltas,
                             std::span<const double> weights) = 0;

  // Rounds applied since construction (or as loaded from a checkpoint).
  virtual std::uint64_t rounds_applied() const = 0;

  // Optimizer state for checkpoints: a versioned encoding of the name, n_params, parameters,
  // rounds applied and state vectors. LoadState refuses state from another strategy, model size
  // or parameter set, truncated or trailing bytes, and non-finite or impossible values; on error
  // the current state is unchanged (kDataLoss for corrupt bytes, kFailedPrecondition for a
  // mismatch).
  virtual Bytes SaveState() const = 0;
  virtual Status LoadState(ByteSpan state) = 0;
};

// Builds a strategy by name for a model of n_params float32 parameters. `params` overrides the
// defaults; an unknown strategy name, an unknown or inapplicable parameter, or a value out of
// range (or not an integer where one is required) is kInvalidArgument naming it and listing what
// is allowed.
Result<std::unique_ptr<Strategy>> MakeStrategy(std::string_view name,
                                               const std::map<std::string, double>& params,
                                               std::size_t n_params);

// fedavg, fedavgm, fedadam, fedyogi, fedadagrad, fedprox, median, trimmed-mean, krum,
// multi-krum, bulyan.
const std::vector<std::string_view>& StrategyNames();

// The parameters a strategy accepts with their defaults (NaN default = unset unless given), for
// help texts and documentation checks. kInvalidArgument for an unknown name.
struct ParamInfo {
  std::string_view key;
  double default_value;
  std::string_view range;  // human-readable, e.g. "[0, 1)"
};
Result<std::vector<ParamInfo>> StrategyParamInfo(std::string_view name);

}  // namespace cairn::strategy
