// Shamir over GF(2^8): field known answers, any t of k rebuild, t − 1 do not.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <vector>

#include "common/secagg/shamir.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg {
namespace {

std::array<std::uint8_t, 32> Secret() {
  std::array<std::uint8_t, 32> s;
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(0xA5 ^ (i * 37));
  return s;
}

TEST(SecAggShamir, FieldKnownAnswers) {
  EXPECT_EQ(GfMul(0x57, 0x83), 0xc1);  // FIPS-197 §4.2
  EXPECT_EQ(GfMul(0x57, 0x13), 0xfe);  // FIPS-197 §4.2.1
  EXPECT_EQ(GfMul(0, 0x83), 0);
  EXPECT_EQ(GfMul(1, 0x83), 0x83);
  EXPECT_EQ(GfInv(0x53), 0xca);        // AES S-box derivation example
  for (int a = 1; a < 256; ++a) {
    ASSERT_EQ(GfMul(static_cast<std::uint8_t>(a), GfInv(static_cast<std::uint8_t>(a))), 1) << a;
  }
}

TEST(SecAggShamir, EveryTSubsetOfKRebuildsTheSecret) {
  const std::uint32_t k = 7, t = 4;
  const auto secret = Secret();
  std::vector<std::uint8_t> xs = {1, 2, 3, 4, 5, 6, 7};
  std::vector<ShamirShare> shares(k);
  ASSERT_TRUE(ShamirSplit(secret, t, xs, testing::SeededFill(1), shares).has_value());
  int subsets = 0;
  for (unsigned mask = 0; mask < (1u << k); ++mask) {
    if (__builtin_popcount(mask) != static_cast<int>(t)) continue;
    std::vector<ShamirShare> pick;
    for (std::uint32_t i = 0; i < k; ++i) if (mask & (1u << i)) pick.push_back(shares[i]);
    std::reverse(pick.begin(), pick.end());  // order does not matter
    auto r = ShamirReconstruct(pick, t);
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(std::equal(secret.begin(), secret.end(), r->data())) << "subset " << mask;
    ++subsets;
  }
  EXPECT_EQ(subsets, 35);
}

TEST(SecAggShamir, FewerThanTSharesFail) {
  const auto secret = Secret();
  std::vector<std::uint8_t> xs = {3, 9, 27, 81, 243};
  std::vector<ShamirShare> shares(xs.size());
  ASSERT_TRUE(ShamirSplit(secret, 3, xs, testing::SeededFill(2), shares).has_value());
  // The API refuses t − 1 shares for threshold t...
  auto r = ShamirReconstruct(std::span(shares).first(2), 3);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  // ...and interpolating them anyway (as if t were 2) gives something else than the secret.
  auto wrong = ShamirReconstruct(std::span(shares).first(2), 2);
  ASSERT_TRUE(wrong.has_value());
  EXPECT_FALSE(std::equal(secret.begin(), secret.end(), wrong->data()));
}

TEST(SecAggShamir, TMinusOneSharesAreConsistentWithEverySecret) {
  // Perfect secrecy, checked on one byte: for t = 2, one share (x, y) is matched by exactly one
  // line through (0, s) for every s, so it says nothing about s.
  const std::array<std::uint8_t, 32> zero{};
  std::vector<std::uint8_t> xs = {5, 6};
  std::vector<ShamirShare> shares(2);
  ASSERT_TRUE(ShamirSplit(zero, 2, xs, testing::SeededFill(3), shares).has_value());
  const std::uint8_t y = shares[0].y[0];
  for (int s = 0; s < 256; ++s) {
    // slope c with s + c·5 = y  ⇒  c = (y ⊕ s)·5⁻¹: always exists.
    const std::uint8_t c = GfMul(static_cast<std::uint8_t>(y ^ s), GfInv(5));
    ASSERT_EQ(static_cast<std::uint8_t>(GfMul(c, 5) ^ s), y);
  }
}

TEST(SecAggShamir, RejectsBadCoordinates) {
  const auto secret = Secret();
  std::vector<ShamirShare> shares(3);
  std::vector<std::uint8_t> dup = {1, 2, 2}, zero = {0, 1, 2};
  EXPECT_FALSE(ShamirSplit(secret, 2, dup, {}, shares).has_value());
  EXPECT_FALSE(ShamirSplit(secret, 2, zero, {}, shares).has_value());
  std::vector<std::uint8_t> xs = {1, 2, 3};
  EXPECT_FALSE(ShamirSplit(secret, 4, xs, {}, shares).has_value());
  ASSERT_TRUE(ShamirSplit(secret, 2, xs, {}, shares).has_value());  // CSPRNG coefficients
  shares[1].x = shares[0].x;
  EXPECT_FALSE(ShamirReconstruct(shares, 2).has_value());
}

TEST(SecAggShamir, MaximalNeighbourhood) {
  const auto secret = Secret();
  std::vector<std::uint8_t> xs(255);
  for (int i = 0; i < 255; ++i) xs[i] = static_cast<std::uint8_t>(i + 1);
  std::vector<ShamirShare> shares(255);
  ASSERT_TRUE(ShamirSplit(secret, 128, xs, testing::SeededFill(4), shares).has_value());
  auto r = ShamirReconstruct(std::span(shares).last(128), 128);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(std::equal(secret.begin(), secret.end(), r->data()));
}

}  // namespace
}  // namespace cairn::secagg
