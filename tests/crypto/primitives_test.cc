// Known answers and failure cases for hashes, HMAC/HKDF, AEAD, Ed25519, X25519, secrets.
#include <gtest/gtest.h>

#include <cstring>
#include <utility>

#include "common/crypto/crypto.h"
#include "tests/crypto/test_util.h"

namespace cairn::crypto {
namespace {

using testing::Hex;
using testing::HexOf;

::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new testing::CryptoEnvironment);

// FIPS 180-2 examples ("abc").
TEST(Sha, KnownAnswersForAbc) {
  ByteSpan abc = AsBytes("abc");
  EXPECT_EQ(HexOf(Sha256(abc)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexOf(Sha384(abc)),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
            "8086072ba1e7cc2358baeca134c825a7");
  EXPECT_EQ(HexOf(Sha512(abc)),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(Sha, IncrementalEqualsOneShot) {
  Bytes data = RandomBytes(100000);
  Sha256Hasher h256;
  Sha512Hasher h512;
  for (std::size_t off = 0; off < data.size(); off += 7777) {
    ByteSpan part = ByteSpan(data).subspan(off, std::min<std::size_t>(7777, data.size() - off));
    h256.Update(part);
    h512.Update(part);
  }
  Sha256Hasher moved = std::move(h256);  // the hasher keeps its state across a move
  EXPECT_EQ(moved.Finish(), Sha256(data));
  EXPECT_EQ(h512.Finish(), Sha512(data));
}

// RFC 4231 test case 2.
TEST(Hmac, Rfc4231Case2) {
  EXPECT_EQ(HexOf(HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// RFC 5869 test case 1.
TEST(Hkdf, Rfc5869Case1) {
  Bytes ikm(22, 0x0b);
  Bytes salt = Hex("000102030405060708090a0b0c");
  Bytes info = Hex("f0f1f2f3f4f5f6f7f8f9");
  Sha256Digest prk = HkdfSha256Extract(salt, ikm);
  EXPECT_EQ(HexOf(prk), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  auto okm = HkdfSha256Expand(prk, info, 42);
  ASSERT_TRUE(okm) << okm.error().ToString();
  EXPECT_EQ(HexEncode(okm->span()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Hkdf, ExpandRefusesTooLong) {
  Sha256Digest prk{};
  EXPECT_TRUE(HkdfSha256Expand(prk, {}, 255 * 32));
  auto r = HkdfSha256Expand(prk, {}, 255 * 32 + 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* pt;
  const char* aad;
  const char* ct;
  const char* tag;
};

// McGrew & Viega, "The Galois/Counter Mode of Operation", AES-256 test cases 13, 14 and 16.
const GcmVector kGcmVectors[] = {
    {"case13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"case14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"case16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(Aead, Aes256GcmKnownAnswers) {
  for (const GcmVector& v : kGcmVectors) {
    SCOPED_TRACE(v.name);
    auto aead = Aead::Create(AeadAlgorithm::kAes256Gcm, Hex(v.key));
    ASSERT_TRUE(aead) << aead.error().ToString();
    Bytes pt = Hex(v.pt), aad = Hex(v.aad), iv = Hex(v.iv);
    Bytes sealed(pt.size() + kAeadTagBytes);
    ASSERT_TRUE(aead->Seal(iv, aad, pt, sealed));
    EXPECT_EQ(HexEncode(sealed), std::string(v.ct) + v.tag);
    Bytes opened(pt.size());
    ASSERT_TRUE(aead->Open(iv, aad, sealed, opened));
    EXPECT_EQ(opened, pt);
  }
}

class AeadAllAlgorithms : public ::testing::TestWithParam<AeadAlgorithm> {};

TEST_P(AeadAllAlgorithms, RoundTripInPlaceAndTamper) {
  AeadAlgorithm alg = GetParam();
  Bytes key = RandomBytes(AeadKeyBytes(alg));
  auto aead = Aead::Create(alg, key);
  ASSERT_TRUE(aead) << aead.error().ToString();
  EXPECT_EQ(aead->algorithm(), alg);
  Bytes nonce = RandomBytes(kAeadNonceBytes);
  Bytes aad = ToBytes("chunk 7, last");
  Bytes pt = RandomBytes(5000);

  // In place: the buffer holds the plaintext followed by room for the tag.
  Bytes buf = pt;
  buf.resize(pt.size() + kAeadTagBytes);
  ASSERT_TRUE(aead->Seal(nonce, aad, ByteSpan(buf).first(pt.size()), buf));
  EXPECT_NE(Bytes(buf.begin(), buf.begin() + 5000), pt);
  Bytes sealed = buf;
  ASSERT_TRUE(aead->Open(nonce, aad, buf, MutableByteSpan(buf).first(pt.size())));
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + 5000), pt);

  // Any flipped bit, a wrong AAD or a wrong nonce fails, and the output is zeroed.
  Bytes out(pt.size(), 0xAA);
  for (std::size_t pos : {std::size_t{0}, std::size_t{4999}, std::size_t{5000}, sealed.size() - 1}) {
    Bytes bad = sealed;
    bad[pos] ^= 0x01;
    std::fill(out.begin(), out.end(), 0xAA);
    auto s = aead->Open(nonce, aad, bad, out);
    ASSERT_FALSE(s) << "flipped byte " << pos;
    EXPECT_EQ(s.error().code(), ErrorCode::kUnauthenticated);
    EXPECT_EQ(out, Bytes(pt.size(), 0)) << "output not zeroed after failed open";
  }
  auto s = aead->Open(nonce, ToBytes("chunk 7, not last"), sealed, out);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kUnauthenticated);
  Bytes other_nonce = nonce;
  other_nonce[11] ^= 1;
  EXPECT_FALSE(aead->Open(other_nonce, aad, sealed, out));
  // The context still works after failures (it is reused, not poisoned).
  ASSERT_TRUE(aead->Open(nonce, aad, sealed, out));
  EXPECT_EQ(out, pt);

  // A second Aead with the same key opens what the first sealed (no hidden state).
  auto again = Aead::Create(alg, key);
  ASSERT_TRUE(again);
  Bytes out2(pt.size());
  ASSERT_TRUE(again->Open(nonce, aad, sealed, out2));
  EXPECT_EQ(out2, pt);

  // Empty plaintext and empty AAD.
  Bytes tag_only(kAeadTagBytes);
  ASSERT_TRUE(aead->Seal(nonce, {}, {}, tag_only));
  EXPECT_TRUE(aead->Open(nonce, {}, tag_only, MutableByteSpan()));
}

INSTANTIATE_TEST_SUITE_P(All, AeadAllAlgorithms,
                         ::testing::Values(AeadAlgorithm::kAes128Gcm, AeadAlgorithm::kAes256Gcm,
                                           AeadAlgorithm::kChaCha20Poly1305));

TEST(Aead, RefusesBadSizes) {
  auto bad_key = Aead::Create(AeadAlgorithm::kAes256Gcm, Bytes(16));
  ASSERT_FALSE(bad_key);
  EXPECT_EQ(bad_key.error().code(), ErrorCode::kInvalidArgument);
  auto aead = Aead::Create(AeadAlgorithm::kAes256Gcm, Bytes(32));
  ASSERT_TRUE(aead);
  Bytes pt(10), out(10);  // no room for the tag
  EXPECT_FALSE(aead->Seal(Bytes(12), {}, pt, out));
  Bytes out_ok(26);
  EXPECT_FALSE(aead->Seal(Bytes(8), {}, pt, out_ok));  // short nonce
  Bytes short_ct(15), nothing;
  auto s = aead->Open(Bytes(12), {}, short_ct, nothing);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  // Partial overlap of input and output is refused.
  Bytes buf(64);
  EXPECT_FALSE(aead->Seal(Bytes(12), {}, ByteSpan(buf).subspan(0, 16),
                          MutableByteSpan(buf).subspan(1, 32)));
}

// RFC 8032 §7.1 test 1 (empty message).
TEST(Ed25519, Rfc8032Test1) {
  auto kp = Ed25519KeyPair::FromSeed(
      Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(kp) << kp.error().ToString();
  EXPECT_EQ(HexOf(kp->public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  Ed25519Signature sig = kp->Sign({});
  EXPECT_EQ(HexOf(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
            "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(Ed25519Verify(kp->public_key(), {}, sig));
  EXPECT_EQ(HexEncode(kp->seed()),
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
}

TEST(Ed25519, SignVerifyAndFlippedBitsFail) {
  auto kp = Ed25519KeyPair::Generate();
  ASSERT_TRUE(kp);
  Bytes msg = ToBytes("round 12 result: model hash ...");
  Ed25519Signature sig = kp->Sign(msg);
  EXPECT_TRUE(Ed25519Verify(kp->public_key(), msg, sig));
  Bytes bad_msg = msg;
  bad_msg[3] ^= 0x01;
  EXPECT_FALSE(Ed25519Verify(kp->public_key(), bad_msg, sig));
  Ed25519Signature bad_sig = sig;
  bad_sig[10] ^= 0x80;
  EXPECT_FALSE(Ed25519Verify(kp->public_key(), msg, bad_sig));
  Ed25519PublicKey bad_pk = kp->public_key();
  bad_pk[0] ^= 0x01;
  EXPECT_FALSE(Ed25519Verify(bad_pk, msg, sig));
  // The seed restores the same key pair.
  auto restored = Ed25519KeyPair::FromSeed(kp->seed());
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->public_key(), kp->public_key());
  EXPECT_FALSE(Ed25519KeyPair::FromSeed(Bytes(31)));
}

// RFC 7748 §6.1 key pairs; the shared secret must agree.
TEST(X25519, Rfc7748KeysAndAgreement) {
  auto alice = X25519KeyPair::FromSecret(
      Hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  auto bob = X25519KeyPair::FromSecret(
      Hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  ASSERT_TRUE(alice && bob);
  EXPECT_EQ(HexOf(alice->public_key()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(HexOf(bob->public_key()),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto ab = X25519(alice->secret_key(), bob->public_key());
  auto ba = X25519(bob->secret_key(), alice->public_key());
  ASSERT_TRUE(ab && ba);
  EXPECT_TRUE(ConstantTimeEqual(ab->span(), ba->span()));
  EXPECT_EQ(ab->size(), 32u);
}

TEST(X25519, RejectsLowOrderPoints) {
  auto kp = X25519KeyPair::Generate();
  ASSERT_TRUE(kp);
  const char* low_order[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",  // 0
      "0100000000000000000000000000000000000000000000000000000000000000",  // 1
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",  // order 8
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",  // order 8
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p - 1
  };
  for (const char* point : low_order) {
    auto r = X25519(kp->secret_key(), Hex(point));
    ASSERT_FALSE(r) << point;
    EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated) << point;
  }
  EXPECT_FALSE(X25519(kp->secret_key(), Bytes(31)));
}

TEST(SecretBytes, MoveTransfersOwnership) {
  auto a = SecretBytes::CopyFrom(ToBytes("0123456789abcdef"));
  ASSERT_TRUE(a);
  const std::uint8_t* p = a->data();
  SecretBytes b = std::move(*a);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 16u);
  EXPECT_EQ(a->data(), nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(a->size(), 0u);
  EXPECT_TRUE(a->empty());
  EXPECT_EQ(AsChars(b.span()), "0123456789abcdef");

  auto c = SecretBytes::Random(8);
  ASSERT_TRUE(c);
  *c = std::move(b);  // frees c's old buffer, takes b's
  EXPECT_EQ(c->data(), p);
  EXPECT_EQ(c->size(), 16u);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)

  auto clone = c->Clone();
  ASSERT_TRUE(clone);
  EXPECT_NE(clone->data(), c->data());
  EXPECT_TRUE(ConstantTimeEqual(clone->span(), c->span()));
}

TEST(SecretBytes, AllocateIsZeroedAndRandomIsNot) {
  auto z = SecretBytes::Allocate(100);
  ASSERT_TRUE(z);
  EXPECT_EQ(Bytes(z->span().begin(), z->span().end()), Bytes(100, 0));
  auto r = SecretBytes::Random(64);
  ASSERT_TRUE(r);
  EXPECT_NE(Bytes(r->span().begin(), r->span().end()), Bytes(64, 0));
  auto empty = SecretBytes::Allocate(0);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(Secrets, ConstantTimeEqualAndWipe) {
  Bytes a = ToBytes("secret-a"), b = ToBytes("secret-b");
  EXPECT_TRUE(ConstantTimeEqual(a, a));
  EXPECT_FALSE(ConstantTimeEqual(a, b));
  EXPECT_FALSE(ConstantTimeEqual(a, ByteSpan(a).first(4)));
  EXPECT_TRUE(ConstantTimeEqual({}, {}));
  Wipe(a);
  EXPECT_EQ(a, Bytes(8, 0));
}

TEST(Random, BytesDifferAndUniformStaysInRange) {
  EXPECT_NE(RandomBytes(32), RandomBytes(32));
  bool seen[7] = {};
  for (int i = 0; i < 1000; ++i) {
    std::uint32_t v = RandomUniform(7);
    ASSERT_LT(v, 7u);
    seen[v] = true;
  }
  for (bool s : seen) EXPECT_TRUE(s);  // 1000 draws miss a value with probability < 1e-66
}

}  // namespace
}  // namespace cairn::crypto
