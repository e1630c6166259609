// Wire format: every message round-trips; truncations, trailing bytes, bad headers, unsorted
// lists and counts above the limits are refused with the field and offset named.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/secagg/messages.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg {
namespace {

DecodeLimits Limits() {
  DecodeLimits l;
  l.max_participants = 16;
  l.max_neighborhood = 7;
  l.max_elements = 100;
  return l;
}

PublicKey K(std::uint8_t b) {
  PublicKey k;
  k.fill(b);
  return k;
}

std::vector<Message> Samples() {
  EncryptedShare e1{2, {}}, e2{5, {}};
  e1.ciphertext.fill(0x11);
  e2.ciphertext.fill(0x22);
  RevealedShare r1{1, ShareKind::kSelfMaskSeed, {}}, r2{3, ShareKind::kMaskKey, {}};
  r1.y.fill(0x33);
  r2.y.fill(0x44);
  return {
      AdvertiseKeys{7, 3, K(1), K(2)},
      KeysRelay{7, 3, {0, 1, 3, 5, 9}, {NeighborKeys{1, K(3), K(4)}, NeighborKeys{5, K(5), K(6)}}},
      ShareKeys{7, 3, K(9), {e1, e2}},
      SharesRelay{7, 4, {e1, e2}},
      MaskedInput{7, 3, 10, {1, 2, 0xffffffffu, 0x01020304u}},
      UnmaskRequest{7, {0, 3, 4, 15}},
      UnmaskResponse{7, 3, {r1, r2}},
      KeysRelay{7, 0, {0}, {}},
      UnmaskResponse{7, 3, {}},
      MaskedInput{7, 3, 100, {}},
  };
}

TEST(SecAggMessages, EveryTypeRoundTrips) {
  for (const Message& m : Samples()) {
    const Bytes bytes = Encode(m);
    auto back = Decode(bytes, Limits());
    ASSERT_TRUE(back.has_value()) << MessageTypeName(TypeOf(m)) << ": " << back.error().ToString();
    EXPECT_EQ(*back, m) << MessageTypeName(TypeOf(m));
    EXPECT_EQ(Encode(*back), bytes);
  }
}

TEST(SecAggMessages, KnownLayout) {
  const Bytes a = Encode(AdvertiseKeys{0x0102030405060708ULL, 9, K(0xaa), K(0xbb)});
  ASSERT_EQ(a.size(), 6u + 8 + 4 + 64);
  EXPECT_EQ(HexEncode(ByteSpan(a).first(18)), "637361670101" "0102030405060708" "00000009");
  // MaskedInput values are little-endian.
  const Bytes m = Encode(MaskedInput{1, 2, 3, {0x01020304u}});
  EXPECT_EQ(HexEncode(ByteSpan(m).last(12)), "0000000000000001" "04030201");
}

TEST(SecAggMessages, EveryTruncationAndTrailingByteIsRefused) {
  for (const Message& m : Samples()) {
    const Bytes bytes = Encode(m);
    for (std::size_t len = 0; len < bytes.size(); ++len) {
      auto r = Decode(ByteSpan(bytes).first(len), Limits());
      ASSERT_FALSE(r.has_value()) << MessageTypeName(TypeOf(m)) << " truncated to " << len;
      ASSERT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    }
    Bytes longer = bytes;
    longer.push_back(0);
    auto r = Decode(longer, Limits());
    ASSERT_FALSE(r.has_value()) << MessageTypeName(TypeOf(m));
  }
}

TEST(SecAggMessages, BadHeaderIsRefused) {
  Bytes b = Encode(UnmaskRequest{1, {0, 1}});
  Bytes bad = b;
  bad[0] = 'x';
  EXPECT_NE(Decode(bad, Limits()).error().message().find("magic"), std::string::npos);
  bad = b;
  bad[4] = 2;
  EXPECT_NE(Decode(bad, Limits()).error().message().find("version 2"), std::string::npos);
  bad = b;
  bad[5] = 99;
  EXPECT_NE(Decode(bad, Limits()).error().message().find("unknown type 99"), std::string::npos);
  bad = b;
  bad[5] = 0;
  EXPECT_FALSE(Decode(bad, Limits()).has_value());
}

TEST(SecAggMessages, LimitsAndOrderAreEnforcedWithFieldAndOffset) {
  // Index at the limit.
  auto r = Decode(Encode(AdvertiseKeys{1, 16, K(1), K(2)}), Limits());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("field sender"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("byte offset 14"), std::string::npos) << r.error().message();
  // Unsorted list.
  r = Decode(Encode(UnmaskRequest{1, {3, 2}}), Limits());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("not strictly ascending"), std::string::npos);
  r = Decode(Encode(UnmaskRequest{1, {3, 3}}), Limits());
  EXPECT_FALSE(r.has_value());
  // Too many neighbours for k = 7.
  KeysRelay big{1, 0, {0}, {}};
  for (std::uint32_t i = 1; i <= 8; ++i) big.neighbors.push_back(NeighborKeys{i, K(1), K(2)});
  r = Decode(Encode(big), Limits());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("above the limit 7"), std::string::npos) << r.error().message();
  // MaskedInput: too long, past the end, and refused when max_elements = 0.
  r = Decode(Encode(MaskedInput{1, 0, 0, std::vector<std::uint32_t>(101)}), Limits());
  EXPECT_FALSE(r.has_value());
  r = Decode(Encode(MaskedInput{1, 0, 95, std::vector<std::uint32_t>(6)}), Limits());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("field offset"), std::string::npos) << r.error().message();
  DecodeLimits none = Limits();
  none.max_elements = 0;
  EXPECT_FALSE(Decode(Encode(MaskedInput{1, 0, 0, {1}}), none).has_value());
  // Unknown share kind.
  Bytes resp = Encode(UnmaskResponse{1, 0, {RevealedShare{0, ShareKind::kMaskKey, {}}}});
  resp[6 + 8 + 4 + 4 + 4] = 3;
  r = Decode(resp, Limits());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("unknown kind 3"), std::string::npos) << r.error().message();
}

TEST(SecAggMessages, CountLargerThanTheBytesIsRefusedBeforeAllocating) {
  Bytes b = Encode(UnmaskRequest{1, {}});
  // Patch the count to 2^32 − 1 with no items: must fail on the count, not allocate.
  b[14] = b[15] = b[16] = b[17] = 0xff;
  DecodeLimits huge = Limits();
  huge.max_participants = 0xffffffffu;
  auto r = Decode(b, huge);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("needs"), std::string::npos) << r.error().message();
}

TEST(SecAggMessages, DecodeAsChecksTheType) {
  const Bytes b = Encode(UnmaskRequest{1, {0}});
  EXPECT_TRUE(DecodeAs<UnmaskRequest>(b, Limits()).has_value());
  auto r = DecodeAs<AdvertiseKeys>(b, Limits());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("UnmaskRequest"), std::string::npos);
}

}  // namespace
}  // namespace cairn::secagg
