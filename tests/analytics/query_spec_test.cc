#include "common/analytics/query_spec.h"

#include <gtest/gtest.h>

#include "tests/analytics/test_util.h"

namespace cairn::analytics {
namespace {

using testing::ParseOne;
using testing::ParseSpecs;

const char* kBriefExample = R"(
[federation]
id = "x"

[[queries]]
name = "fraud_rate_by_category"
kind = "mean"
column = "is_fraud"
group_by = "merchant_category"
groups = ["grocery", "travel"]
where = [ { column = "amount", op = ">=", value = 10.0 }, { column = "country", op = "in", values = ["DE","FR"] } ]
clamp = [0.0, 1.0]
epsilon = 0.5
min_rows = 20
min_parties = 2

[[queries]]
name = "amount_quantiles"
kind = "quantiles"
column = "amount"
clamp = [0, 1000]
quantiles = [0.5, 0.9]
epsilon = 0.25

[[queries]]
name = "amount_histogram"
kind = "histogram"
column = "amount"
bins = [0, 10, 50, 100, 500, 1000]
epsilon = 0.5
max_tables_per_person = 1
)";

TEST(QuerySpecTest, ParsesTheBriefExampleWithDefaultsResolved) {
  auto specs = ParseSpecs(kBriefExample);
  ASSERT_TRUE(specs) << specs.error().ToString();
  ASSERT_EQ(specs->size(), 3u);
  const QuerySpec& m = (*specs)[0];
  EXPECT_EQ(m.name, "fraud_rate_by_category");
  EXPECT_EQ(m.kind, QueryKind::kMean);
  EXPECT_EQ(m.column, "is_fraud");
  EXPECT_EQ(m.group_by, "merchant_category");
  EXPECT_EQ(m.groups, (std::vector<std::string>{"grocery", "travel"}));
  ASSERT_EQ(m.where.size(), 2u);
  EXPECT_EQ(m.where[0].column, "amount");
  EXPECT_EQ(m.where[0].op, CompareOp::kGe);
  EXPECT_EQ(m.where[0].operands, (std::vector<Literal>{10.0}));
  EXPECT_EQ(m.where[1].op, CompareOp::kIn);
  EXPECT_EQ(m.where[1].operands, (std::vector<Literal>{std::string("DE"), std::string("FR")}));
  ASSERT_TRUE(m.clamp);
  EXPECT_EQ(*m.clamp, (Range{0.0, 1.0}));
  EXPECT_EQ(m.epsilon, 0.5);
  EXPECT_TRUE(m.noise);
  EXPECT_EQ(m.min_rows, 20u);
  EXPECT_EQ(m.min_parties, 2u);
  EXPECT_EQ(m.min_rows_per_party, 10u);  // ⌈20 / 2⌉
  EXPECT_EQ(m.max_tables_per_person, 0u);
  EXPECT_EQ(m.num_groups(), 2u);
  EXPECT_EQ(m.num_cells(), 0u);
  EXPECT_EQ(m.ReferencedColumns(), (std::vector<std::string>{"is_fraud", "merchant_category", "amount", "country"}));

  const QuerySpec& q = (*specs)[1];
  EXPECT_EQ(q.grid_bins, kDefaultGridBins);
  EXPECT_EQ(q.min_rows_per_party, 0u);
  EXPECT_EQ(q.num_cells(), 100u);
  const auto edges = q.CellEdges();
  ASSERT_EQ(edges.size(), 101u);
  EXPECT_EQ(edges.front(), 0.0);
  EXPECT_EQ(edges[1], 10.0);
  EXPECT_EQ(edges.back(), 1000.0);
  EXPECT_EQ(QuantileLabels(q), (std::vector<std::string>{"p50", "p90"}));

  const QuerySpec& h = (*specs)[2];
  EXPECT_EQ(h.num_cells(), 7u);  // 5 bins + underflow + overflow
  EXPECT_EQ(h.max_tables_per_person, 1u);
  EXPECT_EQ(CellLabels(h), (std::vector<std::string>{"<0", "[0,10)", "[10,50)", "[50,100)", "[100,500)",
                                                      "[500,1000]", ">1000"}));
}

TEST(QuerySpecTest, CanonicalReEmissionParsesToTheSameSpecs) {
  auto original = TomlReader::ParseString(kBriefExample, "fed.toml");
  ASSERT_TRUE(original);
  auto specs = ParseQueries(*original);
  ASSERT_TRUE(specs) << specs.error().ToString();
  const std::string canonical = original->CanonicalText({"server"});
  auto again = ParseSpecs(canonical, "attested");
  ASSERT_TRUE(again) << again.error().ToString() << "\n" << canonical;
  EXPECT_EQ(*again, *specs);
  for (std::size_t i = 0; i < specs->size(); ++i) {
    EXPECT_EQ(QuerySpecToJson((*again)[i]), QuerySpecToJson((*specs)[i]));
  }
  // And the canonical text is a fixed point.
  auto reparsed = TomlReader::ParseString(canonical, "attested");
  ASSERT_TRUE(reparsed);
  EXPECT_EQ(reparsed->CanonicalText({}), canonical);
}

TEST(QuerySpecTest, CanonicalJsonDiffersWhenAnyFieldDiffers) {
  QuerySpec a = ParseOne(R"([[queries]]
name = "q"
kind = "sum"
column = "x"
clamp = [0, 1]
epsilon = 1
)");
  QuerySpec b = a;
  b.clamp->high = 2;
  QuerySpec c = a;
  c.epsilon = 0.5;
  EXPECT_NE(QuerySpecToJson(a), QuerySpecToJson(b));
  EXPECT_NE(QuerySpecToJson(a), QuerySpecToJson(c));
  EXPECT_EQ(QuerySpecToJson(a), QuerySpecToJson(QuerySpec(a)));
}

TEST(QuerySpecTest, AbsentQueriesAndEmptyWhereAreFine) {
  auto none = ParseSpecs("[federation]\nid = \"x\"\n");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  QuerySpec s = ParseOne(R"([[queries]]
name = "c"
kind = "count"
where = []
epsilon = 1
)");
  EXPECT_TRUE(s.where.empty());
  EXPECT_EQ(s.kind, QueryKind::kCount);
}

TEST(QuerySpecTest, NoiseFalseNeedsNoEpsilon) {
  QuerySpec s = ParseOne(R"([[queries]]
name = "c"
kind = "count"
noise = false
)");
  EXPECT_FALSE(s.noise);
  EXPECT_EQ(s.epsilon, 0.0);
}

struct BadSpec {
  const char* label;
  const char* body;           // the fields of one [[queries]] table after name = "q1"
  const char* field;          // expected key path in the message
  const char* what;           // expected fragment of the message
};

class MalformedSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(MalformedSpecTest, IsRejectedNamingFileQueryAndField) {
  const BadSpec& c = GetParam();
  // A valid first query, so the bad one is queries[1]: the index in the message is checked.
  const std::string text = std::string("[[queries]]\nname = \"ok\"\nkind = \"count\"\nepsilon = 1\n\n") +
                           "[[queries]]\nname = \"q1\"\n" + c.body + "\n";
  auto specs = ParseSpecs(text, "bank-fed.toml");
  ASSERT_FALSE(specs) << c.label;
  const std::string msg = specs.error().message();
  EXPECT_EQ(specs.error().code(), ErrorCode::kInvalidArgument) << msg;
  EXPECT_NE(msg.find("bank-fed.toml"), std::string::npos) << c.label << ": " << msg;
  EXPECT_NE(msg.find("query 'q1' (queries[1])"), std::string::npos) << c.label << ": " << msg;
  EXPECT_NE(msg.find(c.field), std::string::npos) << c.label << ": " << msg;
  EXPECT_NE(msg.find(c.what), std::string::npos) << c.label << ": " << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedSpecTest,
    ::testing::Values(
        BadSpec{"missing kind", "column = \"x\"\nepsilon = 1", "queries[1].kind", "missing"},
        BadSpec{"unknown kind", "kind = \"median\"\nepsilon = 1", "queries[1].kind", "is not one of"},
        BadSpec{"unknown key", "kind = \"count\"\nepsilom = 1\nepsilon = 1", "queries[1].epsilom", "unknown key"},
        BadSpec{"mean without clamp", "kind = \"mean\"\ncolumn = \"x\"\nepsilon = 1", "queries[1].clamp", "is required"},
        BadSpec{"clamp reversed", "kind = \"sum\"\ncolumn = \"x\"\nclamp = [1, 0]\nepsilon = 1", "queries[1].clamp", "low < high"},
        BadSpec{"clamp one number", "kind = \"sum\"\ncolumn = \"x\"\nclamp = [1]\nepsilon = 1", "queries[1].clamp", "[low, high]"},
        BadSpec{"clamp strings", "kind = \"sum\"\ncolumn = \"x\"\nclamp = [\"a\", \"b\"]\nepsilon = 1", "queries[1].clamp", "must be a number"},
        BadSpec{"count with column", "kind = \"count\"\ncolumn = \"x\"\nepsilon = 1", "queries[1].column", "not used"},
        BadSpec{"sum without column", "kind = \"sum\"\nclamp = [0, 1]\nepsilon = 1", "queries[1].column", "is required"},
        BadSpec{"histogram without bins", "kind = \"histogram\"\ncolumn = \"x\"\nepsilon = 1", "queries[1].bins", "is required"},
        BadSpec{"histogram with clamp", "kind = \"histogram\"\ncolumn = \"x\"\nbins = [0, 1]\nclamp = [0, 1]\nepsilon = 1", "queries[1].clamp", "not used"},
        BadSpec{"bins not increasing", "kind = \"histogram\"\ncolumn = \"x\"\nbins = [0, 10, 10]\nepsilon = 1", "queries[1].bins", "strictly increasing"},
        BadSpec{"one bin edge", "kind = \"histogram\"\ncolumn = \"x\"\nbins = [0]\nepsilon = 1", "queries[1].bins", "2 to"},
        BadSpec{"quantiles without levels", "kind = \"quantiles\"\ncolumn = \"x\"\nclamp = [0, 1]\nepsilon = 1", "queries[1].quantiles", "must list"},
        BadSpec{"quantile level above 1", "kind = \"quantiles\"\ncolumn = \"x\"\nclamp = [0, 1]\nquantiles = [0.5, 1.5]\nepsilon = 1", "queries[1].quantiles", "[0, 1]"},
        BadSpec{"quantiles clamp and bins", "kind = \"quantiles\"\ncolumn = \"x\"\nclamp = [0, 1]\nbins = [0, 1]\nquantiles = [0.5]\nepsilon = 1", "queries[1].clamp", "give one"},
        BadSpec{"grid_bins with bins", "kind = \"quantiles\"\ncolumn = \"x\"\nbins = [0, 1, 2]\ngrid_bins = 10\nquantiles = [0.5]\nepsilon = 1", "queries[1].grid_bins", "only"},
        BadSpec{"group_by without groups", "kind = \"count\"\ngroup_by = \"c\"\nepsilon = 1", "queries[1].group_by", "needs groups"},
        BadSpec{"groups without group_by", "kind = \"count\"\ngroups = [\"a\"]\nepsilon = 1", "queries[1].groups", "needs group_by"},
        BadSpec{"duplicate group", "kind = \"count\"\ngroup_by = \"c\"\ngroups = [\"a\", \"a\"]\nepsilon = 1", "queries[1].groups", "twice"},
        BadSpec{"unknown op", "kind = \"count\"\nwhere = [ { column = \"a\", op = \"~\", value = 1 } ]\nepsilon = 1", "queries[1].where[0].op", "is not one of"},
        BadSpec{"ordering on a string", "kind = \"count\"\nwhere = [ { column = \"a\", op = \"<\", value = \"b\" } ]\nepsilon = 1", "queries[1].where[0].op", "compares numbers"},
        BadSpec{"in with value", "kind = \"count\"\nwhere = [ { column = \"a\", op = \"in\", value = 1 } ]\nepsilon = 1", "queries[1].where[0].value", "not used by op \"in\""},
        BadSpec{"in mixed types", "kind = \"count\"\nwhere = [ { column = \"a\", op = \"in\", values = [1, \"b\"] } ]\nepsilon = 1", "queries[1].where[0].values", "numbers or an array of strings"},
        BadSpec{"predicate unknown key", "kind = \"count\"\nwhere = [ { column = \"a\", op = \"=\", value = 1, negate = true } ]\nepsilon = 1", "queries[1].where[0].negate", "unknown key"},
        BadSpec{"predicate without column", "kind = \"count\"\nwhere = [ { op = \"=\", value = 1 } ]\nepsilon = 1", "queries[1].where[0].column", "missing"},
        BadSpec{"where not tables", "kind = \"count\"\nwhere = [1, 2]\nepsilon = 1", "queries[1].where", "array of tables"},
        BadSpec{"epsilon missing", "kind = \"count\"", "queries[1].epsilon", "required"},
        BadSpec{"epsilon zero", "kind = \"count\"\nepsilon = 0", "queries[1].epsilon", "must be > 0"},
        BadSpec{"epsilon huge", "kind = \"count\"\nepsilon = 1000", "queries[1].epsilon", "outside"},
        BadSpec{"epsilon a string", "kind = \"count\"\nepsilon = \"1\"", "queries[1].epsilon", "must be a number"},
        BadSpec{"min_rows zero", "kind = \"count\"\nepsilon = 1\nmin_rows = 0", "queries[1].min_rows", "outside"},
        BadSpec{"min_rows_per_party without parties", "kind = \"count\"\nepsilon = 1\nmin_rows_per_party = 5", "queries[1].min_rows_per_party", "min_parties >= 2"},
        BadSpec{"max_tables_per_person zero", "kind = \"count\"\nepsilon = 1\nmax_tables_per_person = 0", "queries[1].max_tables_per_person", "outside"}),
    [](const ::testing::TestParamInfo<BadSpec>& param_info) {
      std::string n = param_info.param.label;
      for (char& c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return n;
    });

TEST(QuerySpecTest, BadNamesAreRejected) {
  for (const char* name : {"has space", "", "semi;colon", "a-very-long-name-that-goes-on-and-on-and-on-beyond-sixty-four-bytes-x"}) {
    auto specs = ParseSpecs(std::string("[[queries]]\nname = \"") + name + "\"\nkind = \"count\"\nepsilon = 1\n");
    ASSERT_FALSE(specs) << name;
    EXPECT_NE(specs.error().message().find("fed.toml:2: key 'queries[0].name'"), std::string::npos)
        << specs.error().message();
  }
}

TEST(QuerySpecTest, TooManyNumbersPerPartialAreRejected) {
  // 17 groups x (3 + 4002 cells) > kMaxPartialCells.
  std::string bins;
  for (int i = 0; i <= 4000; ++i) bins += (i ? "," : "") + std::to_string(i);
  std::string groups;
  for (int g = 0; g < 17; ++g) groups += std::string(g ? "," : "") + "\"g" + std::to_string(g) + "\"";
  auto specs = ParseSpecs("[[queries]]\nname = \"big\"\nkind = \"histogram\"\ncolumn = \"x\"\ngroup_by = \"g\"\ngroups = [" +
                          groups + "]\nbins = [" + bins + "]\nepsilon = 1\n");
  ASSERT_FALSE(specs);
  EXPECT_NE(specs.error().message().find("queries[0].groups"), std::string::npos) << specs.error().message();
  EXPECT_NE(specs.error().message().find("above the limit of 65536"), std::string::npos) << specs.error().message();
}

TEST(QuerySpecTest, DuplicateNamesAreRejectedNamingBothQueries) {
  auto specs = ParseSpecs(R"([[queries]]
name = "dup"
kind = "count"
epsilon = 1

[[queries]]
name = "dup"
kind = "count"
epsilon = 1
)");
  ASSERT_FALSE(specs);
  EXPECT_NE(specs.error().message().find("queries[1]"), std::string::npos) << specs.error().message();
  EXPECT_NE(specs.error().message().find("queries[0]"), std::string::npos) << specs.error().message();
  EXPECT_NE(specs.error().message().find("fed.toml:7"), std::string::npos) << specs.error().message();
}

TEST(QuerySpecTest, TooManyQueriesAreRejected) {
  std::string text;
  for (std::size_t i = 0; i <= kMaxQueries; ++i) {
    text += "[[queries]]\nname = \"q" + std::to_string(i) + "\"\nkind = \"count\"\nepsilon = 1\n";
  }
  auto specs = ParseSpecs(text);
  ASSERT_FALSE(specs);
  EXPECT_NE(specs.error().message().find("above the limit of 64"), std::string::npos) << specs.error().message();
}

TEST(QuerySpecTest, ErrorsCarryTheLineOfTheField) {
  auto specs = ParseSpecs(R"([[queries]]
name = "q"
kind = "sum"
column = "x"
clamp = [5, 1]
epsilon = 1
)");
  ASSERT_FALSE(specs);
  EXPECT_NE(specs.error().message().find("fed.toml:5: key 'queries[0].clamp'"), std::string::npos)
      << specs.error().message();
}

TEST(QuerySpecTest, ValidateNamesQueryAndFieldForSpecsBuiltInCode) {
  QuerySpec s;
  s.name = "built";
  s.kind = QueryKind::kMean;
  s.column = "x";
  s.epsilon = 1;
  auto st = ValidateQuerySpec(s);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("query 'built': field 'clamp'"), std::string::npos) << st.error().message();
  s.clamp = Range{0, 1};
  EXPECT_TRUE(ValidateQuerySpec(s));
  s.where.push_back({"country", CompareOp::kLt, {std::string("DE")}});
  st = ValidateQuerySpec(s);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("where[0].op"), std::string::npos) << st.error().message();
}

TEST(QuerySpecTest, FormatNumberIsShortestRoundTrip) {
  EXPECT_EQ(FormatNumber(10.0), "10");
  EXPECT_EQ(FormatNumber(0.1), "0.1");
  EXPECT_EQ(FormatNumber(1e-5), "1e-05");
  EXPECT_EQ(std::stod(FormatNumber(1.0 / 3.0)), 1.0 / 3.0);
}

}  // namespace
}  // namespace cairn::analytics
