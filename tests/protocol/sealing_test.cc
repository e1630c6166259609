#include "protocol/sealing.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cairn::protocol {
namespace {

std::vector<float> Ramp(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(static_cast<float>(i)) * 3.0f;
  return v;
}

TEST(Sealing, ModelDownloadRoundTripsAcrossChunks) {
  ASSERT_TRUE(crypto::Init());
  auto params = Ramp(10'000);  // 40,000 bytes in 4 KiB chunks: 10 chunks, the last short
  auto sealed = SealedModel::Seal(3, params, Encoding::kFloat32, 4096);
  ASSERT_TRUE(sealed) << sealed.error().ToString();
  ModelDownload d = (*sealed)->Download();
  EXPECT_EQ(d.chunks, 10u);
  // float32: hashed on a second thread while the chunks are sealed; the same SHA-256.
  EXPECT_EQ((*sealed)->hash(), ModelHash(params));
  EXPECT_EQ(d.model_hash, ModelHash(params));
  auto rx = ModelReceiver::Create(d);
  ASSERT_TRUE(rx);
  for (std::uint32_t i = d.chunks; i-- > 0;) ASSERT_TRUE(rx->Add(i, (*sealed)->chunk(i)));
  auto out = rx->Finish();
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(*out, params);
}

// The aggregator parks its plain model in the sealed copy while a round collects and opens it
// back at Finalize: exact values, only for float32, and the output must have the right size.
TEST(Sealing, OpenIntoRestoresExactFloat32Values) {
  ASSERT_TRUE(crypto::Init());
  auto params = Ramp(10'001);
  auto sealed = SealedModel::Seal(4, params, Encoding::kFloat32, 4096);
  ASSERT_TRUE(sealed);
  std::vector<float> back(params.size(), -1.0f);
  ASSERT_TRUE((*sealed)->OpenInto(back));
  EXPECT_EQ(back, params);
  std::vector<float> wrong(params.size() - 1);
  auto size_error = (*sealed)->OpenInto(wrong);
  ASSERT_FALSE(size_error);
  EXPECT_EQ(size_error.error().code(), ErrorCode::kInvalidArgument);
  auto half = SealedModel::Seal(4, params, Encoding::kBFloat16, 4096);
  ASSERT_TRUE(half);
  auto rounded = (*half)->OpenInto(back);
  ASSERT_FALSE(rounded);
  EXPECT_EQ(rounded.error().code(), ErrorCode::kFailedPrecondition);
}

// Sealing the next version into the previous one's buffer (sole owner only): the new copy is
// complete and correct, and a copy someone still holds (a download in flight) is left intact.
TEST(Sealing, RecyclesThePreviousBufferOnlyWhenNobodyHoldsIt) {
  ASSERT_TRUE(crypto::Init());
  auto v1 = Ramp(9000);
  auto v2 = v1;
  for (auto& x : v2) x += 1.0f;
  auto first = SealedModel::Seal(1, v1, Encoding::kFloat32, 4096);
  ASSERT_TRUE(first);
  std::shared_ptr<const SealedModel> held = *first;  // a download still holds version 1
  auto second = SealedModel::Seal(2, v2, Encoding::kFloat32, 4096, std::move(*first));
  ASSERT_TRUE(second);
  std::vector<float> out(v1.size());
  ASSERT_TRUE(held->OpenInto(out));
  EXPECT_EQ(out, v1) << "a held copy was overwritten";
  const std::uint8_t* storage = (*second)->chunk(0).data();
  auto third = SealedModel::Seal(3, v1, Encoding::kFloat32, 4096, std::move(*second));
  ASSERT_TRUE(third);
  EXPECT_EQ((*third)->chunk(0).data(), storage) << "the sole owner's buffer was not reused";
  ASSERT_TRUE((*third)->OpenInto(out));
  EXPECT_EQ(out, v1);
  auto rx = ModelReceiver::Create((*third)->Download());
  ASSERT_TRUE(rx);
  for (std::uint32_t i = 0; i < (*third)->chunks(); ++i) ASSERT_TRUE(rx->Add(i, (*third)->chunk(i)));
  auto received = rx->Finish();
  ASSERT_TRUE(received) << received.error().ToString();
  EXPECT_EQ(*received, v1);
}

TEST(Sealing, TamperedOrMisplacedChunksFail) {
  ASSERT_TRUE(crypto::Init());
  auto params = Ramp(5000);
  auto sealed = SealedModel::Seal(1, params, Encoding::kFloat32, 4096);
  ASSERT_TRUE(sealed);
  auto rx = ModelReceiver::Create((*sealed)->Download());
  ASSERT_TRUE(rx);
  Bytes c0((*sealed)->chunk(0).begin(), (*sealed)->chunk(0).end());
  c0[10] ^= 1;
  auto s = rx->Add(0, c0);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kUnauthenticated);
  // Chunk 1 presented as chunk 0: the AAD binds the index.
  EXPECT_FALSE(rx->Add(0, (*sealed)->chunk(1)));
  EXPECT_FALSE(rx->Add(99, (*sealed)->chunk(1)));
  EXPECT_TRUE(rx->Add(1, (*sealed)->chunk(1)));
  EXPECT_FALSE(rx->Add(1, (*sealed)->chunk(1)));  // duplicate
  // A download handle whose hash is wrong fails at Finish.
  ModelDownload d = (*sealed)->Download();
  d.model_hash[0] ^= 1;
  auto rx2 = ModelReceiver::Create(d);
  ASSERT_TRUE(rx2);
  for (std::uint32_t i = 0; i < d.chunks; ++i) ASSERT_TRUE(rx2->Add(i, (*sealed)->chunk(i)));
  EXPECT_FALSE(rx2->Finish());
}

TEST(Sealing, SixteenBitTransportsStayClose) {
  ASSERT_TRUE(crypto::Init());
  auto params = Ramp(3000);
  for (Encoding e : {Encoding::kBFloat16, Encoding::kFloat16}) {
    auto sealed = SealedModel::Seal(1, params, e, 4096);
    ASSERT_TRUE(sealed);
    auto rx = ModelReceiver::Create((*sealed)->Download());
    ASSERT_TRUE(rx);
    for (std::uint32_t i = 0; i < (*sealed)->chunks(); ++i) ASSERT_TRUE(rx->Add(i, (*sealed)->chunk(i)));
    auto out = rx->Finish();
    ASSERT_TRUE(out) << EncodingName(e) << ": " << out.error().ToString();
    double tol = e == Encoding::kBFloat16 ? 1.0 / 128 : 1.0 / 1024;
    for (std::size_t i = 0; i < params.size(); ++i) {
      ASSERT_NEAR((*out)[i], params[i], std::abs(params[i]) * tol + 1e-6) << i;
    }
  }
}

TEST(Sealing, ReportDataBindsEveryInput) {
  std::array<std::uint8_t, 32> nonce{};
  Key32 c{}, h{}, s{};
  crypto::Sha256Digest cfg{};
  ReportData base = ComputeReportData(nonce, c, h, s, cfg);
  nonce[0] = 1;
  EXPECT_NE(ComputeReportData(nonce, c, h, s, cfg), base);
  nonce[0] = 0;
  c[0] = 1;
  EXPECT_NE(ComputeReportData(nonce, c, h, s, cfg), base);
  c[0] = 0;
  cfg[0] = 1;
  EXPECT_NE(ComputeReportData(nonce, c, h, s, cfg), base);
}

TEST(Sealing, ChunkLayoutBounds) {
  auto l = ChunkLayout::Make(10, 4);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->chunks, 3u);
  EXPECT_EQ(l->size(2), 2u);
  EXPECT_FALSE(ChunkLayout::Make(10, 0));
  EXPECT_FALSE(ChunkLayout::Make(1ull << 40, 4096));
}

}  // namespace
}  // namespace cairn::protocol
