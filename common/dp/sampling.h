// Participant sampling per round, and which accountant step each scheme needs.
//
// - Poisson: every participant is included independently with probability q. The round is one
//   step of the Poisson-sampled Gaussian mechanism under add-or-remove adjacency
//   (PrivacyStep::PoissonRound): the accountant that is tight for this scheme.
// - Fixed size: exactly m of the n participants, uniformly without replacement. The matching
//   analysis is Wang, Balle, Kasiviswanathan 2019 (Theorem 9) under replace-one adjacency, where
//   the sum of updates clipped to C has sensitivity 2C, not C (PrivacyStep::FixedSizeRound).
//   It is an upper bound and it is not tight; for the same z and q = m/n it reports a markedly
//   larger ε than Poisson sampling (docs/privacy.md has figures). Prefer Poisson when the
//   deployment allows a variable cohort.
//
// Amplification by sampling assumes the adversary does not learn who was sampled. In a
// federation the sampled participants know it themselves; the guarantee is about what the
// released model reveals to everyone else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/core/error.h"
#include "common/dp/random_source.h"

namespace cairn::dp {

// Largest population these functions accept (bounds memory and time; a federation is ≤ 10^4).
inline constexpr std::size_t kMaxPopulation = std::size_t{1} << 24;

// Indices in [0, n), increasing, each included independently with probability q ∈ [0, 1]
// (exactly ⌈q·2^53⌉ / 2^53: 53-bit uniforms compared with q).
Result<std::vector<std::size_t>> PoissonSample(std::size_t n, double q, RandomSource& rng);

// m distinct indices in [0, n), increasing, uniformly among all m-subsets (partial Fisher–Yates);
// m ≤ n.
Result<std::vector<std::size_t>> FixedSizeSample(std::size_t n, std::size_t m, RandomSource& rng);

}  // namespace cairn::dp
