#include "tests/support/process.h"

#include <cstdlib>

namespace cairn::testing_support {

std::filesystem::path BinDir() {
  const char* v = std::getenv("CAIRN_BIN_DIR");
  return v && *v ? std::filesystem::path(v) : std::filesystem::path(CAIRN_TEST_BIN_DIR);
}

std::filesystem::path SourceDir() {
  const char* v = std::getenv("CAIRN_SOURCE_DIR");
  return v && *v ? std::filesystem::path(v) : std::filesystem::path(CAIRN_TEST_SOURCE_DIR);
}

}  // namespace cairn::testing_support
