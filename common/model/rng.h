// Deterministic pseudo-random numbers for reproducible, non-secret choices: initial model
// parameters, data splits, batch order.
//
// NOT for keys, nonces, masks or differential-privacy noise: those come from the CSPRNG in
// common/crypto. The sequence is fully specified (xoshiro256** of Blackman and Vigna, its state
// filled by SplitMix64 from the seed), and so are the derived draws below, so one seed gives the
// same numbers with every compiler and standard library (std::uniform_real_distribution and
// std::shuffle do not promise that).
//
// Thread safety: an object is not thread-safe; use one per thread.
#pragma once

#include <cstdint>
#include <span>
#include <utility>

namespace cairn::model {

class DeterministicRng {
 public:
  explicit DeterministicRng(std::uint64_t seed);

  // Derives an independent seed for sub-stream `stream` of `seed` (e.g. one per epoch or per
  // class), so that adding a stream does not shift the numbers of the others.
  static std::uint64_t DeriveSeed(std::uint64_t seed, std::uint64_t stream);

  std::uint64_t NextU64();
  // Uniform in [0, 1): the top 53 bits of NextU64() times 2^-53.
  double UniformDouble();
  // Uniform in [0, n) without bias (rejection of the short tail); n > 0.
  std::uint64_t UniformInt(std::uint64_t n);
  // Standard normal: Box-Muller, z = sqrt(-2 ln(1 - u1)) cos(2 pi u2); two draws per call.
  double Normal();
  // Gamma(shape, 1), shape > 0: Marsaglia and Tsang (2000); for shape < 1,
  // Gamma(shape + 1) * u^(1 / shape).
  double Gamma(double shape);

  // Fisher-Yates from the back: for i = n-1 .. 1, swap(v[i], v[UniformInt(i + 1)]).
  template <typename T>
  void Shuffle(std::span<T> v) {
    for (std::size_t i = v.size(); i > 1; --i) {
      std::size_t j = static_cast<std::size_t>(UniformInt(i));
      std::swap(v[i - 1], v[j]);
    }
  }

 private:
  std::uint64_t s_[4];
};

}  // namespace cairn::model
