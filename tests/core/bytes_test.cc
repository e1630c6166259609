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

}  // namespace
}  // namespace cairn
