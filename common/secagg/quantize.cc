#include "common/secagg/quantize.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "common/secagg/keystream.h"

namespace cairn::secagg {

double QuantizationStep(const Params& params) {
  const double levels = static_cast<double>((std::uint64_t{1} << params.quantization_bits) - 1);
  return 2.0 * params.clip_range / levels;
}

double QuantizationNormBound(const Params& params, std::uint64_t num_elements) {
  return QuantizationStep(params) * std::sqrt(static_cast<double>(num_elements));
}

Result<Quantizer> Quantizer::Create(const Params& params, ByteSpan rounding_key) {
  if (rounding_key.size() != kSeedBytes) {
    return Fail(ErrorCode::kInvalidArgument, "quantizer: rounding key must be 32 bytes, got " +
                                                 std::to_string(rounding_key.size()));
  }
  if (params.quantization_bits < 1 || params.quantization_bits > 31 ||
      !std::isfinite(params.clip_range) || params.clip_range <= 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "quantizer: needs 1 ≤ quantization_bits ≤ 31 and a finite clip_range > 0");
  }
  CAIRN_ASSIGN_OR_RETURN(auto key, crypto::SecretBytes::CopyFrom(rounding_key));
  const double levels = static_cast<double>((std::uint64_t{1} << params.quantization_bits) - 1);
  return Quantizer(params.clip_range, levels, std::move(key));
}

Result<QuantizeStats> Quantizer::Quantize(std::span<const float> values, std::uint64_t offset,
                                          std::span<std::uint32_t> out) const {
  if (values.size() != out.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "quantize: " + std::to_string(values.size()) + " values but an output of " +
                    std::to_string(out.size()));
  }
  if (offset > kMaxElements || values.size() > kMaxElements - offset) {
    return Fail(ErrorCode::kOutOfRange, "quantize: elements beyond 2^34");
  }
  QuantizeStats stats;
  const double r = range_;
  const double inv_step = levels_ / (2.0 * r);
  const auto top = static_cast<std::uint32_t>(levels_);
  constexpr double kTwo31 = 2147483648.0;
  constexpr std::size_t kTile = 8192;  // coins per keystream call (its set-up is amortized)
  std::array<std::uint32_t, kTile> coins;
  for (std::size_t base = 0; base < values.size(); base += kTile) {
    const std::size_t n = std::min(kTile, values.size() - base);
    const float* in = values.data() + base;
    std::uint32_t* q = out.data() + base;
    // x − x is 0 for a finite x and NaN for ±inf and NaN (branch-free, so it vectorizes).
    std::int32_t finite = 1;
    std::uint32_t clamped = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const float x = in[i];
      finite &= (x - x == 0.0f);
      clamped += (x < -r) | (x > r);
    }
    if (finite == 0) {
      std::size_t bad = 0;
      while (std::isfinite(in[bad])) ++bad;
      crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(coins.data()), sizeof coins));
      return Fail(ErrorCode::kInvalidArgument,
                  "quantize: element " + std::to_string(offset + base + bad) + " is not finite");
    }
    stats.clamped += clamped;
    KeystreamWords(key_.span(), offset + base, std::span(coins.data(), n));
    // Written so that GCC vectorizes it with SSE2 (int32 ↔ double conversions only).
    for (std::size_t i = 0; i < n; ++i) {
      const double x = in[i];
      const double lo = x < -r ? -r : x;
      const double v = lo > r ? r : lo;
      const double u = (v + r) * inv_step;  // in [0, L] up to one rounding; L < 2^31
      // Truncation is floor for u ≥ 0 (and, unlike std::floor, needs no libm call).
      const std::int32_t f = static_cast<std::int32_t>(u);
      // Round up with probability u − f, from a 31-bit coin (bias below 2^-31).
      const std::int32_t coin = static_cast<std::int32_t>(coins[i] >> 1);
      const std::int32_t up = static_cast<double>(coin) < (u - f) * kTwo31;
      const std::uint32_t qi = static_cast<std::uint32_t>(f + up);
      q[i] = qi > top ? top : qi;  // u may exceed L by one rounding at v = r
    }
  }
  crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(coins.data()), sizeof coins));
  return stats;
}

Status DequantizeSum(const Params& params, std::span<const std::uint32_t> ring_sum,
                     std::uint32_t num_summed, std::span<double> out) {
  if (ring_sum.size() != out.size()) {
    return Fail(ErrorCode::kInvalidArgument, "dequantize: " + std::to_string(ring_sum.size()) +
                                                 " sums but an output of " +
                                                 std::to_string(out.size()));
  }
  if (num_summed > params.num_participants) {
    return Fail(ErrorCode::kInvalidArgument,
                "dequantize: " + std::to_string(num_summed) + " vectors summed but n = " +
                    std::to_string(params.num_participants));
  }
  const double step = QuantizationStep(params);
  const double shift = static_cast<double>(num_summed) * params.clip_range;
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = step * ring_sum[i] - shift;
  return Ok();
}

}  // namespace cairn::secagg
