// Mask expansion: RFC 8439 known answers, element indexing, exact cancellation, uniformity.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

#include <sodium.h>

#include "common/secagg/keystream.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg {
namespace {

// libsodium picks its fastest ChaCha20 implementation in sodium_init(): run it once per binary.
[[maybe_unused]] ::testing::Environment* const kSodium =
    ::testing::AddGlobalTestEnvironment(new testing::SodiumEnvironment);

// RFC 8439 Appendix A.1, test vectors #1 and #2: all-zero key and nonce, block counters 0 and 1.
// Element e is the little-endian word e of the keystream.
TEST(SecAggKeystream, Rfc8439KnownAnswer) {
  std::array<std::uint8_t, 32> key{};
  std::vector<std::uint32_t> w(32);
  KeystreamWords(key, 0, w);
  EXPECT_EQ(w[0], 0xade0b876u);   // 76 b8 e0 ad
  EXPECT_EQ(w[1], 0x903df1a0u);   // a0 f1 3d 90
  EXPECT_EQ(w[15], 0x8665eeb2u);  // b2 ee 65 86
  EXPECT_EQ(w[16], 0xbee7079fu);  // block 1: 9f 07 e7 be
  EXPECT_EQ(w[31], 0x6f4d794bu);  // 4b 79 4d 6f
  std::vector<std::uint32_t> mid(3);
  KeystreamWords(key, 15, mid);   // crosses the block boundary
  EXPECT_EQ(mid[0], w[15]);
  EXPECT_EQ(mid[1], w[16]);
  EXPECT_EQ(mid[2], w[17]);
}

// The stream is computed with OpenSSL; it must be libsodium's crypto_stream_chacha20_ietf (the
// function the protocol specifies) at every offset.
TEST(SecAggKeystream, EqualsLibsodiumChaCha20Ietf) {
  std::array<std::uint8_t, 32> key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 11 + 1);
  const std::array<std::uint8_t, 12> nonce{};
  for (std::uint64_t offset : {0ull, 1ull, 15ull, 16ull, 17ull, 4095ull, 1000003ull}) {
    const std::size_t n = 5000;
    std::vector<std::uint32_t> ours(n);
    KeystreamWords(key, offset, ours);
    // libsodium from the block holding `offset`.
    const std::size_t skip = offset % 16;
    std::vector<std::uint8_t> zeros((n + 16) * 4, 0), ks((n + 16) * 4);
    crypto_stream_chacha20_ietf_xor_ic(ks.data(), zeros.data(), ks.size(), nonce.data(),
                                       static_cast<std::uint32_t>(offset / 16), key.data());
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t* b = ks.data() + 4 * (skip + i);
      const std::uint32_t w = b[0] | (b[1] << 8) | (b[2] << 16) | (std::uint32_t{b[3]} << 24);
      ASSERT_EQ(ours[i], w) << "offset " << offset << " element " << i;
    }
  }
}

TEST(SecAggKeystream, AnyChunkingGivesTheSameWords) {
  std::array<std::uint8_t, 32> key;
  key.fill(0x42);
  const std::size_t n = 10007;
  std::vector<std::uint32_t> whole(n), parts(n);
  KeystreamWords(key, 0, whole);
  for (std::size_t off = 0, len = 1; off < n; off += len, len = len * 3 % 2047 + 1) {
    len = std::min(len, n - off);
    KeystreamWords(key, off, std::span(parts).subspan(off, len));
  }
  EXPECT_EQ(whole, parts);
  // ApplyMaskTerms with one + term on zeros is the same stream, at any offset.
  std::vector<std::uint32_t> acc(n - 5, 0);
  const MaskTerm term{key, false};
  ApplyMaskTerms(std::span(&term, 1), 5, acc);
  EXPECT_TRUE(std::equal(acc.begin(), acc.end(), whole.begin() + 5));
}

TEST(SecAggKeystream, PlusAndMinusCancelExactly) {
  std::array<std::uint8_t, 32> a, b;
  a.fill(1);
  b.fill(2);
  std::vector<std::uint32_t> v(5000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint32_t>(i * 2654435761u);
  const auto original = v;
  const std::vector<MaskTerm> mask = {{a, false}, {b, true}};
  ApplyMaskTerms(mask, 123, v);
  EXPECT_NE(v, original);
  const std::vector<MaskTerm> unmask = {{b, false}, {a, true}};
  ApplyMaskTerms(unmask, 123, v);
  EXPECT_EQ(v, original);
}

TEST(SecAggKeystream, ParallelEqualsSerial) {
  std::array<std::uint8_t, 32> a, b;
  a.fill(3);
  b.fill(4);
  const std::vector<MaskTerm> terms = {{a, false}, {b, true}};
  for (std::size_t n : {std::size_t{10}, std::size_t{1} << 16, (std::size_t{1} << 18) + 13}) {
    for (std::uint32_t threads : {0u, 1u, 2u, 3u, 8u}) {
      std::vector<std::uint32_t> serial(n, 5), parallel(n, 5);
      ApplyMaskTerms(terms, 7, serial);
      ApplyMaskTermsParallel(terms, 7, parallel, threads);
      ASSERT_EQ(serial, parallel) << n << " elements, " << threads << " threads";
    }
  }
}

TEST(SecAggKeystream, WordsAreUniform) {
  // Chi-square over the top byte (256 bins) of 2^20 words; df = 255, p = 0.999 at 330.5.
  std::array<std::uint8_t, 32> key;
  key.fill(7);
  std::vector<std::uint32_t> w(1 << 20);
  KeystreamWords(key, 0, w);
  std::array<double, 256> bins{};
  for (auto x : w) bins[x >> 24] += 1;
  const double expected = w.size() / 256.0;
  double chi2 = 0;
  for (double c : bins) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 330.5);
  EXPECT_GT(chi2, 190.0);  // p = 0.001 lower tail: not suspiciously regular either
}

}  // namespace
}  // namespace cairn::secagg
