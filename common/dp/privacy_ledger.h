// The privacy ledger: a budget (ε_max, δ) and the composition of everything released so far.
//
// Design. The ledger keeps one RDP curve on a fixed order grid (chosen at creation, stored with
// the ledger). Every release is a PrivacyStep whose per-release RDP curve is known in closed form
// or by the accountant (sampled Gaussian rounds, plain Gaussian releases for analytics); `count`
// repetitions compose by multiplying by count, different steps compose by adding curves, and ε is
// the conversion of the sum at the ledger's δ (improved by default). RDP composition is exact
// (additive) across mechanisms, so training rounds and clean-room queries spend from one budget
// without the looseness of composing (ε, δ) pairs. A new kind of mechanism joins by adding a
// Mechanism value and its RDP curve.
//
// Neighbouring relation. A ledger has one adjacency, fixed at creation: add-or-remove (Poisson
// sampling; the default) or replace-one (fixed-size sampling, n public). ε under one relation is
// not comparable with the other, so a step for the other relation is refused.
//
// Determinism. ε is recomputed from the history in order (Σ count_i · r_i, consecutive equal
// steps merged), so EpsilonIfAdded(s) == the ε_spent() after Charge(s), a ledger restored from its
// JSON reports the same ε to the bit, and a ledger with the single step (q, z, T) reports exactly
// PoissonSampledGaussianEpsilon(q, z, T, ...).
//
// Value type: copyable and movable. Not thread-safe (one owner, the round engine).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"
#include "common/dp/rdp_accountant.h"

namespace cairn::dp {

enum class Adjacency {
  kAddOrRemove,  // neighbouring datasets differ by one participant's presence
  kReplaceOne,   // neighbouring datasets have the same size and differ in one participant
};
std::string_view AdjacencyName(Adjacency adjacency);  // "add-or-remove" | "replace-one"

enum class Mechanism {
  kPoissonSampledGaussian,            // needs add-or-remove
  kSampledWithoutReplacementGaussian, // needs replace-one
  kGaussian,                          // any adjacency (sensitivity stated for the ledger's)
};
std::string_view MechanismName(Mechanism mechanism);

// One kind of release, repeated `count` times.
struct PrivacyStep {
  Mechanism mechanism = Mechanism::kPoissonSampledGaussian;
  double sampling_rate = 1.0;    // q ∈ [0, 1]: Poisson rate, or m/n; 1 for kGaussian
  double noise_multiplier = 0;   // σ / Δ ≥ 0, Δ = L2 sensitivity under the ledger's adjacency
  std::uint64_t count = 1;       // ≥ 1

  // A DP-FedAvg round with Poisson sampling at rate q and noise stddev z·C on the sum of updates
  // clipped to C (add-or-remove sensitivity C, so σ/Δ = z).
  static PrivacyStep PoissonRound(double q, double z, std::uint64_t rounds = 1);
  // A DP-FedAvg round of exactly m out of n participants with noise z·C on the sum. Under
  // replace-one adjacency the sum's sensitivity is 2C, so the stored multiplier is z/2.
  static PrivacyStep FixedSizeRound(std::size_t m, std::size_t n, double z,
                                    std::uint64_t rounds = 1);
  // A Gaussian release: noise stddev σ on a query whose L2 sensitivity under the ledger's
  // adjacency is Δ > 0 (e.g. a clean-room sum of values clipped to [0, B]: Δ = B for
  // add-or-remove). RDP α·Δ²/(2σ²) per release.
  static PrivacyStep GaussianRelease(double l2_sensitivity, double stddev,
                                     std::uint64_t count = 1);

  // Same mechanism and bit-identical parameters (count ignored).
  bool SameReleaseAs(const PrivacyStep& other) const;
  std::string ToString() const;  // for messages: "poisson-sampled-gaussian(q=0.04, z=1.5)×3"
};

// The RDP curve of ONE repetition of `step` at `orders` (count ignored).
Result<std::vector<double>> StepRdp(const PrivacyStep& step, std::span<const double> orders);

struct LedgerOptions {
  double epsilon_budget = 0;    // ε_max: finite, > 0
  double delta = 0;             // δ ∈ (0, 1), the δ at which ε is reported and limited
  Adjacency adjacency = Adjacency::kAddOrRemove;
  std::vector<double> orders = OpacusOrders();  // the grid all curves are kept on
  Conversion conversion = Conversion::kImproved;
};

// Bounds on restored ledgers (the JSON comes from a checkpoint; still bound it).
inline constexpr std::size_t kMaxLedgerJsonBytes = std::size_t{16} << 20;
inline constexpr std::size_t kMaxLedgerEntries = 100000;

class PrivacyLedger {
 public:
  static Result<PrivacyLedger> Create(LedgerOptions options);

  const LedgerOptions& options() const { return options_; }
  // Charged steps in order; consecutive equal releases are merged into one entry.
  std::vector<PrivacyStep> history() const;
  double epsilon_spent() const { return spent_.epsilon; }  // 0 before any charge
  double best_order() const { return spent_.order; }      // the order that gave epsilon_spent()

  // ε (at options().delta) that the ledger would report after Charge(step). kInvalidArgument for
  // an invalid step or one for the other adjacency.
  Result<double> EpsilonIfAdded(const PrivacyStep& step) const;
  // Adds `step` if the resulting ε stays ≤ ε_max; otherwise kResourceExhausted with a message
  // naming the budget, δ, the ε it would reach and the ε spent so far, and the ledger unchanged.
  Status Charge(const PrivacyStep& step);

  // JSON blob for the checkpoint: options, history, and ε spent (informational; checked on load).
  std::string ToJson() const;
  // Strict: unknown keys, wrong types, a bad format tag, more than kMaxLedgerEntries entries, a
  // size over kMaxLedgerJsonBytes, a history over budget or a stored ε that disagrees with the
  // recomputed one are kDataLoss errors naming the field.
  static Result<PrivacyLedger> FromJson(std::string_view json);

 private:
  struct Entry {
    PrivacyStep step;
    std::vector<double> rdp;  // one repetition, at options_.orders
  };
  explicit PrivacyLedger(LedgerOptions options) : options_(std::move(options)) {}
  Result<Entry> MakeEntry(const PrivacyStep& step) const;
  // ε of entries_ with `extra` appended (merged into the last entry when it is the same release).
  Result<EpsilonAndOrder> EpsilonWith(const Entry* extra) const;

  LedgerOptions options_;
  std::vector<Entry> entries_;
  EpsilonAndOrder spent_{0.0, 0.0};
};

}  // namespace cairn::dp
