// Sealed files: round trips, and each way a stored file can be wrong.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "common/core/file.h"
#include "common/crypto/crypto.h"
#include "tests/crypto/test_util.h"

namespace cairn::crypto {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

class SealedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Init());
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-crypto-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto k = SecretBytes::Random(kSealKeyBytes);
    ASSERT_TRUE(k);
    key_ = std::move(*k);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  Bytes ReadRaw(const std::string& path) {
    auto b = ReadFileBytes(path, 64 * kMiB);
    EXPECT_TRUE(b);
    return b.value_or(Bytes{});
  }
  void WriteRaw(const std::string& path, const Bytes& data) {
    ASSERT_TRUE(WriteFileAtomic(path, data, 0600));
  }
  // Opens and expects failure with `code`; checks the message names the file, not the key.
  void ExpectOpenFails(const std::string& path, ErrorCode code, ByteSpan aad = AsBytes("ckpt")) {
    auto r = OpenSealedFile(key_, aad, path, 64 * kMiB);
    ASSERT_FALSE(r) << path;
    EXPECT_EQ(r.error().code(), code) << r.error().ToString();
    EXPECT_NE(r.error().message().find(path), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().find(HexEncode(key_.span())), std::string::npos);
  }

  std::filesystem::path dir_;
  SecretBytes key_;
};

TEST_F(SealedFileTest, RoundTripsAtChunkBoundaries) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, kMiB - 1, kMiB, kMiB + 1,
                           2 * kMiB + 12345}) {
    SCOPED_TRACE("size " + std::to_string(size));
    Bytes pt = RandomBytes(size);
    std::string path = Path("state.sealed");
    ASSERT_TRUE(SealToFile(key_, AsBytes("ckpt"), pt, path));
    std::uint64_t chunks = size == 0 ? 1 : (size + kMiB - 1) / kMiB;
    EXPECT_EQ(std::filesystem::file_size(path), 40 + size + 17 * chunks);
    auto back = OpenSealedFile(key_, AsBytes("ckpt"), path, size);
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(*back, pt);
  }
  struct stat st {};
  ASSERT_EQ(::stat(Path("state.sealed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Only the sealed file is left behind (no temporary).
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) (void)e, ++files;
  EXPECT_EQ(files, 1);
}

// The streaming writer: pieces of any size make the same file format (it opens to the same
// plaintext, same size); a wrong total is refused at Write or Commit and leaves the old file.
TEST_F(SealedFileTest, WriterInPiecesMatchesOneShotAndRefusesWrongTotals) {
  for (std::size_t size : {std::size_t{0}, kMiB - 1, kMiB, 3 * kMiB + 5}) {
    SCOPED_TRACE("size " + std::to_string(size));
    Bytes pt = RandomBytes(size);
    std::string path = Path("pieces.sealed");
    auto w = SealedFileWriter::Create(key_, AsBytes("ckpt"), size, path);
    ASSERT_TRUE(w) << w.error().ToString();
    std::size_t off = 0, piece = 1;
    while (off < size) {
      std::size_t take = std::min(piece, size - off);
      ASSERT_TRUE(w->Write(ByteSpan(pt.data() + off, take)));
      off += take;
      piece = piece * 7 + 3;  // 1, 10, 73, ... crosses chunk boundaries at odd places
    }
    ASSERT_TRUE(w->Commit());
    std::uint64_t chunks = size == 0 ? 1 : (size + kMiB - 1) / kMiB;
    EXPECT_EQ(std::filesystem::file_size(path), 40 + size + 17 * chunks);
    auto back = OpenSealedFile(key_, AsBytes("ckpt"), path, size);
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(*back, pt);
  }
  const std::string path = Path("pieces.sealed");
  const Bytes before = ReadRaw(path);
  {
    auto w = SealedFileWriter::Create(key_, AsBytes("ckpt"), 10, path);
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->Write(RandomBytes(4)));
    auto too_many = w->Write(RandomBytes(7));
    ASSERT_FALSE(too_many);
    EXPECT_EQ(too_many.error().code(), ErrorCode::kOutOfRange);
    auto short_commit = w->Commit();
    ASSERT_FALSE(short_commit);
    EXPECT_EQ(short_commit.error().code(), ErrorCode::kFailedPrecondition);
  }
  EXPECT_EQ(ReadRaw(path), before);  // untouched, and no temporary left behind
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) (void)e, ++files;
  EXPECT_EQ(files, 1);
}

// Whole chunks are sealed straight from the caller's buffer when nothing is pending; the last
// chunk (TAG_FINAL) always goes through Commit. Each split below takes a different mix of the two
// paths; every one must give the same format and the same plaintext back.
TEST_F(SealedFileTest, WriterSealsWholeChunksInPlaceOrBufferedAlike) {
  struct Case {
    std::size_t size;
    std::vector<std::size_t> pieces;  // the last piece takes the rest
  };
  const std::vector<Case> cases = {
      {3 * kMiB, {}},                      // one write: chunks 1-2 in place, chunk 3 final
      {3 * kMiB + 5, {kMiB}},              // in place, then in place twice and a 5-byte tail
      {3 * kMiB + 5, {3}},                 // 3 buffered, fill, then whole chunks in place
      {2 * kMiB, {kMiB - 1, 2}},           // buffered across the boundary, then the final chunk
      {kMiB, {}},                          // a single chunk is always final: never in place
      {4 * kMiB, {kMiB, kMiB, kMiB}},      // the last whole chunk is the final one
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("size " + std::to_string(c.size) + ", " + std::to_string(c.pieces.size() + 1) + " pieces");
    Bytes pt = RandomBytes(c.size);
    const Bytes copy = pt;
    std::string path = Path("inplace.sealed");
    auto w = SealedFileWriter::Create(key_, AsBytes("ckpt"), c.size, path);
    ASSERT_TRUE(w) << w.error().ToString();
    std::size_t off = 0;
    for (std::size_t p : c.pieces) {
      ASSERT_TRUE(w->Write(ByteSpan(pt.data() + off, p)));
      off += p;
    }
    ASSERT_TRUE(w->Write(ByteSpan(pt.data() + off, c.size - off)));
    ASSERT_TRUE(w->Commit());
    EXPECT_EQ(pt, copy);  // the caller's buffer is read, never modified
    EXPECT_EQ(std::filesystem::file_size(path), 40 + c.size + 17 * ((c.size + kMiB - 1) / kMiB));
    auto back = OpenSealedFile(key_, AsBytes("ckpt"), path, c.size);
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(*back, pt);
  }
}

TEST_F(SealedFileTest, WrongKeyOrContextIsUnauthenticated) {
  std::string path = Path("a.sealed");
  Bytes pt = RandomBytes(3000);
  ASSERT_TRUE(SealToFile(key_, AsBytes("ckpt"), pt, path));
  ExpectOpenFails(path, ErrorCode::kUnauthenticated, AsBytes("other"));
  auto other = SecretBytes::Random(kSealKeyBytes);
  ASSERT_TRUE(other);
  auto r = OpenSealedFile(*other, AsBytes("ckpt"), path, kMiB);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(r.error().message().find(path), std::string::npos);
  EXPECT_EQ(r.error().message().find(HexEncode(other->span())), std::string::npos);
  auto short_key = SecretBytes::Random(16);
  ASSERT_TRUE(short_key);
  auto bad = OpenSealedFile(*short_key, AsBytes("ckpt"), path, kMiB);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(SealedFileTest, TruncationIsDataLoss) {
  std::string path = Path("t.sealed");
  Bytes pt = RandomBytes(kMiB + 5000);  // two chunks
  ASSERT_TRUE(SealToFile(key_, AsBytes("ckpt"), pt, path));
  Bytes full = ReadRaw(path);
  const std::size_t first_chunk_end = 40 + kMiB + 17;
  for (std::size_t keep : {full.size() - 1, full.size() - 17, first_chunk_end, std::size_t{100},
                           std::size_t{40}, std::size_t{20}, std::size_t{3}, std::size_t{0}}) {
    SCOPED_TRACE("kept " + std::to_string(keep) + " bytes");
    std::string cut = Path("cut.sealed");
    WriteRaw(cut, Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(keep)));
    ExpectOpenFails(cut, ErrorCode::kDataLoss);
  }
  // Bytes appended after the end are refused too.
  Bytes longer = full;
  longer.push_back(0);
  WriteRaw(Path("long.sealed"), longer);
  ExpectOpenFails(Path("long.sealed"), ErrorCode::kDataLoss);
}

TEST_F(SealedFileTest, FlippedBytesAreUnauthenticated) {
  std::string path = Path("f.sealed");
  Bytes pt = RandomBytes(kMiB + 10);
  ASSERT_TRUE(SealToFile(key_, AsBytes("ckpt"), pt, path));
  Bytes full = ReadRaw(path);
  // Secretstream header, first ciphertext byte, a tag byte, the last byte.
  for (std::size_t pos : {std::size_t{16}, std::size_t{39}, std::size_t{40}, std::size_t{41 + 500},
                          40 + kMiB + 16, full.size() - 1}) {
    SCOPED_TRACE("flipped byte " + std::to_string(pos));
    Bytes bad = full;
    bad[pos] ^= 0x01;
    std::string p = Path("bad.sealed");
    WriteRaw(p, bad);
    ExpectOpenFails(p, ErrorCode::kUnauthenticated);
  }
  // A damaged magic or length field is corrupt structure: kDataLoss.
  for (std::size_t pos : {std::size_t{0}, std::size_t{15}}) {
    Bytes bad = full;
    bad[pos] ^= 0x01;
    WriteRaw(Path("bad.sealed"), bad);
    ExpectOpenFails(Path("bad.sealed"), ErrorCode::kDataLoss);
  }
}

TEST_F(SealedFileTest, ReorderedChunksAreUnauthenticated) {
  std::string path = Path("r.sealed");
  Bytes pt = RandomBytes(3 * kMiB);  // three full chunks
  ASSERT_TRUE(SealToFile(key_, AsBytes("ckpt"), pt, path));
  Bytes full = ReadRaw(path);
  const std::size_t c = kMiB + 17;
  Bytes swapped = full;
  std::copy(full.begin() + 40, full.begin() + 40 + c, swapped.begin() + 40 + c);
  std::copy(full.begin() + 40 + c, full.begin() + 40 + 2 * c, swapped.begin() + 40);
  WriteRaw(Path("swapped.sealed"), swapped);
  ExpectOpenFails(Path("swapped.sealed"), ErrorCode::kUnauthenticated);
}

// A file whose every chunk authenticates but whose last chunk lacks TAG_FINAL (built by hand with
// the documented layout) is reported as truncated.
TEST_F(SealedFileTest, MissingFinalTagIsDataLoss) {
  const std::uint64_t length = 10;
  Bytes pt(length, 0x42);
  Bytes file = ToBytes("CAIRNSS1");
  AppendU64(file, length);
  Bytes aad = ToBytes("cairn/sealed-file/v1");
  AppendU64(aad, length);
  AppendBytes(aad, AsBytes("ckpt"));
  crypto_secretstream_xchacha20poly1305_state st;
  std::uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  ASSERT_EQ(crypto_secretstream_xchacha20poly1305_init_push(&st, header, key_.data()), 0);
  file.insert(file.end(), header, header + sizeof header);
  Bytes c(length + crypto_secretstream_xchacha20poly1305_ABYTES);
  ASSERT_EQ(crypto_secretstream_xchacha20poly1305_push(
                &st, c.data(), nullptr, pt.data(), pt.size(), aad.data(), aad.size(),
                crypto_secretstream_xchacha20poly1305_TAG_MESSAGE),
            0);
  file.insert(file.end(), c.begin(), c.end());
  WriteRaw(Path("nofinal.sealed"), file);
  ExpectOpenFails(Path("nofinal.sealed"), ErrorCode::kDataLoss);

  // The same bytes with TAG_FINAL open: the hand-built layout is the real one.
  ASSERT_EQ(crypto_secretstream_xchacha20poly1305_init_push(&st, header, key_.data()), 0);
  Bytes good = ToBytes("CAIRNSS1");
  AppendU64(good, length);
  good.insert(good.end(), header, header + sizeof header);
  ASSERT_EQ(crypto_secretstream_xchacha20poly1305_push(
                &st, c.data(), nullptr, pt.data(), pt.size(), aad.data(), aad.size(),
                crypto_secretstream_xchacha20poly1305_TAG_FINAL),
            0);
  good.insert(good.end(), c.begin(), c.end());
  WriteRaw(Path("final.sealed"), good);
  auto r = OpenSealedFile(key_, AsBytes("ckpt"), Path("final.sealed"), 100);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(*r, pt);
}

TEST_F(SealedFileTest, LimitsAndMissingFiles) {
  std::string path = Path("l.sealed");
  ASSERT_TRUE(SealToFile(key_, AsBytes("ckpt"), RandomBytes(1000), path));
  auto over = OpenSealedFile(key_, AsBytes("ckpt"), path, 999);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), ErrorCode::kOutOfRange);
  EXPECT_TRUE(OpenSealedFile(key_, AsBytes("ckpt"), path, 1000));
  auto missing = OpenSealedFile(key_, AsBytes("ckpt"), Path("nope"), 1000);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  WriteRaw(Path("plain.txt"), ToBytes("this is not a sealed file at all"));
  ExpectOpenFails(Path("plain.txt"), ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace cairn::crypto
