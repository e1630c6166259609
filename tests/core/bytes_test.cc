#include "common/core/bytes.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(Hex, RoundTripsAndRejectsBadDigits) {
  Bytes b = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(HexEncode(b), "0001abff");
  EXPECT_EQ(*HexDecode("0001ABff"), b);
  auto odd = HexDecode("abc");
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message().find("odd"), std::string::npos);
  auto bad = HexDecode("00zz");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("position 2"), std::string::npos);
}

TEST(Append, BigEndianAndLengthPrefix) {
  Bytes out;
  AppendU16(out, 0x0102);
  AppendU32(out, 0x03040506);
  AppendLengthPrefixed(out, std::string_view("ab"));
  EXPECT_EQ(out, (Bytes{1, 2, 3, 4, 5, 6, 0, 0, 0, 2, 'a', 'b'}));
}

TEST(StoreLoad, BigEndianInPlaceMatchesAppend) {
  std::uint8_t buf[12] = {};
  StoreU32Be(buf, 0x01020304u);
  StoreU64Be(buf + 4, 0x1122334455667788ull);
  EXPECT_EQ(Bytes(buf, buf + 12), (Bytes{1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}));
  EXPECT_EQ(LoadU32Be(buf), 0x01020304u);
  EXPECT_EQ(LoadU64Be(buf + 4), 0x1122334455667788ull);
  Bytes appended;
  AppendU32(appended, 0xFFEEDDCCu);
  AppendU64(appended, 0xFEDCBA9876543210ull);
  EXPECT_EQ(LoadU32Be(appended.data()), 0xFFEEDDCCu);
  EXPECT_EQ(LoadU64Be(appended.data() + 4), 0xFEDCBA9876543210ull);
}

}  // namespace
}  // namespace cairn
