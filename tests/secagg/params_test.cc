// Config validation: each impossible combination gives an error naming the field and the rule.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/secagg/params.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg {
namespace {

using testing::StandardParams;
using testing::StandardSetup;

void ExpectInvalid(const Params& p, const std::string& field, const std::string& words) {
  auto s = ValidateParams(p);
  ASSERT_FALSE(s.has_value()) << "expected an error mentioning " << field;
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("masking." + field), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find(words), std::string::npos) << s.error().message();
}

TEST(SecAggParams, StandardConfigurationIsValid) {
  EXPECT_TRUE(ValidateParams(StandardParams()).has_value());
  EXPECT_TRUE(ValidateParams(StandardParams(8, 5, 3)).has_value());
  EXPECT_TRUE(ValidateParams(StandardParams(3, 3, 2)).has_value());
  EXPECT_TRUE(ValidateParams(StandardParams(1000, 31, 16)).has_value());
}

TEST(SecAggParams, ThresholdAboveNeighbourhood) {
  ExpectInvalid(StandardParams(8, 5, 6), "threshold", "larger than k = 5");
}

TEST(SecAggParams, ThresholdAtOrBelowHalfIsUnsafe) {
  ExpectInvalid(StandardParams(8, 7, 3), "threshold", "2t > k + c");
  auto p = StandardParams(8, 7, 4);
  p.max_colluding = 1;  // 2·4 = 8 ≤ 7 + 1
  ExpectInvalid(p, "threshold", "smallest safe threshold is 5");
  p.threshold = 5;
  EXPECT_TRUE(ValidateParams(p).has_value());
}

TEST(SecAggParams, NeighbourhoodMustBeOddAtLeastThreeAndAtMostN) {
  ExpectInvalid(StandardParams(8, 6, 4), "neighborhood_size", "must be odd");
  ExpectInvalid(StandardParams(8, 1, 1), "neighborhood_size", "below 3");
  ExpectInvalid(StandardParams(8, 9, 5), "neighborhood_size", "larger than n = 8");
  EXPECT_TRUE(ValidateParams(StandardParams(7, 7, 4)).has_value());  // k = n: complete graph
  ExpectInvalid(StandardParams(300, 257, 129), "neighborhood_size", "above 255");
}

TEST(SecAggParams, SumMustNotWrapTheModulus) {
  auto p = StandardParams(4, 3, 2);
  p.quantization_bits = 30;  // 4·(2^30 − 1) = 2^32 − 4 < 2^32
  EXPECT_TRUE(ValidateParams(p).has_value());
  p.num_participants = 5;    // 5·(2^30 − 1) ≥ 2^32
  ExpectInvalid(p, "quantization_bits", "wrap around the modulus; at most 29 bits");
  EXPECT_EQ(MaxQuantizationBits(4), 30u);
  EXPECT_EQ(MaxQuantizationBits(5), 29u);
  EXPECT_EQ(MaxQuantizationBits(3), 30u);   // 3·(2^31 − 1) ≥ 2^32
  EXPECT_EQ(MaxQuantizationBits(8), 29u);
  EXPECT_EQ(MaxQuantizationBits(1000), 22u);
}

TEST(SecAggParams, BitsOutsideRange) {
  auto p = StandardParams();
  p.quantization_bits = 0;
  ExpectInvalid(p, "quantization_bits", "outside [1, 31]");
  p.quantization_bits = 32;
  ExpectInvalid(p, "quantization_bits", "outside [1, 31]");
}

TEST(SecAggParams, RangeModulusParticipantsAndRates) {
  auto p = StandardParams();
  p.clip_range = 0;
  ExpectInvalid(p, "clip_range", "finite and > 0");
  p.clip_range = INFINITY;
  ExpectInvalid(p, "clip_range", "finite and > 0");
  p = StandardParams();
  p.modulus_bits = 64;
  ExpectInvalid(p, "modulus_bits", "only the ring Z_{2^32}");
  p = StandardParams();
  p.num_participants = 2;
  ExpectInvalid(p, "num_participants", "outside [3,");
  p = StandardParams();
  p.expected_dropout_rate = 1.0;
  ExpectInvalid(p, "expected_dropout_rate", "outside [0, 1)");
  p = StandardParams();
  p.max_abort_probability = 0;
  ExpectInvalid(p, "max_abort_probability", "outside (0, 1]");
}

TEST(SecAggParams, AbortBoundIsTheExactBinomialTailTimesN) {
  // n = 8, k = 7, t = 4, δ = 0.1: P[Bin(6, 0.9) ≤ 3] = 0.01585..., times 8.
  const double tail = 20 * std::pow(0.9, 3) * std::pow(0.1, 3) + 15 * std::pow(0.9, 2) * std::pow(0.1, 4) +
                      6 * 0.9 * std::pow(0.1, 5) + std::pow(0.1, 6);
  EXPECT_NEAR(AbortProbabilityBound(8, 7, 4, 0.1), 8 * tail, 1e-12);
  EXPECT_EQ(AbortProbabilityBound(8, 7, 4, 0.0), 0.0);
  EXPECT_EQ(AbortProbabilityBound(8, 7, 7, 0.01), 1.0);  // t = k: a dropped secret is lost
  EXPECT_EQ(AbortProbabilityBound(8, 7, 7, 0.0), 0.0);
  EXPECT_EQ(AbortProbabilityBound(1000, 7, 4, 0.5), 1.0);  // clamped
}

TEST(SecAggParams, DropoutRateThatMakesTUnreachable) {
  auto p = StandardParams();  // n = 8, k = 7, t = 4
  p.expected_dropout_rate = 0.1;  // bound 0.127 > 0.01
  ExpectInvalid(p, "threshold", "too high for the dropout rate 0.1");
  p.max_abort_probability = 0.2;
  EXPECT_TRUE(ValidateParams(p).has_value());
  p = StandardParams();
  p.expected_dropout_rate = 0.01;  // bound ≈ 1.6e-4
  EXPECT_TRUE(ValidateParams(p).has_value());
  p = StandardParams(8, 7, 7);
  p.expected_dropout_rate = 0.001;
  ExpectInvalid(p, "threshold", "too high for the dropout rate");
}

TEST(SecAggParams, RoundSetupChecks) {
  const auto p = StandardParams();
  EXPECT_TRUE(ValidateRoundSetup(p, StandardSetup(8, 10)).has_value());
  EXPECT_FALSE(ValidateRoundSetup(p, StandardSetup(9, 10)).has_value());  // above n
  EXPECT_FALSE(ValidateRoundSetup(p, StandardSetup(3, 10)).has_value());  // below t
  EXPECT_FALSE(ValidateRoundSetup(p, StandardSetup(8, 0)).has_value());
  EXPECT_FALSE(ValidateRoundSetup(p, StandardSetup(8, kMaxElements + 1)).has_value());
  auto s = StandardSetup(8, 10);
  s.context.assign(kMaxContextBytes + 1, 0);
  EXPECT_FALSE(ValidateRoundSetup(p, s).has_value());
}

TEST(SecAggParams, SessionIdBindsEveryField) {
  const auto p = StandardParams();
  const auto s = StandardSetup(8, 10);
  const SessionId base = ComputeSessionId(p, s);
  EXPECT_EQ(base, ComputeSessionId(p, s));
  auto p2 = p;
  p2.threshold = 5;
  EXPECT_NE(base, ComputeSessionId(p2, s));
  p2 = p;
  p2.clip_range = 1.0000001;
  EXPECT_NE(base, ComputeSessionId(p2, s));
  auto s2 = s;
  s2.round_id = 8;
  EXPECT_NE(base, ComputeSessionId(p, s2));
  s2 = s;
  s2.graph_seed[0] ^= 1;
  EXPECT_NE(base, ComputeSessionId(p, s2));
  s2 = s;
  s2.context.push_back(0);
  EXPECT_NE(base, ComputeSessionId(p, s2));
}

}  // namespace
}  // namespace cairn::secagg
