// The KV cache of one model: a pool of fixed-size pages carved from the arena
// when the model loads. A sequence reserves the pages its prompt and
// max_tokens can fill when it is admitted (no more: a short request holds a
// few pages, not a whole context) and gives them back the moment it finishes,
// is cancelled or its client disconnects. At most max_sequences sequences
// hold pages at once (the decode batch the workspace was sized for).
//
// To the backend ops the pool is a paged cache (KvCacheLayout): page p holds
// keys and values of kPageTokens consecutive tokens for every layer; a
// sequence's page table lists its pages in order.
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
  static constexpr int64_t kPageTokens = 16;

  struct Shape {
    int64_t layers = 0;
    int64_t context_length = 0;
    int64_t kv_dim = 0;
    DType dtype = DType::kFloat32;
    uint64_t BytesPerPage() const;
    int64_t PagesPerSequence() const { return (context_length + kPageTokens - 1) / kPageTokens; }
    // A sequence as long as the context.
    uint64_t BytesPerSequence() const { return BytesPerPage() * PagesPerSequence(); }
  };

  // `block` holds the pages: block.size / BytesPerPage() of them.
  KvCache(const Shape& shape, int max_sequences, const ArenaBlock& block);

  // Reserves pages for a sequence of up to `tokens` tokens (1..context) and
  // returns its handle; nullopt while too few pages are free or
  // max_sequences sequences hold pages.
  std::optional<int> Acquire(int64_t tokens);
  void Release(int sequence);
  // The sequence's page table.
  std::span<const int32_t> Pages(int sequence) const;
  KvCacheLayout layout() const;

  int slots() const { return static_cast<int>(tables_.size()); }  // max_sequences
  int active() const;
  int64_t pages_total() const { return static_cast<int64_t>(free_pages_.capacity()); }
  int64_t pages_free() const;
  uint64_t used_bytes() const;
  const Shape& shape() const { return shape_; }
  const ArenaBlock& block() const { return block_; }

 private:
  const Shape shape_;
  const ArenaBlock block_;
  mutable std::mutex mutex_;
  std::vector<int32_t> free_pages_;           // a stack
  std::vector<std::vector<int32_t>> tables_;  // per sequence handle; empty: free handle
  std::vector<bool> in_use_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_KV_CACHE_H_
