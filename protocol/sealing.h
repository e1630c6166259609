// What both ends must compute identically: the attestation binding, HPKE info and AAD strings of
// uploads, the chunk layout of a vector, and the sealed model download.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "common/crypto/crypto.h"
#include "protocol/types.h"

namespace cairn::protocol {

using ReportData = std::array<std::uint8_t, 64>;

// REPORT_DATA = SHA-512("cairn/attest/v1" ‖ nonce ‖ curveKey ‖ hpkeKey ‖ signingKey ‖
// SHA-256(federationConfig)).
ReportData ComputeReportData(const std::array<std::uint8_t, 32>& nonce, const Key32& curve_key,
                             const Key32& hpke_key, const Key32& signing_key,
                             const crypto::Sha256Digest& config_hash);

// Mutual attestation: a participant's evidence binds its own Curve key to the aggregator's nonce.
ReportData ComputeParticipantReportData(const std::array<std::uint8_t, 32>& aggregator_nonce,
                                        const Key32& participant_curve_key,
                                        const crypto::Sha256Digest& config_hash);

// HPKE info of one participant's upload in one round: binds federation, round, participant and
// the attested config.
Bytes UploadInfo(std::string_view federation_id, std::uint64_t round, std::string_view participant_id,
                 const crypto::Sha256Digest& config_hash);

// AAD of upload chunk `index`: binds round, index and whether it is the last chunk.
constexpr std::size_t kChunkAadBytes = 32;
std::array<std::uint8_t, kChunkAadBytes> UploadChunkAad(std::uint64_t round, std::uint32_t index, bool last);
std::array<std::uint8_t, kChunkAadBytes> ModelChunkAad(std::uint64_t model_version, std::uint32_t index, bool last);
std::array<std::uint8_t, crypto::kAeadNonceBytes> ModelChunkNonce(const std::array<std::uint8_t, 4>& prefix,
                                                                 std::uint32_t index);

// How `total_bytes` of plaintext splits into chunks of `chunk_bytes` (the last may be shorter).
struct ChunkLayout {
  std::uint64_t total_bytes = 0;
  std::uint32_t chunk_bytes = 0;
  std::uint32_t chunks = 0;
  static Result<ChunkLayout> Make(std::uint64_t total_bytes, std::uint32_t chunk_bytes);
  std::uint64_t offset(std::uint32_t index) const { return std::uint64_t(index) * chunk_bytes; }
  std::uint32_t size(std::uint32_t index) const {
    std::uint64_t rest = total_bytes - offset(index);
    return static_cast<std::uint32_t>(rest < chunk_bytes ? rest : chunk_bytes);
  }
};

// SHA-256 of the float32 little-endian parameters: the model hash in offers and results.
crypto::Sha256Digest ModelHash(std::span<const float> params);

// Encodes float32 values into the transport encoding and returns the encoded bytes: for the
// 4-byte encodings (float32, ring32) the values' own bytes, a view of `in` (nothing is copied: the
// cipher reads them where they are); for bfloat16 / float16 (round-to-nearest-even) `out`, which
// must hold in.size() * EncodingBytes(encoding) bytes. DecodeValues is the inverse.
ByteSpan EncodeValues(std::span<const float> in, Encoding encoding, MutableByteSpan out);
Status DecodeValues(ByteSpan in, Encoding encoding, std::span<float> out);

// Heap storage for buffers of tens of megabytes that are written once and read many times:
// uninitialized, 2 MiB aligned and marked for transparent huge pages (madvise), so filling 40 MB
// costs about 20 page faults instead of about 10,000. Move-only; frees on destruction.
class LargeBuffer {
 public:
  LargeBuffer() = default;
  LargeBuffer(LargeBuffer&& other) noexcept;
  LargeBuffer& operator=(LargeBuffer&& other) noexcept;
  LargeBuffer(const LargeBuffer&) = delete;
  LargeBuffer& operator=(const LargeBuffer&) = delete;
  ~LargeBuffer();
  // Replaces the contents with `size` uninitialized bytes; kResourceExhausted when out of memory.
  Status Allocate(std::size_t size);
  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// A model sealed once per version under a fresh key: one encryption serves every download.
// Immutable after creation; shared (zero-copy frames keep it alive) and thread-compatible.
class SealedModel {
 public:
  // `recycle`: the previous version; when nothing else holds it any more (its downloads are
  // done) and its buffer has the size needed, the new copy is sealed into that buffer instead of
  // a fresh allocation (40 MB of page faults and zeroing per round). `recycle` is reset either
  // way.
  static Result<std::shared_ptr<const SealedModel>> Seal(std::uint64_t version, std::span<const float> params,
                                                         Encoding encoding, std::uint32_t chunk_bytes,
                                                         std::shared_ptr<const SealedModel> recycle = nullptr);
  // The handle a participant needs (carries the key: send only on the control channel).
  ModelDownload Download() const;
  // Opens every chunk back into `out` (num_params floats), authenticated; the enclave's way back
  // to the plain values. float32 transport only (a 16-bit copy is rounded).
  Status OpenInto(std::span<float> out) const;
  ByteSpan chunk(std::uint32_t index) const;  // ciphertext ‖ tag
  std::uint32_t chunks() const { return layout_.chunks; }
  std::uint64_t version() const { return version_; }
  const crypto::Sha256Digest& hash() const { return hash_; }
  std::size_t memory_bytes() const { return ciphertext_.size(); }

 private:
  SealedModel() = default;
  std::uint64_t version_ = 0;
  crypto::Sha256Digest hash_{};
  std::uint64_t num_params_ = 0;
  Encoding encoding_ = Encoding::kFloat32;
  ChunkLayout layout_;
  crypto::SecretBytes key_;
  std::array<std::uint8_t, 4> nonce_prefix_{};
  LargeBuffer ciphertext_;  // chunk i at i·(chunk_bytes + 16)
};

// Participant side: collects and opens the chunks of a download into float32 parameters,
// checking the hash at the end.
class ModelReceiver {
 public:
  // `reuse`: storage to open a float32 download into (e.g. the previous model's vector, so a
  // round costs no fresh 40 MB allocation and its page faults); its contents are overwritten.
  static Result<ModelReceiver> Create(const ModelDownload& download, std::vector<float> reuse = {});
  // Opens chunk `index`; kUnauthenticated when it does not decrypt, kInvalidArgument when it
  // is out of range or a duplicate.
  Status Add(std::uint32_t index, ByteSpan sealed);
  bool complete() const { return received_ == layout_.chunks; }
  bool has(std::uint32_t index) const { return index < have_.size() && have_[index]; }
  std::uint32_t received() const { return received_; }
  // Verifies the model hash and returns the parameters.
  Result<std::vector<float>> Finish();

 private:
  ModelDownload download_;
  ChunkLayout layout_;
  std::unique_ptr<crypto::Aead> aead_;
  // float32 transport: chunks open straight into the parameters (no copy at Finish); 16-bit
  // transports: the encoded values, widened at Finish.
  std::vector<float> params_;
  Bytes plaintext_;
  std::vector<bool> have_;
  std::uint32_t received_ = 0;
};

}  // namespace cairn::protocol
