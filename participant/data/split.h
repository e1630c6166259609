// Seeded, deterministic ways to divide a data set among sites, for examples and experiments.
//
// Every function returns, per site, the row indices it receives, sorted ascending; together they
// form a partition (each row exactly once). The same inputs and seed give the same partition on
// every platform (common/model/rng.h). Randomness is not security-relevant here.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/core/error.h"

namespace cairn::data {

using Partition = std::vector<std::vector<std::int64_t>>;

// Bounds: sites per split (a guard against typos such as --sites 1000000).
inline constexpr int kMaxSites = 10'000;

// Shuffles the rows and deals them out: site sizes differ by at most one.
Result<Partition> IidSplit(std::int64_t rows, int sites, std::uint64_t seed);

// Label skew: site k's "home" classes are those c with c mod K == k mod C (K sites, C classes);
// a fraction `dominant_fraction` in [0, 1] of each class's rows is dealt among the class's home
// sites and the rest among all sites. 0 gives a stratified IID split, 1 gives sites that only
// hold their home classes. Example: 2 classes, 3 sites, 0.8: sites 1 and 3 mostly class 0,
// site 2 mostly class 1.
Result<Partition> LabelSkewSplit(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                 int sites, double dominant_fraction, std::uint64_t seed);

// Dirichlet label skew (Hsu et al. 2019): for each class, proportions p ~ Dir(alpha, ..., alpha)
// over the sites and the class's shuffled rows cut at round(n_c × cumsum(p)). Smaller alpha is
// more skewed (0.5 is the common benchmark setting). The draw is repeated (the generator moves
// on) until every site has at least min_per_site rows, at most 1000 times.
Result<Partition> DirichletSplit(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                 int sites, double alpha, std::uint64_t seed,
                                 std::int64_t min_per_site = 1);

// Stratified hold-out: round(test_fraction × n_c) rows of each class go to test.
struct TrainTestIndices {
  std::vector<std::int64_t> train;
  std::vector<std::int64_t> test;
};
Result<TrainTestIndices> TrainTestSplit(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                        double test_fraction, std::uint64_t seed);

}  // namespace cairn::data
