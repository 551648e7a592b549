// Where one model's decoder layers live now, and moving them. Layers
// [0, resident_layers()) each have a block of backend memory (arena,
// kWeights); the rest stream from their host copies through a ring of
// ring_slots() blocks (arena, kRingBuffer) on every pass.
//
// A layer that keeps a host copy (AllocateHostMemory) for the model's
// lifetime can give its device block back at no cost (Evict) and come back
// for one copy of its bytes over the link (Promote): a model that lost its
// room to another never reads its files again.
//
// Resident layers are always a prefix: the top resident layer goes first
// and the lowest streamed layer comes back first, so the resident layers'
// compute keeps hiding the first copies of every pass (residency_plan.h).
// Every pass reads every layer, so all of a model's blocks are equally
// recent; which model gives way is the ResidencyManager's choice.
//
// The ring's slots are layer-sized blocks too: the first eviction from a
// model without a ring keeps two of the evicted blocks as its slots, and
// the promotion that makes every layer resident again turns them back into
// layer blocks. So a model always has a ring while any layer streams, and
// streams more layers than the ring has slots (streaming fewer would cost
// the same memory as keeping them resident).
//
// Not thread-safe: its owner calls it between passes (ModelRunner, with its
// compute lock held).
#ifndef DJINN_DAEMON_ENGINE_MODEL_RESIDENCY_H_
#define DJINN_DAEMON_ENGINE_MODEL_RESIDENCY_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/backend/backend.h"
#include "daemon/engine/llama_model.h"
#include "daemon/engine/weight_ring.h"
#include "daemon/memory/arena.h"

namespace djinn {

// Layer moves since load (not counting the load's own placement).
struct ResidencyCounters {
  uint64_t promotions = 0;      // layers copied into backend memory to stay
  uint64_t evictions = 0;       // layers that gave their device block back
  uint64_t promoted_bytes = 0;  // bytes the promotions copied host-to-device
};

// What Stats shows of a model's residency now.
struct ResidencySnapshot {
  int64_t resident_layers = 0;
  int64_t streamed_layers = 0;
  int ring_slots = 0;
  uint64_t ring_bytes = 0;
  uint64_t layer_bytes = 0;
  uint64_t resident_layer_bytes = 0;  // resident_layers * layer_bytes
  uint64_t streamed_bytes = 0;        // streamed_layers * layer_bytes: copied by every pass
  uint64_t host_copy_bytes = 0;       // host memory the layers' copies hold
  int64_t evictable_layers = 0;       // resident layers that could give way now
  ResidencyCounters counters;
};

class ModelResidency {
 public:
  // `ring_slots`: the ring's size whenever layers stream (ResidencyPlan::kRingSlots,
  // fewer for models with fewer layers).
  ModelResidency(Backend* backend, Arena* arena, int64_t layers, uint64_t layer_bytes, int ring_slots);
  // Gives back every block and host copy. The model (Attach) must be gone
  // or never used again.
  ~ModelResidency();
  ModelResidency(const ModelResidency&) = delete;
  ModelResidency& operator=(const ModelResidency&) = delete;

  // Loading, in layer order. A layer with a host copy may stream; a
  // resident one without (its host memory ran short) stays resident.
  absl::StatusOr<std::byte*> AllocateHostCopy(int64_t layer);
  absl::StatusOr<std::byte*> AllocateDeviceBlock(int64_t layer);
  // Once every layer has a device block or a host copy: the layers with a
  // device block must be a prefix and every other layer needs a host copy.
  // Takes the ring's slots from the arena if a layer streams (or, when the
  // arena has no block left, the top resident layers' blocks), and tells
  // `model` where to read each layer.
  absl::Status Attach(LlamaModel* model);

  // The device blocks evicting every evictable layer would give back (a
  // model without a ring keeps the first ring_slots of them as its slots).
  std::vector<ArenaBlock> EvictableBlocks() const;
  // Evicts the fewest top resident layers that give back at least `bytes`
  // (all it can when that is not enough); returns the bytes given back.
  uint64_t Evict(uint64_t bytes);
  // Bytes of arena that making every layer resident would take.
  uint64_t WantedBytes() const;
  // Promotes as many streamed layers, lowest first, as the arena has blocks
  // for: their copies run on the copy queue and compute waits for them.
  // Returns the layers promoted.
  int64_t Promote();

  // The ring's counters, over every ring this model has had.
  RingCounters ring_counters() const;
  int64_t resident_layers() const { return resident_; }
  uint64_t layer_bytes() const { return layer_bytes_; }
  int64_t layers() const { return static_cast<int64_t>(layers_.size()); }
  ResidencySnapshot Snapshot() const;

 private:
  struct Layer {
    std::byte* host = nullptr;  // host copy (AllocateHostMemory), or null
    ArenaBlock device;          // size 0 while the layer streams
  };
  // Resident layers at the top of the prefix that have host copies.
  int64_t EvictableLayers() const;
  // Of the layers an eviction takes, how many become the ring's slots
  // instead of going back to the arena (all of the ring, if there is none).
  int64_t BlocksForNewRing() const { return slots_.empty() ? ring_slots_ : 0; }
  // Blocks the host until both queues are idle: a placement change must
  // not free or overwrite a block a queued op still reads or writes.
  void Quiesce();
  // Builds the ring for the streamed layers (none: no ring) and tells the
  // model.
  void Place();

  Backend* const backend_;
  Arena* const arena_;
  const uint64_t layer_bytes_;
  const int ring_slots_;
  std::vector<Layer> layers_;
  int64_t resident_ = 0;
  std::vector<ArenaBlock> slots_;  // the ring's blocks; empty when no layer streams
  std::unique_ptr<WeightRing> ring_;
  RingCounters retired_ring_counters_;  // of rings replaced so far
  LlamaModel* model_ = nullptr;
  std::unique_ptr<QueueEvent> idle_;
  std::unique_ptr<QueueEvent> promoted_;
  ResidencyCounters counters_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_MODEL_RESIDENCY_H_
