#include "common/analytics/party_policy.h"

#include <gtest/gtest.h>

#include <functional>

#include "tests/analytics/test_util.h"

namespace cairn::analytics {
namespace {

using testing::ParseOne;

Result<PartyPolicy> PolicyFrom(const std::string& text) {
  CAIRN_ASSIGN_OR_RETURN(TomlReader root, TomlReader::ParseString(text, "bank-1.toml"));
  CAIRN_ASSIGN_OR_RETURN(auto table, root.Table("analytics"));
  if (!table) return Fail(ErrorCode::kNotFound, "no [analytics]");
  return ParsePartyPolicy(*table);
}

const char* kPolicy = R"([analytics]
table = "data/bank-1.csv"
allowed_columns = ["merchant_category", "amount", "country", "is_fraud"]
allowed_kinds = ["count", "mean", "histogram"]
max_epsilon_per_query = 1.0
min_rows_at_least = 20
min_parties_at_least = 2
)";

QuerySpec FraudRate() {
  return ParseOne(R"([[queries]]
name = "fraud_rate_by_category"
kind = "mean"
column = "is_fraud"
group_by = "merchant_category"
groups = ["grocery", "travel"]
where = [ { column = "country", op = "in", values = ["DE", "FR"] } ]
clamp = [0, 1]
epsilon = 0.5
min_rows = 20
min_parties = 2
)");
}

TEST(PartyPolicyTest, ParsesAndLeavesTheTableToTheCaller) {
  auto root = TomlReader::ParseString(kPolicy, "bank-1.toml");
  ASSERT_TRUE(root);
  auto table = root->Table("analytics");
  ASSERT_TRUE(table && *table);
  auto p = ParsePartyPolicy(**table);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->allowed_columns.size(), 4u);
  EXPECT_EQ(p->allowed_kinds, (std::vector<QueryKind>{QueryKind::kCount, QueryKind::kMean, QueryKind::kHistogram}));
  EXPECT_EQ(p->max_epsilon_per_query, 1.0);
  EXPECT_EQ(p->min_rows_at_least, 20u);
  EXPECT_EQ(p->min_parties_at_least, 2u);
  EXPECT_FALSE(p->allow_exact);
  // The caller's own key is still unread: Finish() reports it until the caller reads it.
  EXPECT_FALSE((*table)->Finish());
  std::string path;
  ASSERT_TRUE((*table)->Get("table", path));
  EXPECT_TRUE((*table)->Finish());
}

TEST(PartyPolicyTest, DefaultsAreConservative) {
  auto p = PolicyFrom("[analytics]\nallowed_columns = [\"a\"]\nallowed_kinds = [\"count\"]\n");
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->max_epsilon_per_query, 1.0);
  EXPECT_EQ(p->min_rows_at_least, 10u);
  EXPECT_EQ(p->min_parties_at_least, 1u);
  EXPECT_FALSE(p->allow_exact);
}

TEST(PartyPolicyTest, MalformedPoliciesNameTheKey) {
  struct Case {
    const char* text;
    const char* fragment;
  } cases[] = {
      {"[analytics]\nallowed_kinds = [\"count\"]\n", "analytics.allowed_columns"},
      {"[analytics]\nallowed_columns = [\"a\"]\n", "analytics.allowed_kinds"},
      {"[analytics]\nallowed_columns = [\"a\"]\nallowed_kinds = [\"median\"]\n", "unknown query kind 'median'"},
      {"[analytics]\nallowed_columns = [\"a\", \"a\"]\nallowed_kinds = [\"count\"]\n", "twice"},
      {"[analytics]\nallowed_columns = [\"a\"]\nallowed_kinds = [\"count\"]\nmax_epsilon_per_query = 0\n",
       "analytics.max_epsilon_per_query"},
      {"[analytics]\nallowed_columns = [\"a\"]\nallowed_kinds = [\"count\"]\nmin_rows_at_least = 0\n",
       "analytics.min_rows_at_least"},
  };
  for (const auto& c : cases) {
    auto p = PolicyFrom(c.text);
    ASSERT_FALSE(p) << c.text;
    EXPECT_NE(p.error().message().find(c.fragment), std::string::npos) << p.error().message();
    EXPECT_NE(p.error().message().find("bank-1.toml"), std::string::npos) << p.error().message();
  }
}

TEST(PartyPolicyTest, AllowedQueryPasses) {
  auto p = PolicyFrom(kPolicy);
  ASSERT_TRUE(p);
  EXPECT_TRUE(CheckQueryAllowed(FraudRate(), *p));
}

TEST(PartyPolicyTest, ForbiddenQueriesAreRefusedWithAReason) {
  auto p = PolicyFrom(kPolicy);
  ASSERT_TRUE(p);
  struct Case {
    const char* label;
    std::function<void(QuerySpec&)> change;
    const char* reason;
  } cases[] = {
      {"value column", [](QuerySpec& s) { s.column = "salary"; }, "column 'salary' is not in this party's allowed_columns"},
      {"group column", [](QuerySpec& s) { s.group_by = "customer_id"; }, "column 'customer_id'"},
      {"predicate column", [](QuerySpec& s) { s.where[0].column = "zip"; }, "column 'zip'"},
      {"kind", [](QuerySpec& s) { s.kind = QueryKind::kVariance; }, "kind 'variance' is not in this party's allowed_kinds"},
      {"epsilon", [](QuerySpec& s) { s.epsilon = 2.0; }, "epsilon 2 is above this party's max_epsilon_per_query 1"},
      {"min_rows", [](QuerySpec& s) { s.min_rows = 5; }, "min_rows 5 is below this party's min_rows_at_least 20"},
      {"min_parties", [](QuerySpec& s) { s.min_parties = 1; s.min_rows_per_party = 0; },
       "min_parties 1 is below this party's min_parties_at_least 2"},
      {"exact", [](QuerySpec& s) { s.noise = false; }, "noise = false"},
  };
  for (const auto& c : cases) {
    QuerySpec s = FraudRate();
    c.change(s);
    auto st = CheckQueryAllowed(s, *p);
    ASSERT_FALSE(st) << c.label;
    EXPECT_EQ(st.error().code(), ErrorCode::kPermissionDenied) << c.label;
    EXPECT_NE(st.error().message().find("query 'fraud_rate_by_category'"), std::string::npos) << st.error().message();
    EXPECT_NE(st.error().message().find(c.reason), std::string::npos) << c.label << ": " << st.error().message();
  }
}

TEST(PartyPolicyTest, ExactQueriesNeedAllowExact) {
  auto p = PolicyFrom(std::string(kPolicy) + "allow_exact = true\n");
  ASSERT_TRUE(p);
  QuerySpec s = FraudRate();
  s.noise = false;
  s.epsilon = 50;  // not charged without noise: the ε limit does not apply
  EXPECT_TRUE(CheckQueryAllowed(s, *p));
}

}  // namespace
}  // namespace cairn::analytics
