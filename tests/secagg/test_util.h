// Shared helpers for the masking tests: seeded randomness and standard parameters.
#pragma once

#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "common/crypto/crypto.h"
#include "common/secagg/params.h"

namespace cairn::secagg::testing {

// A deterministic stream of bytes (ChaCha20 keyed by the seed, nonce = call counter): the
// injected "CSPRNG" of reproducible tests. Never used outside tests.
inline RandomFill SeededFill(std::uint64_t seed) {
  struct State {
    std::array<std::uint8_t, 32> key{};
    std::uint64_t calls = 0;
  };
  auto state = std::make_shared<State>();
  for (int i = 0; i < 8; ++i) state->key[i] = static_cast<std::uint8_t>(seed >> (8 * i));
  state->key[31] = 0x5a;
  return [state](MutableByteSpan out) {
    std::array<std::uint8_t, 12> nonce{};
    for (int i = 0; i < 8; ++i) nonce[i] = static_cast<std::uint8_t>(state->calls >> (8 * i));
    ++state->calls;
    crypto_stream_chacha20_ietf(out.data(), out.size(), nonce.data(), state->key.data());
  };
}

// n participants, k = 7, t = 4, 20 bits, r = 1: the configuration of issue 8's benchmark.
inline Params StandardParams(std::uint32_t n = 8, std::uint32_t k = 7, std::uint32_t t = 4) {
  Params p;
  p.num_participants = n;
  p.neighborhood_size = k;
  p.threshold = t;
  p.quantization_bits = 20;
  p.clip_range = 1.0;
  return p;
}

inline RoundSetup StandardSetup(std::uint32_t cohort, std::uint64_t elements, std::uint64_t round = 7) {
  RoundSetup s;
  s.round_id = round;
  s.cohort_size = cohort;
  s.num_elements = elements;
  for (std::size_t i = 0; i < s.graph_seed.size(); ++i) s.graph_seed[i] = static_cast<std::uint8_t>(i * 7 + round);
  s.context = ToBytes("federation test-fed");
  return s;
}

// Uniform floats in [-scale, scale] from a seeded generator (test data, not secrets).
inline std::vector<std::vector<float>> RandomUpdates(std::uint32_t n, std::size_t p, float scale,
                                                     std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<std::vector<float>> out(n, std::vector<float>(p));
  for (auto& u : out) for (auto& v : u) v = dist(gen);
  return out;
}

inline std::vector<std::span<const float>> Spans(const std::vector<std::vector<float>>& v) {
  std::vector<std::span<const float>> out;
  for (const auto& x : v) out.emplace_back(x);
  return out;
}

class SodiumEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_TRUE(crypto::Init().has_value()); }
};

}  // namespace cairn::secagg::testing
