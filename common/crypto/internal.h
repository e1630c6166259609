// Private helpers shared by the crypto module's translation units. Not part of the API.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn::crypto::internal {

// Makes sure sodium_init() ran (cheap after the first call). Guards the functions whose
// libsodium counterparts misbehave without it (sodium_malloc needs the page size).
void EnsureSodium();

// The OpenSSL error queue of this thread as text ("; "-joined), and the queue cleared.
std::string DrainOpenSslErrors();
// kInternal "<what> failed: <OpenSSL errors>".
Error OpenSslError(std::string_view what);

// For the calls whose API has no error channel (they fail only on allocation failure).
[[noreturn]] void Die(std::string_view what);

// A fixed-size array wiped on destruction (secrets on the stack: PRKs, DH outputs).
template <std::size_t N>
struct WipedArray {
  std::array<std::uint8_t, N> v{};
  WipedArray() = default;
  WipedArray(const WipedArray&) = delete;
  WipedArray& operator=(const WipedArray&) = delete;
  ~WipedArray();
  std::uint8_t* data() { return v.data(); }
  const std::uint8_t* data() const { return v.data(); }
  static constexpr std::size_t size() { return N; }
  ByteSpan span() const { return {v.data(), N}; }
  MutableByteSpan mutable_span() { return {v.data(), N}; }
};
void WipeRaw(void* p, std::size_t n);
template <std::size_t N>
WipedArray<N>::~WipedArray() {
  WipeRaw(v.data(), N);
}

// HMAC-SHA256 over the concatenation of `parts` (no copy of the parts is made).
Status HmacSha256Parts(ByteSpan key, std::span<const ByteSpan> parts,
                       std::array<std::uint8_t, 32>& out);
inline Status HmacSha256Parts(ByteSpan key, std::initializer_list<ByteSpan> parts,
                              std::array<std::uint8_t, 32>& out) {
  return HmacSha256Parts(key, std::span<const ByteSpan>(parts.begin(), parts.size()), out);
}
// HKDF-Expand (RFC 5869) with info = concatenation of `info_parts`; out.size() <= 255 * 32.
Status HkdfSha256ExpandParts(ByteSpan prk, std::initializer_list<ByteSpan> info_parts,
                             MutableByteSpan out);

}  // namespace cairn::crypto::internal
