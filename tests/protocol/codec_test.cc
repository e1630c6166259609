#include "protocol/codec.h"

#include <gtest/gtest.h>

#include "protocol/limits.h"

namespace cairn::protocol {
namespace {

template <typename T>
T RoundTrip(const T& in) {
  Bytes b = Encode(Message(in));
  auto m = Decode(b, kMaxControlMessageBytes);
  EXPECT_TRUE(m) << m.error().ToString();
  EXPECT_TRUE(std::holds_alternative<T>(*m)) << MessageName(*m);
  return std::get<T>(*m);
}

TEST(Codec, EvidenceRoundTrips) {
  Evidence e;
  e.bundle.platform = Platform::kSevSnp;
  e.bundle.report = Bytes(1184, 7);
  e.bundle.certificates = {Bytes(100, 1), Bytes(200, 2)};
  e.curve_key[0] = 1;
  e.hpke_key[1] = 2;
  e.signing_key[2] = 3;
  e.federation_config = "[federation]\nid = \"x\"\n";
  e.control_port = 1234;
  e.data_port = 5678;
  Evidence out = RoundTrip(e);
  EXPECT_EQ(out.bundle, e.bundle);
  EXPECT_EQ(out.curve_key, e.curve_key);
  EXPECT_EQ(out.hpke_key, e.hpke_key);
  EXPECT_EQ(out.signing_key, e.signing_key);
  EXPECT_EQ(out.federation_config, e.federation_config);
  EXPECT_EQ(out.control_port, 1234);
  EXPECT_EQ(out.data_port, 5678);
}

TEST(Codec, CommitAndOfferRoundTrip) {
  Commit c;
  c.round = 9;
  c.enc[3] = 4;
  c.chunks = 12;
  c.digest[31] = 5;
  c.num_examples = 190;
  c.metrics = {{"loss", 0.25}, {"accuracy", 0.9}};
  c.within_clip = true;
  Commit co = RoundTrip(c);
  EXPECT_EQ(co.round, 9u);
  EXPECT_EQ(co.enc, c.enc);
  EXPECT_EQ(co.digest, c.digest);
  EXPECT_EQ(co.metrics, c.metrics);
  EXPECT_TRUE(co.within_clip);

  RoundOffer o;
  o.round = 3;
  o.model.model_version = 2;
  o.model.key = Bytes(32, 9);
  o.model.chunks = 4;
  o.model.chunk_bytes = 4096;
  o.task.learning_rate = 0.5;
  o.task.optimizer = "adam";
  o.deadline_ms = 1000;
  RoundOffer oo = RoundTrip(o);
  EXPECT_EQ(oo.model, o.model);
  EXPECT_EQ(oo.task, o.task);
  EXPECT_EQ(oo.deadline_ms, 1000u);
}

TEST(Codec, CatchUpRoundTripsAndIsBounded) {
  EXPECT_EQ(RoundTrip(CatchUpRequest{41}).after_round, 41u);
  CatchUp c;
  c.head_round = 44;
  c.head_hash = Bytes(32, 7);
  for (std::uint64_t r = 42; r <= 44; ++r) {
    RoundResult res;
    res.federation_id = "f";
    res.round = r;
    res.contributors = {"p0", "p1"};
    res.prev_hash = Bytes(32, static_cast<std::uint8_t>(r));
    c.results.push_back(res);
  }
  CatchUp out = RoundTrip(c);
  EXPECT_EQ(out.head_round, 44u);
  EXPECT_EQ(out.head_hash, c.head_hash);
  ASSERT_EQ(out.results.size(), 3u);
  EXPECT_EQ(out.results[2].round, 44u);
  EXPECT_EQ(out.results[1].prev_hash, c.results[1].prev_hash);
  // More than one page's worth is refused by the decoder.
  c.results.assign(kMaxCatchUpResults + 1, RoundResult{});
  auto big = Decode(Encode(Message(c)), 1 << 24);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("too many results"), std::string::npos) << big.error().message();
  // A head hash of another size is malformed.
  c.results.clear();
  c.head_hash = Bytes(31, 1);
  EXPECT_FALSE(Decode(Encode(Message(c)), kMaxControlMessageBytes));
}

TEST(Codec, OtherMajorVersionIsAClearError) {
  Bytes b = EncodeWithVersionForTesting(Message(Ping{}), 2, 0);
  auto m = Decode(b, kMaxControlMessageBytes);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(m.error().message().find("peer speaks protocol 2.0; this build speaks 1.1"), std::string::npos)
      << m.error().message();
  // A newer minor version is accepted.
  EXPECT_TRUE(Decode(EncodeWithVersionForTesting(Message(Ping{}), 1, 7), kMaxControlMessageBytes));
}

TEST(Codec, OversizedAndGarbageAreRejected) {
  Bytes b = Encode(Message(Goodbye{std::string(2000, 'x')}));
  auto m = Decode(b, kMaxControlMessageBytes);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("above the limit"), std::string::npos);
  auto big = Decode(Bytes(64, 0), 32);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("above the limit of 32"), std::string::npos);
  auto odd = Decode(Bytes(13, 0), 1024);
  ASSERT_FALSE(odd);
  Bytes garbage(64);
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<std::uint8_t>(i * 37 + 11);
  EXPECT_FALSE(Decode(garbage, 1024));
}

TEST(Codec, WrongFixedSizeFieldNamesTheField) {
  // A GetEvidence whose nonce is not 32 bytes: build it through a Commit-shaped trick is not
  // possible, so truncate the message instead and expect an error rather than a crash.
  GetEvidence g;
  g.participant_id = "hospital-a";
  Bytes b = Encode(Message(g));
  for (std::size_t cut = 8; cut < b.size(); cut += 8) {
    auto m = Decode(ByteSpan(b.data(), cut), 1024);
    EXPECT_FALSE(m) << "truncated at " << cut;
  }
}

TEST(Codec, ChunkHeaderRoundTrips) {
  ChunkHeader h;
  h.session[0] = 0xAB;
  h.kind = ChunkKind::kModelRequest;
  h.round = 77;
  h.index = 3;
  h.end = 9;
  h.last = true;
  Bytes b = EncodeChunkHeader(h);
  EXPECT_LE(b.size(), kMaxChunkHeaderBytes);
  auto out = DecodeChunkHeader(b);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->session, h.session);
  EXPECT_EQ(out->kind, ChunkKind::kModelRequest);
  EXPECT_EQ(out->round, 77u);
  EXPECT_EQ(out->index, 3u);
  EXPECT_EQ(out->end, 9u);
  EXPECT_TRUE(out->last);
}

}  // namespace
}  // namespace cairn::protocol
