// Key derivations of the masking protocol (internal to common/secagg; docs/masking.md lists
// them). Every derivation is HKDF-SHA256 with the session id as salt and a distinct label, so
// no key serves two purposes and every key is bound to the round's parameters and setup.
#pragma once

#include <cstdint>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "common/crypto/crypto.h"
#include "common/secagg/messages.h"
#include "common/secagg/params.h"

namespace cairn::secagg::internal {

// Key of the ChaCha20-Poly1305 ciphertext from `sender` to `recipient` (directional):
// HKDF(salt = session, ikm = X25519(c_sender, c_recipient),
//      info = "cairn/secagg/v1/share-key" ‖ sender ‖ recipient ‖ c_pk_sender ‖ c_pk_recipient).
Result<crypto::SecretBytes> ShareKey(const SessionId& session, std::uint32_t sender,
                                     std::uint32_t recipient, ByteSpan dh,
                                     const PublicKey& sender_key, const PublicKey& recipient_key);

// AAD of that ciphertext: "cairn/secagg/v1/share" ‖ session ‖ sender ‖ recipient.
Bytes ShareAad(const SessionId& session, std::uint32_t sender, std::uint32_t recipient);

// Seed of the pairwise mask of i and j (symmetric): with a = min(i, j), b = max(i, j),
// HKDF(salt = session, ikm = X25519(s_i, s_j), info = "cairn/secagg/v1/pair-mask" ‖ a ‖ b ‖
//      s_pk_a ‖ s_pk_b).
Result<crypto::SecretBytes> PairMaskSeed(const SessionId& session, std::uint32_t i,
                                         std::uint32_t j, ByteSpan dh, const PublicKey& key_i,
                                         const PublicKey& key_j);

// Key of participant i's self mask: HKDF(salt = session, ikm = seed,
// info = "cairn/secagg/v1/self-mask" ‖ i).
Result<crypto::SecretBytes> SelfMaskKey(const SessionId& session, std::uint32_t i, ByteSpan seed);

// SHA-256("cairn/secagg/v1/seed-commitment" ‖ session ‖ i ‖ seed).
Digest SeedCommitment(const SessionId& session, std::uint32_t i, ByteSpan seed);

// Fails (kUnauthenticated) for a low-order X25519 public key (agreement with it gives zero).
Status CheckPublicKey(const PublicKey& key, const char* what, std::uint32_t owner);

}  // namespace cairn::secagg::internal
