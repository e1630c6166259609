#include "common/secagg/params.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <string>

#include "common/crypto/crypto.h"

namespace cairn::secagg {
namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

Status Invalid(const std::string& field, const std::string& message) {
  return Fail(ErrorCode::kInvalidArgument, "masking." + field + ": " + message);
}

// log C(n, i) via lgamma (exact enough for n ≤ 255: relative error ~1e-13).
double LogChoose(std::uint32_t n, std::uint32_t i) {
  return std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0);
}

}  // namespace

double AbortProbabilityBound(std::uint32_t n, std::uint32_t k, std::uint32_t t, double dropout_rate) {
  if (k == 0 || t == 0) return 0;
  const std::uint32_t trials = k - 1;  // neighbours of a dropped participant
  // t = k: a dropped participant's secret can never be rebuilt; any dropout aborts.
  if (t > trials) return dropout_rate > 0 ? 1.0 : 0.0;
  const double p = 1.0 - dropout_rate;  // survival probability
  if (p >= 1.0) return 0.0;
  if (p <= 0.0) return 1.0;
  // P[X < t] = Σ_{i<t} C(m, i) p^i (1−p)^(m−i)
  double tail = 0;
  for (std::uint32_t i = 0; i < t; ++i) {
    tail += std::exp(LogChoose(trials, i) + i * std::log(p) + (trials - i) * std::log1p(-p));
  }
  return std::clamp(static_cast<double>(n) * tail, 0.0, 1.0);
}

std::uint32_t MaxQuantizationBits(std::uint32_t n) {
  if (n == 0) return 31;
  std::uint32_t bits = 0;
  while (bits < 31) {
    const std::uint64_t levels = (std::uint64_t{1} << (bits + 1)) - 1;
    if (static_cast<std::uint64_t>(n) * levels >= (std::uint64_t{1} << 32)) break;
    ++bits;
  }
  return bits;
}

Status ValidateParams(const Params& p) {
  if (p.modulus_bits != 32) {
    return Invalid("modulus_bits", std::to_string(p.modulus_bits) +
                                       ": only the ring Z_{2^32} (modulus_bits = 32) is implemented");
  }
  if (p.num_participants < 3 || p.num_participants > kMaxParticipants) {
    return Invalid("num_participants",
                   std::to_string(p.num_participants) + " is outside [3, " +
                       std::to_string(kMaxParticipants) +
                       "]: masking needs at least 3 participants (a neighbourhood of 3)");
  }
  const std::uint32_t n = p.num_participants, k = p.neighborhood_size, t = p.threshold;
  if (k % 2 == 0) {
    return Invalid("neighborhood_size",
                   "k = " + std::to_string(k) +
                       " must be odd: a neighbourhood is the participant and (k−1)/2 neighbours on "
                       "each side of it on the ring");
  }
  if (k < 3) {
    return Invalid("neighborhood_size",
                   "k = " + std::to_string(k) +
                       " is below 3: with no neighbour there is no pairwise mask, and the self-mask "
                       "seed would be revealed by the participant alone");
  }
  if (k > n) {
    return Invalid("neighborhood_size", "k = " + std::to_string(k) + " is larger than n = " +
                                            std::to_string(n) +
                                            " (k counts the participant itself; k = n is the "
                                            "complete graph)");
  }
  if (k > kMaxNeighborhood) {
    return Invalid("neighborhood_size", "k = " + std::to_string(k) + " is above " +
                                            std::to_string(kMaxNeighborhood) +
                                            " (Shamir shares over GF(2^8) have at most 255 "
                                            "x-coordinates)");
  }
  if (t > k) {
    return Invalid("threshold", "t = " + std::to_string(t) + " is larger than k = " +
                                    std::to_string(k) + ": no secret could ever be rebuilt");
  }
  const std::uint64_t c = p.max_colluding;
  if (2 * static_cast<std::uint64_t>(t) <= k + c) {
    return Invalid(
        "threshold",
        "t = " + std::to_string(t) + " with k = " + std::to_string(k) + " and max_colluding = " +
            std::to_string(c) +
            " breaks 2t > k + c: the aggregator could then gather t shares of a participant's "
            "self-mask seed from some holders and t shares of its mask key from the others, and "
            "unmask its update; the smallest safe threshold is " +
            std::to_string((k + c) / 2 + 1));
  }
  if (p.quantization_bits < 1 || p.quantization_bits > 31) {
    return Invalid("quantization_bits",
                   std::to_string(p.quantization_bits) + " is outside [1, 31]");
  }
  const std::uint64_t levels = (std::uint64_t{1} << p.quantization_bits) - 1;
  if (static_cast<std::uint64_t>(n) * levels >= (std::uint64_t{1} << 32)) {
    return Invalid("quantization_bits",
                   std::to_string(p.quantization_bits) + " bits with n = " + std::to_string(n) +
                       " participants: n·(2^bits − 1) = " + std::to_string(n * levels) +
                       " ≥ 2^32, so the sum would wrap around the modulus; at most " +
                       std::to_string(MaxQuantizationBits(n)) + " bits for this n");
  }
  if (!std::isfinite(p.clip_range) || p.clip_range <= 0) {
    return Invalid("clip_range", Num(p.clip_range) + " must be finite and > 0");
  }
  if (!(p.expected_dropout_rate >= 0 && p.expected_dropout_rate < 1)) {
    return Invalid("expected_dropout_rate", Num(p.expected_dropout_rate) + " is outside [0, 1)");
  }
  if (!(p.max_abort_probability > 0 && p.max_abort_probability <= 1)) {
    return Invalid("max_abort_probability", Num(p.max_abort_probability) + " is outside (0, 1]");
  }
  const double bound = AbortProbabilityBound(n, k, t, p.expected_dropout_rate);
  if (bound > p.max_abort_probability) {
    const double expected = (k - 1) * (1 - p.expected_dropout_rate);
    return Invalid(
        "threshold",
        "t = " + std::to_string(t) + " is too high for the dropout rate " +
            Num(p.expected_dropout_rate) + ": a dropped participant's " + std::to_string(k - 1) +
            " neighbours keep " + Num(expected) + " members on average, and the bound n·P[Bin(k−1, 1−δ) < t] on the "
            "probability that a round aborts is " + Num(bound) + " > max_abort_probability " +
            Num(p.max_abort_probability) + "; raise k, lower t (keeping 2t > k + c) or lower the "
            "dropout rate assumed");
  }
  return Ok();
}

Status ValidateRoundSetup(const Params& params, const RoundSetup& setup) {
  if (setup.cohort_size < 3 || setup.cohort_size > params.num_participants) {
    return Fail(ErrorCode::kInvalidArgument,
                "round setup: cohort_size " + std::to_string(setup.cohort_size) +
                    " is outside [3, num_participants = " + std::to_string(params.num_participants) + "]");
  }
  if (params.threshold > setup.cohort_size) {
    return Fail(ErrorCode::kInvalidArgument,
                "round setup: cohort_size " + std::to_string(setup.cohort_size) +
                    " is below the threshold t = " + std::to_string(params.threshold));
  }
  if (setup.num_elements < 1 || setup.num_elements > kMaxElements) {
    return Fail(ErrorCode::kInvalidArgument,
                "round setup: num_elements " + std::to_string(setup.num_elements) +
                    " is outside [1, 2^34]");
  }
  if (setup.context.size() > kMaxContextBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "round setup: context of " + std::to_string(setup.context.size()) +
                    " bytes is above " + std::to_string(kMaxContextBytes));
  }
  return Ok();
}

SessionId ComputeSessionId(const Params& p, const RoundSetup& s) {
  Bytes enc;
  AppendLengthPrefixed(enc, std::string_view("cairn/secagg/v1/session"));
  AppendU32(enc, p.num_participants);
  AppendU32(enc, p.neighborhood_size);
  AppendU32(enc, p.threshold);
  AppendU32(enc, p.quantization_bits);
  AppendU64(enc, std::bit_cast<std::uint64_t>(p.clip_range));
  AppendU32(enc, p.modulus_bits);
  AppendU64(enc, std::bit_cast<std::uint64_t>(p.expected_dropout_rate));
  AppendU64(enc, std::bit_cast<std::uint64_t>(p.max_abort_probability));
  AppendU32(enc, p.max_colluding);
  AppendU64(enc, s.round_id);
  AppendU32(enc, s.cohort_size);
  AppendU64(enc, s.num_elements);
  AppendBytes(enc, s.graph_seed);
  AppendLengthPrefixed(enc, s.context);
  return crypto::Sha256(enc);
}

}  // namespace cairn::secagg
