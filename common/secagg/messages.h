// The messages of the masking protocol: plain value types, each with a canonical byte encoding.
//
// Order of a round (docs/masking.md, "Wiring"):
//   participant → aggregator  AdvertiseKeys   (round 1: two X25519 public keys)
//   aggregator → participant  KeysRelay       (U1 and the neighbours' public keys)
//   participant → aggregator  ShareKeys       (round 2: shares encrypted to each neighbour)
//   aggregator → participant  SharesRelay     (the ciphertexts addressed to it)
//   participant → aggregator  MaskedInput     (round 3: the masked vector, or chunks of it)
//   aggregator → participants UnmaskRequest   (round 4: the committed set S, same for all)
//   participant → aggregator  UnmaskResponse  (one share per neighbour: seed or key, never both)
//
// Encoding: magic "csag", version (u8, = 1), type (u8), then the fields in declaration order;
// integers big-endian, lists as a u32 count then the items, fixed-size byte arrays raw.
// MaskedInput values alone are little-endian u32 (the layout of the vector in memory on every
// supported machine, so encoding 10M values is one copy). Decoding is strict: exact lengths,
// no trailing bytes, sorted lists where the type says so, and every count bounded by
// DecodeLimits before anything is allocated; errors name the message, the field and the byte
// offset.
//
// None of these carries a secret except UnmaskResponse (Shamir shares, harmless alone by the
// protocol's design but still not to be logged) and the ciphertexts (opaque).
#pragma once

#include <array>
#include <cstdint>
#include <variant>
#include <vector>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "common/secagg/params.h"

namespace cairn::secagg {

using PublicKey = std::array<std::uint8_t, 32>;  // X25519
using Digest = std::array<std::uint8_t, 32>;     // SHA-256

// Encrypted share payload: owner u32, holder u32, share of the self-mask seed (32), share of
// the mask secret key (32); sealed with ChaCha20-Poly1305 (+16-byte tag).
inline constexpr std::size_t kSharePlaintextBytes = 4 + 4 + 32 + 32;
inline constexpr std::size_t kShareCiphertextBytes = kSharePlaintextBytes + 16;

// Round 1, participant → aggregator. Authenticated by the channel it arrives on (the Curve
// control channel admits only roster members); see docs/masking.md for what that does and does
// not cover.
struct AdvertiseKeys {
  std::uint64_t round_id = 0;
  std::uint32_t sender = 0;
  PublicKey cipher_key{};  // c_pk: shares to this participant are encrypted under X25519(c, ·)
  PublicKey mask_key{};    // s_pk: pairwise mask seeds are agreed with X25519(s, ·)
  friend bool operator==(const AdvertiseKeys&, const AdvertiseKeys&) = default;
};

struct NeighborKeys {
  std::uint32_t index = 0;
  PublicKey cipher_key{};
  PublicKey mask_key{};
  friend bool operator==(const NeighborKeys&, const NeighborKeys&) = default;
};

// Aggregator → each participant in U1, after round 1 closes.
struct KeysRelay {
  std::uint64_t round_id = 0;
  std::uint32_t recipient = 0;
  std::vector<std::uint32_t> members;   // U1, strictly ascending: the graph is built over it
  std::vector<NeighborKeys> neighbors;  // exactly N(recipient) in the graph, ascending by index
  friend bool operator==(const KeysRelay&, const KeysRelay&) = default;
};

struct EncryptedShare {
  std::uint32_t peer = 0;  // the recipient (in ShareKeys) or the sender (in SharesRelay)
  std::array<std::uint8_t, kShareCiphertextBytes> ciphertext{};
  friend bool operator==(const EncryptedShare&, const EncryptedShare&) = default;
};

// Round 2, participant → aggregator: one ciphertext per neighbour, ascending by recipient.
struct ShareKeys {
  std::uint64_t round_id = 0;
  std::uint32_t sender = 0;
  // SHA-256("cairn/secagg/v1/seed-commitment" ‖ session id ‖ sender ‖ seed): lets the
  // aggregator check a rebuilt self-mask seed (Shamir shares alone have no integrity).
  Digest seed_commitment{};
  std::vector<EncryptedShare> shares;
  friend bool operator==(const ShareKeys&, const ShareKeys&) = default;
};

// Aggregator → each participant in U2, after round 2 closes: every ciphertext addressed to it,
// ascending by sender. The senders are the participant's mask partners.
struct SharesRelay {
  std::uint64_t round_id = 0;
  std::uint32_t recipient = 0;
  std::vector<EncryptedShare> shares;
  friend bool operator==(const SharesRelay&, const SharesRelay&) = default;
};

// Round 3, participant → aggregator: masked elements [offset, offset + values.size()).
struct MaskedInput {
  std::uint64_t round_id = 0;
  std::uint32_t sender = 0;
  std::uint64_t offset = 0;
  std::vector<std::uint32_t> values;
  friend bool operator==(const MaskedInput&, const MaskedInput&) = default;
};

// Round 4, aggregator → every participant in S (the same bytes for all).
struct UnmaskRequest {
  std::uint64_t round_id = 0;
  std::vector<std::uint32_t> committed;  // S, strictly ascending
  friend bool operator==(const UnmaskRequest&, const UnmaskRequest&) = default;
};

enum class ShareKind : std::uint8_t {
  kSelfMaskSeed = 1,  // of a participant in S
  kMaskKey = 2,       // of a participant in U2 \ S
};

struct RevealedShare {
  std::uint32_t owner = 0;
  ShareKind kind = ShareKind::kSelfMaskSeed;
  std::array<std::uint8_t, 32> y{};  // the share's value (its x follows from the graph)
  friend bool operator==(const RevealedShare&, const RevealedShare&) = default;
};

// Round 4, participant → aggregator: one share per owner in N[sender] ∩ U2 (its own seed
// share included), ascending by owner.
struct UnmaskResponse {
  std::uint64_t round_id = 0;
  std::uint32_t sender = 0;
  std::vector<RevealedShare> shares;
  friend bool operator==(const UnmaskResponse&, const UnmaskResponse&) = default;
};

using Message = std::variant<AdvertiseKeys, KeysRelay, ShareKeys, SharesRelay, MaskedInput,
                             UnmaskRequest, UnmaskResponse>;

enum class MessageType : std::uint8_t {
  kAdvertiseKeys = 1,
  kKeysRelay = 2,
  kShareKeys = 3,
  kSharesRelay = 4,
  kMaskedInput = 5,
  kUnmaskRequest = 6,
  kUnmaskResponse = 7,
};
const char* MessageTypeName(MessageType type);
MessageType TypeOf(const Message& message);

// Bounds applied while decoding untrusted bytes.
struct DecodeLimits {
  // Largest participant index + 1 and longest member / committed list.
  std::uint32_t max_participants = kMaxParticipants;
  // Longest neighbour / share list (k).
  std::uint32_t max_neighborhood = kMaxNeighborhood;
  // Longest MaskedInput; 0 refuses MaskedInput. Set it to the round's num_elements.
  std::uint64_t max_elements = 0;
};
// The limits for one round: the cohort size, k, and P.
DecodeLimits LimitsFor(const Params& params, const RoundSetup& setup);

Bytes Encode(const Message& message);
// Appends MaskedInput's encoding to `out` without building the vector first (streaming).
void EncodeMaskedInput(std::uint64_t round_id, std::uint32_t sender, std::uint64_t offset,
                       std::span<const std::uint32_t> values, Bytes& out);

Result<Message> Decode(ByteSpan bytes, const DecodeLimits& limits);

// Decode, then require the given type.
template <typename T>
Result<T> DecodeAs(ByteSpan bytes, const DecodeLimits& limits) {
  CAIRN_ASSIGN_OR_RETURN(Message m, Decode(bytes, limits));
  if (auto* v = std::get_if<T>(&m)) return std::move(*v);
  return Fail(ErrorCode::kInvalidArgument,
              std::string("secagg: expected a different message, got ") +
                  MessageTypeName(TypeOf(m)));
}

}  // namespace cairn::secagg
