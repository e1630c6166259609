#include "common/model/rng.h"

#include <cmath>
#include <numbers>

namespace cairn::model {
namespace {

std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t Rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

DeterministicRng::DeterministicRng(std::uint64_t seed) {
  std::uint64_t sm = seed;
  for (auto& word : s_) word = SplitMix64(sm);
}

std::uint64_t DeterministicRng::DeriveSeed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t sm = seed ^ (stream * 0xd1b54a32d192ed03ull);
  SplitMix64(sm);
  return SplitMix64(sm);
}

std::uint64_t DeterministicRng::NextU64() {
  const std::uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double DeterministicRng::UniformDouble() {
  return static_cast<double>(NextU64() >> 11) * 0x1.0p-53;
}

std::uint64_t DeterministicRng::UniformInt(std::uint64_t n) {
  // Reject the values in the incomplete last block of size (2^64 mod n) so every residue is
  // equally likely.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  while (true) {
    std::uint64_t x = NextU64();
    if (x <= limit) return x % n;
  }
}

double DeterministicRng::Normal() {
  double u1 = 1.0 - UniformDouble();  // (0, 1]: log is finite
  double u2 = UniformDouble();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double DeterministicRng::Gamma(double shape) {
  if (shape < 1.0) {
    double u = 1.0 - UniformDouble();
    return Gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x = 0;
    double v = 0;
    do {
      x = Normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    double u = 1.0 - UniformDouble();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

}  // namespace cairn::model
