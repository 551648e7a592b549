// The memory arena: aligned blocks, per-category accounting, first-fit
// placement, coalescing frees, and the RESOURCE_EXHAUSTED it reports.
#include "daemon/memory/arena.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

constexpr uint64_t kAlign = Arena::kAlignment;

// Backing memory aligned to the arena's alignment, as the backends give it.
class Backing {
 public:
  explicit Backing(uint64_t bytes)
      : memory_(static_cast<std::byte*>(std::aligned_alloc(kAlign, std::max<uint64_t>(bytes, kAlign)))) {}
  ~Backing() { std::free(memory_); }
  std::byte* data() const { return memory_; }

 private:
  std::byte* memory_;
};

ArenaBlock MustAllocate(Arena& arena, uint64_t bytes, MemoryCategory category = MemoryCategory::kWorkspace) {
  absl::StatusOr<ArenaBlock> block = arena.Allocate(bytes, category);
  EXPECT_TRUE(block.ok()) << block.status();
  return block.value_or(ArenaBlock{});
}

TEST(ArenaTest, CategoryNames) {
  EXPECT_STREQ(MemoryCategoryName(MemoryCategory::kWeights), "weights");
  EXPECT_STREQ(MemoryCategoryName(MemoryCategory::kRingBuffer), "ring_buffer");
  EXPECT_STREQ(MemoryCategoryName(MemoryCategory::kKvCache), "kv_cache");
  EXPECT_STREQ(MemoryCategoryName(MemoryCategory::kWorkspace), "workspace");
}

TEST(ArenaTest, CapacityRoundsDownToAlignment) {
  Backing memory(1000);
  Arena arena(memory.data(), 1000);
  EXPECT_EQ(arena.Usage().capacity, 768u);
  EXPECT_EQ(arena.Usage().free(), 768u);
  EXPECT_EQ(arena.LargestFreeRange(), 768u);
}

TEST(ArenaTest, BlocksAreAlignedAndRoundedUp) {
  Backing memory(16 * kAlign);
  Arena arena(memory.data(), 16 * kAlign);
  struct Case {
    uint64_t bytes, size;
  };
  for (const Case& c : {Case{1, kAlign}, Case{0, kAlign}, Case{kAlign - 1, kAlign}, Case{kAlign, kAlign},
                        Case{kAlign + 1, 2 * kAlign}, Case{3 * kAlign - 7, 3 * kAlign}}) {
    const ArenaBlock block = MustAllocate(arena, c.bytes);
    EXPECT_EQ(block.size, c.size) << "asked for " << c.bytes;
    EXPECT_EQ(block.offset % kAlign, 0u);
    EXPECT_EQ(block.data, memory.data() + block.offset);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block.data) % kAlign, 0u);
  }
  // The blocks are laid out one after another and do not overlap.
  EXPECT_EQ(arena.Usage().free(), (16 - 1 - 1 - 1 - 1 - 2 - 3) * kAlign);
}

TEST(ArenaTest, UsageByCategory) {
  Backing memory(64 * kAlign);
  Arena arena(memory.data(), 64 * kAlign);
  const ArenaBlock weights = MustAllocate(arena, 10 * kAlign, MemoryCategory::kWeights);
  const ArenaBlock weights2 = MustAllocate(arena, 5 * kAlign - 3, MemoryCategory::kWeights);
  const ArenaBlock ring = MustAllocate(arena, 4 * kAlign, MemoryCategory::kRingBuffer);
  const ArenaBlock kv = MustAllocate(arena, 8 * kAlign, MemoryCategory::kKvCache);
  const ArenaBlock workspace = MustAllocate(arena, 1, MemoryCategory::kWorkspace);
  EXPECT_EQ(weights.category, MemoryCategory::kWeights);
  EXPECT_EQ(kv.category, MemoryCategory::kKvCache);

  ArenaUsage usage = arena.Usage();
  EXPECT_EQ(usage.capacity, 64 * kAlign);
  EXPECT_EQ(usage.by_category[static_cast<int>(MemoryCategory::kWeights)], 15 * kAlign);
  EXPECT_EQ(usage.by_category[static_cast<int>(MemoryCategory::kRingBuffer)], 4 * kAlign);
  EXPECT_EQ(usage.by_category[static_cast<int>(MemoryCategory::kKvCache)], 8 * kAlign);
  EXPECT_EQ(usage.by_category[static_cast<int>(MemoryCategory::kWorkspace)], kAlign);
  EXPECT_EQ(usage.free(), (64 - 15 - 4 - 8 - 1) * kAlign);

  arena.Free(weights);
  arena.Free(kv);
  usage = arena.Usage();
  EXPECT_EQ(usage.by_category[static_cast<int>(MemoryCategory::kWeights)], 5 * kAlign);
  EXPECT_EQ(usage.by_category[static_cast<int>(MemoryCategory::kKvCache)], 0u);
  EXPECT_EQ(usage.free(), (64 - 5 - 4 - 1) * kAlign);

  arena.Free(weights2);
  arena.Free(ring);
  arena.Free(workspace);
  usage = arena.Usage();
  EXPECT_EQ(usage.free(), usage.capacity);
  for (uint64_t bytes : usage.by_category) EXPECT_EQ(bytes, 0u);
}

TEST(ArenaTest, FirstFit) {
  Backing memory(4096);
  Arena arena(memory.data(), 4096);
  const ArenaBlock a = MustAllocate(arena, 1024);
  const ArenaBlock b = MustAllocate(arena, 1024);
  const ArenaBlock c = MustAllocate(arena, 1024);
  EXPECT_EQ(a.offset, 0u);
  EXPECT_EQ(b.offset, 1024u);
  EXPECT_EQ(c.offset, 2048u);
  // Free ranges now: [0, 1024) and [3072, 4096).
  arena.Free(a);
  // The lowest range that fits is taken, even when a later one fits exactly.
  const ArenaBlock small = MustAllocate(arena, 512);
  EXPECT_EQ(small.offset, 0u);
  // [512, 1024) is too small for 1024 bytes: the tail is used.
  const ArenaBlock big = MustAllocate(arena, 1024);
  EXPECT_EQ(big.offset, 3072u);
  // Then the remaining hole is found.
  const ArenaBlock fill = MustAllocate(arena, 512);
  EXPECT_EQ(fill.offset, 512u);
  EXPECT_EQ(arena.Usage().free(), 0u);
  EXPECT_EQ(arena.LargestFreeRange(), 0u);
}

TEST(ArenaTest, FreeMergesNeighbours) {
  // Every order of freeing three adjacent blocks must leave one free range.
  std::array<int, 3> order = {0, 1, 2};
  do {
    Backing memory(3072);
    Arena arena(memory.data(), 3072);
    const std::array<ArenaBlock, 3> blocks = {MustAllocate(arena, 1024), MustAllocate(arena, 1024),
                                              MustAllocate(arena, 1024)};
    ASSERT_EQ(arena.LargestFreeRange(), 0u);
    for (int i : order) arena.Free(blocks[i]);
    const std::string trace = "free order " + std::to_string(order[0]) + std::to_string(order[1]) +
                              std::to_string(order[2]);
    EXPECT_EQ(arena.LargestFreeRange(), 3072u) << trace;
    EXPECT_EQ(arena.Usage().free(), 3072u) << trace;
    const ArenaBlock whole = MustAllocate(arena, 3072);
    EXPECT_EQ(whole.offset, 0u) << trace;
    EXPECT_EQ(whole.size, 3072u) << trace;
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(ArenaTest, FreeBThenAThenC) {
  Backing memory(3 * 1024);
  Arena arena(memory.data(), 3 * 1024);
  const ArenaBlock a = MustAllocate(arena, 1024);
  const ArenaBlock b = MustAllocate(arena, 1024);
  const ArenaBlock c = MustAllocate(arena, 1024);
  arena.Free(b);
  EXPECT_EQ(arena.LargestFreeRange(), 1024u);
  arena.Free(a);
  EXPECT_EQ(arena.LargestFreeRange(), 2048u);  // a and b merged
  arena.Free(c);
  EXPECT_EQ(arena.LargestFreeRange(), 3072u);  // and c
  EXPECT_TRUE(arena.Allocate(3072, MemoryCategory::kWeights).ok());
}

TEST(ArenaTest, ExhaustedReportsSizes) {
  Backing memory(4096);
  Arena arena(memory.data(), 4096);
  MustAllocate(arena, 3072, MemoryCategory::kWeights);
  absl::StatusOr<ArenaBlock> block = arena.Allocate(2048, MemoryCategory::kKvCache);
  ASSERT_FALSE(block.ok());
  EXPECT_EQ(block.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(block.status().message());
  EXPECT_NE(message.find("kv_cache"), std::string::npos) << message;
  EXPECT_NE(message.find("2.00 KiB"), std::string::npos) << message;  // asked
  EXPECT_NE(message.find("1.00 KiB"), std::string::npos) << message;  // free
  EXPECT_NE(message.find("4.00 KiB"), std::string::npos) << message;  // budget
  // A failed allocation changes nothing.
  EXPECT_EQ(arena.Usage().free(), 1024u);
  EXPECT_TRUE(arena.Allocate(1024, MemoryCategory::kKvCache).ok());
}

TEST(ArenaTest, FragmentedFreeSpaceIsNotContiguous) {
  Backing memory(4096);
  Arena arena(memory.data(), 4096);
  std::vector<ArenaBlock> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(MustAllocate(arena, 1024));
  arena.Free(blocks[0]);
  arena.Free(blocks[2]);
  EXPECT_EQ(arena.Usage().free(), 2048u);
  EXPECT_EQ(arena.LargestFreeRange(), 1024u);
  absl::StatusOr<ArenaBlock> block = arena.Allocate(2048, MemoryCategory::kWeights);
  ASSERT_FALSE(block.ok());
  EXPECT_EQ(block.status().code(), absl::StatusCode::kResourceExhausted);
  arena.Free(blocks[1]);
  EXPECT_EQ(arena.LargestFreeRange(), 3072u);
  EXPECT_TRUE(arena.Allocate(2048, MemoryCategory::kWeights).ok());
}

TEST(ArenaTest, HugeRequestsAreExhaustedNotWrapped) {
  Backing memory(4096);
  Arena arena(memory.data(), 4096);
  for (uint64_t bytes : {uint64_t{4097}, uint64_t{1} << 40, std::numeric_limits<uint64_t>::max() - kAlign,
                         std::numeric_limits<uint64_t>::max() - 1, std::numeric_limits<uint64_t>::max()}) {
    absl::StatusOr<ArenaBlock> block = arena.Allocate(bytes, MemoryCategory::kWeights);
    if (block.ok()) {
      ADD_FAILURE() << "a block of " << block->size << " bytes for a request of " << bytes;
    } else {
      EXPECT_EQ(block.status().code(), absl::StatusCode::kResourceExhausted);
    }
  }
  EXPECT_EQ(arena.Usage().free(), 4096u);
}

TEST(ArenaTest, EmptyArena) {
  Arena arena(nullptr, 0);
  EXPECT_EQ(arena.Usage().capacity, 0u);
  EXPECT_EQ(arena.LargestFreeRange(), 0u);
  absl::StatusOr<ArenaBlock> block = arena.Allocate(1, MemoryCategory::kWorkspace);
  ASSERT_FALSE(block.ok());
  EXPECT_EQ(block.status().code(), absl::StatusCode::kResourceExhausted);
  arena.Free(ArenaBlock{});  // a zero-size block is a no-op
  EXPECT_EQ(arena.Usage().free(), 0u);
}

TEST(ArenaTest, ConcurrentAllocateAndFree) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  // Every request rounds up to 2 alignment units, so free space is never too
  // fragmented for the next one, and each thread holds at most 3 blocks: the
  // budget is exactly enough, and any leaked or doubly handed-out block shows.
  constexpr uint64_t kBlock = 2 * kAlign;
  Backing memory(kThreads * 3 * kBlock);
  Arena arena(memory.data(), kThreads * 3 * kBlock);
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        absl::StatusOr<ArenaBlock> a = arena.Allocate(kAlign + 1, MemoryCategory::kWorkspace);
        absl::StatusOr<ArenaBlock> b = arena.Allocate(kBlock, MemoryCategory::kKvCache);
        absl::StatusOr<ArenaBlock> c = arena.Allocate(kBlock - 1, MemoryCategory::kWeights);
        if (!a.ok() || !b.ok() || !c.ok()) {
          ++failures[t];
          for (const auto* block : {&a, &b, &c}) {
            if (block->ok()) arena.Free(**block);
          }
          continue;
        }
        // Each block is this thread's alone while held.
        for (const ArenaBlock* block : {&*a, &*b, &*c}) std::fill(block->data, block->data + block->size, std::byte(t));
        for (const ArenaBlock* block : {&*a, &*b, &*c}) {
          if (std::any_of(block->data, block->data + block->size, [&](std::byte v) { return v != std::byte(t); })) {
            ++failures[t];
          }
        }
        arena.Free(*b);
        arena.Free(*a);
        arena.Free(*c);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  EXPECT_EQ(arena.Usage().free(), arena.Usage().capacity);
  EXPECT_EQ(arena.LargestFreeRange(), arena.Usage().capacity);
}

}  // namespace
}  // namespace djinn
