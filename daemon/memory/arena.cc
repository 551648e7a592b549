#include "daemon/memory/arena.h"

#include <iterator>

#include "absl/strings/str_cat.h"
#include "common/byte_size.h"

namespace djinn {

const char* MemoryCategoryName(MemoryCategory category) {
  switch (category) {
    case MemoryCategory::kWeights: return "weights";
    case MemoryCategory::kRingBuffer: return "ring_buffer";
    case MemoryCategory::kKvCache: return "kv_cache";
    case MemoryCategory::kWorkspace: return "workspace";
  }
  return "?";
}

uint64_t ArenaUsage::free() const {
  uint64_t used = 0;
  for (uint64_t b : by_category) used += b;
  return capacity - used;
}

Arena::Arena(std::byte* base, uint64_t capacity) : base_(base), capacity_(capacity & ~(kAlignment - 1)) {
  if (capacity_ > 0) free_[0] = capacity_;
  usage_.capacity = capacity_;
}

absl::StatusOr<ArenaBlock> Arena::Allocate(uint64_t bytes, MemoryCategory category) {
  if (bytes > capacity_) {  // also keeps the rounding below from wrapping around
    return absl::ResourceExhaustedError(absl::StrCat("memory budget exhausted: ", MemoryCategoryName(category),
                                                     " needs ", FormatBytes(bytes), ", more than the whole ",
                                                     FormatBytes(capacity_), " budget"));
  }
  const uint64_t size = std::max<uint64_t>(kAlignment, Aligned(bytes));
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < size) continue;
    const uint64_t offset = it->first;
    const uint64_t remaining = it->second - size;
    free_.erase(it);
    if (remaining > 0) free_[offset + size] = remaining;
    usage_.by_category[static_cast<int>(category)] += size;
    return ArenaBlock{base_ + offset, offset, size, category};
  }
  return absl::ResourceExhaustedError(absl::StrCat("memory budget exhausted: ", MemoryCategoryName(category), " needs ",
                                                   FormatBytes(size), ", ", FormatBytes(usage_.free()),
                                                   " of the ", FormatBytes(capacity_), " budget is free"));
}

void Arena::Free(const ArenaBlock& block) {
  if (block.size == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  usage_.by_category[static_cast<int>(block.category)] -= block.size;
  auto [it, inserted] = free_.emplace(block.offset, block.size);
  // Merge with the following and preceding free ranges.
  auto next = std::next(it);
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
}

ArenaBlock Arena::Recategorize(const ArenaBlock& block, MemoryCategory category) {
  std::lock_guard<std::mutex> lock(mutex_);
  usage_.by_category[static_cast<int>(block.category)] -= block.size;
  usage_.by_category[static_cast<int>(category)] += block.size;
  ArenaBlock moved = block;
  moved.category = category;
  return moved;
}

ArenaUsage Arena::Usage() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return usage_;
}

uint64_t Arena::LargestFreeRange() const {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t best = 0;
  for (const auto& [offset, size] : free_) best = std::max(best, size);
  return best;
}

uint64_t Arena::BlocksThatFit(uint64_t bytes) const {
  const uint64_t size = Aligned(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t blocks = 0;
  for (const auto& [offset, range] : free_) blocks += range / size;
  return blocks;
}

uint64_t Arena::LargestFreeRangeWith(const std::vector<ArenaBlock>& blocks) const {
  std::map<uint64_t, uint64_t> ranges;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ranges = free_;
  }
  for (const ArenaBlock& block : blocks) {
    if (block.size > 0) ranges[block.offset] = block.size;
  }
  uint64_t best = 0, start = 0, end = 0;
  for (const auto& [offset, size] : ranges) {  // in offset order: merge touching ranges
    if (offset != end) start = offset;
    end = offset + size;
    best = std::max(best, end - start);
  }
  return best;
}

}  // namespace djinn
