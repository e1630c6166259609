// Shamir secret sharing of 32-byte secrets over GF(2^8), byte by byte.
//
// Each byte of the secret is the constant term of its own random polynomial of degree t − 1
// over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1); a share is the 32 evaluations at one
// non-zero x. Any t shares with distinct x rebuild the secret (Lagrange interpolation at 0); any
// t − 1 are independent of it. x-coordinates are public (here: a holder's slot 1..k in the
// owner's neighbourhood, graph.h), so at most 255 shares per secret.
//
// Field multiplication is branch-free and table-free (no secret-dependent memory access or
// branch); inverses are only taken of public values (differences of x-coordinates).
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "common/crypto/crypto.h"
#include "common/secagg/params.h"

namespace cairn::secagg {

inline constexpr std::size_t kShareBytes = 32;

// GF(2^8) arithmetic (exposed for the known-answer tests).
std::uint8_t GfMul(std::uint8_t a, std::uint8_t b);
std::uint8_t GfInv(std::uint8_t a);  // a ≠ 0; GfInv(0) = 0

// One share: y is secret. Callers hold shares in guarded memory where they keep them.
struct ShamirShare {
  std::uint8_t x = 0;
  std::array<std::uint8_t, kShareBytes> y{};
};

// Writes one share per entry of xs into out (out.size() == xs.size()). xs: distinct, non-zero.
// 1 ≤ threshold ≤ xs.size(). The t − 1 random coefficients per byte come from `random`
// (empty: the CSPRNG) and are wiped before returning.
Status ShamirSplit(ByteSpan secret, std::uint32_t threshold, std::span<const std::uint8_t> xs,
                   const RandomFill& random, std::span<ShamirShare> out);

// Rebuilds the secret from exactly `threshold` of the given shares (the first ones); fails
// (kInvalidArgument) with fewer than `threshold`, a zero x or a repeated x. Shamir sharing has
// no integrity: wrong shares give a wrong secret, so callers check the result against a
// commitment (the aggregator does, aggregator.h).
Result<crypto::SecretBytes> ShamirReconstruct(std::span<const ShamirShare> shares,
                                              std::uint32_t threshold);

}  // namespace cairn::secagg
