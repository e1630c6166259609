// What the multi-process tests share: the process helper (common/process/subprocess.h, spelled
// here in this namespace) and where the build's binaries and the sources are.
#pragma once

#include <filesystem>

#include "common/process/subprocess.h"

namespace cairn::testing_support {

using process::RunOutput;
using process::RunToCompletion;
using process::Subprocess;
using process::SubprocessOptions;

// $CAIRN_BIN_DIR and $CAIRN_SOURCE_DIR when set, else this build's bin folder and source root
// (compiled in). The fallback exists because cairn_test passes its three variables as one
// ENVIRONMENT list through gtest_discover_tests, which splits it: only the first arrives.
std::filesystem::path BinDir();
std::filesystem::path SourceDir();

}  // namespace cairn::testing_support
