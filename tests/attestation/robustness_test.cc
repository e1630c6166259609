// Untrusted input never crashes the verifiers: every truncation of a TDX quote, random corruption
// of the length fields and of whole reports, and malformed collateral all end in a rejection with a
// named check (run under CAIRN_SANITIZE=ON to catch out-of-bounds reads).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"
#include "common/attestation/providers_internal.h"
#include "common/attestation/tdx.h"
#include "tests/attestation/test_pki.h"

namespace cairn::attestation {
namespace {

Verdict VerifyOrFail(const Evidence& e, const Policy& p) {
  VerifyOptions o;
  o.at = *ParseRfc3339("2026-01-01");
  auto v = VerifyEvidence(e, p, o);
  EXPECT_TRUE(v) << (v ? "" : v.error().ToString());
  return v.value_or(Verdict{});
}

TEST(RobustnessTest, EveryTruncationOfATdxQuoteIsARejection) {
  auto& pki = testing::TdxTestPki::Get();
  const Bytes quote = pki.MakeQuote(testing::TdxQuoteSpec{});
  const Policy p = pki.MakePolicy();
  for (std::size_t n = 1; n < quote.size(); n += (n < 1300 ? 1 : 37)) {
    Evidence e{Platform::kTdx, Bytes(quote.begin(), quote.begin() + static_cast<std::ptrdiff_t>(n)), {}, {}};
    Verdict v = VerifyOrFail(e, p);
    EXPECT_FALSE(v.accepted) << "truncated to " << n;
    EXPECT_FALSE(v.FirstFailure().empty());
  }
}

TEST(RobustnessTest, CorruptedTdxLengthFieldsAreRejections) {
  auto& pki = testing::TdxTestPki::Get();
  const Bytes quote = pki.MakeQuote(testing::TdxQuoteSpec{});
  auto q = internal::ParseTdxQuote(quote);
  ASSERT_TRUE(q);
  const Policy p = pki.MakePolicy();
  // Offsets of every length field: signature data length, certification data size, QE auth data
  // length, nested certification data size.
  const std::size_t sig_len = internal::kTdxHeaderBytes + internal::kTdxBody10Bytes;
  const std::size_t cert_hdr = sig_len + 4 + 128;
  const std::size_t auth = cert_hdr + 6 + internal::kTdxQeReportBytes + 64;
  const std::size_t inner = auth + 2 + q->qe_auth_data.size();
  std::mt19937 rng(7);
  for (std::size_t off : {sig_len, cert_hdr + 2, auth, inner + 2}) {
    for (std::uint32_t value : {0u, 1u, 0xFFFFu, 0xFFFFFFFFu, 0x7FFFFFFFu, static_cast<std::uint32_t>(rng())}) {
      Bytes bad = quote;
      const std::size_t width = off == auth ? 2 : 4;
      for (std::size_t i = 0; i < width; ++i) bad[off + i] = static_cast<std::uint8_t>(value >> (8 * i));
      Verdict v = VerifyOrFail(Evidence{Platform::kTdx, bad, {}, {}}, p);
      EXPECT_FALSE(v.accepted) << "length at " << off << " = " << value;
    }
  }
}

TEST(RobustnessTest, RandomReportsAndCollateralAreRejections) {
  std::mt19937 rng(11);
  auto random_bytes = [&](std::size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    return b;
  };
  Policy p;
  p.platforms = {Platform::kSevSnp, Platform::kTdx, Platform::kSim};
  p.sim.platform_key = std::array<std::uint8_t, 32>{};
  for (int i = 0; i < 200; ++i) {
    for (Platform platform : {Platform::kSevSnp, Platform::kTdx, Platform::kSim}) {
      std::size_t n = 1 + rng() % 6000;
      if (i % 3 == 0) n = platform == Platform::kSevSnp ? 1184 : platform == Platform::kSim ? 232 : n;
      Bytes r = random_bytes(n);
      if (platform == Platform::kTdx && n >= 8) {
        r[0] = 4, r[1] = 0, r[2] = 2, r[3] = 0, r[4] = 0x81, r[5] = r[6] = r[7] = 0;
      }
      Evidence e{platform, r, {random_bytes(rng() % 300)}, random_bytes(rng() % 200)};
      Verdict v = VerifyOrFail(e, p);
      EXPECT_FALSE(v.accepted);
    }
  }
  // Collateral that is JSON of the wrong shape.
  auto& pki = testing::TdxTestPki::Get();
  const Bytes quote = pki.MakeQuote(testing::TdxQuoteSpec{});
  for (const char* coll : {"{}", "[]", "{\"tcb_info\":1}", "{\"tcb_info\":\"{}\",\"tcb_info_signature\":\"00\"}",
                           "{\"tcb_info\":\"{\\\"tcbLevels\\\":5}\",\"tcb_info_signature\":\"zz\"}",
                           "{\"tcbInfo\":{\"a\":1}}", "null"}) {
    Evidence e{Platform::kTdx, quote, {}, Bytes(coll, coll + std::strlen(coll))};
    Verdict v = VerifyOrFail(e, pki.MakePolicy());
    EXPECT_FALSE(v.accepted) << coll;
  }
  // Random certificate tables.
  for (int i = 0; i < 200; ++i) {
    Bytes t = random_bytes(rng() % 400);
    (void)internal::ParseSnpCertTable(t);
  }
}

}  // namespace
}  // namespace cairn::attestation
