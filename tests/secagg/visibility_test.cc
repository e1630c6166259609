// The aggregator never holds an unmasked single update: its only input type is a masked vector,
// and the instrumentation hook (tests only) shows every vector it receives is uniform in Z_{2^32}
// and uncorrelated with the update inside, while the unmasked sum is still right.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "common/secagg/quantize.h"
#include "common/secagg/simulation.h"
#include "tests/secagg/harness.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg {
namespace {

double ChiSquareTopByte(const std::vector<std::uint32_t>& v) {
  std::array<double, 256> bins{};
  for (auto x : v) bins[x >> 24] += 1;
  const double e = v.size() / 256.0;
  double chi2 = 0;
  for (double c : bins) chi2 += (c - e) * (c - e) / e;
  return chi2;
}

double Correlation(const std::vector<std::uint32_t>& a, const std::vector<float>& b) {
  const std::size_t n = a.size();
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < n; ++i) { ma += a[i]; mb += b[i]; }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / std::sqrt(saa * sbb);
}

TEST(SecAggVisibility, EveryVectorTheAggregatorSeesIsUniformAndUncorrelated) {
  constexpr std::size_t kP = 1 << 18;
  constexpr std::uint32_t kN = 8;
  const Params p = testing::StandardParams(kN, 7, 4);
  // Very structured updates: a ramp, a constant, a sparse vector and random ones.
  auto updates = testing::RandomUpdates(kN, kP, 1.0f, 77);
  for (std::size_t e = 0; e < kP; ++e) {
    updates[0][e] = -1.0f + 2.0f * static_cast<float>(e) / kP;
    updates[1][e] = 0.9f;
    updates[2][e] = (e % 100 == 0) ? 1.0f : 0.0f;
  }
  std::map<std::uint32_t, std::vector<std::uint32_t>> seen;
  SimulationOptions o = testing::Opts(p, testing::StandardSetup(kN, kP));
  o.chunk_elements = 10000;
  o.drops = {DropPoint::kNone, DropPoint::kNone, DropPoint::kNone, DropPoint::kAfterCommit};
  o.observe_masked_input_for_testing = [&](std::uint32_t sender, std::uint64_t offset,
                                           std::span<const std::uint32_t> values) {
    auto& v = seen[sender];
    ASSERT_EQ(v.size(), offset);  // in order
    v.insert(v.end(), values.begin(), values.end());
  };
  auto spans = testing::Spans(updates);
  auto report = SimulateRound(o, spans);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  ASSERT_TRUE(report->outcome.has_value()) << report->outcome.error().ToString();
  ASSERT_EQ(seen.size(), kN);
  for (auto& [sender, v] : seen) {
    SCOPED_TRACE("participant " + std::to_string(sender));
    ASSERT_EQ(v.size(), kP);
    // Uniform: chi-square over 256 bins, df = 255, each tail at p ≈ 1e-7 (154.2 and 390.5).
    // The masks are fresh random each run, so the bounds must hold for all 16 checks together:
    // the central 99.8 % used before failed about one run in 65 (stop 18's CI). A vector that
    // is not masked scores above 10 000 (the control below).
    const double chi2 = ChiSquareTopByte(v);
    EXPECT_LT(chi2, 390.5);
    EXPECT_GT(chi2, 154.2);
    // Uncorrelated with the update it hides (|ρ| < 5/√P, i.e. ~0.01); a constant update has
    // no correlation to measure (the uniformity check covers it).
    if (sender != 1) {
      EXPECT_LT(std::abs(Correlation(v, updates[sender])), 5.0 / std::sqrt(double(kP)));
    }
  }
  // Control: the quantized updates themselves (what masking hides) fail both checks, so the
  // test would catch an unmasked vector reaching the aggregator.
  auto q = Quantizer::Create(p, std::vector<std::uint8_t>(32, 1));
  ASSERT_TRUE(q.has_value());
  std::vector<std::uint32_t> plain(kP);
  ASSERT_TRUE(q->Quantize(updates[1], 0, plain).has_value());  // the constant
  EXPECT_GT(ChiSquareTopByte(plain), 10000.0);
  ASSERT_TRUE(q->Quantize(updates[0], 0, plain).has_value());  // the ramp
  EXPECT_GT(std::abs(Correlation(plain, updates[0])), 0.99);
  // And the sum is still the sum.
  testing::Harness h;
  h.params = p;
  h.setup = testing::StandardSetup(kN, kP);
  h.updates = updates;
  const auto plain_sum = h.PlainSum(report->committed);
  double worst = 0;
  for (std::size_t e = 0; e < kP; ++e) worst = std::max(worst, std::abs(plain_sum[e] - report->sum[e]));
  EXPECT_LT(worst, kN * QuantizationStep(p));
}

TEST(SecAggVisibility, TwoUpdatesThatDifferInOneCoordinateLookUnrelated) {
  // The same participant keys masking two different updates would leak their difference; two
  // rounds (fresh keys) do not: masked vectors of identical updates in two rounds are unrelated.
  constexpr std::size_t kP = 4096;
  const Params p = testing::StandardParams(8, 7, 4);
  const auto updates = testing::RandomUpdates(8, kP, 1.0f, 3);
  std::vector<std::vector<std::uint32_t>> first(8), second(8);
  for (int round = 0; round < 2; ++round) {
    SimulationOptions o = testing::Opts(p, testing::StandardSetup(8, kP, 100 + round));
    auto& sink = round == 0 ? first : second;
    o.observe_masked_input_for_testing = [&](std::uint32_t s, std::uint64_t, std::span<const std::uint32_t> v) {
      sink[s].insert(sink[s].end(), v.begin(), v.end());
    };
    auto spans = testing::Spans(updates);
    auto r = SimulateRound(o, spans);
    ASSERT_TRUE(r.has_value() && r->outcome.has_value());
  }
  for (int i = 0; i < 8; ++i) {
    std::size_t equal = 0;
    for (std::size_t e = 0; e < kP; ++e) equal += first[i][e] == second[i][e];
    EXPECT_LT(equal, 3u);  // 2^-32 chance per element
  }
}

}  // namespace
}  // namespace cairn::secagg
