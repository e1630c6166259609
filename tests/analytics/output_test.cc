#include "common/analytics/output.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/core/file.h"
#include "tests/analytics/test_util.h"

namespace cairn::analytics {
namespace {

std::vector<QueryResult> Sample() {
  QueryResult mean;
  mean.query = "fraud_rate_by_category";
  mean.kind = QueryKind::kMean;
  mean.column = "is_fraud";
  mean.group_by = "merchant_category";
  mean.epsilon = 0.4999999;
  mean.delta = 1e-5;
  mean.parties = 3;
  mean.tables_per_person = 1;
  mean.statistics = {{Statistic::kRows, 1, 6.5}, {Statistic::kSum, 1, 6.5}, {Statistic::kPartyRows, 1, 6.5}};
  mean.spec_json = R"({"name":"fraud_rate_by_category"})";
  GroupResult grocery;
  grocery.group = "grocery";
  grocery.rows = 23987;
  grocery.value = 0.0041;
  grocery.stddev = 0.0003;
  GroupResult crypto;
  crypto.group = "crypto, \"new\"";  // needs CSV quoting
  crypto.suppressed = true;
  crypto.suppressed_by = "parties";
  mean.groups = {grocery, crypto};

  QueryResult hist;
  hist.query = "amount_histogram";
  hist.kind = QueryKind::kHistogram;
  hist.column = "amount";
  hist.labels = {"<0", "[0,10)", "[10,20]", ">20"};
  hist.epsilon = 0.5;
  hist.delta = 1e-5;
  hist.parties = 3;
  hist.statistics = {{Statistic::kCells, 1, 4.2}};
  hist.spec_json = "{}";
  GroupResult all;
  all.rows = 100;
  all.values = {0, 40, 55, 5};
  all.stddev = 4.2;
  hist.groups = {all};

  QueryResult exact;
  exact.query = "exact_count";
  exact.kind = QueryKind::kCount;
  exact.noise = false;
  exact.epsilon = std::numeric_limits<double>::infinity();
  exact.delta = 1e-5;
  exact.parties = 1;
  exact.statistics = {{Statistic::kRows, 1, 0}};
  exact.spec_json = "{}";
  GroupResult e;
  e.rows = 7;
  e.value = 7;
  e.stddev = 0;
  exact.groups = {e};
  return {mean, hist, exact};
}

TEST(OutputJsonTest, RoundTripsThroughTheStrictReader) {
  const auto results = Sample();
  const std::string json = ResultsToJson(results);
  auto back = ResultsFromJson(json);
  ASSERT_TRUE(back) << back.error().ToString();
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ(ResultsToJson(*back), json);
  EXPECT_EQ((*back)[0].groups[0].group, "grocery");
  EXPECT_EQ((*back)[0].groups[0].value, 0.0041);
  EXPECT_TRUE((*back)[0].groups[1].suppressed);
  EXPECT_TRUE(std::isnan((*back)[0].groups[1].value));
  EXPECT_EQ((*back)[1].groups[0].group, "");
  EXPECT_EQ((*back)[1].groups[0].values, (std::vector<double>{0, 40, 55, 5}));
  EXPECT_TRUE(std::isinf((*back)[2].epsilon));  // null epsilon: noise off
  EXPECT_FALSE((*back)[2].noise);
  EXPECT_NE(json.find("\"format\": \"cairn-analytics-results/v1\""), std::string::npos);
  EXPECT_NE(json.find("\"group\": null"), std::string::npos);
}

TEST(OutputJsonTest, StrictReaderNamesTheField) {
  std::string json = ResultsToJson(Sample());
  struct Case {
    std::string from, to, fragment;
  } cases[] = {
      {"\"suppressed_by\": \"parties\"", "\"suppressed_by\": \"parties\", \"extra\": 1", "results[0].groups[1].extra is an unknown key"},
      {"cairn-analytics-results/v1", "cairn-analytics-results/v2", "format must be"},
      {"\"kind\": \"mean\"", "\"kind\": \"median\"", "results[0].kind"},
      {"\"rows\": 23987.0", "\"rows\": \"many\"", "results[0].groups[0].rows must be a number"},
      {"\"parties\": 3", "\"parties\": -3", "results[0].parties must be an unsigned"},
  };
  for (const auto& c : cases) {
    std::string bad = json;
    const auto at = bad.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from << "\n" << json;
    bad.replace(at, c.from.size(), c.to);
    auto r = ResultsFromJson(bad);
    ASSERT_FALSE(r) << c.to;
    EXPECT_NE(r.error().message().find(c.fragment), std::string::npos) << r.error().message();
  }
  EXPECT_FALSE(ResultsFromJson("not json"));
  EXPECT_FALSE(ResultsFromJson(std::string(kMaxResultsJsonBytes + 1, ' ')));
}

TEST(OutputCsvTest, OneRowPerGroupAndStatistic) {
  const auto rows = ResultsCsvRows(Sample());
  EXPECT_EQ(ResultsCsvHeader(), (std::vector<std::string>{"query", "kind", "group", "statistic", "value", "stddev", "rows",
                                                           "suppressed", "suppressed_by", "epsilon", "delta"}));
  ASSERT_EQ(rows.size(), 2u + 4u + 1u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"fraud_rate_by_category", "mean", "grocery", "mean", "0.0041", "0.0003",
                                               "23987", "false", "", "0.4999999", "1e-05"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"fraud_rate_by_category", "mean", "crypto, \"new\"", "mean", "", "", "",
                                               "true", "parties", "0.4999999", "1e-05"}));
  EXPECT_EQ(rows[3], (std::vector<std::string>{"amount_histogram", "histogram", "", "[0,10)", "40", "4.2", "100", "false",
                                               "", "0.5", "1e-05"}));
  EXPECT_EQ(rows[6][9], "inf");
}

class OutputFileTest : public testing::TempDirTest {};

TEST_F(OutputFileTest, WritesCsvThatReadsBackAndJson) {
  const auto csv = dir_ / "analytics.csv";
  ASSERT_TRUE(WriteResultsCsv(csv, Sample()));
  auto t = Table::Load(csv);
  ASSERT_TRUE(t) << t.error().ToString();
  EXPECT_EQ(t->num_rows(), 7u);
  EXPECT_EQ(t->cell(1, 2), "crypto, \"new\"");
  const auto json = dir_ / "analytics.json";
  ASSERT_TRUE(WriteResultsJson(json, Sample()));
  auto text = ReadFileText(json);
  ASSERT_TRUE(text);
  EXPECT_TRUE(ResultsFromJson(*text));
}

TEST(OutputTableTest, ShowsValuesNoiseRowsAndSuppression) {
  const std::string table = FormatTable(Sample());
  EXPECT_NE(table.find("fraud_rate_by_category  grocery"), std::string::npos) << table;
  EXPECT_NE(table.find("suppressed (parties)"), std::string::npos) << table;
  EXPECT_NE(table.find("[10,20]"), std::string::npos) << table;
  EXPECT_NE(table.find("(all)"), std::string::npos) << table;
  EXPECT_NE(table.find("exact"), std::string::npos) << table;
  // One line per released statistic, one per suppressed group, plus the header.
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 1 + 2 + 4 + 1);
}

}  // namespace
}  // namespace cairn::analytics
