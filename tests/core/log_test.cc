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

}  // namespace
}  // namespace cairn::log
