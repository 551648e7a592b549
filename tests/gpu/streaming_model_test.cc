// Weight streaming on every backend of a GPU host (tests/backend/backends.h:
// the CUDA backend and the CPU one): a model loaded under budgets that force
// exactly 10%, 50% and 90% of its layers through the ring buffer gives
// exactly the logits and greedy tokens of the fully resident model on the
// same backend (same kernels, same order: only where the weights are read
// from changes), and the failure paths leave nothing behind (device memory
// included, where the device is the backend's own).
//
//   gpu_streaming_model_test --model-dir DIR     (or DJINN_STREAMING_MODEL_DIR=DIR)
//
// DIR: a Llama model whose layer count is a multiple of 10 and at least 50,
// e.g. `djinnctl make-test-model --preset small-deep-50` (50 layers of
// 6.0 MB, bf16). tests/gpu/check_streaming.sh makes it and runs this. Not
// part of CTest (needs a GPU).
//
// The planner never streams fewer layers than kRingSlots + 1 = 5 (a ring
// holding every streamed layer would cost as much as keeping them resident,
// residency_plan.h), so 10% of the layers needs at least 50 of them. The
// budgets come from the planner's own sizes (the all-resident plan, one
// layer's block), so each plan streams exactly the share it aims at.
// tests/unit/model_runner_test.cc (TenFiftyAndNinetyPercentStreamed) does the
// same on the CPU backend in CTest, with a smaller model.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/byte_size.h"
#include "common/model_config.h"
#include "daemon/engine/model_loader.h"
#include "daemon/engine/model_runner.h"
#include "daemon/memory/arena.h"
#include "gtest/gtest.h"
#include "tests/backend/backends.h"
#include "tests/backend/support.h"

namespace djinn {
namespace {

std::string g_model_dir;
constexpr int kSequences = 2;
constexpr int64_t kContext = 256;

// One backend of each name for the whole run (the resident reference is
// measured once per backend); aborts when one cannot be made.
Backend& BackendNamed(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Backend>> backends;
  std::unique_ptr<Backend>& backend = backends[name];
  if (backend == nullptr) {
    absl::StatusOr<std::unique_ptr<Backend>> made = backendtest::MakeBackend(name);
    if (!made.ok()) {
      std::fprintf(stderr, "no %s backend: %s\n", name.c_str(), std::string(made.status().message()).c_str());
      std::abort();
    }
    backend = *std::move(made);
  }
  return *backend;
}

// An arena of `bytes` in a backend's memory, given back at destruction.
struct Budget {
  Budget(Backend& backend, uint64_t bytes) : backend(backend), bytes(bytes) {
    absl::StatusOr<std::byte*> reserved = backend.ReserveArena(bytes);
    EXPECT_TRUE(reserved.ok()) << reserved.status();
    base = reserved.value_or(nullptr);
    arena = std::make_unique<Arena>(base, bytes);
  }
  ~Budget() {
    arena.reset();
    if (base != nullptr) backend.ReleaseArena(base, bytes);
  }
  Backend& backend;
  uint64_t bytes;
  std::byte* base = nullptr;
  std::unique_ptr<Arena> arena;
};

absl::StatusOr<std::unique_ptr<LoadedWeights>> Load(Budget& budget, LoadSettings settings = {}) {
  settings.max_context_length = kContext;
  settings.max_sequences = kSequences;
  return LoadModel(g_model_dir, settings, &budget.backend, budget.arena.get());
}

// Where the device memory is the backend's own (a GPU), everything a load
// took is given back: in use now at most 8 MiB above `before`.
void ExpectDeviceMemoryBack(Backend& backend, std::optional<uint64_t> before) {
  const std::optional<uint64_t> now = backendtest::DeviceBytesInUse(backend);
  if (before && now) {
    EXPECT_LE(*now, *before + (8ull << 20)) << "device memory not given back";
  }
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

// The all-resident run (the reference) and the sizes the budgets come from,
// as the planner sees them: the all-resident plan's total and KV bytes per
// sequence, and one layer's block (a budget one byte short of everything
// streams some layers; their bytes per pass over their count). Measured once.
struct Resident {
  int64_t layers = 0;
  uint64_t total_bytes = 0;
  uint64_t layer_bytes = 0;
  uint64_t kv_bytes_per_sequence = 0;
  Outcome reference;

  // Streams exactly `streamed` (> kRingSlots) layers: the resident total less
  // the streamed layers plus a full ring, and half a layer to spare (one more
  // resident layer does not fit).
  uint64_t BudgetStreaming(int64_t streamed) const {
    return total_bytes - (streamed - ResidencyPlan::kRingSlots) * layer_bytes + layer_bytes / 2;
  }
  // The smallest budget that loads: fixed weights, workspace, one KV sequence
  // and a ring of 2 layers (every layer streams).
  uint64_t Minimum() const {
    return total_bytes - (layers - 2) * layer_bytes - (kSequences - 1) * kv_bytes_per_sequence;
  }
};

void Measure(Backend& backend, Resident* out) {
  {
    Budget everything(backend, 16ull << 30);
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(everything);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ResidencyPlan plan = (*loaded)->plan;
    ASSERT_EQ(plan.streamed_layers, 0);
    ASSERT_EQ(plan.kv_sequences, kSequences);
    const int64_t layers = plan.resident_layers;
    ASSERT_TRUE(layers % 10 == 0 && layers / 10 > ResidencyPlan::kRingSlots)
        << layers << " layers: use a model whose layer count is a multiple of 10, at least 50 (small-deep-50)";
    out->total_bytes = plan.total_bytes();
    out->kv_bytes_per_sequence = plan.kv_bytes / plan.kv_sequences;
    ModelRunner runner(*std::move(loaded));
    out->reference = ScoreAndGenerate(runner);
    ASSERT_EQ(out->reference.tokens.size(), 32u);
    out->layers = layers;
  }
  Budget short_one(backend, out->total_bytes - 1);
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(short_one);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_GT((*loaded)->plan.streamed_layers, 0);
  out->layer_bytes = (*loaded)->plan.streamed_weight_bytes / (*loaded)->plan.streamed_layers;
}

class StreamingModelTest : public ::testing::TestWithParam<std::string> {
 protected:
  Backend& backend() { return BackendNamed(GetParam()); }

  // The resident run on this backend, measured once per backend.
  const Resident& Measured() {
    static std::map<std::string, Resident> measured;
    auto [it, first] = measured.try_emplace(GetParam());
    if (first) Measure(backend(), &it->second);
    return it->second;
  }
};

// A load under `budget_bytes` streams exactly `streamed` layers through a
// ring of `ring_slots` beside `kv_sequences` KV sequences, gives the resident
// run's logits (bit for bit) and greedy tokens, and gives the device memory
// back when it is unloaded.
void ExpectResidentResults(Backend& backend, const Resident& resident, uint64_t budget_bytes, int64_t streamed,
                           int ring_slots, int kv_sequences) {
  const std::optional<uint64_t> in_use = backendtest::DeviceBytesInUse(backend);
  {
    Budget budget(backend, budget_bytes);
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ResidencyPlan plan = (*loaded)->plan;
    EXPECT_EQ(plan.streamed_layers, streamed);
    EXPECT_EQ(plan.resident_layers, resident.layers - streamed);
    EXPECT_EQ(plan.ring_slots, ring_slots);
    EXPECT_EQ(plan.kv_sequences, kv_sequences);
    EXPECT_EQ(budget.arena->Usage().capacity - budget.arena->Usage().free(), plan.total_bytes());
    ModelRunner runner(*std::move(loaded));
    const Outcome outcome = ScoreAndGenerate(runner);
    EXPECT_TRUE(outcome.logits == resident.reference.logits) << "logits differ from the resident run";  // bit for bit
    EXPECT_EQ(outcome.tokens, resident.reference.tokens);
    const RingCounters counters = runner.ring_counters();
    EXPECT_GT(counters.passes, 0u);
    EXPECT_EQ(counters.bytes_copied, counters.passes * plan.streamed_weight_bytes);
    std::printf("  %2lld of %lld layers streamed (%3lld%%), ring %d slots, %d KV sequences, budget %.1f MiB: "
                "%.2f ms/token, %.1f GB/s of weights arriving (%llu passes, %.2f GB copied)\n",
                static_cast<long long>(plan.streamed_layers), static_cast<long long>(resident.layers),
                static_cast<long long>(plan.streamed_layers * 100 / resident.layers), plan.ring_slots,
                plan.kv_sequences, budget_bytes / 1048576.0, outcome.seconds_per_token * 1e3,
                counters.bytes_copied / counters.pass_seconds / 1e9, static_cast<unsigned long long>(counters.passes),
                counters.bytes_copied / 1e9);
  }
  ExpectDeviceMemoryBack(backend, in_use);
}

TEST_P(StreamingModelTest, TenFiftyAndNinetyPercentStreamedGiveTheResidentResults) {
  const Resident& resident = Measured();
  ASSERT_GT(resident.layer_bytes, 0u) << "the resident load failed";
  std::printf("%s: model %s: %lld layers of %.2f MiB; resident run %.2f ms/token\n", GetParam().c_str(),
              g_model_dir.c_str(), static_cast<long long>(resident.layers), resident.layer_bytes / 1048576.0,
              resident.reference.seconds_per_token * 1e3);
  for (int percent : {10, 50, 90}) {
    const int64_t streamed = resident.layers * percent / 100;
    const uint64_t budget = resident.BudgetStreaming(streamed);
    SCOPED_TRACE(absl::StrFormat("%d%% streamed (%d layers), budget %d B", percent, streamed, budget));
    ExpectResidentResults(backend(), resident, budget, streamed, ResidencyPlan::kRingSlots, kSequences);
  }
}

// The smallest budget streams every layer through a ring of 2 with one KV
// sequence, with the same results; one byte less names the bytes needed.
TEST_P(StreamingModelTest, BudgetBelowTheMinimumNamesTheBytesNeeded) {
  const Resident& resident = Measured();
  ASSERT_GT(resident.layer_bytes, 0u) << "the resident load failed";
  const uint64_t minimum = resident.Minimum();
  {
    SCOPED_TRACE(absl::StrFormat("the smallest budget, %d B", minimum));
    ExpectResidentResults(backend(), resident, minimum, resident.layers, 2, 1);
  }
  Budget too_small(backend(), minimum - 1);
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(too_small);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kResourceExhausted) << loaded.status();
  EXPECT_NE(loaded.status().message().find(absl::StrCat("needs at least ", FormatBytes(minimum))), std::string::npos)
      << loaded.status();
  EXPECT_NE(loaded.status().message().find(absl::StrCat(minimum, " B")), std::string::npos) << loaded.status();
  EXPECT_EQ(too_small.arena->Usage().free(), too_small.arena->Usage().capacity);
}

// Layers that move between device memory and their pinned host copies
// (model_residency.h): evicting half the layers (a ring made of two of
// their blocks) and promoting them back each give the resident run's logits
// and greedy tokens bit for bit; the recorded decode steps are recorded
// again for each placement.
TEST_P(StreamingModelTest, EvictedAndPromotedLayersGiveTheResidentResults) {
  const Resident& resident = Measured();
  ASSERT_GT(resident.layer_bytes, 0u) << "the resident load failed";
  Budget budget(backend(), resident.total_bytes);
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ModelRunner runner(*std::move(loaded));
  ASSERT_EQ(runner.residency().streamed_layers, 0);
  const uint64_t layer = runner.residency().layer_bytes;
  const int64_t half = resident.layers / 2;
  // A ring takes two of the evicted blocks: half the layers go for
  // (half - 2) blocks given back.
  EXPECT_EQ(runner.Evict((half - ResidencyPlan::kRingSlots) * layer), (half - ResidencyPlan::kRingSlots) * layer);
  EXPECT_EQ(runner.residency().streamed_layers, half);
  Outcome evicted = ScoreAndGenerate(runner);
  EXPECT_TRUE(evicted.logits == resident.reference.logits) << "logits differ after the eviction";
  EXPECT_EQ(evicted.tokens, resident.reference.tokens);
  const absl::Time promoting = absl::Now();
  EXPECT_EQ(runner.Promote(), half);
  Outcome promoted = ScoreAndGenerate(runner);
  const double promote_and_run = absl::ToDoubleSeconds(absl::Now() - promoting);
  EXPECT_EQ(runner.residency().streamed_layers, 0);
  EXPECT_TRUE(promoted.logits == resident.reference.logits) << "logits differ after the promotion";
  EXPECT_EQ(promoted.tokens, resident.reference.tokens);
  std::printf("  evicted %lld of %lld layers: %.2f ms/token; promoted them back (%.1f MB) and ran again in %.3f s\n",
              static_cast<long long>(half), static_cast<long long>(resident.layers),
              evicted.seconds_per_token * 1e3, half * layer / 1e6, promote_and_run);
}

TEST_P(StreamingModelTest, CancelledStreamedLoadGivesBackEverything) {
  const Resident& resident = Measured();
  ASSERT_GT(resident.layer_bytes, 0u) << "the resident load failed";
  Budget budget(backend(), resident.BudgetStreaming(resident.layers / 2));  // half the layers stream
  // Polled once per tensor: cancelled among the first resident layers, and
  // in the second-last layer (streamed, its pinned host block allocated).
  for (int cancel_at : {3, 40, static_cast<int>(1 + 9 * (resident.layers - 2) + 4)}) {
    SCOPED_TRACE(absl::StrFormat("cancelled at poll %d", cancel_at));
    const std::optional<uint64_t> in_use = backendtest::DeviceBytesInUse(backend());
    int polls = 0;
    LoadSettings settings;
    settings.cancelled = [&] { return ++polls >= cancel_at; };
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, settings);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kCancelled) << loaded.status();
    EXPECT_EQ(polls, cancel_at);
    EXPECT_EQ(budget.arena->Usage().free(), budget.arena->Usage().capacity);
    ExpectDeviceMemoryBack(backend(), in_use);
  }
  // And a load after the cancelled ones works in the same budget.
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->plan.streamed_layers, resident.layers / 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, StreamingModelTest, DJINN_ALL_BACKENDS);

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
