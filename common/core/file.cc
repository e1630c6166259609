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

Status WriteFileAtomic(const std::filesystem::path& path, ByteSpan data, unsigned mode) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return Fail(IoError(path, "cannot create a temporary file for", errno));
  auto cleanup = [&] { ::close(fd); ::unlink(tmpl.c_str()); };
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    cleanup();
    return Fail(IoError(path, "cannot set the mode of", err));
  }
  if (auto s = WriteAll(fd, data.data(), data.size(), path); !s) {
    cleanup();
    return s;
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    cleanup();
    return Fail(IoError(path, "cannot fsync", err));
  }
  ::close(fd);
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return Fail(IoError(path, "cannot rename into place", err));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok();
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
