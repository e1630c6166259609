#include "common/dp/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common/dp/rdp_accountant.h"

namespace cairn::dp {
namespace {

Status ValidatePopulation(std::size_t n) {
  if (n > kMaxPopulation) {
    return Fail(ErrorCode::kOutOfRange, "population " + std::to_string(n) + " exceeds the limit " +
                                            std::to_string(kMaxPopulation));
  }
  return Ok();
}

}  // namespace

Result<std::vector<std::size_t>> PoissonSample(std::size_t n, double q, RandomSource& rng) {
  CAIRN_RETURN_IF_ERROR(ValidatePopulation(n));
  CAIRN_RETURN_IF_ERROR(ValidateSamplingRate(q));
  std::vector<std::size_t> chosen;
  const double threshold = q * 0x1p53;  // exact: scaling by a power of two
  for (std::size_t i = 0; i < n; ++i) {
    if (static_cast<double>(rng.NextU64() >> 11) < threshold) chosen.push_back(i);
  }
  return chosen;
}

Result<std::vector<std::size_t>> FixedSizeSample(std::size_t n, std::size_t m, RandomSource& rng) {
  CAIRN_RETURN_IF_ERROR(ValidatePopulation(n));
  if (m > n) {
    return Fail(ErrorCode::kInvalidArgument, "cannot sample " + std::to_string(m) +
                                                 " participants out of " + std::to_string(n));
  }
  std::vector<std::size_t> pool(n);
  std::iota(pool.begin(), pool.end(), std::size_t{0});
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t j = i + static_cast<std::size_t>(UniformBelow(n - i, rng));
    std::swap(pool[i], pool[j]);
  }
  pool.resize(m);
  std::sort(pool.begin(), pool.end());
  return pool;
}

}  // namespace cairn::dp
