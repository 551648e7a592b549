// ParallelReader and ReadFully: whole files and odd ranges arrive byte for
// byte whatever the thread count and piece size (pieces as small as 1000
// bytes put their boundaries inside small files), nothing is written outside
// a destination, and failures name the file.
#include "common/parallel_read.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/unit/support/byte_pattern.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

using testing::BytePattern;

class ParallelReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("parallel_read_test_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `bytes` to `name` in the temp dir and opens it.
  ReadOnlyFile Write(const std::string& name, const std::string& bytes) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    absl::StatusOr<ReadOnlyFile> file = ReadOnlyFile::Open(path.string());
    EXPECT_TRUE(file.ok()) << file.status();
    return *std::move(file);
  }

  fs::path dir_;
};

// A destination with guard bytes on both sides.
class Guarded {
 public:
  explicit Guarded(size_t size) : memory_(size + 2 * kGuard, std::byte{0xA5}), size_(size) {}
  std::byte* data() { return memory_.data() + kGuard; }
  std::string contents() const { return std::string(reinterpret_cast<const char*>(memory_.data()) + kGuard, size_); }
  bool guards_intact() const {
    for (size_t i = 0; i < kGuard; ++i) {
      if (memory_[i] != std::byte{0xA5} || memory_[kGuard + size_ + i] != std::byte{0xA5}) return false;
    }
    return true;
  }

 private:
  static constexpr size_t kGuard = 64;
  std::vector<std::byte> memory_;
  size_t size_;
};

TEST_F(ParallelReadTest, WholeFileForEveryThreadCountAndPieceSize) {
  const std::string bytes = BytePattern(1'234'567, 1);  // not a multiple of any piece
  ReadOnlyFile file = Write("whole.bin", bytes);
  for (int threads : {1, 2, 3, 7, 16}) {
    for (uint64_t min_piece : {uint64_t{1000}, uint64_t{65536}, ParallelReader::kDefaultMinPieceBytes}) {
      SCOPED_TRACE(::testing::Message() << threads << " threads, pieces of at least " << min_piece);
      ParallelReader reader(threads, min_piece);
      EXPECT_EQ(reader.threads(), threads);
      Guarded dst(bytes.size());
      ASSERT_TRUE(reader.Read(ReadRange{&file, 0, bytes.size(), dst.data()}).ok());
      EXPECT_TRUE(dst.contents() == bytes);
      EXPECT_TRUE(dst.guards_intact());
    }
  }
}

TEST_F(ParallelReadTest, OddOffsetsAndSizes) {
  const std::string bytes = BytePattern(100'003, 2);
  ReadOnlyFile file = Write("odd.bin", bytes);
  ParallelReader reader(3, 1000);  // a range of more than 1000 bytes crosses a piece boundary
  const std::vector<std::pair<uint64_t, uint64_t>> ranges = {
      {0, 0},    {0, 1},       {1, 1},           {7, 999},     {7, 1000},
      {7, 1001}, {4095, 4097}, {12'345, 67'891}, {100'002, 1}, {1, 100'002},
  };
  for (const auto& [offset, size] : ranges) {
    SCOPED_TRACE(::testing::Message() << "[" << offset << ", " << offset + size << ")");
    Guarded dst(size);
    ASSERT_TRUE(reader.Read(ReadRange{&file, offset, size, dst.data()}).ok());
    EXPECT_TRUE(dst.contents() == bytes.substr(offset, size));
    EXPECT_TRUE(dst.guards_intact());
  }
}

TEST_F(ParallelReadTest, SeveralRangesOfSeveralFilesInOneRead) {
  const std::string a = BytePattern(50'001, 3), b = BytePattern(7'777, 4);
  ReadOnlyFile file_a = Write("a.bin", a), file_b = Write("b.bin", b);
  ParallelReader reader(4, 1000);
  Guarded dst(20'000 + 3 + 7'000 + 30'000);
  std::byte* out = dst.data();
  const std::vector<ReadRange> ranges = {
      {&file_a, 11, 20'000, out},
      {&file_b, 5, 3, out + 20'000},
      {&file_b, 777, 7'000, out + 20'003},
      {&file_a, 20'001, 30'000, out + 27'003},
  };
  ASSERT_TRUE(reader.Read(ranges).ok());
  const std::string expected = a.substr(11, 20'000) + b.substr(5, 3) + b.substr(777, 7'000) + a.substr(20'001, 30'000);
  EXPECT_TRUE(dst.contents() == expected);
  EXPECT_TRUE(dst.guards_intact());
}

TEST_F(ParallelReadTest, ManyReadsReuseTheThreads) {
  const std::string bytes = BytePattern(20'000, 5);
  ReadOnlyFile file = Write("many.bin", bytes);
  ParallelReader reader(4, 512);
  std::vector<std::byte> dst(bytes.size());
  for (int i = 0; i < 500; ++i) {
    const uint64_t offset = (i * 37) % 10'000, size = 1 + (i * 101) % 10'000;
    ASSERT_TRUE(reader.Read(ReadRange{&file, offset, size, dst.data()}).ok()) << i;
    ASSERT_EQ(std::memcmp(dst.data(), bytes.data() + offset, size), 0) << i;
  }
}

TEST_F(ParallelReadTest, DefaultThreadCountIsBounded) {
  ParallelReader reader;
  EXPECT_GE(reader.threads(), 1);
  EXPECT_LE(reader.threads(), 16);
}

TEST_F(ParallelReadTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = (dir_ / "absent.bin").string();
  absl::StatusOr<ReadOnlyFile> file = ReadOnlyFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound) << file.status();
  EXPECT_NE(file.status().message().find(path), std::string::npos) << file.status();
}

TEST_F(ParallelReadTest, ReadingPastTheEndIsDataLossNamingThePath) {
  const std::string bytes = BytePattern(10'000, 6);
  ReadOnlyFile file = Write("short.bin", bytes);
  for (int threads : {1, 4}) {
    SCOPED_TRACE(::testing::Message() << threads << " threads");
    ParallelReader reader(threads, 1000);
    std::vector<std::byte> dst(20'000);
    const absl::Status status = reader.Read(ReadRange{&file, 5'000, 15'000, dst.data()});
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_NE(status.message().find(file.path()), std::string::npos) << status;
    EXPECT_NE(status.message().find("ends at byte 10000"), std::string::npos) << status;
    // The reader is still usable after a failure.
    ASSERT_TRUE(reader.Read(ReadRange{&file, 0, bytes.size(), dst.data()}).ok());
    EXPECT_EQ(std::memcmp(dst.data(), bytes.data(), bytes.size()), 0);
  }
}

TEST_F(ParallelReadTest, ErrnoFailureNamesThePathAndTheError) {
  // A directory opens read-only, and pread() on it fails with EISDIR.
  absl::StatusOr<ReadOnlyFile> directory = ReadOnlyFile::Open(dir_.string());
  ASSERT_TRUE(directory.ok()) << directory.status();
  std::vector<std::byte> dst(5000);
  ParallelReader reader(2, 1000);
  const absl::Status status = reader.Read(ReadRange{&*directory, 0, dst.size(), dst.data()});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(dir_.string()), std::string::npos) << status;
  EXPECT_NE(status.message().find(std::strerror(EISDIR)), std::string::npos) << status;
  EXPECT_EQ(ReadFully(ReadRange{&*directory, 0, 1, dst.data()}).code(), status.code());
}

TEST_F(ParallelReadTest, MovedFileKeepsItsDescriptor) {
  const std::string bytes = BytePattern(100, 7);
  ReadOnlyFile first = Write("moved.bin", bytes);
  const int fd = first.fd();
  ReadOnlyFile second = std::move(first);
  EXPECT_EQ(second.fd(), fd);
  EXPECT_EQ(first.fd(), -1);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  std::vector<std::byte> dst(bytes.size());
  ASSERT_TRUE(ReadFully(ReadRange{&second, 0, bytes.size(), dst.data()}).ok());
  EXPECT_EQ(std::memcmp(dst.data(), bytes.data(), bytes.size()), 0);
}

}  // namespace
}  // namespace djinn
