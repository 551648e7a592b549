#include "daemon/engine/weight_upload.h"

#include <algorithm>
#include <utility>

namespace djinn {
namespace {

uint64_t AlignUp(uint64_t bytes, uint64_t alignment) { return (bytes + alignment - 1) / alignment * alignment; }

}  // namespace

absl::StatusOr<std::unique_ptr<WeightUploader>> WeightUploader::Create(Backend* backend, ParallelReader* reader,
                                                                       uint64_t buffer_bytes) {
  std::unique_ptr<WeightUploader> uploader(
      new WeightUploader(backend, reader, AlignUp(std::max<uint64_t>(buffer_bytes, 1), kAlignment)));
  // Owned by `uploader` as soon as taken: its destructor frees the first
  // buffer if the second cannot be had.
  for (Buffer& buffer : uploader->buffers_) {
    absl::StatusOr<std::byte*> memory = backend->AllocateHostMemory(uploader->buffer_bytes_);
    if (!memory.ok()) return memory.status();
    buffer.memory = *memory;
    buffer.copied = backend->CreateEvent();
  }
  return uploader;
}

WeightUploader::~WeightUploader() {
  for (Buffer& buffer : buffers_) {
    if (buffer.memory == nullptr) continue;
    // A copy still reading the buffer, or still writing backend memory that
    // the caller is about to give back, must finish first.
    WaitUntilFree(buffer);
    backend_->FreeHostMemory(buffer.memory, buffer_bytes_);
  }
}

absl::Status WeightUploader::Add(const ReadOnlyFile& file, uint64_t offset, uint64_t bytes, void* device) {
  auto* to = static_cast<std::byte*>(device);
  while (bytes > 0) {
    const uint64_t n = std::min(bytes, buffer_bytes_ - filled_);
    pending_.push_back({ReadRange{&file, offset, n, buffers_[current_].memory + filled_}, to});
    filled_ = std::min(buffer_bytes_, AlignUp(filled_ + n, kAlignment));
    offset += n;
    to += n;
    bytes -= n;
    if (filled_ == buffer_bytes_) {
      if (absl::Status sent = Send(); !sent.ok()) return sent;
    }
  }
  return absl::OkStatus();
}

absl::Status WeightUploader::Finish() {
  if (absl::Status sent = Send(); !sent.ok()) return sent;
  for (Buffer& buffer : buffers_) WaitUntilFree(buffer);
  return absl::OkStatus();
}

void WeightUploader::WaitUntilFree(Buffer& buffer) {
  if (!buffer.in_flight) return;
  backend_->Synchronize(buffer.copied.get());
  buffer.in_flight = false;
}

absl::Status WeightUploader::Send() {
  if (pending_.empty()) return absl::OkStatus();
  Buffer& buffer = buffers_[current_];
  // Waiting here, not when the buffer was last sent, lets its copies run
  // while the other buffer was read.
  WaitUntilFree(buffer);
  std::vector<ReadRange> reads;
  reads.reserve(pending_.size());
  for (const Pending& p : pending_) reads.push_back(p.read);
  const absl::Status read = reader_->Read(reads);
  if (read.ok()) {
    for (const Pending& p : pending_) backend_->CopyToDevice(p.read.dst, p.device, p.read.bytes);
    backend_->RecordEvent(buffer.copied.get(), Queue::kCopy);
    buffer.in_flight = true;
  }
  pending_.clear();
  filled_ = 0;
  current_ ^= 1;
  return read;
}

}  // namespace djinn
