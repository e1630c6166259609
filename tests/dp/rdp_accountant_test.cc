#include "common/dp/rdp_accountant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "common/dp/internal/log_math.h"

namespace cairn::dp {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void ExpectRelNear(double actual, double expected, double rtol) {
  EXPECT_LE(std::fabs(actual - expected), rtol * std::fabs(expected))
      << "actual " << actual << " expected " << expected;
}

// --- Oracles (../shared/oracles/README.md) ---------------------------------------------------

// A1. Source: opacus/tests/accountants_test.py (q = 0.04, σ = 1.5, 2250 steps, δ = 1e-5, Opacus
// default orders). 7.32933470238 is the value under the conservative fractional-order rule
// (Google dp_accounting since 2024); Opacus's signed series gives 7.32911117143 (see
// SignedSeriesReproducesOpacus below).
TEST(RdpAccountantTest, OracleA1OpacusGridImproved) {
  auto e = PoissonSampledGaussianEpsilon(0.04, 1.5, 2250, 1e-5, OpacusOrders());
  ASSERT_TRUE(e) << e.error().ToString();
  ExpectRelNear(e->epsilon, 7.32933470238, 1e-6);
  EXPECT_NEAR(e->order, 3.9, 1e-12);
}

// A2. Source: tensorflow/privacy compute_dp_sgd_privacy_test.py (q = 150/60000, σ = 1.3,
// 6000 steps, δ = 1e-5, TF Privacy grid).
TEST(RdpAccountantTest, OracleA2TfPrivacyGrid) {
  const double q = 150.0 / 60000.0;
  auto improved = PoissonSampledGaussianEpsilon(q, 1.3, 6000, 1e-5, TfPrivacyOrders());
  ASSERT_TRUE(improved) << improved.error().ToString();
  ExpectRelNear(improved->epsilon, 0.7242234026109595, 1e-6);
  EXPECT_EQ(improved->order, 19.0);
  auto classic = PoissonSampledGaussianEpsilon(q, 1.3, 6000, 1e-5, TfPrivacyOrders(),
                                               Conversion::kClassic);
  ASSERT_TRUE(classic);
  ExpectRelNear(classic->epsilon, 0.941870567, 1e-6);
}

// A3. Source: tensorflow/privacy compute_dp_sgd_privacy_test.py (q = 0.001, σ = 1.0,
// 30000 steps, δ = 1e-7, TF Privacy grid).
TEST(RdpAccountantTest, OracleA3TfPrivacyGrid) {
  auto improved = PoissonSampledGaussianEpsilon(0.001, 1.0, 30000, 1e-7, TfPrivacyOrders());
  ASSERT_TRUE(improved) << improved.error().ToString();
  ExpectRelNear(improved->epsilon, 1.4154988495444842, 1e-6);
  EXPECT_EQ(improved->order, 13.0);
  auto classic = PoissonSampledGaussianEpsilon(0.001, 1.0, 30000, 1e-7, TfPrivacyOrders(),
                                               Conversion::kClassic);
  ASSERT_TRUE(classic);
  ExpectRelNear(classic->epsilon, 1.70928734, 1e-6);
}

// A4. Source: tensorflow/privacy rdp_accountant_test.py (q = 0.1, σ = 2, 10 steps, α = 5):
// 0.07737, given to 4 significant digits, so compared to half a unit in the last place.
TEST(RdpAccountantTest, OracleA4IntegerOrder) {
  auto r = PoissonSampledGaussianRdp(0.1, 2.0, 5.0);
  ASSERT_TRUE(r);
  EXPECT_NEAR(internal::Compose(*r, 10), 0.07737, 5e-6);
}

// A5. Source: google/differential-privacy dp_accounting rdp_privacy_accountant_test.py
// (q = 0.01, σ = 2.5, 50 steps), rtol 1e-4 as given there; α = 2.5 is fractional (conservative
// rule), the others integer.
TEST(RdpAccountantTest, OracleA5MixedOrders) {
  const std::vector<double> orders = {2.5, 5, 50, 100};
  const std::vector<double> expected = {1.08548710e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2};
  auto rdp = PoissonSampledGaussianRdp(0.01, 2.5, orders);
  ASSERT_TRUE(rdp);
  for (std::size_t i = 0; i < orders.size(); ++i) {
    SCOPED_TRACE(orders[i]);
    ExpectRelNear(internal::Compose((*rdp)[i], 50), expected[i], 1e-4);
  }
}

// --- Independent cross-checks ------------------------------------------------------------------

// The signed fractional series (Opacus, TF Privacy before 2024): terms with C(α, i) < 0 are
// subtracted; stop when both terms fall below e^-30. Written here plainly (long double, direct
// erfc) as an independent reference for the erfc machinery.
double SignedSeriesLogA(double q, double sigma, double alpha) {
  long double a0 = 0, a1 = 0;
  const long double z0 = static_cast<long double>(sigma) * sigma * std::log(1 / q - 1) + 0.5L;
  long double coef = 1;  // C(α, i), signed
  for (int i = 0; i < 10000; ++i) {
    if (i > 0) coef *= (alpha - i + 1) / i;
    const long double j = alpha - i;
    const long double t0 = coef * std::pow(static_cast<long double>(q), i) *
                           std::pow(1 - static_cast<long double>(q), j);
    const long double t1 = coef * std::pow(static_cast<long double>(q), j) *
                           std::pow(1 - static_cast<long double>(q), static_cast<long double>(i));
    const long double e0 = 0.5L * std::erfc((i - z0) / (std::numbers::sqrt2_v<long double> * sigma));
    const long double e1 = 0.5L * std::erfc((z0 - j) / (std::numbers::sqrt2_v<long double> * sigma));
    const long double s0 = t0 * std::exp((static_cast<long double>(i) * i - i) / (2.0L * sigma * sigma)) * e0;
    const long double s1 = t1 * std::exp((j * j - j) / (2.0L * sigma * sigma)) * e1;
    a0 += s0;
    a1 += s1;
    if (std::max(std::log(std::fabs(s0)), std::log(std::fabs(s1))) < -30) break;
  }
  return static_cast<double>(std::log(a0 + a1));
}

// Source: opacus/tests/accountants_test.py value 7.32911117143 (signed series, A1 inputs).
TEST(RdpAccountantTest, SignedSeriesReproducesOpacusAndConservativeIsAbove) {
  const std::vector<double> orders = OpacusOrders();
  std::vector<double> signed_rdp;
  for (double a : orders) {
    const double r = std::floor(a) == a ? *PoissonSampledGaussianRdp(0.04, 1.5, a)
                                        : SignedSeriesLogA(0.04, 1.5, a) / (a - 1);
    signed_rdp.push_back(2250 * r);
  }
  auto e = EpsilonFromRdp(orders, signed_rdp, 1e-5);
  ASSERT_TRUE(e);
  ExpectRelNear(e->epsilon, 7.32911117143, 1e-6);
  // The conservative rule never understates.
  for (double a : {1.5, 2.5, 3.9, 7.3, 10.9}) {
    SCOPED_TRACE(a);
    const double conservative = *PoissonSampledGaussianRdp(0.04, 1.5, a);
    const double exact = SignedSeriesLogA(0.04, 1.5, a) / (a - 1);
    EXPECT_GE(conservative, exact * (1 - 1e-12));
  }
  // At the order that decides ε the two rules differ by little (3e-5 relative in ε above).
  const double c39 = *PoissonSampledGaussianRdp(0.04, 1.5, 3.9);
  EXPECT_LE(c39, SignedSeriesLogA(0.04, 1.5, 3.9) / 2.9 * 1.001);
}

// Integer orders against a direct long-double evaluation of the binomial sum.
TEST(RdpAccountantTest, IntegerOrdersMatchDirectSum) {
  for (double q : {0.001, 0.05, 0.5, 0.9}) {
    for (double sigma : {0.8, 1.0, 3.0}) {
      for (int alpha : {2, 3, 8, 20}) {
        long double sum = 0;
        long double binom = 1;
        for (int i = 0; i <= alpha; ++i) {
          if (i > 0) binom = binom * (alpha - i + 1) / i;
          sum += binom * std::pow(1 - static_cast<long double>(q), alpha - i) *
                 std::pow(static_cast<long double>(q), i) *
                 std::exp((static_cast<long double>(i) * i - i) / (2.0L * sigma * sigma));
        }
        const double expected = static_cast<double>(std::log(sum) / (alpha - 1));
        auto r = PoissonSampledGaussianRdp(q, sigma, alpha);
        ASSERT_TRUE(r);
        EXPECT_NEAR(*r, expected, 1e-12 * std::max(1.0, expected))
            << "q=" << q << " sigma=" << sigma << " alpha=" << alpha;
      }
    }
  }
}

TEST(RdpAccountantTest, SpecialCases) {
  EXPECT_EQ(*PoissonSampledGaussianRdp(0.0, 1.0, 3.5), 0.0);
  EXPECT_EQ(*PoissonSampledGaussianRdp(0.5, 0.0, 3.5), kInf);
  EXPECT_DOUBLE_EQ(*PoissonSampledGaussianRdp(1.0, 2.0, 3.5), 3.5 / 8.0);
  EXPECT_DOUBLE_EQ(*GaussianRdp(2.0, 10.0), 10.0 / 8.0);
  // q = 1 composed: T·α/(2σ²); ε classic = min over orders.
  auto e = PoissonSampledGaussianEpsilon(1.0, 4.0, 3, 1e-5, std::vector<double>{2.0, 10.0},
                                         Conversion::kClassic);
  ASSERT_TRUE(e);
  const double at2 = 3 * 2.0 / 32 - std::log(1e-5) / 1.0;
  const double at10 = 3 * 10.0 / 32 - std::log(1e-5) / 9.0;
  EXPECT_DOUBLE_EQ(e->epsilon, std::min(at2, at10));
  EXPECT_EQ(e->order, 10.0);
}

// Near α = 1 with large σ the conservative series is loose (1/(α−1) magnifies its slack); the
// unsampled Gaussian's α/(2σ²) is a valid cap there.
TEST(RdpAccountantTest, NeverAboveTheUnsampledGaussian) {
  for (double q : {0.01, 0.5, 0.9}) {
    for (double sigma : {0.5, 1.0, 5.0, 20.0}) {
      for (double a : {1.01, 1.1, 1.5, 2.0, 3.3, 8.0, 64.0}) {
        const double r = *PoissonSampledGaussianRdp(q, sigma, a);
        EXPECT_LE(r, a / (2 * sigma * sigma)) << q << " " << sigma << " " << a;
      }
    }
  }
  EXPECT_DOUBLE_EQ(*PoissonSampledGaussianRdp(0.5, 5.0, 1.1), 1.1 / 50);
}

TEST(RdpAccountantTest, HighOrdersStayFiniteWithoutOverflow) {
  for (double sigma : {0.3, 0.7, 1.0, 5.0}) {
    for (double a : {256.0, 300.5, 512.0, 4096.0}) {
      auto r = PoissonSampledGaussianRdp(0.05, sigma, a);
      ASSERT_TRUE(r);
      EXPECT_TRUE(std::isfinite(*r) || std::isinf(*r)) << sigma << " " << a;
      EXPECT_FALSE(std::isnan(*r));
      EXPECT_GE(*r, 0.0);
      if (std::floor(a) == a) {
        EXPECT_TRUE(std::isfinite(*r)) << sigma << " " << a;
      }
    }
  }
  // Monotone in the order, for integer orders (RDP is non-decreasing in α).
  double last = 0;
  for (int a = 2; a <= 512; a *= 2) {
    const double r = *PoissonSampledGaussianRdp(0.01, 0.8, a);
    EXPECT_GE(r, last);
    last = r;
  }
}

TEST(RdpAccountantTest, LogErfcIsContinuousAcrossTheAsymptoticSwitch) {
  for (double x : {25.0, 25.5, 26.0}) {
    const double direct = std::log(std::erfc(x));
    EXPECT_NEAR(internal::LogErfc(x), direct, 1e-12 * std::fabs(direct)) << x;
  }
  EXPECT_TRUE(std::isfinite(internal::LogErfc(1e3)));
  EXPECT_NEAR(internal::LogErfc(-40.0), std::log(2.0), 1e-15);
}

TEST(RdpAccountantTest, WithoutReplacementTheorem9) {
  // Wang, Balle, Kasiviswanathan 2019 Theorem 9 at α = 2 and 3 by hand (q = 0.1, σ = 2):
  // ε(j) = j/8.
  const double q = 0.1;
  const double e2 = 2.0 / 8.0;
  const double m2 = std::min(4 * std::expm1(e2), 2 * std::exp(e2));
  EXPECT_NEAR(*SampledWithoutReplacementGaussianRdp(q, 2.0, 2.0), std::log1p(q * q * m2), 1e-14);
  const double a3 = 1 + q * q * 3 * m2 + 2 * q * q * q * std::exp(2 * 3.0 / 8.0);
  EXPECT_NEAR(*SampledWithoutReplacementGaussianRdp(q, 2.0, 3.0), std::log(a3) / 2, 1e-14);
  // Fractional: interpolation of the CGF (Corollary 10).
  const double k2 = 1 * *SampledWithoutReplacementGaussianRdp(q, 2.0, 2.0);
  const double k3 = 2 * *SampledWithoutReplacementGaussianRdp(q, 2.0, 3.0);
  EXPECT_NEAR(*SampledWithoutReplacementGaussianRdp(q, 2.0, 2.25), (0.75 * k2 + 0.25 * k3) / 1.25,
              1e-14);
  // q = 1 is the plain Gaussian.
  EXPECT_DOUBLE_EQ(*SampledWithoutReplacementGaussianRdp(1.0, 2.0, 7.0), 7.0 / 8.0);
}

TEST(RdpAccountantTest, ConversionRules) {
  const std::vector<double> orders = {2.0, 8.0};
  const std::vector<double> rdp = {0.5, 1.0};
  auto classic = EpsilonFromRdp(orders, rdp, 1e-5, Conversion::kClassic);
  ASSERT_TRUE(classic);
  EXPECT_DOUBLE_EQ(classic->epsilon, std::min(0.5 + std::log(1e5), 1.0 + std::log(1e5) / 7));
  auto improved = EpsilonFromRdp(orders, rdp, 1e-5);
  ASSERT_TRUE(improved);
  const double i2 = 0.5 + std::log(0.5) - (std::log(1e-5) + std::log(2.0));
  const double i8 = 1.0 + std::log(7.0 / 8.0) - (std::log(1e-5) + std::log(8.0)) / 7;
  EXPECT_DOUBLE_EQ(improved->epsilon, std::min(i2, i8));
  EXPECT_LT(improved->epsilon, classic->epsilon);
  // Tiny RDP: the KL bound gives ε = 0.
  auto zero = EpsilonFromRdp(orders, std::vector<double>{1e-12, 1e-12}, 1e-5);
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->epsilon, 0.0);
  // Errors.
  EXPECT_FALSE(EpsilonFromRdp(orders, std::vector<double>{1.0}, 1e-5));
  EXPECT_FALSE(EpsilonFromRdp(orders, rdp, 0.0));
  EXPECT_FALSE(EpsilonFromRdp(orders, rdp, 1.0));
  EXPECT_FALSE(EpsilonFromRdp(orders, std::vector<double>{-1.0, 1.0}, 1e-5));
  EXPECT_FALSE(EpsilonFromRdp(orders, std::vector<double>{std::nan(""), 1.0}, 1e-5));
  // All infinite: ε = ∞.
  auto inf = EpsilonFromRdp(orders, std::vector<double>{kInf, kInf}, 1e-5);
  ASSERT_TRUE(inf);
  EXPECT_EQ(inf->epsilon, kInf);
}

TEST(RdpAccountantTest, OrderGridsAndParsing) {
  const auto opacus = OpacusOrders();
  ASSERT_EQ(opacus.size(), 151u);
  EXPECT_DOUBLE_EQ(opacus.front(), 1.1);
  EXPECT_DOUBLE_EQ(opacus[98], 10.9);
  EXPECT_EQ(opacus[99], 12.0);
  EXPECT_EQ(opacus.back(), 63.0);
  const auto tfp = TfPrivacyOrders();
  ASSERT_EQ(tfp.size(), 72u);
  EXPECT_EQ(tfp.front(), 1.25);
  EXPECT_EQ(tfp.back(), 512.0);
  EXPECT_EQ(*ParseOrders("opacus"), opacus);
  EXPECT_EQ(*ParseOrders("tfp"), tfp);
  EXPECT_EQ(*ParseOrders("2, 4.5,8"), (std::vector<double>{2.0, 4.5, 8.0}));
  for (const char* bad : {"", "1", "0.5", "abc", "2,,3", "2,2", "nan", "inf", "2;3", "2,", "5000",
                          "-3"}) {
    auto r = ParseOrders(bad);
    EXPECT_FALSE(r) << "'" << bad << "' was accepted";
    if (!r) {
      EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_EQ(*ParseConversion("classic"), Conversion::kClassic);
  EXPECT_FALSE(ParseConversion("best"));
}

TEST(RdpAccountantTest, InputValidation) {
  EXPECT_FALSE(PoissonSampledGaussianRdp(-0.1, 1.0, 2.0));
  EXPECT_FALSE(PoissonSampledGaussianRdp(1.1, 1.0, 2.0));
  EXPECT_FALSE(PoissonSampledGaussianRdp(0.1, -1.0, 2.0));
  EXPECT_FALSE(PoissonSampledGaussianRdp(0.1, std::nan(""), 2.0));
  EXPECT_FALSE(PoissonSampledGaussianRdp(0.1, 1.0, 1.0));
  EXPECT_FALSE(PoissonSampledGaussianRdp(0.1, 1.0, kInf));
}

// The inverse: z meets the target, and a z smaller by 0.1% does not.
TEST(RdpAccountantTest, NoiseMultiplierForEpsilonIsTight) {
  struct Case {
    double target, q, delta;
    std::uint64_t steps;
    std::vector<double> orders;
    Conversion conversion;
  };
  const std::vector<Case> cases = {
      {8.0, 0.04, 1e-5, 2250, OpacusOrders(), Conversion::kImproved},
      {2.0, 0.04, 1e-5, 2250, OpacusOrders(), Conversion::kImproved},
      {1.0, 0.001, 1e-7, 30000, TfPrivacyOrders(), Conversion::kClassic},
      {0.5, 1.0, 1e-5, 20, TfPrivacyOrders(), Conversion::kImproved},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    auto z = NoiseMultiplierForEpsilon(c.target, c.q, c.steps, c.delta, c.orders, c.conversion);
    ASSERT_TRUE(z) << z.error().ToString();
    auto at = PoissonSampledGaussianEpsilon(c.q, *z, c.steps, c.delta, c.orders, c.conversion);
    auto below = PoissonSampledGaussianEpsilon(c.q, *z * (1 - 1e-3), c.steps, c.delta, c.orders,
                                               c.conversion);
    ASSERT_TRUE(at);
    ASSERT_TRUE(below);
    EXPECT_LE(at->epsilon, c.target);
    EXPECT_GT(below->epsilon, c.target);
  }
  // A1 backwards: the z for ε = 7.32933470238 is 1.5 to the tolerance.
  auto z = NoiseMultiplierForEpsilon(7.32933470238, 0.04, 2250, 1e-5, OpacusOrders());
  ASSERT_TRUE(z);
  EXPECT_NEAR(*z, 1.5, 1.5e-5);
}

TEST(RdpAccountantTest, NoiseMultiplierForEpsilonErrors) {
  // Classic conversion has a floor log(1/δ)/(α_max − 1) whatever the noise (≈ 0.186 for
  // Opacus's grid at δ = 1e-5).
  auto unreachable = NoiseMultiplierForEpsilon(0.15, 0.04, 100, 1e-5, OpacusOrders(),
                                               Conversion::kClassic);
  ASSERT_FALSE(unreachable);
  EXPECT_EQ(unreachable.error().code(), ErrorCode::kOutOfRange);
  EXPECT_NE(unreachable.error().message().find("not reachable"), std::string::npos);
  EXPECT_FALSE(NoiseMultiplierForEpsilon(0.0, 0.04, 100, 1e-5, OpacusOrders()));
  EXPECT_FALSE(NoiseMultiplierForEpsilon(-1.0, 0.04, 100, 1e-5, OpacusOrders()));
  EXPECT_FALSE(NoiseMultiplierForEpsilon(1.0, 1.5, 100, 1e-5, OpacusOrders()));
  EXPECT_FALSE(NoiseMultiplierForEpsilon(1.0, 0.04, 100, 0.0, OpacusOrders()));
  EXPECT_EQ(*NoiseMultiplierForEpsilon(1.0, 0.0, 100, 1e-5, OpacusOrders()), 0.0);
}

}  // namespace
}  // namespace cairn::dp
