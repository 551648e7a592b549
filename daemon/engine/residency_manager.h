// Shares the device memory that holds decoder layers among every loaded
// model. A model that starts serving (Activate) promotes its streamed layers
// into free memory, then into memory that idle models give back, the least
// recently used model first; a load may reclaim from idle models the same
// way. A model serving requests never loses layers to another: while two
// models are busy each keeps what it has.
//
// Within a model every pass reads every layer, so a model's blocks are all
// equally recent and "least recently used blocks" means the blocks of the
// model that has been idle longest (model_residency.h: within it, the top
// resident layers go first).
//
// A switch to an idle model costs its promoted bytes over the link (the
// copies run before its first pass): at most its share of the budget, never
// a read from disk, since every layer keeps its host copy.
#ifndef DJINN_DAEMON_ENGINE_RESIDENCY_MANAGER_H_
#define DJINN_DAEMON_ENGINE_RESIDENCY_MANAGER_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "daemon/memory/arena.h"

namespace djinn {

// What the manager asks of a model (ModelRunner): each call runs between
// the model's passes, under its own compute lock, and may block while its
// current pass finishes.
class ResidencyMember {
 public:
  virtual ~ResidencyMember() = default;
  // ModelResidency's EvictableBlocks, Evict, WantedBytes and Promote.
  virtual std::vector<ArenaBlock> EvictableBlocks() = 0;
  virtual uint64_t Evict(uint64_t bytes) = 0;
  virtual uint64_t WantedBytes() = 0;
  virtual int64_t Promote() = 0;
  virtual uint64_t LayerBytes() = 0;  // one layer's block
};

class ResidencyManager {
 public:
  explicit ResidencyManager(Arena* arena) : arena_(arena) {}

  // A member joins idle and leaves before it is destroyed (after its last
  // Activate/Deactivate returned).
  void Add(ResidencyMember* member);
  void Remove(ResidencyMember* member) ABSL_LOCKS_EXCLUDED(mutex_);

  // The member has requests to run: it is busy until Deactivate, and
  // promotes what free memory and idle members (least recently used first)
  // make room for. Called without the member's compute lock.
  void Activate(ResidencyMember* member);
  // The member has nothing to run; it is the most recently used.
  void Deactivate(ResidencyMember* member);

  // For loads: what idle members could give back, and taking at least
  // `bytes` of it (least recently used first) when they can.
  uint64_t ReclaimableBytes();
  void Reclaim(uint64_t bytes);
  // The largest free range there would be if idle members gave back all
  // they could: what a load's KV cache (one block) can hope for.
  uint64_t LargestReclaimableRange();

  // Memory came free (a model unloaded, a load failed): members promote
  // into it, the most recently used first, so that it is not left idle.
  // Runs the promotions without the manager's lock (see the .cc).
  void Rebalance() ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  struct State {
    bool active = false;
    uint64_t last_used = 0;  // tick of its last Activate/Deactivate
    int pinned = 0;          // Rebalances that will still call it; Remove waits for 0
  };
  // Takes `bytes` from idle members other than `except`, least recently
  // used first (all they have when that is not enough).
  void ReclaimFromIdle(uint64_t bytes, const ResidencyMember* except) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The blocks idle members could give back.
  std::vector<ArenaBlock> IdleEvictableBlocks() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  Arena* const arena_;
  absl::Mutex mutex_;
  std::map<ResidencyMember*, State> members_ ABSL_GUARDED_BY(mutex_);
  uint64_t tick_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_RESIDENCY_MANAGER_H_
