// Cryptographic primitives for Cairn, on libsodium and OpenSSL 3.
//
// Conventions (as libsodium): names say primitive and operation; the caller owns every buffer;
// secrets live in SecretBytes (guarded memory, wiped on destruction) and are compared in constant
// time; every library return value is checked and turned into an Error. Thread safety: free
// functions are thread-safe; objects (contexts, hashers) are not, use one per thread.
// Functions that return a plain value (hashes, HMAC, Sign) can only fail when OpenSSL or
// libsodium cannot allocate memory; they then print the reason to stderr and abort.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn::crypto {

// Calls sodium_init(); idempotent and thread-safe. Every other function here may assume it ran:
// call it once at the top of main() and in test fixtures.
Status Init();

// ---------------------------------------------------------------------------------------------
// Secrets

// Move-only bytes in libsodium guarded memory (sodium_malloc: guard pages, mlock'd where the
// system allows), wiped with sodium_memzero and freed on destruction. Never printed or logged.
// Cost: each non-empty one is its own mapping of at least three pages plus guard pages, and an
// allocation is a few system calls: hold keys here, not bulk data or millions of small values.
class SecretBytes {
 public:
  SecretBytes() = default;
  static Result<SecretBytes> Allocate(std::size_t size);   // zero-filled
  static Result<SecretBytes> Random(std::size_t size);     // from the CSPRNG
  static Result<SecretBytes> CopyFrom(ByteSpan data);
  // A second guarded copy of the same bytes.
  Result<SecretBytes> Clone() const;
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  ByteSpan span() const { return {data_, size_}; }
  MutableByteSpan mutable_span() { return {data_, size_}; }

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// A key file's bytes, read straight into guarded memory: no copy of them is left in ordinary heap
// or stack memory (a std::string or a stream buffer would be freed unwiped). kNotFound when the
// file does not exist; a folder, or a file above max_bytes, is refused with a message naming it.
// `owner_only`: refuse (kPermissionDenied) a file whose mode grants group or other users any
// access, checked on the descriptor that is read (no window for a swap between check and read).
Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, std::size_t max_bytes,
                                   bool owner_only = false);

// Constant-time equality (sodium_memcmp); false when the sizes differ.
bool ConstantTimeEqual(ByteSpan a, ByteSpan b);
// Overwrites memory in a way the compiler keeps (sodium_memzero).
void Wipe(MutableByteSpan data);

// CSPRNG (libsodium randombytes_buf).
void RandomBytes(MutableByteSpan out);
Bytes RandomBytes(std::size_t size);
// Uniform in [0, upper) (randombytes_uniform); upper > 0.
std::uint32_t RandomUniform(std::uint32_t upper);

// ---------------------------------------------------------------------------------------------
// Hashes (OpenSSL EVP; SHA-NI where the CPU has it)

using Sha256Digest = std::array<std::uint8_t, 32>;
using Sha384Digest = std::array<std::uint8_t, 48>;
using Sha512Digest = std::array<std::uint8_t, 64>;

Sha256Digest Sha256(ByteSpan data);
Sha384Digest Sha384(ByteSpan data);
Sha512Digest Sha512(ByteSpan data);

// Incremental SHA-256 / SHA-512 over many buffers.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept;
  void Update(ByteSpan data);
  Sha256Digest Finish();  // the hasher may not be used afterwards
 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
class Sha512Hasher {
 public:
  Sha512Hasher();
  ~Sha512Hasher();
  Sha512Hasher(Sha512Hasher&&) noexcept;
  Sha512Hasher& operator=(Sha512Hasher&&) noexcept;
  void Update(ByteSpan data);
  Sha512Digest Finish();
 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// HMAC-SHA256 and HKDF-SHA256 (RFC 5869).
Sha256Digest HmacSha256(ByteSpan key, ByteSpan data);
Sha256Digest HkdfSha256Extract(ByteSpan salt, ByteSpan ikm);
// prk: at least 32 bytes (RFC 5869 HashLen); length ≤ 255·32. Otherwise kInvalidArgument.
Result<SecretBytes> HkdfSha256Expand(ByteSpan prk, ByteSpan info, std::size_t length);

// ---------------------------------------------------------------------------------------------
// AEAD: AES-GCM (OpenSSL, AES-NI) and ChaCha20-Poly1305 (IETF, 12-byte nonce).

enum class AeadAlgorithm : std::uint16_t {
  kAes128Gcm = 1,         // HPKE aead_id 1
  kAes256Gcm = 2,         // HPKE aead_id 2: Cairn's data plane
  kChaCha20Poly1305 = 3,  // HPKE aead_id 3
};
constexpr std::size_t kAeadNonceBytes = 12;
constexpr std::size_t kAeadTagBytes = 16;
std::size_t AeadKeyBytes(AeadAlgorithm alg);

// A keyed AEAD. Keeps the cipher context between calls, so sealing many chunks costs no
// allocation. Move-only; not thread-safe (one per thread).
class Aead {
 public:
  static Result<Aead> Create(AeadAlgorithm alg, ByteSpan key);
  Aead(Aead&&) noexcept;
  Aead& operator=(Aead&&) noexcept;
  ~Aead();

  // out.size() must be plaintext.size() + kAeadTagBytes; ciphertext then tag. In-place
  // (out.data() == plaintext.data()) is allowed.
  Status Seal(ByteSpan nonce, ByteSpan aad, ByteSpan plaintext, MutableByteSpan out);
  // out.size() must be ciphertext.size() - kAeadTagBytes. Fails with kUnauthenticated on a bad
  // tag, and then leaves `out` zeroed. In-place allowed.
  Status Open(ByteSpan nonce, ByteSpan aad, ByteSpan ciphertext, MutableByteSpan out);

  AeadAlgorithm algorithm() const;

 private:
  struct Impl;
  explicit Aead(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Ed25519 signatures and X25519 agreement (libsodium)

using Ed25519PublicKey = std::array<std::uint8_t, 32>;
using Ed25519Signature = std::array<std::uint8_t, 64>;
using X25519PublicKey = std::array<std::uint8_t, 32>;

class Ed25519KeyPair {
 public:
  static Result<Ed25519KeyPair> Generate();
  // From a 32-byte seed (deterministic; tests and sealed-key restore).
  static Result<Ed25519KeyPair> FromSeed(ByteSpan seed);
  const Ed25519PublicKey& public_key() const { return public_key_; }
  Ed25519Signature Sign(ByteSpan message) const;
  // The 32-byte seed, to seal it for storage.
  ByteSpan seed() const;

 private:
  SecretBytes secret_;  // libsodium's 64-byte secret key (seed ‖ public key)
  Ed25519PublicKey public_key_{};
};
bool Ed25519Verify(const Ed25519PublicKey& public_key, ByteSpan message,
                   const Ed25519Signature& signature);

class X25519KeyPair {
 public:
  static Result<X25519KeyPair> Generate();
  static Result<X25519KeyPair> FromSecret(ByteSpan secret32);
  const X25519PublicKey& public_key() const { return public_key_; }
  ByteSpan secret_key() const { return secret_.span(); }

 private:
  SecretBytes secret_;
  X25519PublicKey public_key_{};
};
// Raw X25519 scalar multiplication; fails (kUnauthenticated) on an all-zero result (a low-order
// public key), as RFC 9180 §7.1.4 requires.
Result<SecretBytes> X25519(ByteSpan secret_key, ByteSpan public_key);

// ---------------------------------------------------------------------------------------------
// HPKE (RFC 9180): DHKEM(X25519, HKDF-SHA256) (kem_id 0x0020), HKDF-SHA256 (kdf_id 1), AEAD as
// above. All four modes. Cairn's data plane uses base mode with AES-256-GCM.

enum class HpkeMode : std::uint8_t { kBase = 0, kPsk = 1, kAuth = 2, kAuthPsk = 3 };
constexpr std::size_t kHpkeEncBytes = 32;

struct HpkeSetupOptions {
  // Every field has a default, so designated initializers may name only what they set.
  HpkeMode mode = HpkeMode::kBase;
  AeadAlgorithm aead = AeadAlgorithm::kAes256Gcm;
  ByteSpan info = {};     // bound into the key schedule; borrowed for the setup call only
  ByteSpan psk = {};      // PSK modes only (at least 32 bytes); empty otherwise
  ByteSpan psk_id = {};   // PSK modes only; empty otherwise
  // Auth modes: the sender's static key pair (sender side) or public key (recipient side).
  // Giving either in a mode without authentication is kInvalidArgument.
  const X25519KeyPair* sender_key = nullptr;
  ByteSpan sender_public_key = {};
  // Tests only: the ephemeral key material (RFC 9180 DeriveKeyPair(ikmE)); empty = random.
  ByteSpan ikm_ephemeral_for_testing = {};
};

// The context after setup: key, base nonce and exporter secret. Seal/Open use and advance the
// internal sequence number exactly as RFC 9180; SealAt/OpenAt take the sequence number
// explicitly (nonce = base_nonce XOR seq) so chunks can be processed by index. A caller must
// never seal two messages under the same sequence number.
//
// Roles (RFC 9180 §5.2): a context from HpkeSetupSender only seals (Seal, SealAt) and one from
// HpkeSetupRecipient only opens (Open, OpenAt); the other calls fail with kFailedPrecondition,
// so a recipient can never reuse the sender's nonces. Seal/Open fail with kResourceExhausted
// when the internal sequence number would overflow (2^64 - 1 messages); a failed Open does not
// advance it. SealAt/OpenAt neither read nor advance it.
class HpkeContext {
 public:
  HpkeContext(HpkeContext&&) noexcept;
  HpkeContext& operator=(HpkeContext&&) noexcept;
  ~HpkeContext();

  Result<Bytes> Seal(ByteSpan aad, ByteSpan plaintext);
  Result<Bytes> Open(ByteSpan aad, ByteSpan ciphertext);
  // out.size() = plaintext.size() + 16 (SealAt) / ciphertext.size() - 16 (OpenAt).
  Status SealAt(std::uint64_t seq, ByteSpan aad, ByteSpan plaintext, MutableByteSpan out);
  Status OpenAt(std::uint64_t seq, ByteSpan aad, ByteSpan ciphertext, MutableByteSpan out);
  Result<SecretBytes> Export(ByteSpan exporter_context, std::size_t length) const;

  // The sequence number the next Seal/Open will use.
  std::uint64_t sequence() const;

  // For the RFC's known-answer tests.
  ByteSpan key_for_testing() const;
  ByteSpan base_nonce_for_testing() const;
  ByteSpan exporter_secret_for_testing() const;
  // Tests only: moves the internal sequence number (to reach the overflow check).
  void set_sequence_for_testing(std::uint64_t seq);

  struct Impl;
  explicit HpkeContext(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

struct HpkeSenderSetup {
  std::array<std::uint8_t, kHpkeEncBytes> enc;
  HpkeContext context;
};

// SetupS: encapsulates to the recipient's public key.
Result<HpkeSenderSetup> HpkeSetupSender(ByteSpan recipient_public_key,
                                        const HpkeSetupOptions& options);
// SetupR: decapsulates `enc` with the recipient's key pair.
Result<HpkeContext> HpkeSetupRecipient(ByteSpan enc, const X25519KeyPair& recipient,
                                       const HpkeSetupOptions& options);
// DeriveKeyPair(ikm) of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1.3). ikm must hold at least
// 32 bytes (the KEM's security level); shorter is kInvalidArgument.
Result<X25519KeyPair> HpkeDeriveKeyPair(ByteSpan ikm);

// ---------------------------------------------------------------------------------------------
// Sealed files (libsodium crypto_secretstream_xchacha20poly1305): checkpoints at rest.
// Format: "CAIRNSS1" magic, the plaintext length (u64, big-endian), the 24-byte secretstream
// header, then chunks of kSealChunkBytes plaintext (the last one shorter or empty), each one
// secretstream message (+17 bytes); the last carries TAG_FINAL. Every chunk's additional data is
// a domain label, the length and `aad`, so the length is authenticated. Failures name the file,
// never key material: a bad magic, a file shorter or longer than its length says, or a missing
// final tag is kDataLoss; a wrong key, wrong `aad` or any altered byte is kUnauthenticated.
// `aad` binds context (e.g. "checkpoint"). The file is written atomically (temporary file, fsync,
// rename) with mode 0600.
constexpr std::size_t kSealKeyBytes = 32;
constexpr std::size_t kSealChunkBytes = std::size_t{1} << 20;
Status SealToFile(const SecretBytes& key, ByteSpan aad, ByteSpan plaintext,
                  const std::string& path);
// The same file written in pieces: exactly `length` plaintext bytes across any number of
// Write() calls, then Commit(). Memory is one chunk, whatever the length (a checkpoint streams
// the model from where it lives). Destroyed without Commit(), it leaves the target untouched.
class SealedFileWriter {
 public:
  static Result<SealedFileWriter> Create(const SecretBytes& key, ByteSpan aad, std::uint64_t length,
                                         const std::string& path);
  SealedFileWriter(SealedFileWriter&&) noexcept;
  ~SealedFileWriter();
  Status Write(ByteSpan data);
  Status Commit();

 private:
  SealedFileWriter();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
// max_bytes bounds the plaintext (kOutOfRange above it, checked before reading the body); the
// file is read chunk by chunk, so memory is the plaintext plus one chunk.
Result<Bytes> OpenSealedFile(const SecretBytes& key, ByteSpan aad, const std::string& path,
                             std::uint64_t max_bytes);

}  // namespace cairn::crypto
