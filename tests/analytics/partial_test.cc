#include "common/analytics/partial.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>

#include "common/model/rng.h"
#include "tests/analytics/test_util.h"

namespace cairn::analytics {
namespace {

using testing::MakeTable;
using testing::ParseOne;

// --- Table ------------------------------------------------------------------------------------

TEST(TableTest, ParsesQuotedCellsBomCrlfAndBlankLines) {
  auto t = Table::Parse("\xEF\xBB\xBF" "category,amount,note\r\n\r\n\"grocery, fresh\", 12.5 ,\"say \"\"hi\"\"\"\r\ntravel,3,\n",
                        "t.csv");
  ASSERT_TRUE(t) << t.error().ToString();
  EXPECT_EQ(t->columns(), (std::vector<std::string>{"category", "amount", "note"}));
  ASSERT_EQ(t->num_rows(), 2u);
  EXPECT_EQ(t->cell(0, 0), "grocery, fresh");
  EXPECT_EQ(t->cell(0, 1), "12.5");
  EXPECT_EQ(t->cell(0, 2), "say \"hi\"");
  EXPECT_EQ(t->cell(1, 2), "");
  EXPECT_EQ(t->line(0), 3);
  EXPECT_EQ(t->line(1), 4);
  EXPECT_EQ(t->FindColumn("amount"), 1u);
  EXPECT_FALSE(t->FindColumn("missing"));
  EXPECT_EQ(t->Where(1, 1), "t.csv line 4 column 2 ('amount')");
}

TEST(TableTest, ErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* fragment;
  } cases[] = {
      {"", "t.csv: no header row"},
      {"a,b\n1,2\n3\n", "t.csv line 3: has 1 fields, the header has 2"},
      {"a,a\n", "t.csv line 1: column 2 ('a'): duplicate column name"},
      {"a,,c\n", "t.csv line 1: column 2: empty column name"},
      {"a,b\n1,\"open\n", "t.csv line 2: column 2: unclosed quote"},
  };
  for (const auto& c : cases) {
    auto t = Table::Parse(c.text, "t.csv");
    ASSERT_FALSE(t) << c.text;
    EXPECT_NE(t.error().message().find(c.fragment), std::string::npos) << t.error().message();
  }
}

TEST(TableTest, BoundsRowsColumnsAndFileSize) {
  TableOptions o;
  o.max_rows = 2;
  EXPECT_TRUE(Table::Parse("a\n1\n2\n", "t.csv", o));
  auto rows = Table::Parse("a\n1\n2\n3\n", "t.csv", o);
  ASSERT_FALSE(rows);
  EXPECT_NE(rows.error().message().find("line 4: more than 2 data rows"), std::string::npos) << rows.error().message();
  o.max_columns = 2;
  EXPECT_FALSE(Table::Parse("a,b,c\n", "t.csv", o));
}

class TableFileTest : public testing::TempDirTest {};

TEST_F(TableFileTest, LoadsAFileAndBoundsItsSize) {
  const auto path = dir_ / "bank.csv";
  std::ofstream(path) << "a,b\n1,x\n";
  auto t = Table::Load(path);
  ASSERT_TRUE(t) << t.error().ToString();
  EXPECT_EQ(t->source_name(), path.string());
  TableOptions small;
  small.max_file_bytes = 4;
  EXPECT_FALSE(Table::Load(path, small));
  EXPECT_FALSE(Table::Load(dir_ / "missing.csv"));
}

TEST(TableTest, ParseNumberCellNeverQuotesTheCell) {
  EXPECT_EQ(*ParseNumberCell("12.5"), 12.5);
  EXPECT_EQ(*ParseNumberCell("+3"), 3.0);
  EXPECT_EQ(*ParseNumberCell("-1e3"), -1000.0);
  for (const char* bad : {"", "abc-secret", "1.5x", "nan", "inf", "1e999", "++1"}) {
    auto v = ParseNumberCell(bad);
    ASSERT_FALSE(v) << bad;
    if (*bad != '\0') {
      EXPECT_EQ(v.error().message().find(bad), std::string::npos) << v.error().message();
    }
  }
}

// --- ComputePartial ---------------------------------------------------------------------------

Table Bank() {
  return MakeTable("bank.csv", {"category", "amount", "country", "is_fraud"},
                   {
                       {"grocery", "5", "DE", "0"},
                       {"grocery", "20", "DE", "1"},
                       {"grocery", "2000", "FR", "0"},   // clamped to 1000 in sums
                       {"travel", "300", "FR", "1"},
                       {"travel", "-5", "NL", "0"},      // clamped to 0
                       {"casino", "50", "DE", "1"},      // not a listed group: ignored
                       {"travel", "1000", "US", "0"},
                   });
}

TEST(PartialTest, CountsSumsAndSquaresPerListedGroupAfterFilters) {
  QuerySpec s = ParseOne(R"([[queries]]
name = "v"
kind = "variance"
column = "amount"
group_by = "category"
groups = ["grocery", "travel", "jewelry"]
where = [ { column = "country", op = "!=", value = "US" } ]
clamp = [0, 1000]
epsilon = 1
)");
  auto p = ComputePartial(s, Bank());
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->query, "v");
  EXPECT_EQ(p->kind, QueryKind::kVariance);
  ASSERT_EQ(p->groups.size(), 3u);
  EXPECT_EQ(p->groups[0], (GroupPartial{3, 5 + 20 + 1000, 25 + 400 + 1e6, {}}));
  EXPECT_EQ(p->groups[1], (GroupPartial{2, 300 + 0, 90000, {}}));
  EXPECT_EQ(p->groups[2], (GroupPartial{0, 0, 0, {}}));
  EXPECT_TRUE(ValidatePartial(*p, s));
}

TEST(PartialTest, EveryComparisonOperator) {
  auto rows_where = [](const std::string& where) {
    QuerySpec s = ParseOne("[[queries]]\nname = \"c\"\nkind = \"count\"\nepsilon = 1\nwhere = [ " + where + " ]\n");
    auto p = ComputePartial(s, Bank());
    EXPECT_TRUE(p) << (p ? "" : p.error().ToString());
    return p ? p->groups[0].rows : 999u;
  };
  EXPECT_EQ(rows_where("{ column = \"amount\", op = \"=\", value = 20 }"), 1u);
  EXPECT_EQ(rows_where("{ column = \"amount\", op = \"!=\", value = 20 }"), 6u);
  EXPECT_EQ(rows_where("{ column = \"amount\", op = \"<\", value = 20 }"), 2u);
  EXPECT_EQ(rows_where("{ column = \"amount\", op = \"<=\", value = 20 }"), 3u);
  EXPECT_EQ(rows_where("{ column = \"amount\", op = \">\", value = 300 }"), 2u);
  EXPECT_EQ(rows_where("{ column = \"amount\", op = \">=\", value = 300 }"), 3u);
  EXPECT_EQ(rows_where("{ column = \"amount\", op = \"in\", values = [5, 50, 7] }"), 2u);
  EXPECT_EQ(rows_where("{ column = \"country\", op = \"=\", value = \"DE\" }"), 3u);
  EXPECT_EQ(rows_where("{ column = \"country\", op = \"in\", values = [\"FR\", \"NL\"] }"), 3u);
  EXPECT_EQ(rows_where("{ column = \"country\", op = \"=\", value = \"DE\" }, { column = \"is_fraud\", op = \"=\", value = 1 }"), 2u);
  EXPECT_EQ(rows_where("{ column = \"country\", op = \"=\", value = \"de\" }"), 0u);  // exact bytes
}

TEST(PartialTest, HistogramUnderflowOverflowAndClosedLastBin) {
  QuerySpec s = ParseOne(R"([[queries]]
name = "h"
kind = "histogram"
column = "amount"
bins = [0, 10, 100, 1000]
epsilon = 1
)");
  auto p = ComputePartial(s, Bank());
  ASSERT_TRUE(p) << p.error().ToString();
  // -5 | 5 | 20, 50 | 300, 1000 (closed last bin) | 2000
  EXPECT_EQ(p->groups[0].cells, (std::vector<std::uint64_t>{1, 1, 2, 2, 1}));
  EXPECT_EQ(p->groups[0].rows, 7u);
  EXPECT_EQ(p->groups[0].sum, 0.0);
  EXPECT_TRUE(ValidatePartial(*p, s));
}

TEST(PartialTest, QuantileCellsClampIntoTheEdgeCells) {
  QuerySpec s = ParseOne(R"([[queries]]
name = "q"
kind = "quantiles"
column = "amount"
clamp = [0, 1000]
grid_bins = 4
quantiles = [0.5]
epsilon = 1
)");
  auto p = ComputePartial(s, Bank());
  ASSERT_TRUE(p) << p.error().ToString();
  // cells [0,250) [250,500) [500,750) [750,1000]: -5→0, 5, 20, 50 | 300 | - | 1000, 2000→1000
  EXPECT_EQ(p->groups[0].cells, (std::vector<std::uint64_t>{4, 1, 0, 2}));
}

TEST(PartialTest, MissingColumnsAndNonNumericCellsAreErrorsNamingFileLineColumn) {
  QuerySpec s = ParseOne("[[queries]]\nname = \"m\"\nkind = \"mean\"\ncolumn = \"salary\"\nclamp = [0, 1]\nepsilon = 1\n");
  auto p = ComputePartial(s, Bank());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message().find("bank.csv has no column 'salary'"), std::string::npos) << p.error().message();

  Table bad = MakeTable("bank.csv", {"category", "amount"}, {{"a", "1"}, {"b", "SECRET-42"}});
  s.column = "amount";
  p = ComputePartial(s, bad);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message().find("bank.csv line 3 column 2 ('amount'): not a number"), std::string::npos)
      << p.error().message();
  EXPECT_EQ(p.error().message().find("SECRET"), std::string::npos) << "a cell value leaked into the message";

  // Numeric predicates parse the cell too; a filtered-out row's value is never parsed.
  QuerySpec f = ParseOne(R"([[queries]]
name = "f"
kind = "sum"
column = "amount"
clamp = [0, 10]
where = [ { column = "category", op = "=", value = "a" } ]
epsilon = 1
)");
  EXPECT_TRUE(ComputePartial(f, bad));
  f.where[0] = {"amount", CompareOp::kGt, {0.0}};
  p = ComputePartial(f, bad);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message().find("line 3 column 2"), std::string::npos) << p.error().message();
}

TEST(PartialTest, AStringPredicateSkipsEmptyValuesBeforeTheyAreParsed) {
  Table t = MakeTable("bank.csv", {"amount"}, {{"1.5"}, {""}, {"2.5"}});
  QuerySpec s = ParseOne("[[queries]]\nname = \"s\"\nkind = \"sum\"\ncolumn = \"amount\"\nclamp = [0, 10]\nepsilon = 1\n");
  auto p = ComputePartial(s, t);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message().find("line 3 column 1 ('amount'): empty cell"), std::string::npos) << p.error().message();
  s.where.push_back({"amount", CompareOp::kNe, {std::string("")}});
  p = ComputePartial(s, t);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->groups[0].rows, 2u);
  EXPECT_EQ(p->groups[0].sum, 4.0);
}

// --- Wire form --------------------------------------------------------------------------------

Partial Sample() {
  Partial p;
  p.query = "amount_histogram";
  p.kind = QueryKind::kHistogram;
  p.groups = {{5, 0, 0, {1, 2, 0, 2}}, {0, 0, 0, {0, 0, 0, 0}}};
  return p;
}

TEST(PartialWireTest, RoundTripsEveryKind) {
  Partial h = Sample();
  Partial v{"v", QueryKind::kVariance, {{3, -1.5, 1e300, {}}, {1, 0.1, 0.01, {}}}};
  Partial c{"c", QueryKind::kCount, {{std::uint64_t{1} << 40, 0, 0, {}}}};
  for (const Partial& p : {h, v, c}) {
    auto bytes = EncodePartial(p);
    ASSERT_TRUE(bytes) << bytes.error().ToString();
    auto back = DecodePartial(*bytes);
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(*back, p);
  }
  auto bytes = EncodePartial(h);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->size(), 4 + 2 + 1 + 1 + 4 + h.query.size() + 4 + 4 + 2 * 8 * (3 + 4));
  EXPECT_EQ(AsChars(ByteSpan(*bytes).first(4)), "CAPT");
}

TEST(PartialWireTest, EveryTruncationAndEveryTrailingByteIsRejected) {
  auto bytes = EncodePartial(Sample());
  ASSERT_TRUE(bytes);
  for (std::size_t n = 0; n < bytes->size(); ++n) {
    auto p = DecodePartial(ByteSpan(*bytes).first(n));
    EXPECT_FALSE(p) << "truncated to " << n;
  }
  Bytes longer = *bytes;
  longer.push_back(0);
  auto p = DecodePartial(longer);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message().find("byte offset"), std::string::npos) << p.error().message();
}

TEST(PartialWireTest, HeaderFieldsAreChecked) {
  const Bytes good = *EncodePartial(Sample());
  auto corrupt = [&](std::size_t offset, std::uint8_t value) {
    Bytes b = good;
    b[offset] = value;
    return DecodePartial(b);
  };
  auto magic = corrupt(0, 'X');
  ASSERT_FALSE(magic);
  EXPECT_NE(magic.error().message().find("byte offset 0"), std::string::npos);
  auto version = corrupt(5, 2);
  ASSERT_FALSE(version);
  EXPECT_NE(version.error().message().find("version 2"), std::string::npos) << version.error().message();
  EXPECT_FALSE(corrupt(6, 0));   // kind 0
  EXPECT_FALSE(corrupt(6, 7));   // kind 7
  EXPECT_FALSE(corrupt(7, 1));   // reserved
  EXPECT_FALSE(corrupt(11, 0));  // name length 0
  EXPECT_FALSE(corrupt(11, 65)); // name length 65
  // groups = 0x7fffffff: refused before any allocation.
  const std::size_t groups_at = 12 + Sample().query.size();
  Bytes huge = good;
  huge[groups_at] = 0x7f;
  auto h = DecodePartial(huge);
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message().find("groups"), std::string::npos) << h.error().message();
  Bytes too_big(kMaxPartialBytes + 1, 0);
  auto tb = DecodePartial(too_big);
  ASSERT_FALSE(tb);
  EXPECT_NE(tb.error().message().find("above the limit"), std::string::npos);
}

TEST(PartialWireTest, RandomMutationsNeverCrashAndNeverPassValidationUnnoticed) {
  QuerySpec s = ParseOne("[[queries]]\nname = \"amount_histogram\"\nkind = \"histogram\"\ncolumn = \"x\"\nbins = [0, 1, 2]\nepsilon = 1\n");
  const Bytes good = *EncodePartial(Sample());
  model::DeterministicRng rng(5);
  int decoded = 0;
  for (int i = 0; i < 5000; ++i) {
    Bytes b = good;
    const int flips = 1 + static_cast<int>(rng.UniformInt(4));
    for (int f = 0; f < flips; ++f) b[rng.UniformInt(b.size())] = static_cast<std::uint8_t>(rng.UniformInt(256));
    if (rng.UniformInt(4) == 0) b.resize(rng.UniformInt(b.size() + 1));
    auto p = DecodePartial(b);
    if (!p) continue;
    ++decoded;
    // Whatever decodes either fits the spec exactly or is refused by ValidatePartial.
    if (ValidatePartial(*p, s)) {
      EXPECT_EQ(p->groups.size(), 2u);
      for (const auto& g : p->groups) {
        std::uint64_t total = 0;
        for (auto c : g.cells) total += c;
        EXPECT_EQ(total, g.rows);
      }
    }
  }
  EXPECT_GT(decoded, 0);
  // Random bytes of every small length.
  for (std::size_t n = 0; n < 200; ++n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng.UniformInt(256));
    (void)DecodePartial(b);
  }
}

TEST(PartialWireTest, EncodeRefusesWhatDecodeWouldRefuse) {
  Partial p = Sample();
  p.groups[1].cells.pop_back();
  EXPECT_FALSE(EncodePartial(p));
  p = Sample();
  p.query = std::string(65, 'q');
  EXPECT_FALSE(EncodePartial(p));
  p = Sample();
  p.groups.clear();
  EXPECT_FALSE(EncodePartial(p));
}

TEST(PartialValidateTest, RejectsPartialsThatDoNotFitTheSpec) {
  QuerySpec s = ParseOne(R"([[queries]]
name = "m"
kind = "mean"
column = "x"
group_by = "g"
groups = ["a", "b"]
clamp = [0, 10]
epsilon = 1
)");
  Partial ok{"m", QueryKind::kMean, {{2, 15, 0, {}}, {0, 0, 0, {}}}};
  EXPECT_TRUE(ValidatePartial(ok, s));
  struct Case {
    const char* label;
    std::function<void(Partial&)> change;
    const char* fragment;
  } cases[] = {
      {"name", [](Partial& p) { p.query = "other"; }, "is for query 'other'"},
      {"kind", [](Partial& p) { p.kind = QueryKind::kSum; }, "kind sum, expected mean"},
      {"groups", [](Partial& p) { p.groups.pop_back(); }, "1 groups, expected 2"},
      {"sum above rows x high", [](Partial& p) { p.groups[0].sum = 21; }, "group 0: sum outside"},
      {"negative sum", [](Partial& p) { p.groups[1].sum = -1; }, "group 1: sum outside"},
      {"nan", [](Partial& p) { p.groups[0].sum = std::nan(""); }, "not finite"},
      {"squares for a mean", [](Partial& p) { p.groups[0].sum_squares = 1; }, "sum_squares must be 0"},
      {"cells for a mean", [](Partial& p) { p.groups[0].cells = {1}; }, "1 cells, expected 0"},
      {"rows over the limit", [](Partial& p) { p.groups[1].rows = kMaxPartialRows + 1; }, "rows above the limit"},
  };
  for (const auto& c : cases) {
    Partial p = ok;
    c.change(p);
    auto st = ValidatePartial(p, s);
    ASSERT_FALSE(st) << c.label;
    EXPECT_NE(st.error().message().find(c.fragment), std::string::npos) << c.label << ": " << st.error().message();
  }
  QuerySpec h = ParseOne("[[queries]]\nname = \"h\"\nkind = \"histogram\"\ncolumn = \"x\"\nbins = [0, 1]\nepsilon = 1\n");
  Partial hp{"h", QueryKind::kHistogram, {{3, 0, 0, {1, 1, 1}}}};
  EXPECT_TRUE(ValidatePartial(hp, h));
  hp.groups[0].cells = {1, 1, 2};
  EXPECT_FALSE(ValidatePartial(hp, h));
  hp.groups[0].cells = {UINT64_MAX, 1, 3};
  EXPECT_FALSE(ValidatePartial(hp, h));
}

}  // namespace
}  // namespace cairn::analytics
