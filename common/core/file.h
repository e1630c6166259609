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

// Writes a file atomically in pieces: a temporary file beside the target takes the writes;
// Commit() fsyncs it, renames it into place and fsyncs the folder. Destroyed without a successful
// Commit() (an error, an early return), it removes the temporary file and leaves the target as it
// was. Large outputs (checkpoints, model files) stream through it without a whole-file buffer.
class AtomicFileWriter {
 public:
  static Result<AtomicFileWriter> Create(const std::filesystem::path& path, unsigned mode = 0644);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  Status Write(ByteSpan data);
  std::uint64_t written() const { return written_; }
  Status Commit();

 private:
  AtomicFileWriter() = default;
  void Abandon();
  std::filesystem::path path_;
  std::string temp_;
  int fd_ = -1;
  std::uint64_t written_ = 0;
};

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
