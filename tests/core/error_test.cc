#include "common/core/error.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Fail(ErrorCode::kInvalidArgument, "odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  CAIRN_ASSIGN_OR_RETURN(int h, Half(x));
  CAIRN_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(Error, PropagatesThroughMacros) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "odd: 3");
}

TEST(Error, ContextPrefixesAndToStringNamesTheCode) {
  Error e = Error(ErrorCode::kNotFound, "no such file").Context("reading policy.toml");
  EXPECT_EQ(e.ToString(), "not-found: reading policy.toml: no such file");
}

}  // namespace
}  // namespace cairn
