// Weight streaming on the CUDA backend, on a GPU host: a model loaded under
// budgets that force a growing share of its layers through the ring buffer
// gives exactly the logits and greedy tokens of the fully resident model
// (same kernels, same order: only where the weights are read from changes),
// and the failure paths leave nothing behind.
//
//   gpu_streaming_model_test --model-dir DIR     (or DJINN_STREAMING_MODEL_DIR=DIR)
//
// DIR: a Llama model with at least 8 layers, e.g. `djinnctl make-test-model
// --preset llama-1b` (16 layers). tests/gpu/check_streaming.sh makes it and
// runs this. Not part of CTest (needs a GPU).
//
// The planner never streams fewer layers than its ring holds (the ring would
// cost as much as keeping them), so the smallest streamed share is 3 layers
// with a ring of 2; the budgets below aim at ~20%, 50% and ~90% of the layers.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/model_config.h"
#include "daemon/backend/cuda/cuda_backend.h"
#include "daemon/engine/model_loader.h"
#include "daemon/engine/model_runner.h"
#include "daemon/memory/arena.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

std::string g_model_dir;
constexpr int kSequences = 2;
constexpr int64_t kContext = 256;

CudaBackend& Backend() {
  static CudaBackend* backend = [] {
    absl::StatusOr<std::unique_ptr<CudaBackend>> b = CudaBackend::Create();
    if (!b.ok()) {
      std::fprintf(stderr, "no CUDA device: %s\n", std::string(b.status().message()).c_str());
      std::abort();
    }
    return b->release();
  }();
  return *backend;
}

uint64_t FreeDeviceBytes() {
  size_t free = 0, total = 0;
  cudaMemGetInfo(&free, &total);
  return free;
}

// An arena of `bytes` on the GPU, given back at destruction.
struct Budget {
  explicit Budget(uint64_t bytes) : bytes(bytes) {
    absl::StatusOr<std::byte*> reserved = Backend().ReserveArena(bytes);
    EXPECT_TRUE(reserved.ok()) << reserved.status();
    base = reserved.value_or(nullptr);
    arena = std::make_unique<Arena>(base, bytes);
  }
  ~Budget() {
    arena.reset();
    if (base != nullptr) Backend().ReleaseArena(base, bytes);
  }
  uint64_t bytes;
  std::byte* base = nullptr;
  std::unique_ptr<Arena> arena;
};

absl::StatusOr<std::unique_ptr<LoadedWeights>> Load(Budget& budget, LoadSettings settings = {}) {
  settings.max_context_length = kContext;
  settings.max_sequences = kSequences;
  return LoadModel(g_model_dir, settings, &Backend(), budget.arena.get());
}

struct Outcome {
  std::vector<float> logits;
  std::vector<int32_t> tokens;
  double seconds_per_token = 0;
};

std::vector<int32_t> Prompt(int vocab) {
  std::vector<int32_t> ids{1};
  for (int i = 1; i < 40; ++i) ids.push_back(static_cast<int32_t>((i * 7919) % vocab));
  return ids;
}

Outcome ScoreAndGenerate(ModelRunner& runner) {
  Outcome out;
  const std::vector<int32_t> prompt = Prompt(static_cast<int>(runner.weights().config.vocab_size));
  absl::StatusOr<std::vector<float>> logits = runner.ScoreTokens(prompt);
  EXPECT_TRUE(logits.ok()) << logits.status();
  if (logits.ok()) out.logits = *logits;
  GenerationRequest request;
  request.prompt_ids = prompt;
  request.max_tokens = 32;
  request.ignore_eos = true;
  absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner.Submit(request);
  EXPECT_TRUE(stream.ok()) << stream.status();
  if (!stream.ok()) return out;
  const absl::Time start = absl::Now();
  for (;;) {
    GenerationEvent event;
    if (!(*stream)->Next(&event, absl::Seconds(60))) {
      ADD_FAILURE() << "no event within 60 s";
      break;
    }
    EXPECT_TRUE(event.error.ok()) << event.error;
    out.tokens.insert(out.tokens.end(), event.token_ids.begin(), event.token_ids.end());
    if (event.finish != FinishReason::kNone || !event.error.ok()) break;
  }
  out.seconds_per_token = absl::ToDoubleSeconds(absl::Now() - start) / std::max<size_t>(1, out.tokens.size());
  return out;
}

TEST(StreamingModelTest, StreamedLayersGiveTheResidentResults) {
  // Fully resident first: the reference, and the sizes the budgets come from.
  uint64_t resident_total = 0, layer_bytes = 0;
  int64_t layers = 0;
  Outcome reference;
  {
    Budget everything(16ull << 30);
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(everything);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_EQ((*loaded)->plan.streamed_layers, 0);
    layers = (*loaded)->config.num_hidden_layers;
    ASSERT_GE(layers, 8) << "use a model with at least 8 layers";
    resident_total = (*loaded)->plan.total_bytes();
    ModelRunner runner(*std::move(loaded));
    reference = ScoreAndGenerate(runner);
    ASSERT_EQ(reference.tokens.size(), 32u);
  }
  // One layer's bytes: a budget one byte short of everything streams some
  // layers; their bytes per pass over their count is the layer size.
  {
    Budget short_one(resident_total - 1);
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(short_one);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_GT((*loaded)->plan.streamed_layers, 0);
    layer_bytes = (*loaded)->plan.streamed_weight_bytes / (*loaded)->plan.streamed_layers;
  }
  std::printf("model %s: %lld layers of %.1f MiB; resident run %.2f ms/token\n", g_model_dir.c_str(),
              static_cast<long long>(layers), layer_bytes / 1048576.0, reference.seconds_per_token * 1e3);

  int previous = 0;
  for (double share : {0.2, 0.5, 0.9}) {
    const int64_t streamed_wanted = static_cast<int64_t>(share * layers + 0.5);
    const uint64_t ring = static_cast<uint64_t>(std::min<int64_t>(streamed_wanted - 1, ResidencyPlan::kRingSlots));
    const uint64_t budget_bytes = resident_total - streamed_wanted * layer_bytes + ring * layer_bytes + (1 << 20);
    SCOPED_TRACE(absl::StrFormat("budget %.1f MiB for ~%d%% streamed", budget_bytes / 1048576.0,
                                 static_cast<int>(share * 100)));
    const uint64_t free_before = FreeDeviceBytes();
    {
      Budget budget(budget_bytes);
      absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      const ResidencyPlan plan = (*loaded)->plan;
      EXPECT_GT(plan.streamed_layers, previous);
      previous = static_cast<int>(plan.streamed_layers);
      ModelRunner runner(*std::move(loaded));
      const Outcome streamed = ScoreAndGenerate(runner);
      EXPECT_EQ(streamed.logits, reference.logits) << "logits differ from the resident run";
      EXPECT_EQ(streamed.tokens, reference.tokens);
      const RingCounters counters = runner.ring_counters();
      EXPECT_EQ(counters.bytes_copied, counters.passes * plan.streamed_weight_bytes);
      std::printf("  %2lld of %lld layers streamed, ring %d slots: %.2f ms/token, %.1f GB/s of weights arriving "
                  "(%llu passes, %.2f GB copied)\n",
                  static_cast<long long>(plan.streamed_layers), static_cast<long long>(layers), plan.ring_slots,
                  streamed.seconds_per_token * 1e3, counters.bytes_copied / counters.pass_seconds / 1e9,
                  static_cast<unsigned long long>(counters.passes), counters.bytes_copied / 1e9);
    }
    // Everything the load took (arena, pinned host memory) is back.
    EXPECT_GE(FreeDeviceBytes() + (8ull << 20), free_before);
  }
}

TEST(StreamingModelTest, BudgetBelowTheMinimumNamesTheBytesNeeded) {
  Budget tiny(256ull << 20);
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(tiny);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kResourceExhausted) << loaded.status();
  EXPECT_NE(loaded.status().message().find("needs at least"), std::string::npos) << loaded.status();
  EXPECT_EQ(tiny.arena->Usage().free(), tiny.arena->Usage().capacity);
}

TEST(StreamingModelTest, CancelledStreamedLoadGivesBackEverything) {
  Budget budget(1200ull << 20);  // forces streaming for a ~2 GB model
  for (int cancel_at : {3, 40}) {
    int polls = 0;
    LoadSettings settings;
    settings.cancelled = [&] { return ++polls >= cancel_at; };
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, settings);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kCancelled) << loaded.status();
    EXPECT_EQ(budget.arena->Usage().free(), budget.arena->Usage().capacity);
  }
  // And a load after the cancelled ones works in the same budget.
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_GT((*loaded)->plan.streamed_layers, 0);
}

}  // namespace
}  // namespace djinn

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--model-dir" && i + 1 < argc) djinn::g_model_dir = argv[++i];
  }
  if (djinn::g_model_dir.empty() && std::getenv("DJINN_STREAMING_MODEL_DIR") != nullptr) {
    djinn::g_model_dir = std::getenv("DJINN_STREAMING_MODEL_DIR");
  }
  if (djinn::g_model_dir.empty()) {
    std::fprintf(stderr, "usage: %s --model-dir DIR\n", argv[0]);
    return 2;
  }
  return RUN_ALL_TESTS();
}
