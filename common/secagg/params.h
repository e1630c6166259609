// Parameters of pairwise masking (SecAgg+, Bell et al. 2020, over Bonawitz et al. 2017) and the
// per-round setup every party must agree on. docs/masking.md explains each rule.
//
// Vocabulary used across common/secagg:
// - cohort: the participants offered a round, in roster order; a participant's *index* is its
//   position in the cohort (0..n−1). Every message names participants by index.
// - U1 / U2 / S: the participants that advertised keys / sent encrypted shares / committed a
//   masked input. R ⊆ S: those that answered the unmask request.
// - neighbourhood N[i]: the k participants (i included) holding shares of i's secrets; N(i) is
//   N[i] without i. The graph is built over U1 (see graph.h).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn::secagg {

// Limits. Each protects something named.
// Participants per cohort: bounds every list in a message and the aggregator's O(n·k) state.
inline constexpr std::uint32_t kMaxParticipants = 10'000;
// Neighbourhood size: Shamir share x-coordinates are the slots 1..k of a neighbourhood in
// GF(2^8), so k ≤ 255.
inline constexpr std::uint32_t kMaxNeighborhood = 255;
// Elements per vector: ChaCha20-IETF's block counter is 32 bits (16 elements per 64-byte
// block), so a mask stream covers at most 2^36 elements; 2^34 (64 GiB of uint32) is plenty.
inline constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 34;
// Caller context bound into the session id (federation id, config hash, ...).
inline constexpr std::size_t kMaxContextBytes = 1024;

// The masking parameters, from the attested federation config. Every field is bound into the
// session id, so two parties with different parameters fail to decrypt each other's shares.
struct Params {
  // n: the largest cohort a round may have (the roster size). Bounds the sum: n·(2^bits − 1)
  // must stay below the modulus 2^32.
  std::uint32_t num_participants = 0;
  // k: the size of each participant's neighbourhood, the participant itself included, so each
  // secret is split into k shares of which the owner keeps one (the convention of Flower's
  // SecAgg+ "num_shares"). Odd, 3 ≤ k ≤ min(n, 255); k = n gives the complete graph
  // (Bonawitz et al. 2017). A participant has k − 1 neighbours besides itself.
  std::uint32_t neighborhood_size = 0;
  // t: shares needed to rebuild a secret. 2t > k + c (see max_colluding) and t ≤ k.
  std::uint32_t threshold = 0;
  // Bits per quantized value: each clipped value becomes an integer in [0, 2^bits − 1].
  // 1 ≤ bits ≤ 31 and n·(2^bits − 1) < 2^32.
  std::uint32_t quantization_bits = 0;
  // r: each value is clamped to [−r, r] before quantization. Finite, > 0. With an L2 clip norm
  // C, r = C never clamps a clipped update.
  double clip_range = 0;
  // The ring is Z_{2^32}; the field exists so the config states it. Only 32 is accepted.
  std::uint32_t modulus_bits = 32;
  // δ: the probability that a participant drops out at some point of a round, for the
  // abort-probability check below. In [0, 1).
  double expected_dropout_rate = 0;
  // Largest accepted bound on the probability that a round aborts because some neighbourhood
  // keeps fewer than t members (see AbortProbabilityBound). In (0, 1].
  double max_abort_probability = 0.01;
  // c: participants that may collude with the aggregator (reveal both kinds of share, know
  // their pairwise masks). The threshold must satisfy 2t > k + c.
  std::uint32_t max_colluding = 0;
};

// Checks a configuration; the error names the field, its value and the rule it breaks.
// Rules (docs/masking.md gives the reasons):
//   modulus_bits = 32; 3 ≤ n ≤ kMaxParticipants; k odd; 3 ≤ k ≤ min(n, 255);
//   t ≤ k; 2t > k + c; 1 ≤ bits ≤ 31; n·(2^bits − 1) < 2^32; r finite and > 0;
//   0 ≤ δ < 1; 0 < max_abort_probability ≤ 1; AbortProbabilityBound ≤ max_abort_probability.
Status ValidateParams(const Params& params);

// Upper bound (union bound over n neighbourhoods) on the probability that some neighbourhood
// keeps fewer than t members when each participant drops independently with probability δ:
//   n · P[Binomial(k − 1, 1 − δ) < t],
// the case of a participant that dropped after sharing (its k − 1 neighbours must supply t
// shares; the case of a survivor, which supplies its own share, is no worse). Exact binomial
// sum, computed in log space. Clamped to [0, 1].
double AbortProbabilityBound(std::uint32_t n, std::uint32_t k, std::uint32_t t, double dropout_rate);

// The largest quantization_bits for which n participants cannot overflow Z_{2^32}.
std::uint32_t MaxQuantizationBits(std::uint32_t n);

// What one round adds to the parameters. The aggregator fixes it and sends it with the round
// offer; every party must use identical values (they are bound into the session id).
struct RoundSetup {
  // The round id of the round engine; in every message and key derivation.
  std::uint64_t round_id = 0;
  // The cohort size of this round (≤ Params::num_participants); indices are 0..cohort_size−1.
  std::uint32_t cohort_size = 0;
  // P: elements of the update vector. 1 ≤ P ≤ kMaxElements.
  std::uint64_t num_elements = 0;
  // Public, per-round randomness that places participants on the graph (graph.h). The
  // aggregator draws it from its CSPRNG when it makes the offer.
  std::array<std::uint8_t, 32> graph_seed{};
  // Caller bytes bound into every key (e.g. federation id and config hash). ≤ kMaxContextBytes.
  Bytes context;
};

// Checks a setup against validated params: 3 ≤ cohort_size ≤ n, t ≤ cohort_size, element count,
// context size. The error names the field.
Status ValidateRoundSetup(const Params& params, const RoundSetup& setup);

// SHA-256 over a canonical encoding of (params, setup), domain "cairn/secagg/v1/session". The
// salt of every HKDF and part of every AAD in the protocol.
using SessionId = std::array<std::uint8_t, 32>;
SessionId ComputeSessionId(const Params& params, const RoundSetup& setup);

// Source of secret randomness (keys, seeds, Shamir coefficients, rounding). Must fill `out`
// with uniform bytes; empty means the CSPRNG (crypto::RandomBytes). Tests inject a seeded one.
using RandomFill = std::function<void(MutableByteSpan out)>;

}  // namespace cairn::secagg
