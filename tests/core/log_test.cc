#include "common/core/log.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace cairn::log {
namespace {

TEST(Log, JsonCarriesAllowlistedFieldsOnly) {
  std::string line = Render(Format::kJson, Level::kInfo, "aggregator", "round_done",
                            {{"round", 3}, {"epsilon", 1.5}, {"secret_value", "leak"}}, 1000);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["event"], "round_done");
  EXPECT_EQ(j["round"], 3);
  EXPECT_EQ(j["epsilon"], 1.5);
  EXPECT_FALSE(j.contains("secret_value"));
  EXPECT_EQ(j["dropped_fields"], 1);
  EXPECT_EQ(line.find("leak"), std::string::npos);
}

TEST(Log, TextQuotesStringsWithSpaces) {
  std::string line = Render(Format::kText, Level::kWarn, "participant", "refused",
                            {{"reason", "sim not allowed"}, {"round", 2}}, 0);
  EXPECT_NE(line.find("warn participant: refused reason=\"sim not allowed\" round=2"), std::string::npos) << line;
}

// Review item 3: a peer's text (a decline reason, a query name in a rejection detail) that is not
// UTF-8 must not throw out of the text format (it used a strict dump); control characters are
// quoted so no line can be forged.
TEST(Log, TextFormatNeverThrowsOnInvalidUtf8) {
  std::string line;
  ASSERT_NO_THROW(line = Render(Format::kText, Level::kWarn, "aggregator", "analytics_declined",
                                {{"reason", "policy \xff rule"}, {"query", "q\xfe"}}, 0));
  EXPECT_NE(line.find("reason=\"policy \xEF\xBF\xBD rule\""), std::string::npos) << line;
  EXPECT_NE(line.find("query=\"q\xEF\xBF\xBD\""), std::string::npos) << line;
  ASSERT_NO_THROW(line = Render(Format::kJson, Level::kWarn, "aggregator", "analytics_declined",
                                {{"reason", "policy \xff rule"}}, 0));
  EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  line = Render(Format::kText, Level::kWarn, "aggregator", "x", {{"reason", "a\rfake=1"}, {"query", "plain_name"}}, 0);
  EXPECT_NE(line.find("reason=\"a\\rfake=1\""), std::string::npos) << line;
  EXPECT_NE(line.find("query=plain_name"), std::string::npos) << line;
}

}  // namespace
}  // namespace cairn::log
