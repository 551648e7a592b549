// ModelRegistry's lock is never held across a load's slow work: while one
// model loads and the residency manager rebalances after it, Generate (Find
// + Submit) and List on the others keep answering.
#include "daemon/core/model_registry.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "tests/unit/support/arena_budget.h"
#include "tests/unit/support/test_model_dir.h"

namespace djinn {
namespace {

// A residency member whose Promote, once armed, tells the test it was
// called and then waits for the test to let it go: Rebalance (run by every
// load after its weights are in) is then in progress for as long as the
// test wants.
class BlockingMember : public ResidencyMember {
 public:
  void Arm() { armed_ = true; }
  absl::Notification entered;
  absl::Notification release;

  std::vector<ArenaBlock> EvictableBlocks() override { return {}; }
  uint64_t Evict(uint64_t) override { return 0; }
  uint64_t WantedBytes() override { return 0; }
  int64_t Promote() override {
    if (armed_.exchange(false)) {
      entered.Notify();
      release.WaitForNotification();
    }
    return 0;
  }
  uint64_t LayerBytes() override { return 0; }

 private:
  std::atomic<bool> armed_{false};
};

// Runs one greedy request on `registry`'s model `name` to its end.
absl::Status GenerateToTheEnd(ModelRegistry& registry, const std::string& name) {
  absl::StatusOr<std::shared_ptr<ModelRunner>> runner = registry.Find(name);
  if (!runner.ok()) return runner.status();
  GenerationRequest request;
  request.prompt_ids = {1, 2, 3};
  request.max_tokens = 4;
  absl::StatusOr<std::shared_ptr<GenerationStream>> stream = (*runner)->Submit(request);
  if (!stream.ok()) return stream.status();
  GenerationEvent event;
  while ((*stream)->Next(&event, absl::InfiniteDuration())) {
    if (!event.error.ok()) return event.error;
    if (event.finish != FinishReason::kNone) return absl::OkStatus();
  }
  return absl::InternalError("the stream ended without a last event");
}

TEST(ModelRegistryTest, GenerateAndListAnswerWhileAnotherModelLoadsAndRebalances) {
  const std::filesystem::path root = testing::ProcessTempDir("registry_root");
  testing::WriteTestModelOrFail("tiny", 1, root / "a");
  testing::WriteTestModelOrFail("tiny", 2, root / "b");
  testing::ArenaBudget<CpuBackend> budget(256ull << 20, /*threads=*/2);
  absl::StatusOr<std::unique_ptr<ModelRegistry>> registry =
      ModelRegistry::Create(root.string(), &budget.backend, budget.arena.get());
  ASSERT_TRUE(registry.ok()) << registry.status();
  ASSERT_TRUE((*registry)->Load("a", "a", LoadSettings{}).ok());

  // Phase 1: B's load is in its weights (LoadModel), stopped in on_progress.
  absl::Notification loading, finish_loading;
  BlockingMember member;
  (*registry)->residency_manager()->Add(&member);
  LoadSettings settings;
  settings.on_progress = [&](const LoadProgress& progress) {
    if (progress.phase == LoadPhase::kLoadingWeights && !loading.HasBeenNotified()) {
      loading.Notify();
      finish_loading.WaitForNotification();
      member.Arm();  // the next Rebalance is this load's
    }
  };
  absl::StatusOr<ModelInfo> loaded_b;
  std::thread load([&] { loaded_b = (*registry)->Load("b", "b", settings); });
  loading.WaitForNotification();
  std::vector<ModelInfo> listed = (*registry)->List();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].name, "b");
  EXPECT_EQ(listed[1].state, ModelState::kLoading);
  EXPECT_TRUE(GenerateToTheEnd(**registry, "a").ok());
  EXPECT_EQ((*registry)->Find("b").status().code(), absl::StatusCode::kUnavailable);

  // Phase 2: B's weights are in; its Rebalance is stopped in a member's Promote.
  finish_loading.Notify();
  member.entered.WaitForNotification();
  listed = (*registry)->List();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].state, ModelState::kLoading);
  EXPECT_TRUE(GenerateToTheEnd(**registry, "a").ok());

  member.release.Notify();
  load.join();
  ASSERT_TRUE(loaded_b.ok()) << loaded_b.status();
  EXPECT_EQ(loaded_b->state, ModelState::kReady);
  EXPECT_TRUE(GenerateToTheEnd(**registry, "b").ok());
  (*registry)->residency_manager()->Remove(&member);
}

}  // namespace
}  // namespace djinn
