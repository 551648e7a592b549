// The daemon's memory budget: one reservation made at start-up, handed out
// in aligned blocks, each owned by one of the categories Stats reports. The
// hot path never allocates: models take their weights, KV cache and
// workspace here once, when they load, and give them back when they unload.
//
// First-fit over an offset-sorted free list; loads and unloads are rare, so
// simplicity beats speed here.
#ifndef DJINN_DAEMON_MEMORY_ARENA_H_
#define DJINN_DAEMON_MEMORY_ARENA_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn {

enum class MemoryCategory { kWeights, kRingBuffer, kKvCache, kWorkspace };
constexpr int kMemoryCategoryCount = 4;
const char* MemoryCategoryName(MemoryCategory category);

struct ArenaBlock {
  std::byte* data = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0;
  MemoryCategory category = MemoryCategory::kWorkspace;
};

struct ArenaUsage {
  uint64_t capacity = 0;
  std::array<uint64_t, kMemoryCategoryCount> by_category{};
  uint64_t free() const;
};

class Arena {
 public:
  static constexpr uint64_t kAlignment = 256;
  // `bytes` rounded up to kAlignment: what a block of that size takes.
  static constexpr uint64_t Aligned(uint64_t bytes) { return (bytes + kAlignment - 1) & ~(kAlignment - 1); }

  // `base` points at `capacity` bytes owned by the caller (the backend).
  Arena(std::byte* base, uint64_t capacity);

  // RESOURCE_EXHAUSTED (with the sizes involved) if no free range fits.
  absl::StatusOr<ArenaBlock> Allocate(uint64_t bytes, MemoryCategory category);
  void Free(const ArenaBlock& block);
  // The same memory, counted under `category` from now on (a layer's block
  // that becomes a ring slot, and back).
  ArenaBlock Recategorize(const ArenaBlock& block, MemoryCategory category);
  ArenaUsage Usage() const;
  uint64_t LargestFreeRange() const;
  // How many blocks of `bytes` the free ranges hold (bytes > 0): what is
  // free in pieces too small for one does not count.
  uint64_t BlocksThatFit(uint64_t bytes) const;
  // The largest free range there would be if `blocks` (allocated now) were
  // freed too.
  uint64_t LargestFreeRangeWith(const std::vector<ArenaBlock>& blocks) const;

 private:
  std::byte* const base_;
  const uint64_t capacity_;
  mutable std::mutex mutex_;
  std::map<uint64_t, uint64_t> free_;  // offset -> size, non-adjacent
  ArenaUsage usage_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_MEMORY_ARENA_H_
