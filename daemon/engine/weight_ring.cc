#include "daemon/engine/weight_ring.h"

#include <cstdlib>

namespace djinn {

WeightRing::WeightRing(Backend* backend, std::byte* ring, int slots, uint64_t block_bytes,
                       std::vector<const std::byte*> host_blocks)
    : backend_(backend), ring_(ring), slots_(slots), block_bytes_(block_bytes), host_blocks_(std::move(host_blocks)) {
  if (slots_ < 1) std::abort();  // the planner never makes a ring without slots
  pass_start_ = backend_->CreateEvent();
  for (int s = 0; s < slots_; ++s) {
    ready_.push_back(backend_->CreateEvent());
    consumed_.push_back(backend_->CreateEvent());
  }
}

void WeightRing::BeginPass() {
  // Everything issued to compute before this pass, including the previous
  // pass's reads of every slot, precedes the copies below.
  backend_->RecordEvent(pass_start_.get(), Queue::kCompute);
  backend_->WaitForEvent(Queue::kCopy, pass_start_.get());
  next_copy_ = 0;
  released_ = 0;
  CopyAhead();
}

void WeightRing::CopyAhead() {
  while (next_copy_ < streamed_blocks() && next_copy_ < released_ + slots_) {
    const int slot = next_copy_ % slots_;
    // The slot's previous block (this pass) must have been read.
    if (next_copy_ >= slots_) backend_->WaitForEvent(Queue::kCopy, consumed_[slot].get());
    backend_->CopyToDevice(host_blocks_[next_copy_], Slot(next_copy_), block_bytes_);
    backend_->RecordEvent(ready_[slot].get(), Queue::kCopy);
    ++next_copy_;
  }
}

std::byte* WeightRing::Acquire(int index) {
  CopyAhead();
  backend_->WaitForEvent(Queue::kCompute, ready_[index % slots_].get());
  return Slot(index);
}

void WeightRing::Release(int index) {
  backend_->RecordEvent(consumed_[index % slots_].get(), Queue::kCompute);
  released_ = index + 1;
  CopyAhead();
}

void WeightRing::CountPass() {
  ++counters_.passes;
  counters_.blocks_copied += streamed_blocks();
  counters_.bytes_copied += bytes_per_pass();
}

}  // namespace djinn
