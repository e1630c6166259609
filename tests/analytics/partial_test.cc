#include "common/analytics/partial.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <optional>

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
  EXPECT_NE(p.error().message().find("query 'm': bank.csv line 3 column 2 ('amount'): not a number"), std::string::npos)
      << p.error().message();
  EXPECT_EQ(p.error().message().find("SECRET"), std::string::npos) << "a cell value leaked into the message";

  // The column is checked over the whole table: a filter that excludes the bad row changes
  // nothing, and a numeric predicate on the column fails the same way.
  QuerySpec f = ParseOne(R"([[queries]]
name = "m"
kind = "sum"
column = "amount"
clamp = [0, 10]
where = [ { column = "category", op = "=", value = "a" } ]
epsilon = 1
)");
  auto filtered = ComputePartial(f, bad);
  ASSERT_FALSE(filtered);
  EXPECT_EQ(filtered.error().message(), p.error().message());
  QuerySpec c = ParseOne("[[queries]]\nname = \"m\"\nkind = \"count\"\nepsilon = 1\n"
                         "where = [ { column = \"category\", op = \"=\", value = \"a\" }, "
                         "{ column = \"amount\", op = \">\", value = 0 } ]\n");
  auto counted = ComputePartial(c, bad);
  ASSERT_FALSE(counted);
  EXPECT_EQ(counted.error().message(), p.error().message());
  // A string predicate does not read the column as numbers.
  c.where[1] = {"amount", CompareOp::kNe, {std::string("0")}};
  EXPECT_TRUE(ComputePartial(c, bad));
}

// The review's attack: a query whose filters single out one person, plus a numeric predicate on
// a text column, used to decline ("not a number") exactly when that person's row matched, and to
// send a normal partial otherwise: an exact, noiseless, uncharged membership bit.
TEST(PartialTest, TheDeclineDoesNotRevealWhetherTheTargetedRowMatches) {
  const QuerySpec attack = ParseOne(R"([[queries]]
name = "probe"
kind = "count"
where = [ { column = "name", op = "=", value = "Alice" },
          { column = "diagnosis", op = "=", value = "HIV" },
          { column = "diagnosis", op = ">=", value = 0.0 } ]
epsilon = 1
)");
  auto table = [](const std::string& alice) {
    return MakeTable("ward.csv", {"name", "diagnosis"}, {{"Bob", "flu"}, {"Alice", alice}, {"Carol", "asthma"}});
  };
  auto with_hiv = ComputePartial(attack, table("HIV"));       // the row matches every string filter
  auto with_number = ComputePartial(attack, table("2.5"));    // the row holds a number there
  auto with_other = ComputePartial(attack, table("measles"));  // the row does not match
  ASSERT_EQ(with_hiv.has_value(), with_number.has_value());
  ASSERT_EQ(with_hiv.has_value(), with_other.has_value());
  ASSERT_FALSE(with_hiv);  // the column is text: no query may read it as numbers
  EXPECT_EQ(with_hiv.error().message(), with_number.error().message());
  EXPECT_EQ(with_hiv.error().message(), with_other.error().message());
  EXPECT_NE(with_hiv.error().message().find("ward.csv line 2 column 2 ('diagnosis'): not a number"), std::string::npos)
      << with_hiv.error().message();
  for (const char* secret : {"HIV", "flu", "Alice", "Bob"}) {
    EXPECT_EQ(with_hiv.error().message().find(secret), std::string::npos) << secret;
  }
  // Whoever the filters name, the outcome is the same.
  for (const char* who : {"Bob", "Carol", "Nobody"}) {
    QuerySpec q = attack;
    q.where[0].operands = {std::string(who)};
    auto p = ComputePartial(q, table("HIV"));
    ASSERT_FALSE(p) << who;
    EXPECT_EQ(p.error().message(), with_hiv.error().message()) << who;
  }
}

TEST(PartialTest, AnEmptyCellInTheTargetedRowGivesAPartialLikeANumber) {
  // Numeric columns with a missing value: before, a query singling out Alice declined ("empty
  // cell") when her cell was empty and sent a partial when it held a number.
  auto table = [](const std::string& alice) {
    return MakeTable("ward.csv", {"name", "viral_load"}, {{"Bob", "120"}, {"Alice", alice}, {"Carol", "40"}});
  };
  const QuerySpec filter = ParseOne(R"([[queries]]
name = "probe"
kind = "count"
where = [ { column = "name", op = "=", value = "Alice" }, { column = "viral_load", op = ">=", value = 0.0 } ]
epsilon = 1
)");
  const QuerySpec value = ParseOne(R"([[queries]]
name = "probe"
kind = "mean"
column = "viral_load"
clamp = [0, 1000]
where = [ { column = "name", op = "=", value = "Alice" } ]
epsilon = 1
)");
  for (const QuerySpec* q : {&filter, &value}) {
    auto empty = ComputePartial(*q, table(""));
    auto number = ComputePartial(*q, table("300"));
    ASSERT_TRUE(empty) << empty.error().ToString();
    ASSERT_TRUE(number) << number.error().ToString();
    // Only the (noised) row count differs: the missing value is excluded.
    EXPECT_EQ(empty->groups[0].rows, 0u);
    EXPECT_EQ(number->groups[0].rows, 1u);
    EXPECT_TRUE(ValidatePartial(*empty, *q));
  }
}

TEST(PartialTest, EmptyCellsAreMissingValuesThatNoNumericComparisonMatches) {
  Table t = MakeTable("bank.csv", {"amount", "kind"}, {{"1.5", "a"}, {"", "a"}, {"2.5", "b"}, {"", "b"}});
  QuerySpec s = ParseOne("[[queries]]\nname = \"s\"\nkind = \"variance\"\ncolumn = \"amount\"\nclamp = [0, 10]\nepsilon = 1\n");
  auto p = ComputePartial(s, t);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->groups[0], (GroupPartial{2, 4.0, 1.5 * 1.5 + 2.5 * 2.5, {}}));
  // The pre-existing idiom (a string predicate) still selects the same rows.
  s.where.push_back({"amount", CompareOp::kNe, {std::string("")}});
  auto idiom = ComputePartial(s, t);
  ASSERT_TRUE(idiom) << idiom.error().ToString();
  EXPECT_EQ(*idiom, *p);

  auto rows_where = [&](Predicate pred) {
    QuerySpec c = ParseOne("[[queries]]\nname = \"c\"\nkind = \"count\"\nepsilon = 1\n");
    c.where = {std::move(pred)};
    auto r = ComputePartial(c, t);
    EXPECT_TRUE(r) << (r ? "" : r.error().ToString());
    return r ? r->groups[0].rows : 999u;
  };
  EXPECT_EQ(rows_where({"amount", CompareOp::kNe, {0.0}}), 2u);  // a missing value is not "!= 0"
  EXPECT_EQ(rows_where({"amount", CompareOp::kLt, {100.0}}), 2u);
  EXPECT_EQ(rows_where({"amount", CompareOp::kIn, {1.5, 2.5, 0.0}}), 2u);
  EXPECT_EQ(rows_where({"amount", CompareOp::kEq, {std::string("")}}), 2u);  // text sees them

  // Histograms and quantiles skip them as well: no cell receives a missing value.
  QuerySpec h = ParseOne("[[queries]]\nname = \"h\"\nkind = \"histogram\"\ncolumn = \"amount\"\nbins = [0, 2, 4]\nepsilon = 1\n");
  auto hp = ComputePartial(h, t);
  ASSERT_TRUE(hp) << hp.error().ToString();
  EXPECT_EQ(hp->groups[0].cells, (std::vector<std::uint64_t>{0, 1, 1, 0}));
  EXPECT_EQ(hp->groups[0].rows, 2u);

  // An all-empty column is numeric (every value missing).
  Table blank = MakeTable("bank.csv", {"amount"}, {{""}, {""}});
  s.where.clear();
  auto none = ComputePartial(s, blank);
  ASSERT_TRUE(none) << none.error().ToString();
  EXPECT_EQ(none->groups[0].rows, 0u);
}

TEST(TableTest, CheckNumberColumnLooksAtEveryRow) {
  Table t = MakeTable("t.csv", {"a", "b", "c"},
                      {{"1", "x", ""}, {"", "2", "3"}, {"2", "1e999", "+4"}, {"3", "N/A", "-5e-3"}});
  EXPECT_TRUE(t.CheckNumberColumn(0));
  EXPECT_TRUE(t.CheckNumberColumn(2));
  auto b = t.CheckNumberColumn(1);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message(), "t.csv line 2 column 2 ('b'): not a number");  // the first, in file order
  Table late = MakeTable("t.csv", {"a"}, {{"1"}, {"2"}, {"1e999"}});
  auto l = late.CheckNumberColumn(0);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().message(), "t.csv line 4 column 1 ('a'): number out of range");
}

// Property: over random tables (text, empty and numeric cells anywhere), a query's outcome (a
// partial, or the exact error message) depends only on which columns it reads as numbers, never on
// its filters: the literals, the operators, string predicates, groups.
TEST(PartialTest, WhetherAPartyDeclinesNeverDependsOnTheFilters) {
  model::DeterministicRng rng(20240917);
  const std::vector<std::string> names = {"Ann", "Ben", "Cem", "Dia", "Eve", "Fay"};
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::vector<std::string>> rows;
    const int n = 1 + static_cast<int>(rng.NextU64() % 8);
    for (int r = 0; r < n; ++r) {
      std::vector<std::string> row = {names[rng.NextU64() % names.size()]};
      for (int c = 0; c < 2; ++c) {
        const std::uint64_t kind = rng.NextU64() % 10;
        row.push_back(kind == 0 ? "text" : kind == 1 ? "" : std::to_string(static_cast<int>(rng.NextU64() % 7)));
      }
      rows.push_back(std::move(row));
    }
    Table t = MakeTable("t.csv", {"name", "x", "y"}, rows);
    // For each set of numerically read columns, every filter variant must agree.
    for (int shape = 0; shape < 4; ++shape) {
      const bool x_numeric_filter = shape & 1;
      const bool y_value = shape & 2;
      std::optional<std::string> first;  // "" for a partial, else the error message
      for (const std::string& who : {std::string("Ann"), std::string("Eve"), std::string("nobody")}) {
        for (double lit : {0.0, 3.0, 100.0}) {
          for (CompareOp op : {CompareOp::kEq, CompareOp::kNe, CompareOp::kGe, CompareOp::kLt}) {
            QuerySpec q;
            q.name = "q";
            q.epsilon = 1;
            if (y_value) {
              q.kind = QueryKind::kSum;
              q.column = "y";
              q.clamp = Range{0, 10};
            }
            q.where.push_back({"name", CompareOp::kEq, {who}});
            if (x_numeric_filter) {
              q.where.push_back({"x", op, {lit}});
            } else {
              q.where.push_back({"x", CompareOp::kNe, {std::string("text")}});
            }
            auto p = ComputePartial(q, t);
            const std::string outcome = p ? "" : p.error().message();
            if (!first) first = outcome;
            ASSERT_EQ(outcome, *first) << "trial " << trial << " shape " << shape << " who " << who << " lit " << lit;
          }
        }
      }
    }
  }
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
