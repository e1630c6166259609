// Quantization: round trip, stochastic rounding without bias, clamping, overflow bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/secagg/quantize.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg {
namespace {

using testing::StandardParams;

std::array<std::uint8_t, 32> Key(std::uint8_t b) {
  std::array<std::uint8_t, 32> k;
  k.fill(b);
  return k;
}

TEST(SecAggQuantize, RoundTripWithinOneStep) {
  auto p = StandardParams();
  p.quantization_bits = 12;
  const double step = QuantizationStep(p);
  EXPECT_DOUBLE_EQ(step, 2.0 / 4095);
  auto q = Quantizer::Create(p, Key(1));
  ASSERT_TRUE(q.has_value());
  const auto values = testing::RandomUpdates(1, 10000, 1.0f, 3)[0];
  std::vector<std::uint32_t> out(values.size());
  auto stats = q->Quantize(values, 0, out);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->clamped, 0u);
  std::vector<double> back(values.size());
  ASSERT_TRUE(DequantizeSum(p, out, 1, back).has_value());
  for (std::size_t i = 0; i < values.size(); ++i) {
    ASSERT_LE(out[i], 4095u);
    ASSERT_LT(std::abs(back[i] - values[i]), step) << "element " << i;
  }
}

TEST(SecAggQuantize, EndpointsAndClamping) {
  auto p = StandardParams();
  p.quantization_bits = 8;
  p.clip_range = 2.0;
  auto q = Quantizer::Create(p, Key(2));
  ASSERT_TRUE(q.has_value());
  const std::vector<float> values = {-2.0f, 2.0f, -5.0f, 7.0f, std::numeric_limits<float>::max()};
  std::vector<std::uint32_t> out(values.size());
  auto stats = q->Quantize(values, 0, out);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(out, (std::vector<std::uint32_t>{0, 255, 0, 255, 255}));
  EXPECT_EQ(stats->clamped, 3u);
}

TEST(SecAggQuantize, NonFiniteIsRefusedWithItsIndex) {
  auto q = Quantizer::Create(StandardParams(), Key(3));
  ASSERT_TRUE(q.has_value());
  const std::vector<float> values = {0.5f, std::numeric_limits<float>::quiet_NaN()};
  std::vector<std::uint32_t> out(2);
  auto r = q->Quantize(values, 100, out);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("element 101"), std::string::npos) << r.error().message();
  const std::vector<float> inf = {std::numeric_limits<float>::infinity()};
  EXPECT_FALSE(q->Quantize(inf, 0, std::span(out.data(), 1)).has_value());
}

TEST(SecAggQuantize, StochasticRoundingIsUnbiased) {
  // 0.3 steps above a grid point: rounds up with probability 0.3.
  auto p = StandardParams();
  p.quantization_bits = 4;  // L = 15, step = 2/15
  p.clip_range = 1.0;
  auto q = Quantizer::Create(p, Key(4));
  ASSERT_TRUE(q.has_value());
  const double step = QuantizationStep(p);
  const float x = static_cast<float>(-1.0 + 5.3 * step);
  const std::size_t n = 200000;
  std::vector<float> values(n, x);
  std::vector<std::uint32_t> out(n);
  ASSERT_TRUE(q->Quantize(values, 0, out).has_value());
  std::size_t up = 0;
  for (auto v : out) {
    ASSERT_TRUE(v == 5 || v == 6) << v;
    up += v == 6;
  }
  const double frac = (static_cast<double>(x) + 1.0) / step - 5;  // ≈ 0.3 after float rounding
  const double sd = std::sqrt(frac * (1 - frac) / n);
  EXPECT_NEAR(static_cast<double>(up) / n, frac, 5 * sd);
}

TEST(SecAggQuantize, SameChunkGivesSameIntegersWhateverTheChunking) {
  auto q = Quantizer::Create(StandardParams(), Key(5));
  ASSERT_TRUE(q.has_value());
  const auto values = testing::RandomUpdates(1, 5000, 1.0f, 9)[0];
  std::vector<std::uint32_t> whole(values.size()), parts(values.size());
  ASSERT_TRUE(q->Quantize(values, 0, whole).has_value());
  for (std::size_t off = 0; off < values.size(); off += 777) {
    const std::size_t len = std::min<std::size_t>(777, values.size() - off);
    ASSERT_TRUE(q->Quantize(std::span(values).subspan(off, len), off, std::span(parts).subspan(off, len)).has_value());
  }
  EXPECT_EQ(whole, parts);
}

TEST(SecAggQuantize, LargestSumOfNParticipantsDoesNotWrap) {
  // n = 4 at 30 bits: the largest possible sum is 4·(2^30 − 1) = 2^32 − 4, representable.
  Params p = StandardParams(4, 3, 2);
  p.quantization_bits = 30;
  ASSERT_TRUE(ValidateParams(p).has_value());
  auto q = Quantizer::Create(p, Key(6));
  ASSERT_TRUE(q.has_value());
  std::vector<float> top(1, 1.0f), bottom(1, -1.0f);
  std::uint32_t acc = 0, v = 0;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(q->Quantize(top, 0, std::span(&v, 1)).has_value());
    acc += v;
  }
  EXPECT_EQ(acc, 0xFFFFFFFCu);
  std::vector<double> sum(1);
  ASSERT_TRUE(DequantizeSum(p, std::span(&acc, 1), 4, sum).has_value());
  EXPECT_NEAR(sum[0], 4.0, 1e-6);
  acc = 0;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(q->Quantize(bottom, 0, std::span(&v, 1)).has_value());
    acc += v;
  }
  ASSERT_TRUE(DequantizeSum(p, std::span(&acc, 1), 4, sum).has_value());
  EXPECT_NEAR(sum[0], -4.0, 1e-6);
}

TEST(SecAggQuantize, SumOfManyDequantizesWithinNSteps) {
  auto p = StandardParams(8, 7, 4);
  p.quantization_bits = 16;
  const auto updates = testing::RandomUpdates(8, 4000, 1.0f, 12);
  std::vector<std::uint32_t> ring(4000, 0), q(4000);
  for (int i = 0; i < 8; ++i) {
    auto quant = Quantizer::Create(p, Key(static_cast<std::uint8_t>(10 + i)));
    ASSERT_TRUE(quant.has_value());
    ASSERT_TRUE(quant->Quantize(updates[i], 0, q).has_value());
    for (std::size_t e = 0; e < q.size(); ++e) ring[e] += q[e];
  }
  std::vector<double> sum(4000);
  ASSERT_TRUE(DequantizeSum(p, ring, 8, sum).has_value());
  for (std::size_t e = 0; e < sum.size(); ++e) {
    double plain = 0;
    for (int i = 0; i < 8; ++i) plain += updates[i][e];
    ASSERT_LT(std::abs(sum[e] - plain), 8 * QuantizationStep(p));
  }
  EXPECT_NEAR(QuantizationNormBound(p, 4000), QuantizationStep(p) * std::sqrt(4000.0), 1e-15);
}

TEST(SecAggQuantize, DequantizeChecksItsArguments) {
  const auto p = StandardParams();
  std::vector<std::uint32_t> ring(3);
  std::vector<double> out(2);
  EXPECT_FALSE(DequantizeSum(p, ring, 1, out).has_value());
  out.resize(3);
  EXPECT_FALSE(DequantizeSum(p, ring, 9, out).has_value());  // more than n summed
  EXPECT_FALSE(Quantizer::Create(p, ByteSpan()).has_value());
}

}  // namespace
}  // namespace cairn::secagg
