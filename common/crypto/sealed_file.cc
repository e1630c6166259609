// Sealed files: libsodium crypto_secretstream_xchacha20poly1305, written atomically.
//
// Layout (all integers big-endian):
//   0   8   "CAIRNSS1"
//   8   8   plaintext length L
//   16  24  secretstream header
//   40  ..  n = max(1, ceil(L / kSealChunkBytes)) messages; message i holds
//           min(kSealChunkBytes, L - i*kSealChunkBytes) plaintext bytes + 17 bytes of overhead;
//           the last carries TAG_FINAL, the others TAG_MESSAGE.
// Every message's additional data is "cairn/sealed-file/v1" || L || aad, so the length field and
// the caller's context are authenticated, and a file's size is fully determined by L.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "common/core/bytes.h"
#include "common/core/file.h"
#include "common/crypto/crypto.h"
#include "common/crypto/internal.h"

namespace cairn::crypto {
namespace {

constexpr char kMagic[8] = {'C', 'A', 'I', 'R', 'N', 'S', 'S', '1'};
constexpr std::string_view kAadLabel = "cairn/sealed-file/v1";
constexpr std::size_t kHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;  // 24
constexpr std::size_t kOverhead = crypto_secretstream_xchacha20poly1305_ABYTES;          // 17
constexpr std::size_t kPrefixBytes = sizeof kMagic + 8 + kHeaderBytes;                  // 40
// Keeps the size arithmetic below far from overflow; no checkpoint comes near it.
constexpr std::uint64_t kMaxPlaintext = std::uint64_t{1} << 56;

static_assert(kHeaderBytes == 24 && kOverhead == 17);

std::uint64_t ChunkCount(std::uint64_t length) {
  return length == 0 ? 1 : (length + kSealChunkBytes - 1) / kSealChunkBytes;
}
std::uint64_t SealedSize(std::uint64_t length) {
  return kPrefixBytes + length + ChunkCount(length) * kOverhead;
}

Bytes ChunkAad(std::uint64_t length, ByteSpan aad) {
  Bytes out;
  out.reserve(kAadLabel.size() + 8 + aad.size());
  AppendBytes(out, AsBytes(kAadLabel));
  AppendU64(out, length);
  AppendBytes(out, aad);
  return out;
}

Status CheckKey(const SecretBytes& key, const std::string& path) {
  if (key.size() != kSealKeyBytes) {
    return Fail(ErrorCode::kInvalidArgument, "sealed file " + path + ": the sealing key must be " +
                                                 std::to_string(kSealKeyBytes) + " bytes, got " +
                                                 std::to_string(key.size()));
  }
  return Ok();
}

// Closes the descriptor on every path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Error IoError(const std::string& path, std::string_view what, int err) {
  return Error(ErrorCode::kIo,
               "sealed file " + path + ": " + std::string(what) + ": " + std::strerror(err));
}

// Reads exactly out.size() bytes at the current position; a short file is kDataLoss.
Status ReadExact(int fd, MutableByteSpan out, std::uint64_t offset, const std::string& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(IoError(path, "cannot read at byte offset " + std::to_string(offset + done),
                          errno));
    }
    if (n == 0) {
      return Fail(ErrorCode::kDataLoss, "sealed file " + path + " ends early at byte offset " +
                                            std::to_string(offset + done) +
                                            " (truncated while being read)");
    }
    done += static_cast<std::size_t>(n);
  }
  return Ok();
}

}  // namespace

// The secretstream state holds the stream key: wipe it whatever happens. Outside the anonymous
// namespace because SealedFileWriter::Impl holds one (-Wsubobject-linkage in a unity build).
namespace internal {
struct SealedStreamState {
  crypto_secretstream_xchacha20poly1305_state s;
  ~SealedStreamState() { sodium_memzero(&s, sizeof s); }
};
}  // namespace internal
using internal::SealedStreamState;

struct SealedFileWriter::Impl {
  std::string path;
  AtomicFileWriter file;
  SealedStreamState state;
  Bytes chunk_aad;
  std::uint64_t length = 0;
  std::uint64_t total_chunks = 0;
  std::uint64_t pushed_chunks = 0;
  std::uint64_t accepted = 0;  // plaintext bytes taken so far
  Bytes pending;               // plaintext of the chunk being filled (wiped after each push)
  Bytes sealed;                // one sealed chunk

  explicit Impl(AtomicFileWriter f) : file(std::move(f)) {}
  ~Impl() { Wipe(pending); }

  // Seals one chunk of plaintext (from `pending` or straight from the caller's buffer) and
  // writes it.
  Status Push(ByteSpan plain, bool final) {
    const std::uint8_t tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                   : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    sealed.resize(plain.size() + kOverhead);
    unsigned long long clen = 0;
    if (crypto_secretstream_xchacha20poly1305_push(&state.s, sealed.data(), &clen, plain.data(), plain.size(),
                                                   chunk_aad.data(), chunk_aad.size(), tag) != 0 ||
        clen != sealed.size()) {
      return Fail(ErrorCode::kInternal,
                  "sealed file " + path + ": secretstream push of chunk " + std::to_string(pushed_chunks) + " failed");
    }
    ++pushed_chunks;
    return file.Write(sealed);
  }
  Status PushPending(bool final) {
    Status s = Push(pending, final);
    Wipe(pending);
    pending.clear();
    return s;
  }
};

Result<SealedFileWriter> SealedFileWriter::Create(const SecretBytes& key, ByteSpan aad, std::uint64_t length,
                                                  const std::string& path) {
  CAIRN_RETURN_IF_ERROR(CheckKey(key, path));
  internal::EnsureSodium();
  if (length > kMaxPlaintext) {
    return Fail(ErrorCode::kOutOfRange,
                "sealed file " + path + ": plaintext of " + std::to_string(length) + " bytes is too large");
  }
  auto file = AtomicFileWriter::Create(path, 0600);
  if (!file) return Fail(std::move(file).error().Context("sealing"));
  auto impl = std::make_unique<Impl>(std::move(*file));
  impl->path = path;
  impl->length = length;
  impl->total_chunks = ChunkCount(length);
  impl->chunk_aad = ChunkAad(length, aad);
  impl->pending.reserve(std::min<std::uint64_t>(length, kSealChunkBytes));
  std::uint8_t prefix[kPrefixBytes];
  std::memcpy(prefix, kMagic, sizeof kMagic);
  StoreU64Be(prefix + 8, length);
  if (crypto_secretstream_xchacha20poly1305_init_push(&impl->state.s, prefix + 16, key.data()) != 0) {
    return Fail(ErrorCode::kInternal, "sealed file " + path + ": secretstream init_push failed");
  }
  if (auto s = impl->file.Write(ByteSpan(prefix, kPrefixBytes)); !s) return Fail(std::move(s).error().Context("sealing"));
  SealedFileWriter w;
  w.impl_ = std::move(impl);
  return w;
}

SealedFileWriter::SealedFileWriter() = default;
SealedFileWriter::SealedFileWriter(SealedFileWriter&&) noexcept = default;
SealedFileWriter::~SealedFileWriter() = default;

Status SealedFileWriter::Write(ByteSpan data) {
  Impl& w = *impl_;
  if (data.size() > w.length - w.accepted) {
    return Fail(ErrorCode::kOutOfRange, "sealed file " + w.path + ": more than the announced " +
                                            std::to_string(w.length) + " bytes were written");
  }
  while (!data.empty()) {
    // A whole chunk that is not the last one (the last carries TAG_FINAL, pushed by Commit) is
    // sealed straight from the caller's buffer: no plaintext copy.
    if (w.pending.empty() && data.size() >= kSealChunkBytes && w.accepted + kSealChunkBytes < w.length) {
      w.accepted += kSealChunkBytes;
      if (auto s = w.Push(data.first(kSealChunkBytes), false); !s) return Fail(std::move(s).error().Context("sealing"));
      data = data.subspan(kSealChunkBytes);
      continue;
    }
    const std::size_t room = kSealChunkBytes - w.pending.size();
    const std::size_t take = std::min(room, data.size());
    w.pending.insert(w.pending.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    data = data.subspan(take);
    w.accepted += take;
    // A full chunk is pushed at once unless it is the last one (which carries TAG_FINAL).
    if (w.pending.size() == kSealChunkBytes && w.accepted < w.length) {
      if (auto s = w.PushPending(false); !s) return Fail(std::move(s).error().Context("sealing"));
    }
  }
  return Ok();
}

Status SealedFileWriter::Commit() {
  Impl& w = *impl_;
  if (w.accepted != w.length) {
    return Fail(ErrorCode::kFailedPrecondition, "sealed file " + w.path + ": " + std::to_string(w.accepted) +
                                                    " of the announced " + std::to_string(w.length) +
                                                    " bytes were written");
  }
  if (auto s = w.PushPending(true); !s) return Fail(std::move(s).error().Context("sealing"));
  if (w.pushed_chunks != w.total_chunks || w.file.written() != SealedSize(w.length)) {
    return Fail(ErrorCode::kInternal, "sealed file " + w.path + ": size arithmetic mismatch");
  }
  if (auto s = w.file.Commit(); !s) return Fail(std::move(s).error().Context("sealing"));
  return Ok();
}

Status SealToFile(const SecretBytes& key, ByteSpan aad, ByteSpan plaintext, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(SealedFileWriter w, SealedFileWriter::Create(key, aad, plaintext.size(), path));
  CAIRN_RETURN_IF_ERROR(w.Write(plaintext));
  return w.Commit();
}

Result<Bytes> OpenSealedFile(const SecretBytes& key, ByteSpan aad, const std::string& path,
                             std::uint64_t max_bytes) {
  CAIRN_RETURN_IF_ERROR(CheckKey(key, path));
  internal::EnsureSodium();
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "no such sealed file: " + path);
    return Fail(IoError(path, "cannot open", errno));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return Fail(IoError(path, "cannot stat", errno));
  if (!S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInvalidArgument, "sealed file " + path + " is not a regular file");
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 16) {
    return Fail(ErrorCode::kDataLoss, "sealed file " + path + " is " + std::to_string(file_size) +
                                          " bytes, too short to be a Cairn sealed file");
  }
  std::uint8_t prefix[kPrefixBytes];
  CAIRN_RETURN_IF_ERROR(ReadExact(f.fd, MutableByteSpan(prefix, 16), 0, path));
  if (std::memcmp(prefix, kMagic, sizeof kMagic) != 0) {
    return Fail(ErrorCode::kDataLoss,
                "sealed file " + path + " does not start with the CAIRNSS1 magic");
  }
  const std::uint64_t length = LoadU64Be(prefix + 8);
  if (length > max_bytes) {
    return Fail(ErrorCode::kOutOfRange, "sealed file " + path + " holds " +
                                            std::to_string(length) +
                                            " bytes, above the limit of " +
                                            std::to_string(max_bytes));
  }
  if (length > kMaxPlaintext) {
    return Fail(ErrorCode::kDataLoss, "sealed file " + path + ": length field " +
                                          std::to_string(length) + " is implausible");
  }
  const std::uint64_t expected = SealedSize(length);
  if (file_size < expected) {
    return Fail(ErrorCode::kDataLoss,
                "sealed file " + path + " is truncated: " + std::to_string(file_size) +
                    " bytes, its length field needs " + std::to_string(expected) +
                    " (missing the final chunk or its length field is corrupt)");
  }
  if (file_size > expected) {
    return Fail(ErrorCode::kDataLoss, "sealed file " + path + " has " +
                                          std::to_string(file_size - expected) +
                                          " bytes after the end its length field gives");
  }
  CAIRN_RETURN_IF_ERROR(ReadExact(f.fd, MutableByteSpan(prefix + 16, kHeaderBytes), 16, path));

  SealedStreamState state;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&state.s, prefix + 16, key.data()) != 0) {
    return Fail(ErrorCode::kUnauthenticated,
                "sealed file " + path + ": invalid secretstream header");
  }
  const Bytes chunk_aad = ChunkAad(length, aad);
  const std::uint64_t n = ChunkCount(length);
  Bytes out(static_cast<std::size_t>(length));
  Bytes chunk(std::min<std::uint64_t>(length, kSealChunkBytes) + kOverhead);
  auto fail = [&out](Error e) -> Result<Bytes> {
    Wipe(out);  // never hand back or leave behind part of a plaintext that did not verify
    return Fail(std::move(e));
  };
  std::size_t out_off = 0;
  std::uint64_t file_off = kPrefixBytes;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::size_t m = std::min<std::size_t>(kSealChunkBytes, out.size() - out_off);
    MutableByteSpan c(chunk.data(), m + kOverhead);
    if (auto s = ReadExact(f.fd, c, file_off, path); !s) return fail(std::move(s).error());
    unsigned long long mlen = 0;
    std::uint8_t tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&state.s, out.data() + out_off, &mlen, &tag,
                                                   c.data(), c.size(), chunk_aad.data(),
                                                   chunk_aad.size()) != 0 ||
        mlen != m) {
      return fail(Error(ErrorCode::kUnauthenticated,
                        "sealed file " + path + ": chunk " + std::to_string(i) +
                            " at byte offset " + std::to_string(file_off) +
                            " failed authentication (wrong key, wrong context, or the file was "
                            "altered or reordered)"));
    }
    const bool last = i + 1 == n;
    if (last && tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
      return fail(Error(ErrorCode::kDataLoss, "sealed file " + path + ": the last chunk (" +
                                                  std::to_string(i) +
                                                  ") has no final tag: the file is truncated"));
    }
    if (!last && tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
      return fail(Error(ErrorCode::kDataLoss, "sealed file " + path + ": chunk " +
                                                  std::to_string(i) +
                                                  " carries an unexpected tag before the end"));
    }
    out_off += m;
    file_off += m + kOverhead;
  }
  return out;
}

}  // namespace cairn::crypto
