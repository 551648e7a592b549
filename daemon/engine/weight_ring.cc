#include "daemon/engine/weight_ring.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace djinn {

WeightRing::WeightRing(Backend* backend, std::vector<std::byte*> slots, uint64_t block_bytes,
                       std::vector<const std::byte*> host_blocks, RingCounters counters)
    : backend_(backend),
      slot_memory_(std::move(slots)),
      slots_(static_cast<int>(slot_memory_.size())),
      block_bytes_(block_bytes),
      host_blocks_(std::move(host_blocks)),
      counters_(counters) {
  if (slots_ < 1) std::abort();  // the planner never makes a ring without slots
  pass_start_ = backend_->CreateEvent();
  for (int s = 0; s < slots_; ++s) {
    ready_.push_back(backend_->CreateEvent());
    consumed_.push_back(backend_->CreateEvent());
  }
  reference_time_ = backend_->CreateTimingEvent();
  pass_time_ = backend_->CreateTimingEvent();
  for (int b = 0; b < streamed_blocks(); ++b) {
    wanted_time_.push_back(backend_->CreateTimingEvent());
    arrived_time_.push_back(backend_->CreateTimingEvent());
    released_time_.push_back(backend_->CreateTimingEvent());
  }
}

void WeightRing::StartCopies() {
  // Everything issued to compute before this point, including the previous
  // pass's reads of every slot, precedes the copies that follow.
  backend_->RecordEvent(pass_start_.get(), Queue::kCompute);
  backend_->WaitForEvent(Queue::kCopy, pass_start_.get());
  backend_->RecordEvent(reference_time_.get(), Queue::kCompute);
  next_copy_ = 0;
  released_ = 0;
}

void WeightRing::BeginPass(bool direct) {
  if (direct && prefetched_ > 0) {
    // The first blocks are in their slots (or on their way) already.
    next_copy_ = prefetched_;
    released_ = 0;
    pass_prefetched_ = prefetched_;
  } else {
    StartCopies();
    pass_prefetched_ = 0;
  }
  prefetched_ = 0;
  backend_->RecordEvent(pass_time_.get(), Queue::kCompute);
  CopyAhead();
}

void WeightRing::Prefetch() {
  if (prefetched_ > 0) return;
  StartCopies();
  CopyAhead();
  prefetched_ = next_copy_;
}

void WeightRing::CopyAhead() {
  while (next_copy_ < streamed_blocks() && next_copy_ < released_ + slots_) {
    const int slot = next_copy_ % slots_;
    // The slot's previous block (this pass) must have been read.
    if (next_copy_ >= slots_) backend_->WaitForEvent(Queue::kCopy, consumed_[slot].get());
    backend_->CopyToDevice(host_blocks_[next_copy_], Slot(next_copy_), block_bytes_);
    // The timing record first: the ready event, which compute waits for,
    // then covers it (a recorded pass must join all its copy-queue work).
    backend_->RecordEvent(arrived_time_[next_copy_].get(), Queue::kCopy);
    backend_->RecordEvent(ready_[slot].get(), Queue::kCopy);
    ++next_copy_;
  }
}

std::byte* WeightRing::Acquire(int index) {
  CopyAhead();
  backend_->RecordEvent(wanted_time_[index].get(), Queue::kCompute);
  backend_->WaitForEvent(Queue::kCompute, ready_[index % slots_].get());
  return Slot(index);
}

void WeightRing::Release(int index) {
  backend_->RecordEvent(consumed_[index % slots_].get(), Queue::kCompute);
  backend_->RecordEvent(released_time_[index].get(), Queue::kCompute);
  released_ = index + 1;
  CopyAhead();
}

void WeightRing::CountPass() {
  ++counters_.passes;
  counters_.blocks_copied += streamed_blocks();
  counters_.bytes_copied += bytes_per_pass();
  // A replayed pass (no BeginPass) also refills every slot.
  prefetched_ = 0;
  timed_prefetched_ = pass_prefetched_;
  pass_prefetched_ = 0;
  timing_pending_ = true;
}

void WeightRing::CollectTimings() {
  if (!timing_pending_) return;
  timing_pending_ = false;
  // Every time is from the reference, which precedes all of the pass's
  // events on both queues (the copy queue waited for it).
  auto at = [&](const std::unique_ptr<QueueEvent>& event) {
    return backend_->SecondsBetween(reference_time_.get(), event.get());
  };
  const double pass_began = at(pass_time_);
  if (std::isnan(pass_began)) return;
  RingCounters pass;
  double previous_arrival = 0;
  for (int b = 0; b < streamed_blocks(); ++b) {
    const double wanted = at(wanted_time_[b]), arrived = at(arrived_time_[b]);
    if (std::isnan(wanted) || std::isnan(arrived)) return;
    if (arrived > wanted) {
      ++pass.compute_stalls;
      pass.compute_stall_seconds += arrived - wanted;
    }
    // The copy queue was free for block b once block b-1 had arrived (and,
    // for a block not prefetched, once the pass had begun); it could start
    // once the slot's previous block was released, too.
    double start = previous_arrival;
    if (b >= timed_prefetched_) start = std::max(start, pass_began);
    if (b >= slots_) {
      const double slot_free = at(released_time_[b - slots_]);
      if (std::isnan(slot_free)) return;
      if (slot_free > start) {
        ++pass.copy_stalls;
        pass.copy_stall_seconds += slot_free - start;
        start = slot_free;
      }
    }
    pass.copy_seconds += std::max(0.0, arrived - start);
    previous_arrival = arrived;
  }
  ++counters_.timed_passes;
  counters_.timed_bytes += bytes_per_pass();
  counters_.compute_stalls += pass.compute_stalls;
  counters_.compute_stall_seconds += pass.compute_stall_seconds;
  counters_.copy_stalls += pass.copy_stalls;
  counters_.copy_stall_seconds += pass.copy_stall_seconds;
  counters_.copy_seconds += pass.copy_seconds;
}

}  // namespace djinn
