#include "common/secagg/messages.h"

#include <bit>
#include <cstring>
#include <string>

namespace cairn::secagg {
namespace {

constexpr std::uint8_t kMagic[4] = {'c', 's', 'a', 'g'};
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 6;

void Header(Bytes& out, MessageType type) {
  AppendBytes(out, ByteSpan(kMagic, 4));
  AppendU8(out, kVersion);
  AppendU8(out, static_cast<std::uint8_t>(type));
}

void AppendKey(Bytes& out, const std::array<std::uint8_t, 32>& key) { AppendBytes(out, key); }

void AppendIndices(Bytes& out, const std::vector<std::uint32_t>& v) {
  AppendU32(out, static_cast<std::uint32_t>(v.size()));
  for (std::uint32_t x : v) AppendU32(out, x);
}

void AppendShares(Bytes& out, const std::vector<EncryptedShare>& shares) {
  AppendU32(out, static_cast<std::uint32_t>(shares.size()));
  for (const auto& s : shares) {
    AppendU32(out, s.peer);
    AppendBytes(out, s.ciphertext);
  }
}

void AppendValuesLe(Bytes& out, std::span<const std::uint32_t> values) {
  const std::size_t at = out.size();
  out.resize(at + values.size() * 4);
  if constexpr (std::endian::native == std::endian::little) {
    if (!values.empty()) std::memcpy(out.data() + at, values.data(), values.size() * 4);
  } else {
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::uint32_t v = values[i];
      for (int b = 0; b < 4; ++b) out[at + 4 * i + b] = static_cast<std::uint8_t>(v >> (8 * b));
    }
  }
}

// Bounds-checked reader; every failure names the message, the field and the byte offset.
class Reader {
 public:
  Reader(ByteSpan data, const char* message) : data_(data), message_(message) {}

  std::unexpected<cairn::Error> Bad(const char* field, const std::string& what) const {
    return Fail(ErrorCode::kInvalidArgument, std::string("secagg ") + message_ + ": field " +
                                                 field + ": " + what + " (byte offset " +
                                                 std::to_string(pos_) + ")");
  }
  Status Need(std::size_t n, const char* field) const {
    if (data_.size() - pos_ < n) {
      return Bad(field, "truncated: needs " + std::to_string(n) + " bytes, " +
                              std::to_string(data_.size() - pos_) + " left");
    }
    return Ok();
  }
  Result<std::uint8_t> U8(const char* field) {
    CAIRN_RETURN_IF_ERROR(Need(1, field));
    return data_[pos_++];
  }
  Result<std::uint32_t> U32(const char* field) {
    CAIRN_RETURN_IF_ERROR(Need(4, field));
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | data_[pos_++];
    return v;
  }
  Result<std::uint64_t> U64(const char* field) {
    CAIRN_RETURN_IF_ERROR(Need(8, field));
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | data_[pos_++];
    return v;
  }
  template <std::size_t N>
  Status Array(std::array<std::uint8_t, N>& out, const char* field) {
    CAIRN_RETURN_IF_ERROR(Need(N, field));
    std::memcpy(out.data(), data_.data() + pos_, N);
    pos_ += N;
    return Ok();
  }
  // A u32 count ≤ limit whose items (item_bytes each) fit in what is left.
  Result<std::uint32_t> Count(const char* field, std::uint64_t limit, std::size_t item_bytes) {
    CAIRN_ASSIGN_OR_RETURN(std::uint32_t n, U32(field));
    if (n > limit) {
      pos_ -= 4;
      return Bad(field, "count " + std::to_string(n) + " is above the limit " + std::to_string(limit));
    }
    if (static_cast<std::uint64_t>(n) * item_bytes > data_.size() - pos_) {
      pos_ -= 4;
      return Bad(field, "count " + std::to_string(n) + " needs " +
                              std::to_string(static_cast<std::uint64_t>(n) * item_bytes) +
                              " bytes, " + std::to_string(data_.size() - pos_ - 4) + " left");
    }
    return n;
  }
  Result<std::uint32_t> Index(const char* field, std::uint32_t limit) {
    CAIRN_ASSIGN_OR_RETURN(std::uint32_t v, U32(field));
    if (v >= limit) {
      pos_ -= 4;
      return Bad(field, "participant index " + std::to_string(v) + " is not below " + std::to_string(limit));
    }
    return v;
  }
  Result<std::vector<std::uint32_t>> AscendingIndices(const char* field, std::uint32_t limit) {
    CAIRN_ASSIGN_OR_RETURN(std::uint32_t n, Count(field, limit, 4));
    std::vector<std::uint32_t> v(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      CAIRN_ASSIGN_OR_RETURN(v[i], Index(field, limit));
      if (i > 0 && v[i] <= v[i - 1]) {
        pos_ -= 4;
        return Bad(field, "not strictly ascending at item " + std::to_string(i));
      }
    }
    return v;
  }
  Result<std::vector<EncryptedShare>> Shares(const char* field, const DecodeLimits& limits) {
    CAIRN_ASSIGN_OR_RETURN(std::uint32_t n, Count(field, limits.max_neighborhood, 4 + kShareCiphertextBytes));
    std::vector<EncryptedShare> v(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      CAIRN_ASSIGN_OR_RETURN(v[i].peer, Index(field, limits.max_participants));
      if (i > 0 && v[i].peer <= v[i - 1].peer) {
        pos_ -= 4;
        return Bad(field, "peers not strictly ascending at item " + std::to_string(i));
      }
      CAIRN_RETURN_IF_ERROR(Array(v[i].ciphertext, field));
    }
    return v;
  }
  Status End() const {
    if (pos_ != data_.size()) {
      return Bad("end", std::to_string(data_.size() - pos_) + " trailing bytes");
    }
    return Ok();
  }
  std::size_t pos() const { return pos_; }
  ByteSpan rest() const { return data_.subspan(pos_); }
  void Skip(std::size_t n) { pos_ += n; }

 private:
  ByteSpan data_;
  const char* message_;
  std::size_t pos_ = kHeaderBytes;
};

Result<Message> DecodeAdvertiseKeys(Reader& r, const DecodeLimits& limits) {
  AdvertiseKeys m;
  CAIRN_ASSIGN_OR_RETURN(m.round_id, r.U64("round_id"));
  CAIRN_ASSIGN_OR_RETURN(m.sender, r.Index("sender", limits.max_participants));
  CAIRN_RETURN_IF_ERROR(r.Array(m.cipher_key, "cipher_key"));
  CAIRN_RETURN_IF_ERROR(r.Array(m.mask_key, "mask_key"));
  CAIRN_RETURN_IF_ERROR(r.End());
  return m;
}

Result<Message> DecodeKeysRelay(Reader& r, const DecodeLimits& limits) {
  KeysRelay m;
  CAIRN_ASSIGN_OR_RETURN(m.round_id, r.U64("round_id"));
  CAIRN_ASSIGN_OR_RETURN(m.recipient, r.Index("recipient", limits.max_participants));
  CAIRN_ASSIGN_OR_RETURN(m.members, r.AscendingIndices("members", limits.max_participants));
  CAIRN_ASSIGN_OR_RETURN(std::uint32_t n, r.Count("neighbors", limits.max_neighborhood, 4 + 64));
  m.neighbors.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    CAIRN_ASSIGN_OR_RETURN(m.neighbors[i].index, r.Index("neighbors", limits.max_participants));
    if (i > 0 && m.neighbors[i].index <= m.neighbors[i - 1].index) {
      return r.Bad("neighbors", "not strictly ascending at item " + std::to_string(i));
    }
    CAIRN_RETURN_IF_ERROR(r.Array(m.neighbors[i].cipher_key, "neighbors.cipher_key"));
    CAIRN_RETURN_IF_ERROR(r.Array(m.neighbors[i].mask_key, "neighbors.mask_key"));
  }
  CAIRN_RETURN_IF_ERROR(r.End());
  return m;
}

Result<Message> DecodeShareKeys(Reader& r, const DecodeLimits& limits) {
  ShareKeys m;
  CAIRN_ASSIGN_OR_RETURN(m.round_id, r.U64("round_id"));
  CAIRN_ASSIGN_OR_RETURN(m.sender, r.Index("sender", limits.max_participants));
  CAIRN_RETURN_IF_ERROR(r.Array(m.seed_commitment, "seed_commitment"));
  CAIRN_ASSIGN_OR_RETURN(m.shares, r.Shares("shares", limits));
  CAIRN_RETURN_IF_ERROR(r.End());
  return m;
}

Result<Message> DecodeSharesRelay(Reader& r, const DecodeLimits& limits) {
  SharesRelay m;
  CAIRN_ASSIGN_OR_RETURN(m.round_id, r.U64("round_id"));
  CAIRN_ASSIGN_OR_RETURN(m.recipient, r.Index("recipient", limits.max_participants));
  CAIRN_ASSIGN_OR_RETURN(m.shares, r.Shares("shares", limits));
  CAIRN_RETURN_IF_ERROR(r.End());
  return m;
}

Result<Message> DecodeMaskedInput(Reader& r, const DecodeLimits& limits) {
  MaskedInput m;
  CAIRN_ASSIGN_OR_RETURN(m.round_id, r.U64("round_id"));
  CAIRN_ASSIGN_OR_RETURN(m.sender, r.Index("sender", limits.max_participants));
  CAIRN_ASSIGN_OR_RETURN(m.offset, r.U64("offset"));
  CAIRN_ASSIGN_OR_RETURN(std::uint32_t hi, r.U32("values"));
  CAIRN_ASSIGN_OR_RETURN(std::uint32_t lo, r.U32("values"));
  const std::uint64_t n = (static_cast<std::uint64_t>(hi) << 32) | lo;
  if (n > limits.max_elements) {
    return r.Bad("values", "count " + std::to_string(n) + " is above the limit " +
                                 std::to_string(limits.max_elements));
  }
  if (m.offset > limits.max_elements || n > limits.max_elements - m.offset) {
    return r.Bad("offset", "elements [" + std::to_string(m.offset) + ", +" + std::to_string(n) +
                                 ") extend past " + std::to_string(limits.max_elements));
  }
  if (n * 4 != r.rest().size()) {
    return r.Bad("values", "count " + std::to_string(n) + " needs " + std::to_string(n * 4) +
                                 " bytes, " + std::to_string(r.rest().size()) + " left");
  }
  m.values.resize(n);
  ByteSpan raw = r.rest();
  if constexpr (std::endian::native == std::endian::little) {
    if (n > 0) std::memcpy(m.values.data(), raw.data(), n * 4);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      m.values[i] = raw[4 * i] | (raw[4 * i + 1] << 8) | (raw[4 * i + 2] << 16) |
                    (static_cast<std::uint32_t>(raw[4 * i + 3]) << 24);
    }
  }
  r.Skip(n * 4);
  CAIRN_RETURN_IF_ERROR(r.End());
  return m;
}

Result<Message> DecodeUnmaskRequest(Reader& r, const DecodeLimits& limits) {
  UnmaskRequest m;
  CAIRN_ASSIGN_OR_RETURN(m.round_id, r.U64("round_id"));
  CAIRN_ASSIGN_OR_RETURN(m.committed, r.AscendingIndices("committed", limits.max_participants));
  CAIRN_RETURN_IF_ERROR(r.End());
  return m;
}

Result<Message> DecodeUnmaskResponse(Reader& r, const DecodeLimits& limits) {
  UnmaskResponse m;
  CAIRN_ASSIGN_OR_RETURN(m.round_id, r.U64("round_id"));
  CAIRN_ASSIGN_OR_RETURN(m.sender, r.Index("sender", limits.max_participants));
  CAIRN_ASSIGN_OR_RETURN(std::uint32_t n, r.Count("shares", limits.max_neighborhood, 4 + 1 + 32));
  m.shares.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    CAIRN_ASSIGN_OR_RETURN(m.shares[i].owner, r.Index("shares.owner", limits.max_participants));
    if (i > 0 && m.shares[i].owner <= m.shares[i - 1].owner) {
      return r.Bad("shares.owner", "not strictly ascending at item " + std::to_string(i));
    }
    CAIRN_ASSIGN_OR_RETURN(std::uint8_t kind, r.U8("shares.kind"));
    if (kind != 1 && kind != 2) return r.Bad("shares.kind", "unknown kind " + std::to_string(kind));
    m.shares[i].kind = static_cast<ShareKind>(kind);
    CAIRN_RETURN_IF_ERROR(r.Array(m.shares[i].y, "shares.y"));
  }
  CAIRN_RETURN_IF_ERROR(r.End());
  return m;
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kAdvertiseKeys: return "AdvertiseKeys";
    case MessageType::kKeysRelay: return "KeysRelay";
    case MessageType::kShareKeys: return "ShareKeys";
    case MessageType::kSharesRelay: return "SharesRelay";
    case MessageType::kMaskedInput: return "MaskedInput";
    case MessageType::kUnmaskRequest: return "UnmaskRequest";
    case MessageType::kUnmaskResponse: return "UnmaskResponse";
  }
  return "unknown";
}

MessageType TypeOf(const Message& message) {
  return static_cast<MessageType>(message.index() + 1);
}

DecodeLimits LimitsFor(const Params& params, const RoundSetup& setup) {
  DecodeLimits l;
  l.max_participants = setup.cohort_size;
  l.max_neighborhood = params.neighborhood_size;
  l.max_elements = setup.num_elements;
  return l;
}

void EncodeMaskedInput(std::uint64_t round_id, std::uint32_t sender, std::uint64_t offset,
                       std::span<const std::uint32_t> values, Bytes& out) {
  out.reserve(out.size() + kHeaderBytes + 8 + 4 + 8 + 8 + values.size() * 4);
  Header(out, MessageType::kMaskedInput);
  AppendU64(out, round_id);
  AppendU32(out, sender);
  AppendU64(out, offset);
  AppendU64(out, values.size());
  AppendValuesLe(out, values);
}

Bytes Encode(const Message& message) {
  Bytes out;
  std::visit(
      [&out](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, AdvertiseKeys>) {
          Header(out, MessageType::kAdvertiseKeys);
          AppendU64(out, m.round_id);
          AppendU32(out, m.sender);
          AppendKey(out, m.cipher_key);
          AppendKey(out, m.mask_key);
        } else if constexpr (std::is_same_v<T, KeysRelay>) {
          Header(out, MessageType::kKeysRelay);
          AppendU64(out, m.round_id);
          AppendU32(out, m.recipient);
          AppendIndices(out, m.members);
          AppendU32(out, static_cast<std::uint32_t>(m.neighbors.size()));
          for (const auto& nb : m.neighbors) {
            AppendU32(out, nb.index);
            AppendKey(out, nb.cipher_key);
            AppendKey(out, nb.mask_key);
          }
        } else if constexpr (std::is_same_v<T, ShareKeys>) {
          Header(out, MessageType::kShareKeys);
          AppendU64(out, m.round_id);
          AppendU32(out, m.sender);
          AppendBytes(out, m.seed_commitment);
          AppendShares(out, m.shares);
        } else if constexpr (std::is_same_v<T, SharesRelay>) {
          Header(out, MessageType::kSharesRelay);
          AppendU64(out, m.round_id);
          AppendU32(out, m.recipient);
          AppendShares(out, m.shares);
        } else if constexpr (std::is_same_v<T, MaskedInput>) {
          EncodeMaskedInput(m.round_id, m.sender, m.offset, m.values, out);
        } else if constexpr (std::is_same_v<T, UnmaskRequest>) {
          Header(out, MessageType::kUnmaskRequest);
          AppendU64(out, m.round_id);
          AppendIndices(out, m.committed);
        } else {
          static_assert(std::is_same_v<T, UnmaskResponse>);
          Header(out, MessageType::kUnmaskResponse);
          AppendU64(out, m.round_id);
          AppendU32(out, m.sender);
          AppendU32(out, static_cast<std::uint32_t>(m.shares.size()));
          for (const auto& s : m.shares) {
            AppendU32(out, s.owner);
            AppendU8(out, static_cast<std::uint8_t>(s.kind));
            AppendBytes(out, s.y);
          }
        }
      },
      message);
  return out;
}

Result<Message> Decode(ByteSpan bytes, const DecodeLimits& limits) {
  if (bytes.size() < kHeaderBytes) {
    return Fail(ErrorCode::kInvalidArgument, "secagg message: " + std::to_string(bytes.size()) +
                                                 " bytes, shorter than the 6-byte header");
  }
  if (std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "secagg message: bad magic (byte offset 0)");
  }
  if (bytes[4] != kVersion) {
    return Fail(ErrorCode::kInvalidArgument, "secagg message: version " + std::to_string(bytes[4]) +
                                                 " is not 1 (byte offset 4)");
  }
  const auto type = static_cast<MessageType>(bytes[5]);
  Reader r(bytes, MessageTypeName(type));
  switch (type) {
    case MessageType::kAdvertiseKeys: return DecodeAdvertiseKeys(r, limits);
    case MessageType::kKeysRelay: return DecodeKeysRelay(r, limits);
    case MessageType::kShareKeys: return DecodeShareKeys(r, limits);
    case MessageType::kSharesRelay: return DecodeSharesRelay(r, limits);
    case MessageType::kMaskedInput: return DecodeMaskedInput(r, limits);
    case MessageType::kUnmaskRequest: return DecodeUnmaskRequest(r, limits);
    case MessageType::kUnmaskResponse: return DecodeUnmaskResponse(r, limits);
  }
  return Fail(ErrorCode::kInvalidArgument,
              "secagg message: unknown type " + std::to_string(bytes[5]) + " (byte offset 5)");
}

}  // namespace cairn::secagg
