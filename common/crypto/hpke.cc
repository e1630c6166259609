// HPKE (RFC 9180): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-GCM / ChaCha20-Poly1305.
// Section numbers below refer to RFC 9180.
#include <sodium.h>

#include <cstring>
#include <limits>
#include <utility>

#include "common/crypto/crypto.h"
#include "common/crypto/internal.h"

namespace cairn::crypto {
namespace {

using internal::WipedArray;

constexpr std::uint16_t kKemId = 0x0020;  // DHKEM(X25519, HKDF-SHA256)
constexpr std::uint16_t kKdfId = 0x0001;  // HKDF-SHA256
constexpr std::size_t kNsecret = 32;      // KEM Nsecret
constexpr std::size_t kNh = 32;           // KDF Nh
constexpr std::size_t kNpk = 32;          // KEM Npk = Nenc
constexpr std::size_t kMinPskBytes = 32;  // §5.1.2: the PSK MUST have at least 32 bytes of entropy

const std::uint8_t kVersionLabel[] = {'H', 'P', 'K', 'E', '-', 'v', '1'};

// suite_id = "KEM" || I2OSP(kem_id, 2) (§4.1)
constexpr std::array<std::uint8_t, 5> kKemSuiteId = {'K', 'E', 'M', kKemId >> 8, kKemId & 0xff};

// suite_id = "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2) (§5.1)
std::array<std::uint8_t, 10> HpkeSuiteId(AeadAlgorithm aead) {
  auto aead_id = static_cast<std::uint16_t>(aead);
  return {'H', 'P', 'K', 'E', kKemId >> 8, kKemId & 0xff, kKdfId >> 8, kKdfId & 0xff,
          static_cast<std::uint8_t>(aead_id >> 8), static_cast<std::uint8_t>(aead_id & 0xff)};
}

ByteSpan Label(std::string_view s) { return AsBytes(s); }

// LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm), where
// ikm may be given in pieces (dh = dh1 || dh2 in the auth modes) so it is never concatenated.
Status LabeledExtract(ByteSpan salt, ByteSpan suite_id, std::string_view label, ByteSpan ikm1,
                      ByteSpan ikm2, std::array<std::uint8_t, 32>& prk) {
  return internal::HmacSha256Parts(salt, {ByteSpan(kVersionLabel), suite_id, Label(label), ikm1, ikm2},
                                   prk);
}
Status LabeledExtract(ByteSpan salt, ByteSpan suite_id, std::string_view label, ByteSpan ikm,
                      std::array<std::uint8_t, 32>& prk) {
  return LabeledExtract(salt, suite_id, label, ikm, {}, prk);
}

// LabeledExpand(prk, label, info, L) =
//   Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L), info in pieces.
Status LabeledExpand(ByteSpan prk, ByteSpan suite_id, std::string_view label, ByteSpan info1,
                     ByteSpan info2, MutableByteSpan out) {
  if (out.size() > 0xffff) {
    return Fail(ErrorCode::kInvalidArgument, "HPKE LabeledExpand length above 65535");
  }
  const std::uint8_t length[2] = {static_cast<std::uint8_t>(out.size() >> 8),
                                  static_cast<std::uint8_t>(out.size() & 0xff)};
  return internal::HkdfSha256ExpandParts(
      prk, {ByteSpan(length), ByteSpan(kVersionLabel), suite_id, Label(label), info1, info2}, out);
}
Status LabeledExpand(ByteSpan prk, ByteSpan suite_id, std::string_view label, ByteSpan info,
                     MutableByteSpan out) {
  return LabeledExpand(prk, suite_id, label, info, {}, out);
}

// ExtractAndExpand(dh, kem_context) of DHKEM (§4.1); dh and kem_context given in pieces.
Status ExtractAndExpand(ByteSpan dh1, ByteSpan dh2, ByteSpan kem_context1, ByteSpan kem_context2,
                        MutableByteSpan shared_secret) {
  WipedArray<32> eae_prk;
  CAIRN_RETURN_IF_ERROR(LabeledExtract({}, kKemSuiteId, "eae_prk", dh1, dh2, eae_prk.v));
  return LabeledExpand(eae_prk.span(), kKemSuiteId, "shared_secret", kem_context1, kem_context2,
                       shared_secret);
}

bool IsKnownAead(AeadAlgorithm aead) { return AeadKeyBytes(aead) != 0; }

bool IsAuthMode(HpkeMode mode) { return mode == HpkeMode::kAuth || mode == HpkeMode::kAuthPsk; }
bool IsPskMode(HpkeMode mode) { return mode == HpkeMode::kPsk || mode == HpkeMode::kAuthPsk; }

const char* ModeName(HpkeMode mode) {
  switch (mode) {
    case HpkeMode::kBase:
      return "base";
    case HpkeMode::kPsk:
      return "psk";
    case HpkeMode::kAuth:
      return "auth";
    case HpkeMode::kAuthPsk:
      return "authpsk";
  }
  return "unknown";
}

// The checks common to both sides: a known mode and AEAD, and VerifyPSKInputs (§5.1).
Status CheckOptions(const HpkeSetupOptions& o) {
  auto mode = static_cast<unsigned>(o.mode);
  if (mode > 3) {
    return Fail(ErrorCode::kInvalidArgument, "HPKE mode " + std::to_string(mode) + " is unknown");
  }
  if (!IsKnownAead(o.aead)) {
    return Fail(ErrorCode::kInvalidArgument,
                "HPKE aead_id " + std::to_string(static_cast<unsigned>(o.aead)) + " is unknown");
  }
  bool got_psk = !o.psk.empty();
  bool got_psk_id = !o.psk_id.empty();
  if (got_psk != got_psk_id) {
    return Fail(ErrorCode::kInvalidArgument,
                "HPKE: psk and psk_id must be given together (inconsistent PSK inputs)");
  }
  if (got_psk && !IsPskMode(o.mode)) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("HPKE: a PSK was given in mode ") + ModeName(o.mode));
  }
  if (!got_psk && IsPskMode(o.mode)) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("HPKE: mode ") + ModeName(o.mode) + " needs psk and psk_id");
  }
  if (got_psk && o.psk.size() < kMinPskBytes) {
    return Fail(ErrorCode::kInvalidArgument, "HPKE: the PSK has " + std::to_string(o.psk.size()) +
                                                 " bytes, at least 32 are required");
  }
  return Ok();
}

}  // namespace

// In `internal`, not the anonymous namespace: HpkeContext::Impl holds one (GCC's
// -Wsubobject-linkage when this file is compiled in a unity batch).
namespace internal {
enum class HpkeRole : std::uint8_t { kSender, kRecipient };
}  // namespace internal

struct HpkeContext::Impl {
  internal::HpkeRole role;
  Aead aead;
  SecretBytes key;
  std::array<std::uint8_t, kAeadNonceBytes> base_nonce{};
  SecretBytes exporter_secret;
  AeadAlgorithm aead_alg;
  std::uint64_t seq = 0;

  // nonce = base_nonce XOR I2OSP(seq, Nn) (§5.2)
  std::array<std::uint8_t, kAeadNonceBytes> Nonce(std::uint64_t s) const {
    std::array<std::uint8_t, kAeadNonceBytes> n = base_nonce;
    for (std::size_t i = 0; i < 8; ++i) {
      n[kAeadNonceBytes - 1 - i] ^= static_cast<std::uint8_t>(s >> (8 * i));
    }
    return n;
  }
};

namespace {

// KeySchedule<ROLE>(mode, shared_secret, info, psk, psk_id) (§5.1).
Result<HpkeContext> KeySchedule(internal::HpkeRole role, const HpkeSetupOptions& o, ByteSpan shared_secret) {
  const auto suite_id = HpkeSuiteId(o.aead);
  WipedArray<32> psk_id_hash, info_hash, secret;
  CAIRN_RETURN_IF_ERROR(LabeledExtract({}, suite_id, "psk_id_hash", o.psk_id, psk_id_hash.v));
  CAIRN_RETURN_IF_ERROR(LabeledExtract({}, suite_id, "info_hash", o.info, info_hash.v));
  // key_schedule_context = mode || psk_id_hash || info_hash
  std::array<std::uint8_t, 1 + 2 * kNh> context{};
  context[0] = static_cast<std::uint8_t>(o.mode);
  std::memcpy(context.data() + 1, psk_id_hash.data(), kNh);
  std::memcpy(context.data() + 1 + kNh, info_hash.data(), kNh);
  CAIRN_RETURN_IF_ERROR(LabeledExtract(shared_secret, suite_id, "secret", o.psk, secret.v));

  CAIRN_ASSIGN_OR_RETURN(SecretBytes key, SecretBytes::Allocate(AeadKeyBytes(o.aead)));
  CAIRN_RETURN_IF_ERROR(LabeledExpand(secret.span(), suite_id, "key", context, key.mutable_span()));
  std::array<std::uint8_t, kAeadNonceBytes> base_nonce{};
  CAIRN_RETURN_IF_ERROR(LabeledExpand(secret.span(), suite_id, "base_nonce", context, base_nonce));
  CAIRN_ASSIGN_OR_RETURN(SecretBytes exporter_secret, SecretBytes::Allocate(kNh));
  CAIRN_RETURN_IF_ERROR(LabeledExpand(secret.span(), suite_id, "exp", context,
                                      exporter_secret.mutable_span()));
  CAIRN_ASSIGN_OR_RETURN(Aead aead, Aead::Create(o.aead, key.span()));
  auto impl = std::make_unique<HpkeContext::Impl>(
      HpkeContext::Impl{.role = role,
                        .aead = std::move(aead),
                        .key = std::move(key),
                        .base_nonce = base_nonce,
                        .exporter_secret = std::move(exporter_secret),
                        .aead_alg = o.aead,
                        .seq = 0});
  return HpkeContext(std::move(impl));
}

}  // namespace

HpkeContext::HpkeContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HpkeContext::HpkeContext(HpkeContext&&) noexcept = default;
HpkeContext& HpkeContext::operator=(HpkeContext&&) noexcept = default;
HpkeContext::~HpkeContext() = default;

Status HpkeContext::SealAt(std::uint64_t seq, ByteSpan aad, ByteSpan plaintext,
                           MutableByteSpan out) {
  if (impl_ == nullptr) return Fail(ErrorCode::kFailedPrecondition, "HPKE seal on a moved-from context");
  if (impl_->role != internal::HpkeRole::kSender) {
    return Fail(ErrorCode::kFailedPrecondition,
                "HPKE seal on a recipient context (only the sender seals)");
  }
  auto nonce = impl_->Nonce(seq);
  return impl_->aead.Seal(nonce, aad, plaintext, out);
}

Status HpkeContext::OpenAt(std::uint64_t seq, ByteSpan aad, ByteSpan ciphertext,
                           MutableByteSpan out) {
  if (impl_ == nullptr) return Fail(ErrorCode::kFailedPrecondition, "HPKE open on a moved-from context");
  if (impl_->role != internal::HpkeRole::kRecipient) {
    return Fail(ErrorCode::kFailedPrecondition,
                "HPKE open on a sender context (only the recipient opens)");
  }
  auto nonce = impl_->Nonce(seq);
  auto s = impl_->aead.Open(nonce, aad, ciphertext, out);
  if (!s) return Fail(std::move(s).error().Context("HPKE open at sequence " + std::to_string(seq)));
  return s;
}

Result<Bytes> HpkeContext::Seal(ByteSpan aad, ByteSpan plaintext) {
  if (impl_ == nullptr) return Fail(ErrorCode::kFailedPrecondition, "HPKE seal on a moved-from context");
  // §5.2 IncrementSeq: refuse before sealing, so no message is produced under a sequence number
  // that could not be advanced past.
  if (impl_->seq == std::numeric_limits<std::uint64_t>::max()) {
    return Fail(ErrorCode::kResourceExhausted, "HPKE sender context: sequence number exhausted");
  }
  Bytes out(plaintext.size() + kAeadTagBytes);
  CAIRN_RETURN_IF_ERROR(SealAt(impl_->seq, aad, plaintext, out));
  ++impl_->seq;
  return out;
}

Result<Bytes> HpkeContext::Open(ByteSpan aad, ByteSpan ciphertext) {
  if (impl_ == nullptr) return Fail(ErrorCode::kFailedPrecondition, "HPKE open on a moved-from context");
  if (impl_->seq == std::numeric_limits<std::uint64_t>::max()) {
    return Fail(ErrorCode::kResourceExhausted, "HPKE recipient context: sequence number exhausted");
  }
  if (ciphertext.size() < kAeadTagBytes) {
    return Fail(ErrorCode::kInvalidArgument, "HPKE ciphertext of " +
                                                 std::to_string(ciphertext.size()) +
                                                 " bytes is shorter than the 16-byte tag");
  }
  Bytes out(ciphertext.size() - kAeadTagBytes);
  CAIRN_RETURN_IF_ERROR(OpenAt(impl_->seq, aad, ciphertext, out));
  ++impl_->seq;  // only after a successful open (§5.2)
  return out;
}

Result<SecretBytes> HpkeContext::Export(ByteSpan exporter_context, std::size_t length) const {
  if (impl_ == nullptr) {
    return Fail(ErrorCode::kFailedPrecondition, "HPKE export on a moved-from context");
  }
  if (length > 255 * kNh) {
    return Fail(ErrorCode::kInvalidArgument, "HPKE export length " + std::to_string(length) +
                                                 " is above the limit of 255*32 = 8160 bytes");
  }
  CAIRN_ASSIGN_OR_RETURN(SecretBytes out, SecretBytes::Allocate(length));
  CAIRN_RETURN_IF_ERROR(LabeledExpand(impl_->exporter_secret.span(), HpkeSuiteId(impl_->aead_alg),
                                      "sec", exporter_context, out.mutable_span()));
  return out;
}

std::uint64_t HpkeContext::sequence() const { return impl_ != nullptr ? impl_->seq : 0; }
void HpkeContext::set_sequence_for_testing(std::uint64_t seq) {
  if (impl_ != nullptr) impl_->seq = seq;
}
ByteSpan HpkeContext::key_for_testing() const {
  return impl_ != nullptr ? impl_->key.span() : ByteSpan();
}
ByteSpan HpkeContext::base_nonce_for_testing() const {
  return impl_ != nullptr ? ByteSpan(impl_->base_nonce) : ByteSpan();
}
ByteSpan HpkeContext::exporter_secret_for_testing() const {
  return impl_ != nullptr ? impl_->exporter_secret.span() : ByteSpan();
}

// DeriveKeyPair(ikm) (§7.1.3):
//   dkp_prk = LabeledExtract("", "dkp_prk", ikm); sk = LabeledExpand(dkp_prk, "sk", "", Nsk)
Result<X25519KeyPair> HpkeDeriveKeyPair(ByteSpan ikm) {
  if (ikm.size() < kNsecret) {
    return Fail(ErrorCode::kInvalidArgument, "HPKE DeriveKeyPair: ikm has " +
                                                 std::to_string(ikm.size()) +
                                                 " bytes, at least 32 are required");
  }
  WipedArray<32> dkp_prk, sk;
  CAIRN_RETURN_IF_ERROR(LabeledExtract({}, kKemSuiteId, "dkp_prk", ikm, dkp_prk.v));
  CAIRN_RETURN_IF_ERROR(LabeledExpand(dkp_prk.span(), kKemSuiteId, "sk", {}, sk.mutable_span()));
  return X25519KeyPair::FromSecret(sk.span());
}

// Encap / AuthEncap (§4.1), then KeySchedule.
Result<HpkeSenderSetup> HpkeSetupSender(ByteSpan recipient_public_key,
                                        const HpkeSetupOptions& options) {
  CAIRN_RETURN_IF_ERROR(CheckOptions(options));
  if (recipient_public_key.size() != kNpk) {
    return Fail(ErrorCode::kInvalidArgument, "HPKE recipient public key must be 32 bytes, got " +
                                                 std::to_string(recipient_public_key.size()));
  }
  const bool auth = IsAuthMode(options.mode);
  if (auth && options.sender_key == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("HPKE mode ") + ModeName(options.mode) + " needs sender_key");
  }
  if (!auth && options.sender_key != nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("HPKE: sender_key given in mode ") + ModeName(options.mode) +
                    ", which does not authenticate the sender");
  }

  Result<X25519KeyPair> ephemeral = options.ikm_ephemeral_for_testing.empty()
                                        ? X25519KeyPair::Generate()
                                        : HpkeDeriveKeyPair(options.ikm_ephemeral_for_testing);
  if (!ephemeral) return Fail(std::move(ephemeral).error().Context("HPKE ephemeral key"));

  CAIRN_ASSIGN_OR_RETURN(SecretBytes dh1, X25519(ephemeral->secret_key(), recipient_public_key));
  SecretBytes dh2;
  if (auth) {
    CAIRN_ASSIGN_OR_RETURN(dh2, X25519(options.sender_key->secret_key(), recipient_public_key));
  }
  const X25519PublicKey& enc = ephemeral->public_key();
  // kem_context = enc || pkRm (|| pkSm in the auth modes)
  std::array<std::uint8_t, 2 * kNpk> enc_pkr{};
  std::memcpy(enc_pkr.data(), enc.data(), kNpk);
  std::memcpy(enc_pkr.data() + kNpk, recipient_public_key.data(), kNpk);
  ByteSpan pks = auth ? ByteSpan(options.sender_key->public_key()) : ByteSpan();

  WipedArray<kNsecret> shared_secret;
  CAIRN_RETURN_IF_ERROR(
      ExtractAndExpand(dh1.span(), dh2.span(), enc_pkr, pks, shared_secret.mutable_span()));
  CAIRN_ASSIGN_OR_RETURN(HpkeContext context,
                         KeySchedule(internal::HpkeRole::kSender, options, shared_secret.span()));
  HpkeSenderSetup setup{.enc = {}, .context = std::move(context)};
  std::memcpy(setup.enc.data(), enc.data(), kNpk);
  return setup;
}

// Decap / AuthDecap (§4.1), then KeySchedule.
Result<HpkeContext> HpkeSetupRecipient(ByteSpan enc, const X25519KeyPair& recipient,
                                       const HpkeSetupOptions& options) {
  CAIRN_RETURN_IF_ERROR(CheckOptions(options));
  if (enc.size() != kNpk) {
    return Fail(ErrorCode::kInvalidArgument,
                "HPKE enc must be 32 bytes, got " + std::to_string(enc.size()));
  }
  if (recipient.secret_key().size() != kNsecret) {
    return Fail(ErrorCode::kInvalidArgument, "HPKE recipient key pair is empty");
  }
  const bool auth = IsAuthMode(options.mode);
  if (auth && options.sender_public_key.size() != kNpk) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("HPKE mode ") + ModeName(options.mode) +
                    " needs the sender's 32-byte public key, got " +
                    std::to_string(options.sender_public_key.size()) + " bytes");
  }
  if (!auth && !options.sender_public_key.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("HPKE: sender_public_key given in mode ") + ModeName(options.mode) +
                    ", which does not authenticate the sender");
  }
  CAIRN_ASSIGN_OR_RETURN(SecretBytes dh1, X25519(recipient.secret_key(), enc));
  SecretBytes dh2;
  if (auth) {
    CAIRN_ASSIGN_OR_RETURN(dh2, X25519(recipient.secret_key(), options.sender_public_key));
  }
  std::array<std::uint8_t, 2 * kNpk> enc_pkr{};
  std::memcpy(enc_pkr.data(), enc.data(), kNpk);
  std::memcpy(enc_pkr.data() + kNpk, recipient.public_key().data(), kNpk);
  ByteSpan pks = auth ? options.sender_public_key : ByteSpan();

  WipedArray<kNsecret> shared_secret;
  CAIRN_RETURN_IF_ERROR(
      ExtractAndExpand(dh1.span(), dh2.span(), enc_pkr, pks, shared_secret.mutable_span()));
  return KeySchedule(internal::HpkeRole::kRecipient, options, shared_secret.span());
}

}  // namespace cairn::crypto
