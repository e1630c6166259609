// Structure of the torch.save-compatible archive, read back with a minimal zip reader written
// here (tests/trainer loads the same files with libtorch itself).
#include "common/model/torch_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "common/core/file.h"
#include "tests/model/test_dir.h"

namespace cairn::model {
namespace {

std::uint32_t U32(const Bytes& b, std::size_t at) {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (static_cast<std::uint32_t>(b[at + 3]) << 24);
}
std::uint16_t U16(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>(b[at] | (b[at + 1] << 8)); }

struct Record {
  std::size_t data_offset;
  Bytes data;
};

// Walks the central directory and checks each local header against it.
std::vector<std::pair<std::string, Record>> ReadZip(const Bytes& zip) {
  std::vector<std::pair<std::string, Record>> out;
  EXPECT_GE(zip.size(), 22u);
  const std::size_t eocd = zip.size() - 22;
  EXPECT_EQ(U32(zip, eocd), 0x06054b50u);
  const std::size_t count = U16(zip, eocd + 10);
  std::size_t cd = U32(zip, eocd + 16);
  EXPECT_EQ(cd + U32(zip, eocd + 12), eocd);
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_EQ(U32(zip, cd), 0x02014b50u);
    EXPECT_EQ(U16(zip, cd + 10), 0);  // stored
    const std::uint32_t crc = U32(zip, cd + 16);
    const std::uint32_t size = U32(zip, cd + 24);
    EXPECT_EQ(U32(zip, cd + 20), size);
    const std::size_t name_len = U16(zip, cd + 28);
    const std::size_t extra_len = U16(zip, cd + 30);
    const std::size_t local = U32(zip, cd + 42);
    std::string name(reinterpret_cast<const char*>(&zip[cd + 46]), name_len);
    // Local header agrees.
    EXPECT_EQ(U32(zip, local), 0x04034b50u);
    EXPECT_EQ(U16(zip, local + 6), 0) << "no data descriptor flag";
    EXPECT_EQ(U32(zip, local + 14), crc);
    EXPECT_EQ(U32(zip, local + 18), size);
    EXPECT_EQ(U32(zip, local + 22), size);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&zip[local + 30]), U16(zip, local + 26)), name);
    const std::size_t local_extra = U16(zip, local + 28);
    EXPECT_EQ(zip[local + 30 + name_len], 'F');
    EXPECT_EQ(zip[local + 31 + name_len], 'B');
    EXPECT_EQ(U16(zip, local + 32 + name_len) + 4u, local_extra);
    const std::size_t data = local + 30 + name_len + local_extra;
    Bytes content(zip.begin() + static_cast<std::ptrdiff_t>(data),
                  zip.begin() + static_cast<std::ptrdiff_t>(data + size));
    EXPECT_EQ(Crc32(content), crc) << name;
    out.push_back({name, {data, std::move(content)}});
    cd += 46 + name_len + extra_len + U16(zip, cd + 32);
  }
  return out;
}

// CRC-32 bit by bit, as the definition reads.
std::uint32_t Crc32Bitwise(ByteSpan d) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::uint8_t b : d) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

TEST(TorchFileTest, Crc32KnownAnswer) {
  EXPECT_EQ(Crc32(AsBytes("123456789")), 0xCBF43926u);
  EXPECT_EQ(Crc32(AsBytes("")), 0u);
}

// The folding path (PCLMULQDQ, where the CPU has it) and the slicing-by-8 tables against the
// bit-at-a-time definition: every length from empty past four 64-byte blocks (the tables' 8-byte
// steps, the fold's entry at 64 bytes, its 16-byte steps and the byte tail) at every alignment of
// the start, and one long buffer.
TEST(TorchFileTest, Crc32FoldingMatchesTablesAndDefinition) {
  Bytes data(5'000'017);
  std::uint64_t z = 0x9E3779B97F4A7C15ull;
  for (auto& b : data) {
    z ^= z << 13;
    z ^= z >> 7;
    z ^= z << 17;
    b = static_cast<std::uint8_t>(z >> 24);
  }
  for (std::size_t start = 0; start < 16; ++start) {
    for (std::size_t len = 0; len <= 300; ++len) {
      ByteSpan d(data.data() + start, len);
      const std::uint32_t want = Crc32Bitwise(d);
      ASSERT_EQ(Crc32WithTables(d), want) << "start " << start << " length " << len;
      ASSERT_EQ(Crc32(d), want) << "start " << start << " length " << len;
    }
  }
  ByteSpan tail(data.data() + 3, data.size() - 3);
  EXPECT_EQ(Crc32(tail), Crc32WithTables(tail));
  EXPECT_EQ(Crc32(tail), Crc32Bitwise(tail));
  std::vector<std::uint8_t> zeros(1 << 20, 0);
  EXPECT_EQ(Crc32(zeros), Crc32WithTables(zeros));
}

TEST(TorchFileTest, ArchiveHasTorchSaveRecordsAlignedWithCorrectCrcs) {
  ModelSpec spec{"mlp", {{"fc1.weight", {2, 3}}, {"fc1.bias", {2}}, {"big", {300}}}};
  std::vector<float> values(spec.num_params());
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f - 3.0f;
  auto zip = EncodeTorchFile(spec, values);
  ASSERT_TRUE(zip) << zip.error().ToString();
  auto records = ReadZip(*zip);
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(records[0].first, "archive/data.pkl");
  EXPECT_EQ(records[1].first, "archive/byteorder");
  EXPECT_EQ(records[2].first, "archive/data/0");
  EXPECT_EQ(records[3].first, "archive/data/1");
  EXPECT_EQ(records[4].first, "archive/data/2");
  EXPECT_EQ(records[5].first, "archive/version");
  EXPECT_EQ(std::string(records[5].second.data.begin(), records[5].second.data.end()), "3\n");
  for (const auto& [name, r] : records) EXPECT_EQ(r.data_offset % 64, 0u) << name;
  // Storages hold the values of each tensor in order.
  std::size_t offset = 0;
  for (std::size_t t = 0; t < 3; ++t) {
    const Bytes& d = records[2 + t].second.data;
    ASSERT_EQ(d.size(), spec.tensors[t].numel() * 4);
    EXPECT_EQ(std::memcmp(d.data(), values.data() + offset, d.size()), 0);
    offset += spec.tensors[t].numel();
  }
  // The pickle: protocol 2, a dict, names in order, 300 written as BININT2, then SETITEMS, STOP.
  const std::string pkl(records[0].second.data.begin(), records[0].second.data.end());
  EXPECT_EQ(pkl.substr(0, 4), std::string("\x80\x02}(", 4));
  EXPECT_EQ(pkl.substr(pkl.size() - 2), "u.");
  const auto w = pkl.find("fc1.weight"), b = pkl.find("fc1.bias"), g = pkl.find("big");
  EXPECT_TRUE(w < b && b < g);
  EXPECT_NE(pkl.find("ctorch._utils\n_rebuild_tensor_v2\n"), std::string::npos);
  EXPECT_NE(pkl.find("ctorch\nFloatStorage\n"), std::string::npos);
  EXPECT_NE(pkl.find(std::string("M\x2c\x01", 3)), std::string::npos);
}

TEST(TorchFileTest, RefusesAMismatchedVector) {
  ModelSpec spec{"logreg", {{"linear.weight", {2, 2}}}};
  std::vector<float> three(3);
  auto r = EncodeTorchFile(spec, three);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("3 values"), std::string::npos);
}

class TorchFileSaveTest : public testing_support::TempDirTest {};

TEST_F(TorchFileSaveTest, SaveWritesTheEncodedBytes) {
  ModelSpec spec{"logreg", {{"linear.weight", {2, 2}}, {"linear.bias", {2}}}};
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(SaveTorchFile(dir_ / "global.pt", spec, v));
  auto bytes = ReadFileBytes(dir_ / "global.pt");
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, *EncodeTorchFile(spec, v));
}

}  // namespace
}  // namespace cairn::model
