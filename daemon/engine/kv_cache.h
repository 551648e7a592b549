// A fixed pool of per-sequence KV-cache slots, carved from the arena when a
// model loads. Each slot holds keys and values for every layer over the whole
// context: [layer][k|v][context_length][kv_heads * head_dim]. A sequence holds
// one slot from admission until it finishes, is cancelled or its client
// disconnects; then the slot is free for the next one at once.
//
// To the backend ops the pool is a paged cache (KvCacheLayout) whose pages
// are a whole context long: slot s is page s, and a sequence's page table is
// {s}. Smaller pages shared on demand only change this class.
#ifndef DJINN_DAEMON_ENGINE_KV_CACHE_H_
#define DJINN_DAEMON_ENGINE_KV_CACHE_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "daemon/backend/backend.h"
#include "daemon/memory/arena.h"

namespace djinn {

class KvCache {
 public:
  struct Shape {
    int64_t layers = 0;
    int64_t context_length = 0;
    int64_t kv_dim = 0;
    DType dtype = DType::kFloat32;
    uint64_t BytesPerSequence() const;
  };

  // `block` must hold slots * shape.BytesPerSequence() bytes.
  KvCache(const Shape& shape, int slots, const ArenaBlock& block);

  std::optional<int> Acquire();
  void Release(int slot);
  KvCacheLayout layout() const;
  // The page table of the sequence holding `slot`.
  std::span<const int32_t> Pages(int slot) const { return {&page_ids_[slot], 1}; }

  int slots() const { return static_cast<int>(in_use_.size()); }
  int active() const;
  const Shape& shape() const { return shape_; }
  const ArenaBlock& block() const { return block_; }

 private:
  const Shape shape_;
  const ArenaBlock block_;
  mutable std::mutex mutex_;
  std::vector<bool> in_use_;
  std::vector<int32_t> page_ids_;  // page_ids_[s] == s
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_KV_CACHE_H_
