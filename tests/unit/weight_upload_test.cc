// WeightUploader on the CPU backend (whose copy queue is a thread): ranges
// larger than a bounce buffer span several chunks, small ones share one,
// every byte lands where it should and nowhere else, and the buffers go back
// to the backend on success, after a read error, when the uploader is
// dropped mid-way (a cancelled load), and when the second buffer cannot be
// had.
#include "daemon/engine/weight_upload.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/parallel_read.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "gtest/gtest.h"
#include "tests/unit/support/byte_pattern.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

using testing::BytePattern;

// Counts host memory, copies and copy-queue events; can refuse host memory.
class CountingBackend : public CpuBackend {
 public:
  CountingBackend() : CpuBackend(2) {}

  absl::StatusOr<std::byte*> AllocateHostMemory(uint64_t bytes) override {
    if (allocations_left == 0) return absl::ResourceExhaustedError("no host memory (test)");
    --allocations_left;
    ++host_blocks;
    return CpuBackend::AllocateHostMemory(bytes);
  }
  void FreeHostMemory(std::byte* memory, uint64_t bytes) override {
    --host_blocks;
    CpuBackend::FreeHostMemory(memory, bytes);
  }
  void CopyToDevice(const std::byte* host, void* device, uint64_t bytes) override {
    ++copies;
    CpuBackend::CopyToDevice(host, device, bytes);
  }
  void RecordEvent(QueueEvent* event, Queue queue) override {
    if (queue == Queue::kCopy) ++copy_events;
    CpuBackend::RecordEvent(event, queue);
  }

  int allocations_left = -1;  // negative: no limit
  int host_blocks = 0;
  int copies = 0;
  int copy_events = 0;
};

class WeightUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::path(::testing::TempDir()) /
            (std::string("weight_upload_test_") + info->name() + "_" + std::to_string(::getpid()));
    bytes_ = BytePattern(300'001, 9);
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(bytes_.data(), static_cast<std::streamsize>(bytes_.size()));
    absl::StatusOr<ReadOnlyFile> file = ReadOnlyFile::Open(path_.string());
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::make_unique<ReadOnlyFile>(*std::move(file));
  }
  void TearDown() override { fs::remove(path_); }

  fs::path path_;
  std::string bytes_;
  std::unique_ptr<ReadOnlyFile> file_;
  CountingBackend backend_;
  ParallelReader reader_{3, 1000};
};

struct Range {
  uint64_t offset, bytes, dst;  // dst: where it goes in "device" memory
};

TEST_F(WeightUploadTest, RangesSpanningAndSharingBuffersArriveIntact) {
  // 4 KiB buffers: most ranges below span several chunks, the small ones
  // share a chunk, and chunk boundaries fall inside ranges at odd offsets.
  const std::vector<Range> ranges = {
      {0, 1, 0},
      {1, 4095, 16},
      {4096, 4096, 5000},
      {10, 20'000, 10'000},
      {123'457, 100'000, 40'000},
      {299'999, 2, 150'000},
      {5, 0, 150'100},
      {7, 3, 150'200},
      {0, 300'001, 160'000},
  };
  std::vector<std::byte> device(470'000, std::byte{0xA5});
  {
    absl::StatusOr<std::unique_ptr<WeightUploader>> uploader = WeightUploader::Create(&backend_, &reader_, 4096);
    ASSERT_TRUE(uploader.ok()) << uploader.status();
    EXPECT_EQ((*uploader)->buffer_bytes(), 4096u);
    EXPECT_EQ(backend_.host_blocks, 2);
    for (const Range& r : ranges) {
      ASSERT_TRUE((*uploader)->Add(*file_, r.offset, r.bytes, device.data() + r.dst).ok());
    }
    ASSERT_TRUE((*uploader)->Finish().ok());
    // Finish returned: every copy has landed (no waiting below).
    std::vector<std::byte> expected(device.size(), std::byte{0xA5});
    for (const Range& r : ranges) std::memcpy(expected.data() + r.dst, bytes_.data() + r.offset, r.bytes);
    EXPECT_TRUE(device == expected);
    // About a copy-queue event per full buffer: data / 4 KiB, plus partial ones.
    uint64_t total = 0;
    for (const Range& r : ranges) total += r.bytes;
    EXPECT_GE(static_cast<uint64_t>(backend_.copy_events), total / 4096);
    EXPECT_LE(static_cast<uint64_t>(backend_.copy_events), total / 4096 + ranges.size() + 1);
  }
  EXPECT_EQ(backend_.host_blocks, 0);
}

TEST_F(WeightUploadTest, SmallRangesShareOneCopyEvent) {
  std::vector<std::byte> device(10 * 1000);
  {
    absl::StatusOr<std::unique_ptr<WeightUploader>> uploader = WeightUploader::Create(&backend_, &reader_, 64 << 10);
    ASSERT_TRUE(uploader.ok()) << uploader.status();
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE((*uploader)->Add(*file_, 1000 * i + 3, 1000, device.data() + 1000 * i).ok());
    }
    EXPECT_EQ(backend_.copies, 0);  // nothing sent before the buffer fills or Finish
    ASSERT_TRUE((*uploader)->Finish().ok());
    EXPECT_EQ(backend_.copies, 10);
    EXPECT_EQ(backend_.copy_events, 1);
  }
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(std::memcmp(device.data() + 1000 * i, bytes_.data() + 1000 * i + 3, 1000), 0) << i;
  }
}

TEST_F(WeightUploadTest, ReadErrorNamesTheFileAndBuffersGoBack) {
  std::vector<std::byte> device(400'000);
  {
    absl::StatusOr<std::unique_ptr<WeightUploader>> uploader = WeightUploader::Create(&backend_, &reader_, 4096);
    ASSERT_TRUE(uploader.ok()) << uploader.status();
    // The file ends inside the third chunk of this range.
    absl::Status status = (*uploader)->Add(*file_, 300'001 - 10'000, 20'000, device.data());
    if (status.ok()) status = (*uploader)->Finish();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_NE(status.message().find(path_.string()), std::string::npos) << status;
  }
  EXPECT_EQ(backend_.host_blocks, 0);
}

TEST_F(WeightUploadTest, DroppedWithoutFinishWaitsForItsCopiesAndFreesBuffers) {
  std::vector<std::byte> device(bytes_.size());
  {
    absl::StatusOr<std::unique_ptr<WeightUploader>> uploader = WeightUploader::Create(&backend_, &reader_, 4096);
    ASSERT_TRUE(uploader.ok()) << uploader.status();
    ASSERT_TRUE((*uploader)->Add(*file_, 0, 100'000, device.data()).ok());
    EXPECT_GT(backend_.copies, 0);
  }  // as a cancelled load drops it
  EXPECT_EQ(backend_.host_blocks, 0);
  // What was sent has landed: the destructor waited for it.
  const int sent_chunks = backend_.copies;
  EXPECT_EQ(std::memcmp(device.data(), bytes_.data(), static_cast<size_t>(sent_chunks) * 4096), 0);
}

TEST_F(WeightUploadTest, NoSecondBufferGivesTheFirstBack) {
  backend_.allocations_left = 1;
  absl::StatusOr<std::unique_ptr<WeightUploader>> uploader = WeightUploader::Create(&backend_, &reader_, 4096);
  ASSERT_FALSE(uploader.ok());
  EXPECT_EQ(uploader.status().code(), absl::StatusCode::kResourceExhausted) << uploader.status();
  EXPECT_EQ(backend_.host_blocks, 0);
}

TEST_F(WeightUploadTest, BufferSizeRoundsUpToTheAlignment) {
  absl::StatusOr<std::unique_ptr<WeightUploader>> uploader = WeightUploader::Create(&backend_, &reader_, 1000);
  ASSERT_TRUE(uploader.ok()) << uploader.status();
  EXPECT_EQ((*uploader)->buffer_bytes() % WeightUploader::kAlignment, 0u);
  EXPECT_GE((*uploader)->buffer_bytes(), 1000u);
}

}  // namespace
}  // namespace djinn
