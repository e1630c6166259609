#include "common/dp/random_source.h"

#include <sodium.h>

#include <algorithm>
#include <array>

namespace cairn::dp {

std::uint64_t RandomSource::NextU64() {
  std::array<std::uint8_t, 8> bytes{};
  Fill(bytes);
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | bytes[static_cast<std::size_t>(i)];
  return v;
}

Result<SodiumRandomSource> SodiumRandomSource::Create() {
  if (sodium_init() < 0) {
    return Fail(ErrorCode::kInternal, "sodium_init failed: no CSPRNG for DP noise");
  }
  return SodiumRandomSource();
}

void SodiumRandomSource::Fill(MutableByteSpan out) {
  if (out.size() <= kDirectBytes) {
    randombytes_buf(out.data(), out.size());
    return;
  }
  constexpr std::size_t kBytesPerKey = std::size_t{1} << 30;
  static_assert(kBytesPerKey <= crypto_stream_chacha20_ietf_MESSAGEBYTES_MAX);
  std::array<unsigned char, crypto_stream_chacha20_ietf_KEYBYTES> key{};
  const std::array<unsigned char, crypto_stream_chacha20_ietf_NONCEBYTES> nonce{};  // key is fresh
  std::size_t offset = 0;
  while (offset < out.size()) {
    const std::size_t n = std::min(kBytesPerKey, out.size() - offset);
    randombytes_buf(key.data(), key.size());
    // Cannot fail for n ≤ MESSAGEBYTES_MAX (libsodium returns 0 unconditionally then).
    (void)crypto_stream_chacha20_ietf(out.data() + offset, n, nonce.data(), key.data());
    offset += n;
  }
  sodium_memzero(key.data(), key.size());
}

std::uint64_t UniformBelow(std::uint64_t bound, RandomSource& rng) {
  if (bound <= 1) return 0;
  // Accept x < limit, the largest multiple of bound that fits in 2^64.
  const std::uint64_t limit = bound * (UINT64_MAX / bound);
  while (true) {
    const std::uint64_t x = rng.NextU64();
    if (x < limit) return x % bound;
  }
}

double UniformUnit(RandomSource& rng) {
  return static_cast<double>(rng.NextU64() >> 11) * 0x1p-53;
}

}  // namespace cairn::dp
