// The weight ring on every backend (tests/backend/backends.h: the CPU
// backend, whose copy thread stands in for the copy engine, and a GPU where
// the binary has one: gpu_weight_ring_test): every block a pass acquires
// holds that layer's bytes, prefetched blocks are used only by the pass
// right after the prefetch, and the timing counters add up the waits a
// pass's order forces.
#include "daemon/engine/weight_ring.h"

#include <cstring>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/backend/support.h"

namespace djinn {
namespace {

constexpr uint64_t kBlockBytes = 1 << 20;

class WeightRingTest : public backendtest::BackendTest {
 protected:
  // `blocks` host blocks, block b filled with the byte b + 1, and a ring of
  // `slots` slots in the backend's memory.
  void Make(int blocks, int slots) {
    for (int b = 0; b < blocks; ++b) {
      std::byte* host = backend().AllocateHostMemory(kBlockBytes).value();
      std::memset(host, b + 1, kBlockBytes);
      host_.push_back(host);
    }
    std::vector<std::byte*> slot_blocks;
    for (int s = 0; s < slots; ++s) {
      slot_blocks.push_back(static_cast<std::byte*>(Poisoned(1, kBlockBytes / 4, DType::kInt32).data));
    }
    ring_ = std::make_unique<WeightRing>(&backend(), std::move(slot_blocks), kBlockBytes,
                                         std::vector<const std::byte*>(host_.begin(), host_.end()));
  }
  void TearDown() override {
    ring_.reset();
    for (std::byte* host : host_) backend().FreeHostMemory(host, kBlockBytes);
    BackendTest::TearDown();
  }

  // One pass as the model runs it; checks each acquired block's bytes (read
  // on the compute queue, after the wait Acquire issued). Then the host
  // reads a result issued after the pass, as the model does before it
  // collects the pass's timings.
  void Pass(bool direct) {
    ring_->BeginPass(direct);
    const std::byte* slot = nullptr;
    for (int b = 0; b < ring_->streamed_blocks(); ++b) {
      slot = ring_->Acquire(b);
      EXPECT_EQ(static_cast<int>(GetBytes(slot, 1)[0]), b + 1) << "block " << b;
      EXPECT_EQ(static_cast<int>(GetBytes(slot + kBlockBytes - 1, 1)[0]), b + 1) << "block " << b;
      ring_->Release(b);
    }
    ring_->CountPass();
    GetBytes(slot, 1);
  }

  // Waits until the copies issued so far have finished.
  void WaitForCopies() {
    const std::unique_ptr<QueueEvent> done = backend().CreateEvent();
    backend().RecordEvent(done.get(), Queue::kCopy);
    backend().Synchronize(done.get());
  }

  std::vector<std::byte*> host_;
  std::unique_ptr<WeightRing> ring_;
};

TEST_P(WeightRingTest, EveryPassSeesEachLayersBytesInOrder) {
  Make(/*blocks=*/7, /*slots=*/3);
  for (int pass = 0; pass < 3; ++pass) Pass(/*direct=*/true);
  EXPECT_EQ(ring_->counters().passes, 3u);
  EXPECT_EQ(ring_->counters().bytes_copied, 3 * 7 * kBlockBytes);
}

TEST_P(WeightRingTest, APrefetchedPassStartsWithTheFirstBlocksInPlace) {
  Make(/*blocks=*/5, /*slots=*/2);
  Pass(/*direct=*/true);  // leaves blocks 4 and 3 in the slots
  ring_->Prefetch();
  ring_->Prefetch();  // a second call finds them there
  Pass(/*direct=*/true);
  EXPECT_EQ(ring_->counters().bytes_copied, 2 * 5 * kBlockBytes);
}

TEST_P(WeightRingTest, APassThatIsNotDirectCopiesEveryBlockAgain) {
  // A replayed pass cannot know about a prefetch, and it refills every slot:
  // the direct pass after it must not trust the earlier prefetch. With 5
  // blocks in 2 slots, slot 0 ends a pass holding block 4, not block 0.
  Make(/*blocks=*/5, /*slots=*/2);
  ring_->Prefetch();
  Pass(/*direct=*/false);
  Pass(/*direct=*/true);
  ring_->Prefetch();
  Pass(/*direct=*/false);
  ring_->Prefetch();
  Pass(/*direct=*/true);
}

TEST_P(WeightRingTest, WithOneSlotEveryLaterCopyWaitsForTheSlot) {
  // The copy of block b can start only once compute has released block b-1,
  // which it does after block b-1 arrived: every copy after the first waits.
  Make(/*blocks=*/4, /*slots=*/1);
  Pass(/*direct=*/true);
  ring_->CollectTimings();
  const RingCounters& c = ring_->counters();
  EXPECT_EQ(c.timed_passes, 1u);
  EXPECT_EQ(c.timed_bytes, 4 * kBlockBytes);
  EXPECT_EQ(c.copy_stalls, 3u);
  EXPECT_GT(c.copy_stall_seconds, 0);
  EXPECT_GT(c.copy_seconds, 0);
  EXPECT_LE(c.compute_stalls, 4u);
}

TEST_P(WeightRingTest, ComputeNeverWaitsForBlocksThatArrivedBeforeThePass) {
  Make(/*blocks=*/3, /*slots=*/4);
  ring_->Prefetch();
  WaitForCopies();
  Pass(/*direct=*/true);
  ring_->CollectTimings();
  const RingCounters& c = ring_->counters();
  EXPECT_EQ(c.timed_passes, 1u);
  EXPECT_EQ(c.compute_stalls, 0u);
  EXPECT_EQ(c.compute_stall_seconds, 0);
  EXPECT_EQ(c.copy_stalls, 0u);
}

TEST_P(WeightRingTest, TimingsAreCollectedOncePerPass) {
  Make(/*blocks=*/3, /*slots=*/2);
  Pass(/*direct=*/true);
  ring_->CollectTimings();
  ring_->CollectTimings();  // nothing new
  EXPECT_EQ(ring_->counters().timed_passes, 1u);
  Pass(/*direct=*/true);
  Pass(/*direct=*/true);  // the previous pass was never collected
  ring_->CollectTimings();
  EXPECT_EQ(ring_->counters().timed_passes, 2u);
  EXPECT_EQ(ring_->counters().passes, 3u);
}

INSTANTIATE_TEST_SUITE_P(Backends, WeightRingTest, DJINN_ALL_BACKENDS);

}  // namespace
}  // namespace djinn
