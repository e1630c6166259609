// Server optimizers: how a round's aggregate update Δ moves the global model, and the state they
// keep between rounds (Reddi et al. 2021, "Adaptive Federated Optimization", Alg. 2; Hsu et al.
// 2019 for server momentum).
//
// Arithmetic is in double per element; the model and the state vectors are stored as float32
// (the state costs 4 bytes per parameter per vector). Every update is element-wise, so the
// optimizer can be applied block by block in any partition of [0, P), once per coordinate per
// round. Not thread-safe: one optimizer belongs to one strategy instance, driven by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace cairn::strategy {

class ServerOptimizer {
 public:
  virtual ~ServerOptimizer() = default;

  // Applies Δ[offset, offset + delta.size()) to `global` (the same slice of the model, same
  // length). The caller guarantees the sizes and that Δ is finite.
  virtual void ApplyBlock(std::size_t offset, std::span<float> global,
                          std::span<const double> delta) = 0;

  // A dry run of ApplyBlock with the same arguments: the index (within the block) of the first
  // coordinate where it would store a non-finite float in the model or a state vector (a finite
  // Δ can still overflow float32: Δ² in Adam's v, η·Δ added to the model), or nullopt when every
  // value would stay finite. Changes nothing: strategies call it before ApplyBlock so that a round
  // that would overflow fails before touching the model or the state.
  virtual std::optional<std::size_t> FirstOverflow(std::size_t offset, std::span<const float> global,
                                                   std::span<const double> delta) const = 0;

  // A check that needs no Δ, only a bound on it: true when every Δ with |Δ[j]| <= delta_bound
  // for all j keeps the whole model (`global`, every coordinate from 0) and the state well within
  // float32 (below FLT_MAX / 2). It evaluates ApplyBlock's arithmetic on magnitudes (each rounded
  // operation there is monotone in them), with a factor-2 margin for anything rounding could add.
  // False means "could overflow", not "will": callers then run FirstOverflow on the real Δ.
  // Robust rules use it to skip their dry run (their output lies within the range of their
  // inputs, so a bound on the inputs bounds Δ). delta_bound must be finite and >= 0.
  virtual bool FitsForAnyDeltaWithin(std::span<const float> global, double delta_bound) const = 0;

  // The optimizer's state vectors by name ("momentum", "m", "v"), each P floats, in a fixed
  // order; empty for stateless optimizers. Mutable so that checkpoints can be loaded in place.
  struct StateVector {
    std::string name;
    std::span<float> values;
    bool non_negative;  // a loaded value below 0 is corrupt (second moments)
  };
  virtual std::vector<StateVector> State() = 0;

  // Bytes of state held: 4 · P · (number of state vectors).
  virtual std::uint64_t StateBytes() const = 0;
};

// x ← x + η·Δ. No state.
std::unique_ptr<ServerOptimizer> MakePlainOptimizer(double eta);

// Server momentum (FedAvgM): u ← momentum·u + Δ; x ← x + η·u. u starts at 0 (as Flower's
// FedAvgM, whose first round sets u = Δ). State: "momentum".
std::unique_ptr<ServerOptimizer> MakeMomentumOptimizer(std::size_t n_params, double eta,
                                                       double momentum);

enum class AdaptiveKind { kAdagrad, kAdam, kYogi };

// Reddi et al. 2021 Alg. 2, no bias correction:
//   m ← β₁m + (1−β₁)Δ
//   Adagrad v ← v + Δ²;  Adam v ← β₂v + (1−β₂)Δ²;  Yogi v ← v − (1−β₂)Δ²·sign(v − Δ²)
//   x ← x + η·m/(√v + τ)
// m and v start at 0 (as Flower's FedOpt strategies; the paper allows v₋₁ ≥ τ², but only v₀ = 0
// reproduces Flower's FedAdagrad test, oracle O1). State: "m", "v".
std::unique_ptr<ServerOptimizer> MakeAdaptiveOptimizer(AdaptiveKind kind, std::size_t n_params,
                                                       double eta, double beta1, double beta2,
                                                       double tau);

}  // namespace cairn::strategy
