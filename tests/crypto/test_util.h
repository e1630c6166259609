// Shared helpers for the crypto tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/core/bytes.h"
#include "common/crypto/crypto.h"

namespace cairn::crypto::testing {

// Decodes hex known to be valid (test vectors); fails the test otherwise.
inline Bytes Hex(std::string_view hex) {
  auto r = HexDecode(hex);
  EXPECT_TRUE(r.has_value()) << "bad hex in test: " << hex;
  return r.value_or(Bytes{});
}

template <typename Array>
std::string HexOf(const Array& a) {
  return HexEncode(ByteSpan(a.data(), a.size()));
}

// Calls Init() once before any test of the binary.
class CryptoEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_TRUE(Init().has_value()); }
};

}  // namespace cairn::crypto::testing
