#include "common/core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

namespace cairn {
namespace {

Error IoError(const std::filesystem::path& path, std::string_view what, int err) {
  return Error(ErrorCode::kIo, std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

Status WriteAll(int fd, const std::uint8_t* data, std::size_t size,
                const std::filesystem::path& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(IoError(path, "cannot write", errno));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return Ok();
}

}  // namespace

Result<Bytes> ReadFileBytes(const std::filesystem::path& path, std::uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(errno == ENOENT ? Error(ErrorCode::kNotFound, "no such file: " + path.string())
                                : IoError(path, "cannot open", errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Fail(IoError(path, "cannot stat", err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Fail(ErrorCode::kInvalidArgument, path.string() + " is a folder, not a file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return Fail(ErrorCode::kOutOfRange, path.string() + " is " + std::to_string(st.st_size) +
                                            " bytes, above the limit of " +
                                            std::to_string(max_bytes));
  }
  Bytes out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  std::uint8_t buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Fail(IoError(path, "cannot read", err));
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > max_bytes) {
      ::close(fd);
      return Fail(ErrorCode::kOutOfRange, path.string() + " grew above the limit of " +
                                              std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

Result<std::string> ReadFileText(const std::filesystem::path& path, std::uint64_t max_bytes) {
  CAIRN_ASSIGN_OR_RETURN(Bytes bytes, ReadFileBytes(path, max_bytes));
  return std::string(bytes.begin(), bytes.end());
}

Result<AtomicFileWriter> AtomicFileWriter::Create(const std::filesystem::path& path, unsigned mode) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return Fail(IoError(path, "cannot create a temporary file for", errno));
  AtomicFileWriter w;
  w.path_ = path;
  w.temp_ = std::move(tmpl);
  w.fd_ = fd;
  if (::fchmod(fd, mode) != 0) return Fail(IoError(path, "cannot set the mode of", errno));  // w cleans up
  return w;
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)), temp_(std::move(other.temp_)), fd_(other.fd_), written_(other.written_) {
  other.fd_ = -1;
  other.temp_.clear();
}

AtomicFileWriter::~AtomicFileWriter() { Abandon(); }

void AtomicFileWriter::Abandon() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
}

Status AtomicFileWriter::Write(ByteSpan data) {
  if (fd_ < 0) return Fail(ErrorCode::kFailedPrecondition, "write to " + path_.string() + " after it was closed");
  auto s = WriteAll(fd_, data.data(), data.size(), path_);
  if (!s) {
    Abandon();
    return s;
  }
  written_ += data.size();
  return Ok();
}

Status AtomicFileWriter::Commit() {
  if (fd_ < 0) return Fail(ErrorCode::kFailedPrecondition, "commit of " + path_.string() + " after it was closed");
  if (::fsync(fd_) != 0) {
    int err = errno;
    Abandon();
    return Fail(IoError(path_, "cannot fsync", err));
  }
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    Abandon();
    return Fail(IoError(path_, "cannot rename into place", err));
  }
  temp_.clear();
  std::filesystem::path dir = path_.parent_path();
  if (dir.empty()) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok();
}

Status WriteFileAtomic(const std::filesystem::path& path, ByteSpan data, unsigned mode) {
  CAIRN_ASSIGN_OR_RETURN(AtomicFileWriter w, AtomicFileWriter::Create(path, mode));
  CAIRN_RETURN_IF_ERROR(w.Write(data));
  return w.Commit();
}

Status AppendLineDurable(const std::filesystem::path& path, std::string_view line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(IoError(path, "cannot open for append", errno));
  std::string buf(line);
  buf.push_back('\n');
  auto s = WriteAll(fd, reinterpret_cast<const std::uint8_t*>(buf.data()), buf.size(), path);
  if (s && ::fsync(fd) != 0) s = Fail(IoError(path, "cannot fsync", errno));
  ::close(fd);
  return s;
}

Status EnsureDirectory(const std::filesystem::path& path, unsigned mode) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Ok();
  std::filesystem::create_directories(path, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot create folder " + path.string() + ": " + ec.message());
  ::chmod(path.c_str(), mode);
  return Ok();
}

}  // namespace cairn
