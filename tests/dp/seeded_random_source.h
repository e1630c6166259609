// TEST ONLY: a deterministic random source, so statistical tests are reproducible. It is built
// into the test-only library cairn_dp_testing and never linked into a production target: noise
// from a known seed gives no privacy.
#pragma once

#include <array>
#include <cstdint>

#include "common/dp/random_source.h"

namespace cairn::dp::testing {

// The ChaCha20 (IETF) keystream under key = seed (little-endian in the first 8 bytes, zeros
// after), nonce 0, starting at block 0. Fill() calls continue the stream: Fill(a) then Fill(b)
// equals Fill(a + b).
class SeededRandomSource final : public RandomSource {
 public:
  explicit SeededRandomSource(std::uint64_t seed);
  void Fill(MutableByteSpan out) override;
  std::string_view name() const override { return "test-chacha20-seeded"; }

 private:
  std::array<std::uint8_t, 32> key_{};
  std::uint32_t next_block_ = 0;
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_used_ = 64;  // bytes of block_ already handed out
};

}  // namespace cairn::dp::testing
