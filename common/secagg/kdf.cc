#include "common/secagg/kdf.h"

#include <string>

namespace cairn::secagg::internal {
namespace {

Result<crypto::SecretBytes> Derive(const SessionId& session, ByteSpan ikm, ByteSpan info) {
  auto prk = crypto::HkdfSha256Extract(session, ikm);
  auto out = crypto::HkdfSha256Expand(prk, info, 32);
  crypto::Wipe(prk);
  return out;
}

}  // namespace

Result<crypto::SecretBytes> ShareKey(const SessionId& session, std::uint32_t sender,
                                     std::uint32_t recipient, ByteSpan dh,
                                     const PublicKey& sender_key, const PublicKey& recipient_key) {
  Bytes info = ToBytes("cairn/secagg/v1/share-key");
  AppendU32(info, sender);
  AppendU32(info, recipient);
  AppendBytes(info, sender_key);
  AppendBytes(info, recipient_key);
  return Derive(session, dh, info);
}

Bytes ShareAad(const SessionId& session, std::uint32_t sender, std::uint32_t recipient) {
  Bytes aad = ToBytes("cairn/secagg/v1/share");
  AppendBytes(aad, session);
  AppendU32(aad, sender);
  AppendU32(aad, recipient);
  return aad;
}

Result<crypto::SecretBytes> PairMaskSeed(const SessionId& session, std::uint32_t i,
                                         std::uint32_t j, ByteSpan dh, const PublicKey& key_i,
                                         const PublicKey& key_j) {
  Bytes info = ToBytes("cairn/secagg/v1/pair-mask");
  const bool i_first = i < j;
  AppendU32(info, i_first ? i : j);
  AppendU32(info, i_first ? j : i);
  AppendBytes(info, i_first ? key_i : key_j);
  AppendBytes(info, i_first ? key_j : key_i);
  return Derive(session, dh, info);
}

Result<crypto::SecretBytes> SelfMaskKey(const SessionId& session, std::uint32_t i, ByteSpan seed) {
  Bytes info = ToBytes("cairn/secagg/v1/self-mask");
  AppendU32(info, i);
  return Derive(session, seed, info);
}

Digest SeedCommitment(const SessionId& session, std::uint32_t i, ByteSpan seed) {
  Bytes msg = ToBytes("cairn/secagg/v1/seed-commitment");
  AppendBytes(msg, session);
  AppendU32(msg, i);
  AppendBytes(msg, seed);
  auto d = crypto::Sha256(msg);
  crypto::Wipe(msg);
  return d;
}

Status CheckPublicKey(const PublicKey& key, const char* what, std::uint32_t owner) {
  // Any fixed scalar works: a clamped scalar is a multiple of the cofactor 8, so the product is
  // the identity exactly when the point lies in the small-order subgroup.
  static constexpr std::array<std::uint8_t, 32> kProbe = {
      0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
      0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a};
  auto r = crypto::X25519(kProbe, key);
  if (!r) {
    return Fail(ErrorCode::kUnauthenticated, std::string(what) + " of participant " +
                                                 std::to_string(owner) +
                                                 " is a low-order X25519 point");
  }
  return Ok();
}

}  // namespace cairn::secagg::internal
