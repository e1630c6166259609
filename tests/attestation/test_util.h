// Shared helpers for the attestation tests: per-test temp folders and the shared vectors folder.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

namespace cairn::attestation::testing {

// A fresh folder under /tmp for the running test, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("cairn-attest-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" +
             info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The source root: CAIRN_SOURCE_DIR, else the path compiled in.
inline std::filesystem::path SourceDir() {
  if (const char* src = std::getenv("CAIRN_SOURCE_DIR")) return src;
#ifdef CAIRN_ATTESTATION_TEST_SOURCE_DIR
  return CAIRN_ATTESTATION_TEST_SOURCE_DIR;
#else
  return ".";
#endif
}

// ../shared/attestation-vectors, from CAIRN_SHARED_DIR or ../shared beside the source root;
// nullopt when absent (callers GTEST_SKIP with a message).
inline std::optional<std::filesystem::path> VectorsDir() {
  std::vector<std::filesystem::path> candidates;
  if (const char* s = std::getenv("CAIRN_SHARED_DIR")) candidates.emplace_back(s);
  candidates.emplace_back(SourceDir() / ".." / "shared");
  candidates.emplace_back("../shared");
  for (const auto& c : candidates) {
    auto dir = c / "attestation-vectors";
    if (std::filesystem::exists(dir / "MANIFEST.md")) return dir;
  }
  return std::nullopt;
}

}  // namespace cairn::attestation::testing
