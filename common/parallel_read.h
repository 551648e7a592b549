// Reads byte ranges of files into memory with pread(), split over several
// threads. This is how the loader copies weights that need no conversion:
// copying out of a memory mapping pays a page fault every 4-64 KiB on every
// thread, while pread() into memory that is already touched (pinned host
// memory is) copies straight from the page cache, and preads of disjoint
// pieces by several threads scale with the threads.
//
// Errors are values naming the file and the errno text; nothing here aborts.
#ifndef DJINN_COMMON_PARALLEL_READ_H_
#define DJINN_COMMON_PARALLEL_READ_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace djinn {

// A file open for reading, closed when destroyed. Its path names it in errors.
class ReadOnlyFile {
 public:
  // NOT_FOUND ("no such file: <path>") when absent; otherwise the errno's
  // status code with the path and the errno text.
  static absl::StatusOr<ReadOnlyFile> Open(const std::string& path);

  // A moved-from file holds no descriptor (fd() -1).
  ReadOnlyFile(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile& operator=(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;
  ~ReadOnlyFile();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  ReadOnlyFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_ = -1;
  std::string path_;
};

// Bytes [offset, offset + bytes) of `file` into `dst`.
struct ReadRange {
  const ReadOnlyFile* file = nullptr;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  std::byte* dst = nullptr;
};

// Reads all of `range` on the calling thread, retrying short reads and
// EINTR. DATA_LOSS if the file ends first; the errno's code otherwise. Either
// message names the file and the byte range.
absl::Status ReadFully(const ReadRange& range);

// A few threads that read ranges together. The threads live as long as the
// reader, so that splitting a 64 MiB read costs a wake-up, not a thread start
// per piece. One Read at a time (calls from several threads take turns).
class ParallelReader {
 public:
  // Smaller pieces would spend more on the hand-off than on the copy.
  static constexpr uint64_t kDefaultMinPieceBytes = 4ull << 20;

  // `threads` in all, the calling thread included; 0: one per core, at most
  // 16. A range is split into pieces of at least `min_piece_bytes` (tests
  // lower it to put piece boundaries inside small files).
  explicit ParallelReader(int threads = 0, uint64_t min_piece_bytes = kDefaultMinPieceBytes);
  ~ParallelReader();
  ParallelReader(const ParallelReader&) = delete;
  ParallelReader& operator=(const ParallelReader&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Reads every range (their destinations must not overlap) and returns once
  // all are read, or with the first error (destinations then hold anything).
  absl::Status Read(std::span<const ReadRange> ranges);
  absl::Status Read(const ReadRange& range) { return Read(std::span<const ReadRange>(&range, 1)); }

 private:
  struct Job;

  // Cuts the ranges into pieces for the threads to share.
  std::vector<ReadRange> Pieces(std::span<const ReadRange> ranges) const;
  void WorkerLoop();

  const uint64_t min_piece_bytes_;
  absl::Mutex call_mutex_;  // one Read at a time
  absl::Mutex mutex_;
  absl::CondVar work_ready_;
  absl::CondVar work_done_;
  Job* job_ ABSL_GUARDED_BY(mutex_) = nullptr;
  uint64_t generation_ ABSL_GUARDED_BY(mutex_) = 0;  // one more per job
  int busy_workers_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace djinn

#endif  // DJINN_COMMON_PARALLEL_READ_H_
