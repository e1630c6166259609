#include "common/core/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace cairn {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-file-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(FileTest, AtomicWriteReplacesAndSetsMode) {
  auto p = dir_ / "state.bin";
  ASSERT_TRUE(WriteFileAtomic(p, std::string_view("one"), 0600));
  ASSERT_TRUE(WriteFileAtomic(p, std::string_view("second"), 0600));
  EXPECT_EQ(*ReadFileText(p), "second");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary file is left behind.
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) (void)e, ++n;
  EXPECT_EQ(n, 1);
}

// Pieces land in order; without Commit() the old file stays and the temporary is removed.
TEST_F(FileTest, AtomicWriterCommitsPiecesOrLeavesTheOldFile) {
  auto p = dir_ / "model.bin";
  ASSERT_TRUE(WriteFileAtomic(p, std::string_view("old")));
  {
    auto w = AtomicFileWriter::Create(p, 0600);
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->Write(AsBytes("new ")));
    ASSERT_TRUE(w->Write(AsBytes("content")));
    EXPECT_EQ(w->written(), 11u);
    EXPECT_EQ(*ReadFileText(p), "old");  // nothing visible before Commit
  }  // abandoned
  EXPECT_EQ(*ReadFileText(p), "old");
  auto w = AtomicFileWriter::Create(p, 0600);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->Write(AsBytes("new ")));
  ASSERT_TRUE(w->Write(AsBytes("content")));
  ASSERT_TRUE(w->Commit());
  EXPECT_EQ(*ReadFileText(p), "new content");
  auto late = w->Write(AsBytes("x"));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ErrorCode::kFailedPrecondition);
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) (void)e, ++n;
  EXPECT_EQ(n, 1);
}

TEST_F(FileTest, ReadRefusesMissingAndOversized) {
  auto missing = ReadFileBytes(dir_ / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  auto p = dir_ / "big";
  ASSERT_TRUE(WriteFileAtomic(p, std::string(100, 'x')));
  auto big = ReadFileBytes(p, 10);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), ErrorCode::kOutOfRange);
  auto dir = ReadFileBytes(dir_);
  ASSERT_FALSE(dir);
}

TEST_F(FileTest, AppendLineAppends) {
  auto p = dir_ / "lines.jsonl";
  ASSERT_TRUE(AppendLineDurable(p, "a"));
  ASSERT_TRUE(AppendLineDurable(p, "b"));
  EXPECT_EQ(*ReadFileText(p), "a\nb\n");
}

}  // namespace
}  // namespace cairn
