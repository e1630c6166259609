// Quantization of a clipped float update into Z_{2^32} and back.
//
// With L = 2^bits − 1 levels and step Δ = 2r / L, a value x is clamped to [−r, r], mapped to
// u = (x + r) / Δ ∈ [0, L], and rounded stochastically: q = ⌊u⌋ + 1 with probability u − ⌊u⌋,
// else ⌊u⌋. So E[q] = u (unbiased for values inside the range) and |q − u| < 1. The sum of n_c
// quantized vectors stays below n_c·L < 2^32 (ValidateParams), so the ring sum is exact, and
//   Σ x ≈ Δ · Σ q − n_c · r,
// with an error below n_c·Δ per coordinate (variance ≤ n_c·Δ²/4), on top of any clamping.
#pragma once

#include <cstdint>
#include <span>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "common/crypto/crypto.h"
#include "common/secagg/params.h"

namespace cairn::secagg {

// Δ = 2r / (2^bits − 1).
double QuantizationStep(const Params& params);

// Upper bound on the L2 norm that quantization can add to one update of `num_elements` values
// (each coordinate moves by less than Δ): Δ·√P. A DP sensitivity computed from the clip norm C
// should use C + this (docs/masking.md).
double QuantizationNormBound(const Params& params, std::uint64_t num_elements);

// Counts from one Quantize call.
struct QuantizeStats {
  std::uint64_t clamped = 0;  // values outside [−r, r] that were clamped
};

// Stochastic rounding with its own secret randomness: the rounding coin of element e is word e
// of the keystream of a private 32-byte key (keystream.h), so quantizing the same chunk twice
// gives the same integers (a resent chunk reveals nothing new). Move-only; thread-compatible
// (const calls may run concurrently on distinct chunks).
class Quantizer {
 public:
  // rounding_key: 32 secret bytes (copied into guarded memory). params must be valid.
  static Result<Quantizer> Create(const Params& params, ByteSpan rounding_key);

  // out[i] = q(values[i]) for element offset + i. out.size() == values.size(). Fails
  // (kInvalidArgument) on a non-finite value, naming its element index; `out` is then
  // unspecified. offset + size ≤ kMaxElements.
  Result<QuantizeStats> Quantize(std::span<const float> values, std::uint64_t offset,
                                 std::span<std::uint32_t> out) const;

 private:
  Quantizer(double range, double levels, crypto::SecretBytes key)
      : range_(range), levels_(levels), key_(std::move(key)) {}
  double range_;
  double levels_;  // L
  crypto::SecretBytes key_;
};

// out[i] = Δ·ring_sum[i] − num_summed·r: the sum of the num_summed original vectors (up to
// quantization error). out.size() == ring_sum.size(); num_summed ≤ params.num_participants.
Status DequantizeSum(const Params& params, std::span<const std::uint32_t> ring_sum,
                     std::uint32_t num_summed, std::span<double> out);

}  // namespace cairn::secagg
