// Mask expansion: a 32-byte seed becomes a vector of uniform elements of Z_{2^32}.
//
// The stream of a seed is the ChaCha20 (IETF, RFC 8439) keystream under that key with an
// all-zero nonce, read as little-endian uint32 words: element e is bytes [4e, 4e + 4) of the
// keystream, i.e. word e mod 16 of block e / 16 (block counter = e / 16). Each word is uniform
// in [0, 2^32) as long as ChaCha20 is a PRF, so adding one hides the value it is added to.
// Every seed in the protocol is used for exactly one stream (keys are derived per round,
// participant pair or participant), so the zero nonce is never reused under one key.
//
// Element-indexed: any chunk [offset, offset + size) can be expanded alone, in any order, and
// gives the same words as a whole-vector expansion. offset + size ≤ kMaxElements (params.h).
// Call crypto::Init() (sodium_init) first: it selects libsodium's fastest ChaCha20 code.
// Thread safety: pure functions. A key must be 32 bytes (a programming error otherwise: abort).
#pragma once

#include <cstdint>
#include <span>

#include "common/core/bytes.h"

namespace cairn::secagg {

inline constexpr std::size_t kSeedBytes = 32;

// out[i] = word (offset + i) of the stream of `key` (32 bytes).
void KeystreamWords(ByteSpan key, std::uint64_t offset, std::span<std::uint32_t> out);

// One term of a mask: the stream of `key`, added or subtracted (mod 2^32).
struct MaskTerm {
  ByteSpan key;           // 32 bytes; borrowed for the call
  bool subtract = false;  // false: + stream; true: − stream
};

// inout[i] += Σ_terms ±word(offset + i) (mod 2^32). Works tile by tile (4 KiB of output at a
// time, every term applied to a tile before the next), so the vector is read and written once
// whatever the number of terms.
void ApplyMaskTerms(std::span<const MaskTerm> terms, std::uint64_t offset,
                    std::span<std::uint32_t> inout);

// The same, split into `threads` contiguous ranges processed concurrently (threads − 1 new
// std::threads, joined before returning; 0 or 1 = the calling thread only). Ranges below 64 Ki
// elements are not worth a thread and are not split.
void ApplyMaskTermsParallel(std::span<const MaskTerm> terms, std::uint64_t offset,
                            std::span<std::uint32_t> inout, std::uint32_t threads);

}  // namespace cairn::secagg
