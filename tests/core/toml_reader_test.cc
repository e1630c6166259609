#include "common/core/toml_reader.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(TomlReader, ReadsTypedValuesWithDefaults) {
  auto r = TomlReader::ParseString("a = 3\nb = \"x\"\nc = 1.5\n[t]\nd = [1, 2]\n", "f.toml");
  ASSERT_TRUE(r) << r.error().ToString();
  std::int64_t a = 0;
  std::string b;
  double c = 0, missing = 7;
  ASSERT_TRUE(r->Get("a", a, 0, 10));
  ASSERT_TRUE(r->Get("b", b));
  ASSERT_TRUE(r->Get("c", c));
  ASSERT_TRUE(r->Get("zzz", missing));
  EXPECT_EQ(a, 3);
  EXPECT_EQ(b, "x");
  EXPECT_EQ(c, 1.5);
  EXPECT_EQ(missing, 7);
  auto t = r->Table("t");
  ASSERT_TRUE(t && t->has_value());
  std::vector<std::int64_t> d;
  ASSERT_TRUE((*t)->Get("d", d));
  EXPECT_EQ(d, (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE((*t)->Finish());
  EXPECT_TRUE(r->Finish());
}

TEST(TomlReader, UnknownKeyNamesKeyFileAndLine) {
  auto r = TomlReader::ParseString("a = 1\n[t]\ntypo = 2\n", "fed.toml");
  ASSERT_TRUE(r);
  std::int64_t a;
  ASSERT_TRUE(r->Get("a", a));
  auto t = r->Table("t");
  ASSERT_TRUE(t);
  auto s = (*t)->Finish();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "fed.toml:3: unknown key 't.typo'");
  EXPECT_TRUE(r->Finish());
}

TEST(TomlReader, WrongTypeAndRangeAreNamed) {
  auto r = TomlReader::ParseString("n = \"three\"\nm = 99\n", "x.toml");
  ASSERT_TRUE(r);
  std::int64_t n = 0, m = 0;
  auto s = r->Get("n", n);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "x.toml:1: key 'n' must be an integer, found a string");
  auto s2 = r->Get("m", m, 0, 10);
  ASSERT_FALSE(s2);
  EXPECT_NE(s2.error().message().find("outside [0, 10]"), std::string::npos);
  auto s3 = r->Require("absent", n);
  ASSERT_FALSE(s3);
  EXPECT_NE(s3.error().message().find("required key 'absent'"), std::string::npos);
}

TEST(TomlReader, SyntaxErrorNamesLine) {
  auto r = TomlReader::ParseString("a = 1\nb = = 2\n", "bad.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message().rfind("bad.toml:2:", 0), 0u) << r.error().message();
}

TEST(TomlReader, EnumListsAllowedValues) {
  auto r = TomlReader::ParseString("mode = \"fast\"\n", "e.toml");
  ASSERT_TRUE(r);
  std::string mode = "slow";
  auto s = r->GetEnum("mode", mode, {"slow", "safe"});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("not one of: slow, safe"), std::string::npos);
}

}  // namespace
}  // namespace cairn
