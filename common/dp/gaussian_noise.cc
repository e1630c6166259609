#include "common/dp/gaussian_noise.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace cairn::dp {
namespace {

// Words of uniform bits drawn per Fill(): 64 KiB.
constexpr std::size_t kBlockWords = 8192;

// k · 2^-53 for k uniform in [−2^53, 2^53): exact in a double.
double SignedUnit(std::uint64_t w) {
  return static_cast<double>(static_cast<std::int64_t>(w) >> 10) * 0x1p-53;
}

// One accepted polar-method pair from a source of uniform 64-bit words.
template <typename NextWord>
void PolarPair(NextWord&& next_word, double& a, double& b) {
  while (true) {
    const double u = SignedUnit(next_word());
    const double v = SignedUnit(next_word());
    const double s = u * u + v * v;
    if (s < 1.0 && s > 0.0) {
      const double f = std::sqrt(-2.0 * std::log(s) / s);
      a = u * f;
      b = v * f;
      return;
    }
  }
}

// Streams N(0, 1) pairs from 64 KiB blocks of uniform words. Not copyable (holds the block).
class PolarSampler {
 public:
  explicit PolarSampler(RandomSource& rng) : rng_(rng), words_(kBlockWords) {}
  PolarSampler(const PolarSampler&) = delete;
  PolarSampler& operator=(const PolarSampler&) = delete;

  void NextPair(double& a, double& b) {
    PolarPair([this] { return NextWord(); }, a, b);
  }

 private:
  std::uint64_t NextWord() {
    if (next_ == words_.size()) {
      rng_.Fill(MutableByteSpan(reinterpret_cast<std::uint8_t*>(words_.data()),
                                words_.size() * sizeof(std::uint64_t)));
      next_ = 0;
    }
    return words_[next_++];
  }

  RandomSource& rng_;
  std::vector<std::uint64_t> words_;
  std::size_t next_ = kBlockWords;  // empty: the first NextWord() fills
};

Status ValidateStddev(double stddev) {
  if (!std::isfinite(stddev) || stddev < 0.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "noise standard deviation " + std::to_string(stddev) + " is not finite and ≥ 0");
  }
  return Ok();
}

}  // namespace

void FillStandardNormal(std::span<double> out, RandomSource& rng) {
  PolarSampler sampler(rng);
  std::size_t i = 0;
  for (; i + 1 < out.size(); i += 2) sampler.NextPair(out[i], out[i + 1]);
  if (i < out.size()) {
    double unused = 0;
    sampler.NextPair(out[i], unused);
  }
}

Result<double> SampleGaussian(double stddev, RandomSource& rng) {
  CAIRN_RETURN_IF_ERROR(ValidateStddev(stddev));
  if (stddev == 0.0) return 0.0;
  // Word by word: a scalar draw should not pull a 64 KiB block.
  double a = 0;
  double b = 0;
  PolarPair([&rng] { return rng.NextU64(); }, a, b);
  return stddev * a;
}

Status AddGaussianNoise(std::span<double> values, double stddev, RandomSource& rng) {
  CAIRN_RETURN_IF_ERROR(ValidateStddev(stddev));
  if (stddev == 0.0 || values.empty()) return Ok();
  PolarSampler sampler(rng);
  std::size_t i = 0;
  double a = 0;
  double b = 0;
  for (; i + 1 < values.size(); i += 2) {
    sampler.NextPair(a, b);
    values[i] += stddev * a;
    values[i + 1] += stddev * b;
  }
  if (i < values.size()) {
    sampler.NextPair(a, b);
    values[i] += stddev * a;
  }
  return Ok();
}

}  // namespace cairn::dp
