// Secrets, randomness, hashes, HMAC/HKDF, AEAD, Ed25519 and X25519.
#include "common/crypto/crypto.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "common/crypto/internal.h"

namespace cairn::crypto {
namespace internal {

void EnsureSodium() {
  // sodium_init() is thread-safe and idempotent; the static makes later calls free.
  static const int rc = sodium_init();
  if (rc < 0) Die("sodium_init");
}

std::string DrainOpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("no OpenSSL error recorded") : out;
}

Error OpenSslError(std::string_view what) {
  return Error(ErrorCode::kInternal, std::string(what) + " failed: " + DrainOpenSslErrors());
}

void Die(std::string_view what) {
  std::string errors = DrainOpenSslErrors();
  std::fprintf(stderr, "cairn crypto: fatal: %.*s failed (%s)\n", static_cast<int>(what.size()),
               what.data(), errors.c_str());
  std::abort();
}

void WipeRaw(void* p, std::size_t n) {
  if (n != 0) sodium_memzero(p, n);
}

namespace {

// Algorithms fetched once per process (an implicit fetch per call costs a lock and a lookup).
// Function-local statics: initialization is thread-safe; the objects live until exit.
const EVP_MD* FetchedMd(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) Die(std::string("EVP_MD_fetch ") + name);
  return md;
}
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = FetchedMd("SHA256");
  return md;
}
const EVP_MD* Sha384Md() {
  static const EVP_MD* md = FetchedMd("SHA384");
  return md;
}
const EVP_MD* Sha512Md() {
  static const EVP_MD* md = FetchedMd("SHA512");
  return md;
}
EVP_MAC* HmacMac() {
  static EVP_MAC* mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) Die("EVP_MAC_fetch HMAC");
    return m;
  }();
  return mac;
}

}  // namespace

Status HmacSha256Parts(ByteSpan key, std::span<const ByteSpan> parts,
                       std::array<std::uint8_t, 32>& out) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(HmacMac());
  if (ctx == nullptr) return Fail(OpenSslError("EVP_MAC_CTX_new"));
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  // OpenSSL's HMAC refuses a null key pointer even with length 0; an empty key is valid HMAC.
  static const std::uint8_t kEmpty = 0;
  const std::uint8_t* key_ptr = key.empty() ? &kEmpty : key.data();
  Status status = Ok();
  if (EVP_MAC_init(ctx, key_ptr, key.size(), params) != 1) {
    status = Fail(OpenSslError("EVP_MAC_init(HMAC-SHA256)"));
  }
  for (ByteSpan part : parts) {
    if (!status || part.empty()) continue;
    if (EVP_MAC_update(ctx, part.data(), part.size()) != 1) {
      status = Fail(OpenSslError("EVP_MAC_update(HMAC-SHA256)"));
    }
  }
  std::size_t out_len = 0;
  if (status && (EVP_MAC_final(ctx, out.data(), &out_len, out.size()) != 1 || out_len != 32)) {
    status = Fail(OpenSslError("EVP_MAC_final(HMAC-SHA256)"));
  }
  EVP_MAC_CTX_free(ctx);  // cleanses the keyed state
  if (!status) WipeRaw(out.data(), out.size());
  return status;
}

Status HkdfSha256ExpandParts(ByteSpan prk, std::initializer_list<ByteSpan> info_parts,
                             MutableByteSpan out) {
  if (out.size() > 255 * 32) {
    return Fail(ErrorCode::kInvalidArgument,
                "HKDF-SHA256 expand length " + std::to_string(out.size()) +
                    " is above the limit of 255*32 = 8160 bytes");
  }
  WipedArray<32> t;
  std::size_t t_len = 0;  // T(0) is empty
  std::size_t done = 0;
  for (std::uint8_t counter = 1; done < out.size(); ++counter) {
    // T(i) = HMAC(PRK, T(i-1) || info || i); info is at most a handful of parts.
    std::array<ByteSpan, 10> all{};
    std::size_t n = 0;
    all[n++] = ByteSpan(t.data(), t_len);
    for (ByteSpan p : info_parts) {
      if (n + 1 >= all.size()) {
        return Fail(ErrorCode::kInternal, "HKDF-SHA256 expand: too many info parts");
      }
      all[n++] = p;
    }
    all[n++] = ByteSpan(&counter, 1);
    Status s = HmacSha256Parts(prk, std::span<const ByteSpan>(all.data(), n), t.v);
    if (!s) {
      WipeRaw(out.data(), out.size());
      return s;
    }
    t_len = 32;
    std::size_t take = std::min<std::size_t>(32, out.size() - done);
    std::memcpy(out.data() + done, t.data(), take);
    done += take;
  }
  return Ok();
}

}  // namespace internal

using internal::Die;
using internal::OpenSslError;

Status Init() {
  if (sodium_init() < 0) return Fail(ErrorCode::kInternal, "sodium_init failed");
  internal::EnsureSodium();
  return Ok();
}

// ---------------------------------------------------------------------------------------------
// Secrets

Result<SecretBytes> SecretBytes::Allocate(std::size_t size) {
  internal::EnsureSodium();
  SecretBytes s;
  if (size == 0) return s;
  void* p = sodium_malloc(size);
  if (p == nullptr) {
    return Fail(ErrorCode::kResourceExhausted,
                "sodium_malloc of " + std::to_string(size) + " bytes of guarded memory failed");
  }
  sodium_memzero(p, size);  // sodium_malloc fills with 0xdb
  s.data_ = static_cast<std::uint8_t*>(p);
  s.size_ = size;
  return s;
}

Result<SecretBytes> SecretBytes::Random(std::size_t size) {
  CAIRN_ASSIGN_OR_RETURN(SecretBytes s, Allocate(size));
  if (size != 0) randombytes_buf(s.data_, size);
  return s;
}

Result<SecretBytes> SecretBytes::CopyFrom(ByteSpan data) {
  CAIRN_ASSIGN_OR_RETURN(SecretBytes s, Allocate(data.size()));
  if (!data.empty()) std::memcpy(s.data_, data.data(), data.size());
  return s;
}

Result<SecretBytes> SecretBytes::Clone() const { return CopyFrom(span()); }

Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, std::size_t max_bytes, bool owner_only) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Fail(ErrorCode::kNotFound, "no such file: " + path.string());
    return Fail(ErrorCode::kIo, "cannot open " + path.string() + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Fail(ErrorCode::kInvalidArgument, path.string() + " is a folder, not a file");
  }
  if (owner_only && (st.st_mode & 077) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kPermissionDenied, path.string() + " is readable by other users: chmod 600 it");
  }
  // One byte more than allowed, so that a larger file (or one growing while read) shows.
  auto buffer = SecretBytes::Allocate(max_bytes + 1);
  if (!buffer) {
    ::close(fd);
    return Fail(buffer.error());
  }
  std::size_t got = 0;
  while (got < buffer->size()) {
    const ssize_t n = ::read(fd, buffer->data() + got, buffer->size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Fail(ErrorCode::kIo, "cannot read " + path.string() + ": " + std::strerror(err));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got > max_bytes) {
    return Fail(ErrorCode::kOutOfRange,
                path.string() + " is above the limit of " + std::to_string(max_bytes) + " bytes for a key file");
  }
  return SecretBytes::CopyFrom(ByteSpan(buffer->data(), got));  // `buffer` is wiped as it goes
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) {
      sodium_memzero(data_, size_);
      sodium_free(data_);
    }
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() {
  if (data_ != nullptr) {
    sodium_memzero(data_, size_);
    sodium_free(data_);
  }
}

bool ConstantTimeEqual(ByteSpan a, ByteSpan b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void Wipe(MutableByteSpan data) {
  if (!data.empty()) sodium_memzero(data.data(), data.size());
}

void RandomBytes(MutableByteSpan out) {
  internal::EnsureSodium();
  if (!out.empty()) randombytes_buf(out.data(), out.size());
}

Bytes RandomBytes(std::size_t size) {
  Bytes out(size);
  RandomBytes(MutableByteSpan(out));
  return out;
}

std::uint32_t RandomUniform(std::uint32_t upper) {
  internal::EnsureSodium();
  return randombytes_uniform(upper);
}

// ---------------------------------------------------------------------------------------------
// Hashes

namespace {

template <std::size_t N>
std::array<std::uint8_t, N> OneShotDigest(const EVP_MD* md, ByteSpan data, const char* name) {
  std::array<std::uint8_t, N> out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != N) {
    Die(name);
  }
  return out;
}

}  // namespace

Sha256Digest Sha256(ByteSpan data) {
  return OneShotDigest<32>(internal::Sha256Md(), data, "EVP_Digest(SHA-256)");
}
Sha384Digest Sha384(ByteSpan data) {
  return OneShotDigest<48>(internal::Sha384Md(), data, "EVP_Digest(SHA-384)");
}
Sha512Digest Sha512(ByteSpan data) {
  return OneShotDigest<64>(internal::Sha512Md(), data, "EVP_Digest(SHA-512)");
}

// In `internal`, not an anonymous namespace: Sha256Hasher::Impl and Sha512Hasher::Impl hold one
// (GCC's -Wsubobject-linkage when this file is compiled in a unity batch).
namespace internal {

// Shared body of the two incremental hashers.
struct HasherCtx {
  EVP_MD_CTX* ctx = nullptr;
  HasherCtx(const EVP_MD* md, const char* name) {
    ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) Die(std::string("EVP_MD_CTX_new for ") + name);
    if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1) Die(std::string("EVP_DigestInit_ex2 ") + name);
  }
  ~HasherCtx() { EVP_MD_CTX_free(ctx); }
  HasherCtx(const HasherCtx&) = delete;
  HasherCtx& operator=(const HasherCtx&) = delete;
  void Update(ByteSpan data, const char* name) {
    if (data.empty()) return;
    if (EVP_DigestUpdate(ctx, data.data(), data.size()) != 1) {
      Die(std::string("EVP_DigestUpdate ") + name);
    }
  }
  template <std::size_t N>
  std::array<std::uint8_t, N> Finish(const char* name) {
    std::array<std::uint8_t, N> out{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != N) {
      Die(std::string("EVP_DigestFinal_ex ") + name);
    }
    return out;
  }
};

}  // namespace internal

struct Sha256Hasher::Impl {
  internal::HasherCtx h{internal::Sha256Md(), "SHA-256"};
};
Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) {}
Sha256Hasher::~Sha256Hasher() = default;
Sha256Hasher::Sha256Hasher(Sha256Hasher&&) noexcept = default;
Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&&) noexcept = default;
void Sha256Hasher::Update(ByteSpan data) {
  if (impl_ == nullptr) Die("Sha256Hasher::Update on a moved-from or finished hasher");
  impl_->h.Update(data, "SHA-256");
}
Sha256Digest Sha256Hasher::Finish() {
  if (impl_ == nullptr) Die("Sha256Hasher::Finish on a moved-from or finished hasher");
  Sha256Digest d = impl_->h.Finish<32>("SHA-256");
  impl_.reset();
  return d;
}

struct Sha512Hasher::Impl {
  internal::HasherCtx h{internal::Sha512Md(), "SHA-512"};
};
Sha512Hasher::Sha512Hasher() : impl_(std::make_unique<Impl>()) {}
Sha512Hasher::~Sha512Hasher() = default;
Sha512Hasher::Sha512Hasher(Sha512Hasher&&) noexcept = default;
Sha512Hasher& Sha512Hasher::operator=(Sha512Hasher&&) noexcept = default;
void Sha512Hasher::Update(ByteSpan data) {
  if (impl_ == nullptr) Die("Sha512Hasher::Update on a moved-from or finished hasher");
  impl_->h.Update(data, "SHA-512");
}
Sha512Digest Sha512Hasher::Finish() {
  if (impl_ == nullptr) Die("Sha512Hasher::Finish on a moved-from or finished hasher");
  Sha512Digest d = impl_->h.Finish<64>("SHA-512");
  impl_.reset();
  return d;
}

// ---------------------------------------------------------------------------------------------
// HMAC and HKDF

Sha256Digest HmacSha256(ByteSpan key, ByteSpan data) {
  Sha256Digest out{};
  if (!internal::HmacSha256Parts(key, {data}, out)) Die("HMAC-SHA256");
  return out;
}

Sha256Digest HkdfSha256Extract(ByteSpan salt, ByteSpan ikm) {
  // RFC 5869 §2.2: an absent salt is HashLen zero bytes (the same HMAC key as an empty one).
  static const std::array<std::uint8_t, 32> kZeroSalt{};
  ByteSpan key = salt.empty() ? ByteSpan(kZeroSalt) : salt;
  return HmacSha256(key, ikm);
}

Result<SecretBytes> HkdfSha256Expand(ByteSpan prk, ByteSpan info, std::size_t length) {
  if (length > 255 * 32) {
    return Fail(ErrorCode::kInvalidArgument, "HKDF-SHA256 expand length " +
                                                 std::to_string(length) +
                                                 " is above the limit of 255*32 = 8160 bytes");
  }
  if (prk.size() < 32) {
    return Fail(ErrorCode::kInvalidArgument, "HKDF-SHA256 expand: the PRK has " +
                                                 std::to_string(prk.size()) +
                                                 " bytes, at least 32 are required");
  }
  CAIRN_ASSIGN_OR_RETURN(SecretBytes out, SecretBytes::Allocate(length));
  CAIRN_RETURN_IF_ERROR(internal::HkdfSha256ExpandParts(prk, {info}, out.mutable_span()));
  return out;
}

// ---------------------------------------------------------------------------------------------
// AEAD

std::size_t AeadKeyBytes(AeadAlgorithm alg) {
  switch (alg) {
    case AeadAlgorithm::kAes128Gcm:
      return 16;
    case AeadAlgorithm::kAes256Gcm:
    case AeadAlgorithm::kChaCha20Poly1305:
      return 32;
  }
  return 0;
}

namespace {

const char* AeadName(AeadAlgorithm alg) {
  switch (alg) {
    case AeadAlgorithm::kAes128Gcm:
      return "AES-128-GCM";
    case AeadAlgorithm::kAes256Gcm:
      return "AES-256-GCM";
    case AeadAlgorithm::kChaCha20Poly1305:
      return "ChaCha20-Poly1305";
  }
  return "unknown AEAD";
}

// Fetched once per process; nullptr when the provider lacks it.
const EVP_CIPHER* FetchedCipher(AeadAlgorithm alg) {
  static const EVP_CIPHER* aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static const EVP_CIPHER* aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static const EVP_CIPHER* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  switch (alg) {
    case AeadAlgorithm::kAes128Gcm:
      return aes128;
    case AeadAlgorithm::kAes256Gcm:
      return aes256;
    case AeadAlgorithm::kChaCha20Poly1305:
      return chacha;
  }
  return nullptr;
}

bool PartiallyOverlap(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  if (n == 0 || a == b) return false;
  auto ua = reinterpret_cast<std::uintptr_t>(a);
  auto ub = reinterpret_cast<std::uintptr_t>(b);
  return ua < ub + n && ub < ua + n;
}

// EVP_CipherUpdate takes an int length: feed larger buffers in 1 GiB pieces.
constexpr std::size_t kMaxUpdate = std::size_t{1} << 30;

}  // namespace

struct Aead::Impl {
  AeadAlgorithm alg;
  EVP_CIPHER_CTX* ctx = nullptr;
  ~Impl() { EVP_CIPHER_CTX_free(ctx); }  // cleanses the key schedule

  // Sets the nonce and direction on the keyed context (no allocation), then feeds the AAD.
  Status Start(ByteSpan nonce, ByteSpan aad, int enc) {
    if (EVP_CipherInit_ex2(ctx, nullptr, nullptr, nonce.data(), enc, nullptr) != 1) {
      return Fail(OpenSslError(std::string(AeadName(alg)) + " set nonce"));
    }
    for (std::size_t off = 0; off < aad.size(); off += kMaxUpdate) {
      int n = static_cast<int>(std::min(kMaxUpdate, aad.size() - off));
      int outl = 0;
      if (EVP_CipherUpdate(ctx, nullptr, &outl, aad.data() + off, n) != 1) {
        return Fail(OpenSslError(std::string(AeadName(alg)) + " AAD"));
      }
    }
    return Ok();
  }
  Status Crypt(const std::uint8_t* in, std::size_t size, std::uint8_t* out) {
    for (std::size_t off = 0; off < size; off += kMaxUpdate) {
      int n = static_cast<int>(std::min(kMaxUpdate, size - off));
      int outl = 0;
      if (EVP_CipherUpdate(ctx, out + off, &outl, in + off, n) != 1 || outl != n) {
        return Fail(OpenSslError(std::string(AeadName(alg)) + " update"));
      }
    }
    return Ok();
  }
};

Aead::Aead(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Aead::Aead(Aead&&) noexcept = default;
Aead& Aead::operator=(Aead&&) noexcept = default;
Aead::~Aead() = default;

AeadAlgorithm Aead::algorithm() const {
  return impl_ != nullptr ? impl_->alg : AeadAlgorithm::kAes256Gcm;
}

Result<Aead> Aead::Create(AeadAlgorithm alg, ByteSpan key) {
  std::size_t key_bytes = AeadKeyBytes(alg);
  if (key_bytes == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "unknown AEAD algorithm id " + std::to_string(static_cast<unsigned>(alg)));
  }
  if (key.size() != key_bytes) {
    return Fail(ErrorCode::kInvalidArgument, std::string(AeadName(alg)) + " needs a " +
                                                 std::to_string(key_bytes) + "-byte key, got " +
                                                 std::to_string(key.size()) + " bytes");
  }
  const EVP_CIPHER* cipher = FetchedCipher(alg);
  if (cipher == nullptr) {
    return Fail(ErrorCode::kUnimplemented, std::string(AeadName(alg)) +
                                               " is not available from OpenSSL: " +
                                               internal::DrainOpenSslErrors());
  }
  auto impl = std::make_unique<Impl>();
  impl->alg = alg;
  impl->ctx = EVP_CIPHER_CTX_new();
  if (impl->ctx == nullptr) return Fail(OpenSslError("EVP_CIPHER_CTX_new"));
  if (EVP_CipherInit_ex2(impl->ctx, cipher, key.data(), nullptr, 1, nullptr) != 1) {
    return Fail(OpenSslError(std::string(AeadName(alg)) + " key setup"));
  }
  if (EVP_CIPHER_CTX_get_iv_length(impl->ctx) != static_cast<int>(kAeadNonceBytes)) {
    return Fail(ErrorCode::kInternal, std::string(AeadName(alg)) + " nonce length is not 12");
  }
  return Aead(std::move(impl));
}

Status Aead::Seal(ByteSpan nonce, ByteSpan aad, ByteSpan plaintext, MutableByteSpan out) {
  if (impl_ == nullptr) return Fail(ErrorCode::kFailedPrecondition, "Seal on a moved-from Aead");
  if (nonce.size() != kAeadNonceBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "AEAD nonce must be 12 bytes, got " + std::to_string(nonce.size()));
  }
  if (out.size() != plaintext.size() + kAeadTagBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "AEAD seal output must be plaintext + 16 = " +
                    std::to_string(plaintext.size() + kAeadTagBytes) + " bytes, got " +
                    std::to_string(out.size()));
  }
  if (PartiallyOverlap(plaintext.data(), out.data(), plaintext.size())) {
    return Fail(ErrorCode::kInvalidArgument,
                "AEAD seal: plaintext and output overlap without being in place");
  }
  Status s = impl_->Start(nonce, aad, 1);
  if (s) s = impl_->Crypt(plaintext.data(), plaintext.size(), out.data());
  int outl = 0;
  if (s && EVP_CipherFinal_ex(impl_->ctx, out.data() + plaintext.size(), &outl) != 1) {
    s = Fail(OpenSslError(std::string(AeadName(impl_->alg)) + " seal final"));
  }
  if (s && EVP_CIPHER_CTX_ctrl(impl_->ctx, EVP_CTRL_AEAD_GET_TAG, kAeadTagBytes,
                               out.data() + plaintext.size()) <= 0) {
    s = Fail(OpenSslError(std::string(AeadName(impl_->alg)) + " get tag"));
  }
  if (!s) Wipe(out);
  return s;
}

Status Aead::Open(ByteSpan nonce, ByteSpan aad, ByteSpan ciphertext, MutableByteSpan out) {
  if (impl_ == nullptr) return Fail(ErrorCode::kFailedPrecondition, "Open on a moved-from Aead");
  if (nonce.size() != kAeadNonceBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "AEAD nonce must be 12 bytes, got " + std::to_string(nonce.size()));
  }
  if (ciphertext.size() < kAeadTagBytes) {
    return Fail(ErrorCode::kInvalidArgument, "AEAD ciphertext of " +
                                                 std::to_string(ciphertext.size()) +
                                                 " bytes is shorter than the 16-byte tag");
  }
  std::size_t pt_size = ciphertext.size() - kAeadTagBytes;
  if (out.size() != pt_size) {
    return Fail(ErrorCode::kInvalidArgument, "AEAD open output must be ciphertext - 16 = " +
                                                 std::to_string(pt_size) + " bytes, got " +
                                                 std::to_string(out.size()));
  }
  if (PartiallyOverlap(ciphertext.data(), out.data(), pt_size)) {
    return Fail(ErrorCode::kInvalidArgument,
                "AEAD open: ciphertext and output overlap without being in place");
  }
  // Copy the tag first: with in-place use it sits right after `out`, and stays intact, but a
  // local copy keeps the contract simple.
  std::array<std::uint8_t, kAeadTagBytes> tag;
  std::memcpy(tag.data(), ciphertext.data() + pt_size, kAeadTagBytes);
  Status s = impl_->Start(nonce, aad, 0);
  if (s && EVP_CIPHER_CTX_ctrl(impl_->ctx, EVP_CTRL_AEAD_SET_TAG, kAeadTagBytes, tag.data()) <=
               0) {
    s = Fail(OpenSslError(std::string(AeadName(impl_->alg)) + " set tag"));
  }
  if (s) s = impl_->Crypt(ciphertext.data(), pt_size, out.data());
  if (s) {
    int outl = 0;
    if (EVP_CipherFinal_ex(impl_->ctx, out.data() + pt_size, &outl) != 1) {
      ERR_clear_error();  // a bad tag is an expected outcome, not an OpenSSL fault
      s = Fail(ErrorCode::kUnauthenticated,
               std::string(AeadName(impl_->alg)) +
                   " open: authentication tag mismatch (wrong key, nonce or AAD, or altered "
                   "ciphertext)");
    }
  }
  if (!s) Wipe(out);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Ed25519 and X25519

Result<Ed25519KeyPair> Ed25519KeyPair::Generate() {
  CAIRN_ASSIGN_OR_RETURN(SecretBytes seed, SecretBytes::Random(crypto_sign_SEEDBYTES));
  return FromSeed(seed.span());
}

Result<Ed25519KeyPair> Ed25519KeyPair::FromSeed(ByteSpan seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return Fail(ErrorCode::kInvalidArgument,
                "Ed25519 seed must be 32 bytes, got " + std::to_string(seed.size()));
  }
  Ed25519KeyPair kp;
  CAIRN_ASSIGN_OR_RETURN(kp.secret_, SecretBytes::Allocate(crypto_sign_SECRETKEYBYTES));
  if (crypto_sign_seed_keypair(kp.public_key_.data(), kp.secret_.data(), seed.data()) != 0) {
    return Fail(ErrorCode::kInternal, "crypto_sign_seed_keypair failed");
  }
  return kp;
}

Ed25519Signature Ed25519KeyPair::Sign(ByteSpan message) const {
  if (secret_.size() != crypto_sign_SECRETKEYBYTES) {
    Die("Ed25519KeyPair::Sign on an empty key pair (default-constructed or moved-from)");
  }
  Ed25519Signature sig{};
  if (crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(),
                           secret_.data()) != 0) {
    Die("crypto_sign_detached");
  }
  return sig;
}

ByteSpan Ed25519KeyPair::seed() const {
  if (secret_.size() != crypto_sign_SECRETKEYBYTES) return {};
  return secret_.span().first(crypto_sign_SEEDBYTES);
}

bool Ed25519Verify(const Ed25519PublicKey& public_key, ByteSpan message,
                   const Ed25519Signature& signature) {
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     public_key.data()) == 0;
}

Result<X25519KeyPair> X25519KeyPair::Generate() {
  CAIRN_ASSIGN_OR_RETURN(SecretBytes secret, SecretBytes::Random(crypto_scalarmult_SCALARBYTES));
  return FromSecret(secret.span());
}

Result<X25519KeyPair> X25519KeyPair::FromSecret(ByteSpan secret32) {
  if (secret32.size() != crypto_scalarmult_SCALARBYTES) {
    return Fail(ErrorCode::kInvalidArgument,
                "X25519 secret key must be 32 bytes, got " + std::to_string(secret32.size()));
  }
  X25519KeyPair kp;
  CAIRN_ASSIGN_OR_RETURN(kp.secret_, SecretBytes::CopyFrom(secret32));
  if (crypto_scalarmult_base(kp.public_key_.data(), kp.secret_.data()) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "X25519 secret key gives no valid public key");
  }
  return kp;
}

Result<SecretBytes> X25519(ByteSpan secret_key, ByteSpan public_key) {
  if (secret_key.size() != crypto_scalarmult_SCALARBYTES ||
      public_key.size() != crypto_scalarmult_BYTES) {
    return Fail(ErrorCode::kInvalidArgument,
                "X25519 needs a 32-byte secret key and a 32-byte public key, got " +
                    std::to_string(secret_key.size()) + " and " +
                    std::to_string(public_key.size()) + " bytes");
  }
  CAIRN_ASSIGN_OR_RETURN(SecretBytes shared, SecretBytes::Allocate(crypto_scalarmult_BYTES));
  // libsodium returns -1 for small-order points and for an all-zero result; check the output
  // too, so the guarantee does not rest on one library version's behaviour.
  if (crypto_scalarmult(shared.data(), secret_key.data(), public_key.data()) != 0 ||
      sodium_is_zero(shared.data(), shared.size()) == 1) {
    return Fail(ErrorCode::kUnauthenticated,
                "X25519 with a low-order public key (all-zero shared secret) refused");
  }
  return shared;
}

}  // namespace cairn::crypto
