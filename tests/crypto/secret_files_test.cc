// Key files are read without leaving their secret in freed heap memory: this binary replaces the
// global operator delete and, while armed, scans every block it frees for the secret's bytes
// (its text as stored in the file, and the raw key).
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "common/attestation/attestation.h"
#include "common/core/bytes.h"
#include "common/crypto/crypto.h"
#include "participant/keys.h"

namespace cairn {
namespace freed {

// Patterns live in static storage: the scanner must not allocate.
constexpr std::size_t kMaxPatterns = 4;
constexpr std::size_t kMaxPatternBytes = 80;
unsigned char patterns[kMaxPatterns][kMaxPatternBytes];
std::size_t pattern_sizes[kMaxPatterns];
std::atomic<std::size_t> pattern_count{0};
std::atomic<bool> armed{false};
std::atomic<int> hits{0};
// Capture mode, for a secret not known before the call (key generation): freed blocks are copied
// here (up to its size), to be searched once the secret is known.
constexpr std::size_t kArenaBytes = 8u << 20;
unsigned char arena[kArenaBytes];
std::atomic<std::size_t> arena_used{0};
std::atomic<bool> capturing{false};

void Capture(const void* p, std::size_t n) {
  if (p == nullptr || !capturing.load(std::memory_order_relaxed)) return;
  const std::size_t at = arena_used.load();
  const std::size_t take = std::min(n, kArenaBytes - at);
  std::memcpy(arena + at, p, take);
  arena_used.store(at + take);
}
bool CapturedHolds(std::string_view text) {
  const std::string_view all(reinterpret_cast<const char*>(arena), arena_used.load());
  return all.find(text) != std::string_view::npos;
}

void Scan(const void* p, std::size_t n) {
  Capture(p, n);
  if (p == nullptr || !armed.load(std::memory_order_relaxed)) return;
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t k = 0; k < pattern_count.load(); ++k) {
    const std::size_t m = pattern_sizes[k];
    for (std::size_t i = 0; i + m <= n; ++i) {
      if (std::memcmp(b + i, patterns[k], m) == 0) {
        hits.fetch_add(1);
        return;
      }
    }
  }
}

void Watch(ByteSpan pattern) {
  const std::size_t k = pattern_count.load();
  ASSERT_LT(k, kMaxPatterns);
  ASSERT_LE(pattern.size(), kMaxPatternBytes);
  std::memcpy(patterns[k], pattern.data(), pattern.size());
  pattern_sizes[k] = pattern.size();
  pattern_count.store(k + 1);
}
void Watch(std::string_view text) { Watch(ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())); }

// Arms the scanner for one scope, with a clean slate.
struct Armed {
  Armed() {
    hits = 0;
    armed = true;
  }
  ~Armed() {
    armed = false;
    pattern_count = 0;
  }
};

}  // namespace freed
}  // namespace cairn

void* operator new(std::size_t n) {
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  if (p != nullptr) cairn::freed::Scan(p, malloc_usable_size(p));
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  if (p != nullptr) cairn::freed::Scan(p, malloc_usable_size(p));
  std::free(p);
}

namespace cairn {
namespace {

std::filesystem::path TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("cairn-secret-files-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string FileText(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::filesystem::path& p, std::string_view text) {
  std::ofstream(p) << text;
  ::chmod(p.c_str(), 0600);
}

TEST(SecretFiles, ReadSecretFileReadsTheBytesIntoGuardedMemoryAndNamesProblems) {
  ASSERT_TRUE(crypto::Init());
  auto dir = TempDir("read");
  WriteFile(dir / "k", "0123456789");
  auto s = crypto::ReadSecretFile(dir / "k", 64);
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(s->data()), s->size()), "0123456789");
  auto big = crypto::ReadSecretFile(dir / "k", 9);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("above the limit of 9 bytes"), std::string::npos) << big.error().message();
  EXPECT_NE(big.error().message().find((dir / "k").string()), std::string::npos);
  auto missing = crypto::ReadSecretFile(dir / "none", 64);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  auto folder = crypto::ReadSecretFile(dir, 64);
  ASSERT_FALSE(folder);
  EXPECT_NE(folder.error().message().find("is a folder, not a file"), std::string::npos) << folder.error().message();
  ::chmod((dir / "k").c_str(), 0640);
  EXPECT_TRUE(crypto::ReadSecretFile(dir / "k", 64));
  auto shared = crypto::ReadSecretFile(dir / "k", 64, /*owner_only=*/true);
  ASSERT_FALSE(shared);
  EXPECT_EQ(shared.error().code(), ErrorCode::kPermissionDenied);
  WriteFile(dir / "empty", "");
  auto empty = crypto::ReadSecretFile(dir / "empty", 64);
  ASSERT_TRUE(empty) << empty.error().ToString();
  EXPECT_EQ(empty->size(), 0u);
  std::filesystem::remove_all(dir);
}

TEST(SecretFiles, AParticipantKeyFileLeavesNoSecretInFreedMemory) {
  ASSERT_TRUE(crypto::Init());
  auto dir = TempDir("curve");
  freed::arena_used = 0;
  freed::capturing = true;
  auto generated = participant::GenerateKeyFile(dir / "p.key");
  freed::capturing = false;
  ASSERT_TRUE(generated) << generated.error().ToString();
  const std::string text = FileText(dir / "p.key");
  const std::string secret_z85 = text.substr(text.find("secret ") + 7, 40);
  ASSERT_EQ(secret_z85.size(), 40u);
  ASSERT_LT(freed::arena_used.load(), freed::kArenaBytes);  // every freed block was kept whole
  EXPECT_FALSE(freed::CapturedHolds(secret_z85)) << "key generation freed a block holding the secret";
  {
    freed::Armed armed;
    freed::Watch(secret_z85);
    auto kp = participant::LoadKeyFile(dir / "p.key");
    ASSERT_TRUE(kp) << kp.error().ToString();
    freed::Watch(kp->secret_key.span());
    auto again = participant::LoadKeyFile(dir / "p.key");
    ASSERT_TRUE(again);
    EXPECT_EQ(std::memcmp(again->secret_key.data(), kp->secret_key.data(), 32), 0);
    EXPECT_EQ(again->public_key, kp->public_key);
  }
  EXPECT_EQ(freed::hits.load(), 0) << "freed heap blocks held the secret key";
  // The checks still name what is wrong, and their error paths leave nothing either: a public key
  // that does not match, a bad public key with a good secret, a file others can read.
  const std::string public_z85 = text.substr(text.find("public ") + 7, 40);
  WriteFile(dir / "bad.key", "cairn-curve-key v1\npublic " + public_z85 + "\nsecret " + std::string(40, '0') + "\n");
  WriteFile(dir / "badpub.key", "cairn-curve-key v1\npublic " + std::string(40, '~') + "\nsecret " + secret_z85 + "\n");
  WriteFile(dir / "open.key", text);
  ::chmod((dir / "open.key").c_str(), 0644);
  {
    freed::Armed armed;
    freed::Watch(secret_z85);
    auto mismatch = participant::LoadKeyFile(dir / "bad.key");
    ASSERT_FALSE(mismatch);
    EXPECT_NE(mismatch.error().message().find("does not match the secret key"), std::string::npos)
        << mismatch.error().message();
    auto bad_public = participant::LoadKeyFile(dir / "badpub.key");
    ASSERT_FALSE(bad_public);
    EXPECT_NE(bad_public.error().message().find("is not a cairn-curve-key v1 file"), std::string::npos);
    auto readable = participant::LoadKeyFile(dir / "open.key");
    ASSERT_FALSE(readable);
    EXPECT_EQ(readable.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(readable.error().message().find("is readable by other users: chmod 600 it"), std::string::npos)
        << readable.error().message();
  }
  EXPECT_EQ(freed::hits.load(), 0) << "an error path freed a block holding the secret key";
  auto missing = participant::LoadKeyFile(dir / "none.key");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("create it with 'cairn-participant keygen"), std::string::npos)
      << missing.error().message();
  // Whitespace as the stream reader took it: vertical tabs and form feeds separate tokens too.
  WriteFile(dir / "spaces.key", "cairn-curve-key v1\npublic\v" + public_z85 + "\fsecret " + secret_z85 + "\n");
  EXPECT_TRUE(participant::LoadKeyFile(dir / "spaces.key"));
  WriteFile(dir / "junk.key", "cairn-curve-key v2\n");
  auto junk = participant::LoadKeyFile(dir / "junk.key");
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message().find("is not a cairn-curve-key v1 file"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(SecretFiles, ASealingKeyFileLeavesNoSecretInFreedMemory) {
  ASSERT_TRUE(crypto::Init());
  auto dir = TempDir("sealing");
  auto raw = crypto::SecretBytes::Random(32);
  ASSERT_TRUE(raw);
  const std::string hex = HexEncode(raw->span());
  WriteFile(dir / "hex.key", hex + "\n");
  {
    std::ofstream out(dir / "raw.key", std::ios::binary);
    out.write(reinterpret_cast<const char*>(raw->data()), 32);
  }
  std::vector<crypto::SecretBytes> keys;
  {
    freed::Armed armed;
    freed::Watch(hex);
    freed::Watch(raw->span());
    for (const char* name : {"hex.key", "raw.key"}) {
      attestation::SealingKeyOptions o;
      o.kind = "key-file";
      o.key_file = dir / name;
      auto provider = attestation::MakeSealingKeyProvider(o);
      ASSERT_TRUE(provider) << provider.error().ToString();
      auto key = (*provider)->GetKey();
      ASSERT_TRUE(key) << key.error().ToString();
      keys.push_back(std::move(*key));
    }
  }
  EXPECT_EQ(freed::hits.load(), 0) << "freed heap blocks held the sealing key";
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(std::memcmp(keys[0].data(), keys[1].data(), 32), 0);  // raw and hex: the same key
  WriteFile(dir / "short.key", "abcd\n");
  attestation::SealingKeyOptions o;
  o.kind = "key-file";
  o.key_file = dir / "short.key";
  auto provider = attestation::MakeSealingKeyProvider(o);
  ASSERT_TRUE(provider);
  auto bad = (*provider)->GetKey();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("32 raw bytes or 64 hex digits"), std::string::npos) << bad.error().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cairn
