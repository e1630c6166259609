// Whole-file reads and crash-safe writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn {

// Reads a whole file; refuses files larger than max_bytes (a bound on untrusted input).
Result<Bytes> ReadFileBytes(const std::filesystem::path& path,
                            std::uint64_t max_bytes = 256ull << 20);
Result<std::string> ReadFileText(const std::filesystem::path& path,
                                 std::uint64_t max_bytes = 64ull << 20);

// Writes atomically: a temporary file beside the target, fsync, rename, fsync of the folder.
// A crash leaves either the old file or the new one, never a mix. `mode` applies to the new file.
Status WriteFileAtomic(const std::filesystem::path& path, ByteSpan data, unsigned mode = 0644);
inline Status WriteFileAtomic(const std::filesystem::path& path, std::string_view text,
                              unsigned mode = 0644) {
  return WriteFileAtomic(path, AsBytes(text), mode);
}

// Appends one line (a '\n' is added) and fsyncs; for JSON-lines logs of signed results.
Status AppendLineDurable(const std::filesystem::path& path, std::string_view line);

// Creates the folder (and parents) if missing, with the given mode.
Status EnsureDirectory(const std::filesystem::path& path, unsigned mode = 0700);

}  // namespace cairn
