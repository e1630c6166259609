#include "common/secagg/shamir.h"

#include <string>
#include <vector>

namespace cairn::secagg {

std::uint8_t GfMul(std::uint8_t a, std::uint8_t b) {
  std::uint8_t r = 0;
  for (int i = 0; i < 8; ++i) {
    r ^= static_cast<std::uint8_t>(-(b & 1)) & a;
    b >>= 1;
    const std::uint8_t carry = static_cast<std::uint8_t>(-(a >> 7));
    a = static_cast<std::uint8_t>((a << 1) ^ (carry & 0x1b));
  }
  return r;
}

std::uint8_t GfInv(std::uint8_t a) {
  // a^254 = a^-1 (the multiplicative group has order 255); fixed sequence of operations.
  std::uint8_t result = 1, base = a;
  for (int e = 254, i = 0; i < 8; ++i, e >>= 1) {
    const std::uint8_t prod = GfMul(result, base);
    const std::uint8_t take = static_cast<std::uint8_t>(-(e & 1));
    result = static_cast<std::uint8_t>((prod & take) | (result & ~take));
    base = GfMul(base, base);
  }
  return result;
}

namespace {

Status CheckXs(std::span<const std::uint8_t> xs, const char* what) {
  std::array<bool, 256> seen{};
  for (std::uint8_t x : xs) {
    if (x == 0) return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": share x-coordinate 0");
    if (seen[x]) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(what) + ": repeated share x-coordinate " + std::to_string(x));
    }
    seen[x] = true;
  }
  return Ok();
}

}  // namespace

Status ShamirSplit(ByteSpan secret, std::uint32_t threshold, std::span<const std::uint8_t> xs,
                   const RandomFill& random, std::span<ShamirShare> out) {
  if (secret.size() != kShareBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "shamir split: secret must be 32 bytes, got " + std::to_string(secret.size()));
  }
  if (out.size() != xs.size()) {
    return Fail(ErrorCode::kInvalidArgument, "shamir split: output size differs from x count");
  }
  if (threshold < 1 || threshold > xs.size()) {
    return Fail(ErrorCode::kInvalidArgument, "shamir split: threshold " + std::to_string(threshold) +
                                                 " outside [1, " + std::to_string(xs.size()) + "]");
  }
  CAIRN_RETURN_IF_ERROR(CheckXs(xs, "shamir split"));
  // coefficients[j·32 + b]: coefficient of x^(j+1) for byte b.
  CAIRN_ASSIGN_OR_RETURN(auto coeffs, crypto::SecretBytes::Allocate((threshold - 1) * kShareBytes + 1));
  MutableByteSpan cs(coeffs.data(), (threshold - 1) * kShareBytes);
  if (random) {
    random(cs);
  } else {
    crypto::RandomBytes(cs);
  }
  for (std::size_t s = 0; s < xs.size(); ++s) {
    const std::uint8_t x = xs[s];
    out[s].x = x;
    for (std::size_t b = 0; b < kShareBytes; ++b) {
      // Horner: ((c_{t-1} x + c_{t-2}) x + ... + c_1) x + secret
      std::uint8_t acc = 0;
      for (std::uint32_t j = threshold - 1; j >= 1; --j) {
        acc = GfMul(acc, x) ^ cs[(j - 1) * kShareBytes + b];
      }
      acc = GfMul(acc, x) ^ secret[b];
      out[s].y[b] = acc;
    }
  }
  return Ok();
}

Result<crypto::SecretBytes> ShamirReconstruct(std::span<const ShamirShare> shares,
                                              std::uint32_t threshold) {
  if (threshold < 1 || shares.size() < threshold) {
    return Fail(ErrorCode::kInvalidArgument,
                "shamir reconstruct: " + std::to_string(shares.size()) +
                    " shares, threshold " + std::to_string(threshold));
  }
  std::vector<std::uint8_t> xs(threshold);
  for (std::uint32_t i = 0; i < threshold; ++i) xs[i] = shares[i].x;
  CAIRN_RETURN_IF_ERROR(CheckXs(xs, "shamir reconstruct"));
  CAIRN_ASSIGN_OR_RETURN(auto secret, crypto::SecretBytes::Allocate(kShareBytes));
  for (std::uint32_t i = 0; i < threshold; ++i) {
    // Lagrange basis at 0: l_i = Π_{j≠i} x_j / (x_j − x_i); subtraction is XOR in GF(2^8).
    std::uint8_t num = 1, den = 1;
    for (std::uint32_t j = 0; j < threshold; ++j) {
      if (j == i) continue;
      num = GfMul(num, xs[j]);
      den = GfMul(den, xs[j] ^ xs[i]);
    }
    const std::uint8_t l = GfMul(num, GfInv(den));
    for (std::size_t b = 0; b < kShareBytes; ++b) secret.data()[b] ^= GfMul(l, shares[i].y[b]);
  }
  return secret;
}

}  // namespace cairn::secagg
