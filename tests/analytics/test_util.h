// Shared helpers of the analytics tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/analytics/query_spec.h"
#include "common/analytics/table.h"
#include "common/core/toml_reader.h"

namespace cairn::analytics::testing {

// The source root: CAIRN_SOURCE_DIR (set by cairn_test), else the path compiled in.
inline std::filesystem::path SourceDir() {
  if (const char* src = std::getenv("CAIRN_SOURCE_DIR"); src != nullptr && *src != '\0') return src;
  return CAIRN_ANALYTICS_TEST_SOURCE_DIR;
}

// Parses [[queries]] from TOML text named "fed.toml" in messages.
inline Result<std::vector<QuerySpec>> ParseSpecs(const std::string& text, const std::string& name = "fed.toml") {
  CAIRN_ASSIGN_OR_RETURN(TomlReader root, TomlReader::ParseString(text, name));
  return ParseQueries(root);
}

inline QuerySpec ParseOne(const std::string& text) {
  auto specs = ParseSpecs(text);
  EXPECT_TRUE(specs.has_value()) << (specs ? "" : specs.error().ToString());
  if (!specs || specs->size() != 1) return {};
  return specs->front();
}

inline Table MakeTable(const std::string& name, std::vector<std::string> header,
                       const std::vector<std::vector<std::string>>& rows) {
  auto t = Table::FromRows(name, std::move(header), rows);
  EXPECT_TRUE(t.has_value()) << (t ? "" : t.error().ToString());
  return std::move(*t);
}

// A per-test folder under /tmp, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-analytics-" + std::string(info->test_suite_name()) + "-" + info->name() + "-" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

}  // namespace cairn::analytics::testing
