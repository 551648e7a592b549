// Streams the weights of non-resident layers from host memory into a ring of
// layer-sized slots in backend memory, in execution order, on the backend's
// copy queue, so that copies overlap the compute of earlier layers.
//
// Every streamed layer is one contiguous block of the same size (Llama layers
// all have one shape), so a slot always holds a whole block and blocks never
// wrap. Per forward pass:
//
//   BeginPass   the copy queue waits for everything computed so far (the
//               previous pass has finished reading every slot), then copies
//               the first min(slots, streamed) blocks at once
//   Acquire(l)  compute waits until layer l's block is in its slot; returns
//               the slot
//   Release(l)  marks the slot free once the compute issued so far is done
//               (an event), and lets the copy queue fill it with the block
//               `slots` layers ahead
//
// Nothing waits on the host: ordering is by events between the two queues,
// so a pass can be recorded once (Backend::Record) and replayed. Calls come
// from the one thread that issues the model's ops.
//
// Between requests the ring need not sit idle: Prefetch copies the first
// blocks of the next pass ahead of time, so a prompt that arrives at an idle
// model does not wait for them (the next direct pass uses them; a replayed
// pass, recorded without them, copies them again).
//
// Stalls. Timing events around every block show where the queues waited for
// each other: compute for a block still copying, or the copy queue for a
// slot compute had not released. CollectTimings adds them up once the
// host has read a result of the pass.
#ifndef DJINN_DAEMON_ENGINE_WEIGHT_RING_H_
#define DJINN_DAEMON_ENGINE_WEIGHT_RING_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "daemon/backend/backend.h"

namespace djinn {

struct RingCounters {
  uint64_t passes = 0;
  uint64_t blocks_copied = 0;
  uint64_t bytes_copied = 0;
  // Wall time of the forward passes that streamed (issue to results): the
  // copies' bytes over it is the rate weights actually arrived at, a lower
  // bound on the PCIe rate (it includes compute the copies did not hide).
  double pass_seconds = 0;
  // From the timing events of the passes the host read results of
  // (timed_passes): blocks compute waited for and for how long; blocks
  // whose copy waited for a free slot and for how long; and the time the
  // copy queue spent copying (bytes of timed passes / copy_seconds is the
  // rate the link delivered).
  uint64_t timed_passes = 0;
  uint64_t timed_bytes = 0;
  uint64_t compute_stalls = 0;
  double compute_stall_seconds = 0;
  uint64_t copy_stalls = 0;
  double copy_stall_seconds = 0;
  double copy_seconds = 0;
};

class WeightRing {
 public:
  // `host_blocks[i]` is the host copy (Backend::AllocateHostMemory) of the
  // i-th streamed layer, `block_bytes` long; each of `slots` (backend
  // memory) holds one block.
  // The counters start from `counters` (a ring that replaces another for a
  // new set of streamed layers carries on its predecessor's).
  WeightRing(Backend* backend, std::vector<std::byte*> slots, uint64_t block_bytes,
             std::vector<const std::byte*> host_blocks, RingCounters counters = {});

  // `direct`: the pass is issued now, not recorded for replays, so it may
  // use blocks Prefetch copied.
  void BeginPass(bool direct);
  // `index`: the streamed layer's position among the streamed layers (0 for
  // the first streamed layer). Calls go in order, each Acquire followed by
  // its Release.
  std::byte* Acquire(int index);
  void Release(int index);

  // Between passes, not while recording: copies the blocks the next pass
  // starts with into their slots, once the compute issued so far is done.
  // Does nothing if they are there already.
  void Prefetch();

  int slots() const { return slots_; }
  uint64_t block_bytes() const { return block_bytes_; }
  int streamed_blocks() const { return static_cast<int>(host_blocks_.size()); }
  const std::byte* host_block(int index) const { return host_blocks_[index]; }
  uint64_t bytes_per_pass() const { return block_bytes_ * host_blocks_.size(); }
  // Passes run and bytes they copied. The model counts each pass it runs
  // (CountPass), since a recorded pass runs at every replay, not when issued.
  const RingCounters& counters() const { return counters_; }
  void CountPass();
  void AddPassSeconds(double seconds) { counters_.pass_seconds += seconds; }
  // After the host has read a result issued after the last pass (so that
  // every timing event of it has been reached): adds its stalls and copy
  // time to the counters. A pass whose results were never read before the
  // next one began goes untimed.
  void CollectTimings();

 private:
  std::byte* Slot(int index) const { return slot_memory_[index % slots_]; }
  // Copies every block whose slot is free, up to `slots` ahead of the
  // oldest block not yet released.
  void CopyAhead();
  // Where the pass (or the Prefetch before it) starts: the copy queue waits
  // for the compute issued so far, and the timing reference is recorded.
  void StartCopies();

  Backend* const backend_;
  const std::vector<std::byte*> slot_memory_;
  const int slots_;
  const uint64_t block_bytes_;
  const std::vector<const std::byte*> host_blocks_;
  std::unique_ptr<QueueEvent> pass_start_;
  std::vector<std::unique_ptr<QueueEvent>> ready_;     // per slot: its block has arrived
  std::vector<std::unique_ptr<QueueEvent>> consumed_;  // per slot: compute is done with it
  int next_copy_ = 0;
  int released_ = 0;
  int prefetched_ = 0;       // blocks Prefetch copied for the next pass
  int pass_prefetched_ = 0;  // of which the pass begun last uses

  // Timing events: the reference (first copies may start), the pass's own
  // start on compute, and per block when compute wanted it, when it arrived
  // and when compute released it.
  std::unique_ptr<QueueEvent> reference_time_;
  std::unique_ptr<QueueEvent> pass_time_;
  std::vector<std::unique_ptr<QueueEvent>> wanted_time_, arrived_time_, released_time_;
  int timed_prefetched_ = 0;  // blocks the pass being timed found prefetched
  bool timing_pending_ = false;
  RingCounters counters_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_WEIGHT_RING_H_
