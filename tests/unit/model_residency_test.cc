// Layers moving between device memory and their host copies: a model that
// gives layers away and takes them back computes the same logits bit for
// bit, the arena's split follows every move, and the ResidencyManager takes
// room only from idle models, least recently used first.
#include "daemon/engine/model_residency.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/engine/model_loader.h"
#include "daemon/engine/model_runner.h"
#include "daemon/engine/residency_manager.h"
#include "gtest/gtest.h"
#include "tests/unit/support/arena_budget.h"
#include "tests/unit/support/runner_output.h"
#include "tests/unit/support/test_model_dir.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

struct Budget : testing::ArenaBudget<CpuBackend> {
  explicit Budget(uint64_t bytes) : ArenaBudget(bytes, 2) {}
  uint64_t Used(MemoryCategory category) const { return arena->Usage().by_category[static_cast<int>(category)]; }
};

// tiny-deep (12 layers), written once per test process.
std::string ModelDir() {
  static const std::string dir = [] {
    const fs::path path = testing::ProcessTempDir("model_residency_test");
    testing::WriteTestModelOrFail("tiny-deep", /*seed=*/3, path);
    return path.string();
  }();
  return dir;
}

LoadSettings Small() {
  LoadSettings settings;
  settings.max_context_length = 128;
  settings.max_sequences = 2;
  return settings;
}

std::unique_ptr<ModelRunner> Serve(Budget& budget, std::shared_ptr<ResidencyManager> manager = nullptr,
                                 LoadSettings settings = Small()) {
  if (manager != nullptr) {
    settings.reclaimable_bytes = [manager] { return manager->ReclaimableBytes(); };
    settings.reclaim = [manager](uint64_t bytes) { manager->Reclaim(bytes); };
    settings.largest_reclaimable_range = [manager] { return manager->LargestReclaimableRange(); };
  }
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded =
      LoadModel(ModelDir(), settings, &budget.backend, budget.arena.get());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return nullptr;
  return std::make_unique<ModelRunner>(*std::move(loaded), ModelRunner::kDefaultMaxQueued, std::move(manager));
}

const std::vector<int32_t> kPrompt = {1, 17, 99, 5, 42, 7, 300, 12, 8, 250};

std::vector<float> Logits(ModelRunner& runner) { return testing::ScoredLogits(runner, kPrompt); }

std::vector<int32_t> Greedy(ModelRunner& runner, uint32_t tokens) {
  return testing::GreedyTokens(runner, kPrompt, tokens);
}

TEST(ModelResidencyTest, EvictedAndPromotedLayersGiveTheSameLogits) {
  Budget budget(64ull << 20);
  std::unique_ptr<ModelRunner> runner = Serve(budget);
  ASSERT_NE(runner, nullptr);
  const ResidencySnapshot loaded = runner->residency();
  ASSERT_EQ(loaded.streamed_layers, 0);
  ASSERT_EQ(loaded.ring_slots, 0);
  EXPECT_EQ(loaded.host_copy_bytes, 12 * loaded.layer_bytes);  // every layer keeps its host copy
  EXPECT_EQ(loaded.evictable_layers, 12);
  const uint64_t layer = loaded.layer_bytes;
  const uint64_t weights = budget.Used(MemoryCategory::kWeights), free = budget.arena->Usage().free();
  const std::vector<float> reference = Logits(*runner);
  const std::vector<int32_t> reference_tokens = Greedy(*runner, 12);

  // Three layers' worth: the first two evicted blocks become the ring.
  EXPECT_EQ(runner->Evict(3 * layer), 3 * layer);
  ResidencySnapshot now = runner->residency();
  EXPECT_EQ(now.resident_layers, 7);
  EXPECT_EQ(now.streamed_layers, 5);
  EXPECT_EQ(now.ring_slots, 2);
  EXPECT_EQ(now.counters.evictions, 5u);
  EXPECT_EQ(budget.Used(MemoryCategory::kWeights), weights - 5 * layer);
  EXPECT_EQ(budget.Used(MemoryCategory::kRingBuffer), 2 * layer);
  EXPECT_EQ(budget.arena->Usage().free(), free + 3 * layer);
  EXPECT_EQ(Logits(*runner), reference);  // bit for bit
  EXPECT_EQ(Greedy(*runner, 12), reference_tokens);
  EXPECT_GT(runner->ring_counters().passes, 0u);

  // With a ring, every evicted layer gives its whole block.
  EXPECT_EQ(runner->Evict(1), layer);
  EXPECT_EQ(runner->residency().resident_layers, 6);
  EXPECT_EQ(runner->WantedBytes(), 4 * layer);  // 6 streamed, 2 of them into the ring's blocks
  EXPECT_EQ(Logits(*runner), reference);

  // Everything back: the ring's blocks become layers again.
  EXPECT_EQ(runner->Promote(), 6);
  now = runner->residency();
  EXPECT_EQ(now.resident_layers, 12);
  EXPECT_EQ(now.ring_slots, 0);
  EXPECT_EQ(now.counters.promotions, 6u);
  EXPECT_EQ(now.counters.promoted_bytes, 6 * layer);
  EXPECT_EQ(budget.Used(MemoryCategory::kWeights), weights);
  EXPECT_EQ(budget.Used(MemoryCategory::kRingBuffer), 0u);
  EXPECT_EQ(budget.arena->Usage().free(), free);
  EXPECT_EQ(Logits(*runner), reference);
  EXPECT_EQ(Greedy(*runner, 12), reference_tokens);
  EXPECT_EQ(runner->Promote(), 0);
  EXPECT_EQ(runner->WantedBytes(), 0u);
}

// Without host copies of resident layers (djinnd --noresident_host_copies)
// only streamed layers keep one, and resident layers never give way.
TEST(ModelResidencyTest, ResidentLayersWithoutHostCopiesStay) {
  Budget budget(64ull << 20);
  LoadSettings settings = Small();
  settings.resident_host_copies = false;
  std::unique_ptr<ModelRunner> runner = Serve(budget, nullptr, settings);
  ASSERT_NE(runner, nullptr);
  const ResidencySnapshot loaded = runner->residency();
  EXPECT_EQ(loaded.streamed_layers, 0);
  EXPECT_EQ(loaded.host_copy_bytes, 0u);
  EXPECT_EQ(loaded.evictable_layers, 0);
  EXPECT_TRUE(runner->EvictableBlocks().empty());
  EXPECT_EQ(runner->Evict(loaded.layer_bytes), 0u);
  EXPECT_EQ(runner->residency().resident_layers, 12);
  EXPECT_FALSE(Greedy(*runner, 4).empty());
}

TEST(ModelResidencyTest, PromotionTakesOnlyWhatTheArenaHas) {
  Budget budget(64ull << 20);
  std::unique_ptr<ModelRunner> runner = Serve(budget);
  ASSERT_NE(runner, nullptr);
  const uint64_t layer = runner->residency().layer_bytes;
  const std::vector<float> reference = Logits(*runner);
  runner->Evict(10 * layer);  // 12 layers evictable: 10 blocks freed, 2 kept as the ring
  ASSERT_EQ(runner->residency().resident_layers, 0);
  // Fill the arena with layer-sized blocks, then give three back.
  std::vector<ArenaBlock> filler;
  for (;;) {
    absl::StatusOr<ArenaBlock> block = budget.arena->Allocate(layer, MemoryCategory::kWorkspace);
    if (!block.ok()) break;
    filler.push_back(*block);
  }
  ASSERT_GE(filler.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    budget.arena->Free(filler.back());
    filler.pop_back();
  }
  EXPECT_EQ(runner->Promote(), 3);
  EXPECT_EQ(runner->residency().resident_layers, 3);
  EXPECT_EQ(runner->residency().ring_slots, 2);
  EXPECT_LT(budget.arena->Usage().free(), layer);
  EXPECT_EQ(Logits(*runner), reference);
  for (const ArenaBlock& block : filler) budget.arena->Free(block);
}

// Two copies of one model in room for one and three quarters (one whole,
// and the other's fixed weights, workspace, KV cache and ring): a load takes
// the idle one's layers, a busy model keeps its own, and the model that
// serves takes the room back from the one idle longest.
TEST(ResidencyManagerTest, TheBusyModelTakesRoomFromTheIdleOnes) {
  uint64_t one = 0;
  {
    Budget probe(64ull << 20);
    std::unique_ptr<ModelRunner> alone = Serve(probe);
    ASSERT_NE(alone, nullptr);
    one = probe.arena->Usage().capacity - probe.arena->Usage().free();
  }
  Budget budget(one + 3 * one / 4);
  auto manager = std::make_shared<ResidencyManager>(budget.arena.get());
  std::unique_ptr<ModelRunner> x = Serve(budget, manager);
  ASSERT_NE(x, nullptr);
  const std::vector<float> reference = Logits(*x);
  const std::vector<int32_t> reference_tokens = Greedy(*x, 8);
  EXPECT_EQ(x->residency().streamed_layers, 0);
  std::unique_ptr<ModelRunner> y = Serve(budget, manager);  // x is idle: it gives way
  ASSERT_NE(y, nullptr);
  EXPECT_GT(x->residency().counters.evictions, 0u);
  const int64_t x_streamed = x->residency().streamed_layers;
  EXPECT_GT(x_streamed, 0);

  // x serves: it takes its layers back from y, idle.
  EXPECT_EQ(Greedy(*x, 8), reference_tokens);
  EXPECT_EQ(x->residency().streamed_layers, 0);
  EXPECT_GT(x->residency().counters.promotions, 0u);
  EXPECT_GT(y->residency().counters.evictions, 0u);
  EXPECT_GT(y->residency().streamed_layers, 0);
  EXPECT_EQ(Logits(*y), reference);  // y streams, same logits

  // y serves while x, busy with a long request, keeps every layer.
  GenerationRequest long_request;
  long_request.prompt_ids = kPrompt;
  long_request.max_tokens = 100;
  long_request.ignore_eos = true;
  absl::StatusOr<std::shared_ptr<GenerationStream>> busy = x->Submit(long_request);
  ASSERT_TRUE(busy.ok());
  GenerationEvent first;
  ASSERT_TRUE((*busy)->Next(&first, absl::Seconds(30)));  // x is running: it was activated
  const uint64_t x_evictions = x->residency().counters.evictions;
  EXPECT_EQ(Greedy(*y, 8), reference_tokens);
  EXPECT_EQ(x->residency().counters.evictions, x_evictions);
  EXPECT_EQ(x->residency().streamed_layers, 0);
  (*busy)->Cancel();

  // x unloads: y promotes into the memory x gives back.
  x.reset();
  EXPECT_EQ(y->residency().streamed_layers, 0);
  EXPECT_EQ(Logits(*y), reference);
  y.reset();
  EXPECT_EQ(budget.arena->Usage().free(), budget.arena->Usage().capacity);
}

}  // namespace
}  // namespace djinn
