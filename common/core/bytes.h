// Byte buffers and their text encodings.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"

namespace cairn {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;
using MutableByteSpan = std::span<std::uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsChars(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Lower-case hex.
std::string HexEncode(ByteSpan data);
// Accepts upper or lower case; whitespace is not allowed. Names the offending position.
Result<Bytes> HexDecode(std::string_view hex);

// Appends helpers for building length-prefixed canonical encodings (big-endian integers).
void AppendU8(Bytes& out, std::uint8_t v);
void AppendU16(Bytes& out, std::uint16_t v);
void AppendU32(Bytes& out, std::uint32_t v);
void AppendU64(Bytes& out, std::uint64_t v);
void AppendBytes(Bytes& out, ByteSpan data);
// u32 length, then the bytes.
void AppendLengthPrefixed(Bytes& out, ByteSpan data);
inline void AppendLengthPrefixed(Bytes& out, std::string_view s) { AppendLengthPrefixed(out, AsBytes(s)); }

// Big-endian integers at a fixed place in a raw buffer (headers, nonces, additional data).
inline void StoreU32Be(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}
inline void StoreU64Be(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}
inline std::uint32_t LoadU32Be(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t LoadU64Be(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace cairn
