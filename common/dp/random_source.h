// Sources of uniformly random bits for the DP mechanisms, behind one interface so tests can
// inject a seeded deterministic stream (tests/dp/seeded_random_source.h, test-only) while the
// aggregator uses the CSPRNG below. Never a Mersenne Twister or any other non-cryptographic PRNG:
// noise that an observer can predict gives no privacy.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn::dp {

// Thread safety: an instance is used by one thread at a time (implementations may keep state).
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` with independent uniform bytes. Cannot fail (a CSPRNG that cannot produce bytes
  // aborts inside libsodium rather than return predictable ones).
  virtual void Fill(MutableByteSpan out) = 0;
  // A uniform 64-bit word (default: Fill of 8 bytes, little-endian).
  virtual std::uint64_t NextU64();
  // Recorded in signed round results ("sodium", "test-chacha20-seeded").
  virtual std::string_view name() const = 0;
};

// Production source: libsodium's CSPRNG.
// - Requests up to kDirectBytes are served by randombytes_buf (the kernel's getrandom).
// - Larger requests (bulk noise: 10M coordinates need ~100 MB of uniform bits, which getrandom
//   delivers at ~160 MB/s here) draw a fresh 32-byte key from randombytes_buf and expand it with
//   the ChaCha20 (IETF) keystream, 1 GiB per key at most; the key is wiped right after. This is
//   the construction of libsodium's randombytes_buf_deterministic and of the kernel's own RNG:
//   the output is indistinguishable from uniform as long as ChaCha20 is a PRF.
// Stateless between calls: no key or buffered output outlives a Fill().
class SodiumRandomSource final : public RandomSource {
 public:
  static constexpr std::size_t kDirectBytes = 4096;
  // Calls sodium_init(); fails (kInternal) if libsodium cannot initialize.
  static Result<SodiumRandomSource> Create();

  void Fill(MutableByteSpan out) override;
  std::string_view name() const override { return "sodium"; }

 private:
  SodiumRandomSource() = default;
};

// Uniform integer in [0, bound) without modulo bias (rejection); bound ≥ 1.
std::uint64_t UniformBelow(std::uint64_t bound, RandomSource& rng);
// Uniform double in [0, 1) with 53 random bits (k · 2^-53, k uniform in [0, 2^53)).
double UniformUnit(RandomSource& rng);

}  // namespace cairn::dp
