// Copies weights that need no conversion from their files into backend
// memory, through two pinned bounce buffers: the threads of a ParallelReader
// pread the next chunk into one buffer while the copy queue sends the other.
// With the files in the page cache this runs near the host-to-device
// bandwidth, where Backend::Upload from the file's mapping is held back by a
// page fault every few KiB (and by converting on the way).
//
// Ranges are packed into a buffer back to back, so that small tensors share
// one copy and every read keeps all the reader's threads busy; a range larger
// than what is left of the buffer spans several chunks.
#ifndef DJINN_DAEMON_ENGINE_WEIGHT_UPLOAD_H_
#define DJINN_DAEMON_ENGINE_WEIGHT_UPLOAD_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/parallel_read.h"
#include "daemon/backend/backend.h"

namespace djinn {

class WeightUploader {
 public:
  static constexpr uint64_t kDefaultBufferBytes = 64ull << 20;
  // Where each range starts in a buffer: transfers from aligned host memory
  // run at full speed.
  static constexpr uint64_t kAlignment = 256;

  // Takes two buffers of `buffer_bytes` (rounded up to kAlignment) of host
  // memory from `backend` (AllocateHostMemory); RESOURCE_EXHAUSTED when the
  // host cannot give them. `reader` must outlive the uploader.
  static absl::StatusOr<std::unique_ptr<WeightUploader>> Create(Backend* backend, ParallelReader* reader,
                                                                uint64_t buffer_bytes = kDefaultBufferBytes);
  // Waits for the copies still in flight, then gives the buffers back: safe
  // after an error or a cancelled load, with Finish never called.
  ~WeightUploader();
  WeightUploader(const WeightUploader&) = delete;
  WeightUploader& operator=(const WeightUploader&) = delete;

  // Queues bytes [offset, offset + bytes) of `file` for `device` (backend
  // memory). They are read and sent once their buffer is full, or by Finish.
  // An error is the reader's (naming the file); the load should stop.
  absl::Status Add(const ReadOnlyFile& file, uint64_t offset, uint64_t bytes, void* device);
  // Sends what is queued and blocks until every copy has finished, so that
  // the weights are in place: the copies run on the copy queue, and nothing
  // orders the compute queue after them but this wait.
  absl::Status Finish();

  uint64_t buffer_bytes() const { return buffer_bytes_; }

 private:
  struct Buffer {
    std::byte* memory = nullptr;
    std::unique_ptr<QueueEvent> copied;  // recorded after the buffer's last copy
    bool in_flight = false;              // copies issued and not yet waited for
  };
  // A range read into the current buffer, and where it goes.
  struct Pending {
    ReadRange read;
    void* device;
  };

  WeightUploader(Backend* backend, ParallelReader* reader, uint64_t buffer_bytes)
      : backend_(backend), reader_(reader), buffer_bytes_(buffer_bytes) {}

  // Waits until `buffer`'s copies have read it, so that it can be refilled.
  void WaitUntilFree(Buffer& buffer);
  // Reads the current buffer's ranges, issues their copies, and moves on to
  // the other buffer.
  absl::Status Send();

  Backend* const backend_;
  ParallelReader* const reader_;
  const uint64_t buffer_bytes_;
  std::array<Buffer, 2> buffers_;
  int current_ = 0;
  uint64_t filled_ = 0;  // bytes of the current buffer taken by `pending_`
  std::vector<Pending> pending_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_WEIGHT_UPLOAD_H_
