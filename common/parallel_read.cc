#include "common/parallel_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace djinn {

// ------------------------------------------------------------ ReadOnlyFile

absl::StatusOr<ReadOnlyFile> ReadOnlyFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat("no such file: ", path));
    return absl::ErrnoToStatus(error, absl::StrCat("cannot open ", path));
  }
  return ReadOnlyFile(fd, path);
}

ReadOnlyFile::ReadOnlyFile(ReadOnlyFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

ReadOnlyFile& ReadOnlyFile::operator=(ReadOnlyFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

ReadOnlyFile::~ReadOnlyFile() {
  if (fd_ >= 0) ::close(fd_);
}

// ------------------------------------------------------------ ReadFully

absl::Status ReadFully(const ReadRange& range) {
  // Linux moves at most 0x7ffff000 bytes per call; ask for less.
  constexpr uint64_t kMaxPerCall = 1ull << 30;
  uint64_t done = 0;
  while (done < range.bytes) {
    const size_t want = static_cast<size_t>(std::min(range.bytes - done, kMaxPerCall));
    const ssize_t n = ::pread(range.file->fd(), range.dst + done, want, static_cast<off_t>(range.offset + done));
    if (n > 0) {
      done += static_cast<uint64_t>(n);
      continue;
    }
    const int error = errno;  // before anything below can change it
    if (n < 0 && error == EINTR) continue;
    const std::string what = absl::StrFormat("reading bytes [%d, %d) of %s", range.offset, range.offset + range.bytes,
                                             range.file->path());
    if (n == 0) {
      // The read stopped at offset + done, but a range that starts past the
      // end stops at its start: the file's own size says where it ends.
      struct stat st;
      const uint64_t end = ::fstat(range.file->fd(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : range.offset + done;
      return absl::DataLossError(
          absl::StrFormat("%s: the file ends at byte %d (truncated since it was opened?)", what, end));
    }
    return absl::ErrnoToStatus(error, what);
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ ParallelReader

// One Read's pieces, shared by the calling thread and the workers: each takes
// the next unread piece until none is left.
struct ParallelReader::Job {
  std::vector<ReadRange> pieces;
  std::atomic<size_t> next{0};
  absl::Mutex error_mutex;
  absl::Status error ABSL_GUARDED_BY(error_mutex);

  void Run() {
    for (size_t i = next.fetch_add(1); i < pieces.size(); i = next.fetch_add(1)) {
      absl::Status status = ReadFully(pieces[i]);
      if (status.ok()) continue;
      next.store(pieces.size());  // the read has failed: skip what is left
      absl::MutexLock lock(&error_mutex);
      if (error.ok()) error = std::move(status);
    }
  }

  absl::Status Result() {
    absl::MutexLock lock(&error_mutex);
    return error;
  }
};

ParallelReader::ParallelReader(int threads, uint64_t min_piece_bytes)
    : min_piece_bytes_(std::max<uint64_t>(min_piece_bytes, 1)) {
  if (threads <= 0) threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 16u));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ParallelReader::~ParallelReader() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  work_ready_.SignalAll();
  for (std::thread& worker : workers_) worker.join();
}

std::vector<ReadRange> ParallelReader::Pieces(std::span<const ReadRange> ranges) const {
  uint64_t total = 0;
  for (const ReadRange& range : ranges) total += range.bytes;
  // An equal share per thread, unless that is below the minimum.
  const uint64_t piece = std::max(min_piece_bytes_, (total + threads() - 1) / threads());
  std::vector<ReadRange> pieces;
  for (const ReadRange& range : ranges) {
    for (uint64_t first = 0; first < range.bytes; first += piece) {
      pieces.push_back({range.file, range.offset + first, std::min(piece, range.bytes - first), range.dst + first});
    }
  }
  return pieces;
}

absl::Status ParallelReader::Read(std::span<const ReadRange> ranges) {
  absl::MutexLock call_lock(&call_mutex_);
  Job job;
  job.pieces = Pieces(ranges);
  if (job.pieces.size() <= 1 || workers_.empty()) {
    job.Run();
    return job.Result();
  }
  {
    absl::MutexLock lock(&mutex_);
    job_ = &job;
    busy_workers_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  work_ready_.SignalAll();
  job.Run();
  {
    // `job` lives on this stack: every worker must be done with it.
    absl::MutexLock lock(&mutex_);
    while (busy_workers_ > 0) work_done_.Wait(&mutex_);
    job_ = nullptr;
  }
  return job.Result();
}

void ParallelReader::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    Job* job;
    {
      absl::MutexLock lock(&mutex_);
      while (!stopping_ && generation_ == seen) work_ready_.Wait(&mutex_);
      if (stopping_) return;
      seen = generation_;
      job = job_;
    }
    job->Run();
    absl::MutexLock lock(&mutex_);
    if (--busy_workers_ == 0) work_done_.Signal();
  }
}

}  // namespace djinn
