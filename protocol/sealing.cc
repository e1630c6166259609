#include "protocol/sealing.h"

#include <sys/mman.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "common/core/bytes.h"
#include "protocol/limits.h"

namespace cairn::protocol {
namespace {

std::array<std::uint8_t, kChunkAadBytes> ChunkAad(char kind, std::uint64_t id, std::uint32_t index, bool last) {
  // "cairn/chunk/v1" (14 bytes) ‖ kind ‖ u64 id ‖ u32 index ‖ u8 last ‖ zero pad to 32.
  std::array<std::uint8_t, kChunkAadBytes> aad{};
  std::memcpy(aad.data(), "cairn/chunk/v1", 14);
  aad[14] = static_cast<std::uint8_t>(kind);
  StoreU64Be(aad.data() + 15, id);
  StoreU32Be(aad.data() + 23, index);
  aad[27] = last ? 1 : 0;
  return aad;
}

std::uint16_t FloatToBf16(float f) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  std::uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}
float Bf16ToFloat(std::uint16_t h) { return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16); }

}  // namespace

ReportData ComputeReportData(const std::array<std::uint8_t, 32>& nonce, const Key32& curve_key,
                             const Key32& hpke_key, const Key32& signing_key,
                             const crypto::Sha256Digest& config_hash) {
  crypto::Sha512Hasher h;
  h.Update(AsBytes("cairn/attest/v1"));
  h.Update(nonce);
  h.Update(curve_key);
  h.Update(hpke_key);
  h.Update(signing_key);
  h.Update(config_hash);
  return h.Finish();
}

ReportData ComputeParticipantReportData(const std::array<std::uint8_t, 32>& aggregator_nonce,
                                        const Key32& participant_curve_key,
                                        const crypto::Sha256Digest& config_hash) {
  crypto::Sha512Hasher h;
  h.Update(AsBytes("cairn/attest-participant/v1"));
  h.Update(aggregator_nonce);
  h.Update(participant_curve_key);
  h.Update(config_hash);
  return h.Finish();
}

Bytes UploadInfo(std::string_view federation_id, std::uint64_t round, std::string_view participant_id,
                 const crypto::Sha256Digest& config_hash) {
  Bytes info;
  AppendLengthPrefixed(info, std::string_view("cairn/upload/v1"));
  AppendLengthPrefixed(info, federation_id);
  AppendU64(info, round);
  AppendLengthPrefixed(info, participant_id);
  AppendBytes(info, config_hash);
  return info;
}

std::array<std::uint8_t, kChunkAadBytes> UploadChunkAad(std::uint64_t round, std::uint32_t index, bool last) {
  return ChunkAad('U', round, index, last);
}
std::array<std::uint8_t, kChunkAadBytes> ModelChunkAad(std::uint64_t model_version, std::uint32_t index, bool last) {
  return ChunkAad('M', model_version, index, last);
}

std::array<std::uint8_t, crypto::kAeadNonceBytes> ModelChunkNonce(const std::array<std::uint8_t, 4>& prefix,
                                                                 std::uint32_t index) {
  std::array<std::uint8_t, crypto::kAeadNonceBytes> nonce{};
  std::memcpy(nonce.data(), prefix.data(), 4);
  StoreU64Be(nonce.data() + 4, index);
  return nonce;
}

Result<ChunkLayout> ChunkLayout::Make(std::uint64_t total_bytes, std::uint32_t chunk_bytes) {
  if (chunk_bytes == 0 || chunk_bytes > kMaxChunkBytes) {
    return Fail(ErrorCode::kInvalidArgument, "chunk size " + std::to_string(chunk_bytes) + " is outside (0, " +
                                                 std::to_string(kMaxChunkBytes) + "]");
  }
  std::uint64_t chunks = total_bytes == 0 ? 1 : (total_bytes + chunk_bytes - 1) / chunk_bytes;
  if (chunks > kMaxChunks) {
    return Fail(ErrorCode::kOutOfRange, std::to_string(total_bytes) + " bytes in chunks of " +
                                            std::to_string(chunk_bytes) + " make more than " +
                                            std::to_string(kMaxChunks) + " chunks");
  }
  ChunkLayout l;
  l.total_bytes = total_bytes;
  l.chunk_bytes = chunk_bytes;
  l.chunks = static_cast<std::uint32_t>(chunks);
  return l;
}

crypto::Sha256Digest ModelHash(std::span<const float> params) {
  static_assert(std::endian::native == std::endian::little, "Cairn's wire format is little-endian");
  return crypto::Sha256(ByteSpan(reinterpret_cast<const std::uint8_t*>(params.data()), params.size_bytes()));
}

ByteSpan EncodeValues(std::span<const float> in, Encoding encoding, MutableByteSpan out) {
  switch (encoding) {
    case Encoding::kFloat32:
    case Encoding::kRing32:
      return ByteSpan(reinterpret_cast<const std::uint8_t*>(in.data()), in.size_bytes());
    case Encoding::kBFloat16:
      for (std::size_t i = 0; i < in.size(); ++i) {
        std::uint16_t h = FloatToBf16(in[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
    case Encoding::kFloat16:
      for (std::size_t i = 0; i < in.size(); ++i) {
        _Float16 h = static_cast<_Float16>(in[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
  }
  return ByteSpan(out.data(), in.size() * EncodingBytes(encoding));
}

Status DecodeValues(ByteSpan in, Encoding encoding, std::span<float> out) {
  std::size_t width = EncodingBytes(encoding);
  if (in.size() != out.size() * width) {
    return Fail(ErrorCode::kInvalidArgument, "encoded size " + std::to_string(in.size()) +
                                                 " does not match " + std::to_string(out.size()) + " values");
  }
  switch (encoding) {
    case Encoding::kFloat32:
    case Encoding::kRing32:
      std::memcpy(out.data(), in.data(), in.size());
      break;
    case Encoding::kBFloat16:
      for (std::size_t i = 0; i < out.size(); ++i) {
        std::uint16_t h;
        std::memcpy(&h, in.data() + 2 * i, 2);
        out[i] = Bf16ToFloat(h);
      }
      break;
    case Encoding::kFloat16:
      for (std::size_t i = 0; i < out.size(); ++i) {
        _Float16 h;
        std::memcpy(&h, in.data() + 2 * i, 2);
        out[i] = static_cast<float>(h);
      }
      break;
  }
  return Ok();
}

// ---------------------------------------------------------------------------------------------

LargeBuffer::LargeBuffer(LargeBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

LargeBuffer& LargeBuffer::operator=(LargeBuffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

LargeBuffer::~LargeBuffer() { std::free(data_); }

Status LargeBuffer::Allocate(std::size_t size) {
  constexpr std::size_t kHugePage = 2u << 20;
  std::free(data_);
  data_ = nullptr;
  size_ = 0;
  if (size == 0) return Ok();
  bool huge = size >= kHugePage;
  std::size_t alignment = huge ? kHugePage : 64;
  std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  void* p = nullptr;
  if (::posix_memalign(&p, alignment, rounded) != 0 || p == nullptr) {
    return Fail(ErrorCode::kResourceExhausted, "cannot allocate " + std::to_string(size) + " bytes");
  }
  // A hint: without THP (or with it off) the buffer simply gets ordinary pages.
  if (huge) (void)::madvise(p, rounded, MADV_HUGEPAGE);
  data_ = static_cast<std::uint8_t*>(p);
  size_ = size;
  return Ok();
}

Result<std::shared_ptr<const SealedModel>> SealedModel::Seal(std::uint64_t version, std::span<const float> params,
                                                             Encoding encoding, std::uint32_t chunk_bytes,
                                                             std::shared_ptr<const SealedModel> recycle) {
  std::shared_ptr<SealedModel> m(new SealedModel());
  m->version_ = version;
  m->num_params_ = params.size();
  m->encoding_ = encoding;
  std::size_t width = EncodingBytes(encoding);
  // Chunks hold whole values.
  std::uint32_t aligned_chunk = chunk_bytes - chunk_bytes % static_cast<std::uint32_t>(width);
  CAIRN_ASSIGN_OR_RETURN(m->layout_, ChunkLayout::Make(params.size() * width, aligned_chunk));
  CAIRN_ASSIGN_OR_RETURN(m->key_, crypto::SecretBytes::Random(32));
  crypto::RandomBytes(m->nonce_prefix_);
  CAIRN_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, m->key_.span()));
  const ChunkLayout& l = m->layout_;
  std::size_t stride = std::size_t(l.chunk_bytes) + crypto::kAeadTagBytes;
  const std::size_t bytes = std::size_t(l.chunks - 1) * stride + l.size(l.chunks - 1) + crypto::kAeadTagBytes;
  if (recycle && recycle.use_count() == 1 && recycle->ciphertext_.size() == bytes) {
    // Sole owner: the old copy is about to be destroyed; its ciphertext buffer is overwritten
    // below (the object was created non-const in this function, so the cast is sound).
    m->ciphertext_ = std::move(const_cast<SealedModel&>(*recycle).ciphertext_);
  } else {
    CAIRN_RETURN_IF_ERROR(m->ciphertext_.Allocate(bytes));
  }
  recycle.reset();
  // float32: the values are sealed as they are, so their SHA-256 (the model hash) is computed on
  // a second thread while this one seals; the two take about as long (~27 and ~16 ms for 40 MB
  // here) and a new model holds up every participant (docs/performance.md, "Finalization on two
  // cores"). Without a thread, the hash is computed below, chunk by chunk.
  std::optional<crypto::Sha256Digest> float32_hash;
  std::thread hashing;
  if (width == 4) {
    try {
      hashing = std::thread([&] { float32_hash = ModelHash(params); });
    } catch (const std::system_error&) {
      // No thread to be had: the loop below hashes as it seals.
    }
  }
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{hashing};
  // One pass, chunk by chunk while it is in cache: hash the values participants will receive
  // (unless the thread above does), encode them into the buffer, seal in place. (The hash names
  // the values after the 16-bit round trip when the transport is 16-bit.)
  crypto::Sha256Hasher hasher;
  std::vector<float> decoded(width == 4 ? 0 : l.chunk_bytes / width);
  for (std::uint32_t i = 0; i < l.chunks; ++i) {
    std::uint8_t* dst = m->ciphertext_.data() + std::size_t(i) * stride;
    std::uint32_t n = l.size(i);
    std::size_t first = l.offset(i) / width;
    std::span<const float> values = params.subspan(first, n / width);
    ByteSpan plain = EncodeValues(values, encoding, MutableByteSpan(dst, n));  // float32: the values themselves
    if (width == 4) {
      if (!hashing.joinable()) hasher.Update(plain);
    } else {
      std::span<float> back = std::span<float>(decoded).first(n / width);
      CAIRN_RETURN_IF_ERROR(DecodeValues(plain, encoding, back));
      hasher.Update(ByteSpan(reinterpret_cast<const std::uint8_t*>(back.data()), back.size_bytes()));
    }
    auto nonce = ModelChunkNonce(m->nonce_prefix_, i);
    auto aad = ModelChunkAad(version, i, i + 1 == l.chunks);
    CAIRN_RETURN_IF_ERROR(aead.Seal(nonce, aad, plain, MutableByteSpan(dst, n + crypto::kAeadTagBytes)));
  }
  if (hashing.joinable()) {
    hashing.join();
    m->hash_ = *float32_hash;
  } else {
    m->hash_ = hasher.Finish();
  }
  return std::shared_ptr<const SealedModel>(std::move(m));
}

ModelDownload SealedModel::Download() const {
  ModelDownload d;
  d.model_version = version_;
  d.model_hash = hash_;
  d.num_params = num_params_;
  d.key.assign(key_.data(), key_.data() + key_.size());
  d.nonce_prefix = nonce_prefix_;
  d.chunks = layout_.chunks;
  d.chunk_bytes = layout_.chunk_bytes;
  d.encoding = encoding_;
  return d;
}

Status SealedModel::OpenInto(std::span<float> out) const {
  if (encoding_ != Encoding::kFloat32) {
    return Fail(ErrorCode::kFailedPrecondition, "only a float32 sealed model opens back to its exact values");
  }
  if (out.size() != num_params_) {
    return Fail(ErrorCode::kInvalidArgument, "the sealed model has " + std::to_string(num_params_) +
                                                 " values; the output holds " + std::to_string(out.size()));
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, key_.span()));
  auto* base = reinterpret_cast<std::uint8_t*>(out.data());
  for (std::uint32_t i = 0; i < layout_.chunks; ++i) {
    auto nonce = ModelChunkNonce(nonce_prefix_, i);
    auto aad = ModelChunkAad(version_, i, i + 1 == layout_.chunks);
    if (!aead.Open(nonce, aad, chunk(i), MutableByteSpan(base + layout_.offset(i), layout_.size(i)))) {
      return Fail(ErrorCode::kUnauthenticated, "sealed model chunk " + std::to_string(i) + " of version " +
                                                   std::to_string(version_) + " does not decrypt");
    }
  }
  return Ok();
}

ByteSpan SealedModel::chunk(std::uint32_t index) const {
  std::size_t stride = std::size_t(layout_.chunk_bytes) + crypto::kAeadTagBytes;
  return ByteSpan(ciphertext_.data() + std::size_t(index) * stride, layout_.size(index) + crypto::kAeadTagBytes);
}

Result<ModelReceiver> ModelReceiver::Create(const ModelDownload& download, std::vector<float> reuse) {
  ModelReceiver r;
  r.download_ = download;
  if (download.key.size() != 32) return Fail(ErrorCode::kInvalidArgument, "model key must be 32 bytes");
  if (download.num_params > kMaxParams) return Fail(ErrorCode::kOutOfRange, "model has too many parameters");
  std::size_t width = EncodingBytes(download.encoding);
  CAIRN_ASSIGN_OR_RETURN(r.layout_, ChunkLayout::Make(download.num_params * width, download.chunk_bytes));
  if (r.layout_.chunks != download.chunks) {
    return Fail(ErrorCode::kInvalidArgument, "model download announces " + std::to_string(download.chunks) +
                                                 " chunks, but its size needs " + std::to_string(r.layout_.chunks));
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, download.key));
  r.aead_ = std::make_unique<crypto::Aead>(std::move(aead));
  if (width == 4) {
    r.params_ = std::move(reuse);
    r.params_.resize(download.num_params);
  } else {
    r.plaintext_.resize(r.layout_.total_bytes);
  }
  r.have_.assign(r.layout_.chunks, false);
  return r;
}

Status ModelReceiver::Add(std::uint32_t index, ByteSpan sealed) {
  if (index >= layout_.chunks) {
    return Fail(ErrorCode::kInvalidArgument, "model chunk " + std::to_string(index) + " is out of range");
  }
  if (have_[index]) return Fail(ErrorCode::kInvalidArgument, "model chunk " + std::to_string(index) + " arrived twice");
  std::uint32_t n = layout_.size(index);
  if (sealed.size() != n + crypto::kAeadTagBytes) {
    return Fail(ErrorCode::kInvalidArgument, "model chunk " + std::to_string(index) + " has the wrong size");
  }
  auto nonce = ModelChunkNonce(download_.nonce_prefix, index);
  auto aad = ModelChunkAad(download_.model_version, index, index + 1 == layout_.chunks);
  std::uint8_t* base = params_.empty() ? plaintext_.data() : reinterpret_cast<std::uint8_t*>(params_.data());
  auto s = aead_->Open(nonce, aad, sealed, MutableByteSpan(base + layout_.offset(index), n));
  if (!s) {
    return Fail(ErrorCode::kUnauthenticated, "model chunk " + std::to_string(index) + " of version " +
                                                 std::to_string(download_.model_version) + " does not decrypt");
  }
  have_[index] = true;
  ++received_;
  return Ok();
}

Result<std::vector<float>> ModelReceiver::Finish() {
  if (!complete()) return Fail(ErrorCode::kFailedPrecondition, "model download is incomplete");
  std::vector<float> params;
  if (EncodingBytes(download_.encoding) == 4) {
    params = std::move(params_);
    params_.clear();
  } else {
    params.resize(download_.num_params);
    CAIRN_RETURN_IF_ERROR(DecodeValues(plaintext_, download_.encoding, params));
  }
  // With a 16-bit transport the hash is over the values as received (decoded to float32).
  if (ModelHash(params) != download_.model_hash) {
    return Fail(ErrorCode::kUnauthenticated, "model version " + std::to_string(download_.model_version) +
                                                 " does not match the hash the aggregator announced");
  }
  return params;
}

}  // namespace cairn::protocol
