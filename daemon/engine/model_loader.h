// Turns a HuggingFace model directory into a LlamaModel in the arena:
// config.json -> plan (weights, workspace, KV cache) -> weights in the
// compute dtype (read as they are when stored in it, converted otherwise) ->
// KV slots. Reports progress, honours cancellation, and on any failure gives
// back every block it took.
#ifndef DJINN_DAEMON_ENGINE_MODEL_LOADER_H_
#define DJINN_DAEMON_ENGINE_MODEL_LOADER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/chat_template.h"
#include "common/model_config.h"
#include "common/tokenizer.h"
#include "daemon/backend/backend.h"
#include "daemon/engine/kv_cache.h"
#include "daemon/engine/llama_model.h"
#include "daemon/engine/model_residency.h"
#include "daemon/engine/residency_plan.h"
#include "daemon/memory/arena.h"

namespace djinn {

enum class LoadPhase { kReadingConfig, kPlanning, kLoadingWeights, kAllocatingKvCache, kReady };

struct LoadProgress {
  LoadPhase phase = LoadPhase::kReadingConfig;
  uint64_t bytes_loaded = 0;
  uint64_t bytes_total = 0;
};

struct LoadSettings {
  int64_t max_context_length = 0;  // 0: the model's max_position_embeddings
  // True: max_context_length is a cap (a model with a shorter context keeps
  // its own); false: a longer one than the model's is INVALID_ARGUMENT.
  bool context_is_cap = false;
  int max_sequences = 0;           // 0: kDefaultMaxSequences, lowered to what fits
  std::function<void(const LoadProgress&)> on_progress;
  std::function<bool()> cancelled;  // polled between tensors
  // Stream layers that do not fit through a ring buffer (residency_plan.h),
  // and keep a host copy of every layer so that resident ones can give way
  // to other models later (model_residency.h); false: every layer resident
  // (no host copies) or RESOURCE_EXHAUSTED.
  bool allow_streaming = true;
  // With streaming: false keeps host copies of the streamed layers only, for
  // half the host memory of a mostly resident model; its resident layers
  // then never give way to other models.
  bool resident_host_copies = true;
  // Device memory other models could give back (ResidencyManager): the plan
  // counts it as free, and `reclaim` is asked for what the arena lacks
  // before anything is allocated. Unset: only the arena's free bytes.
  std::function<uint64_t()> reclaimable_bytes;
  std::function<void(uint64_t bytes)> reclaim;
  // The largest free range reclaiming everything would leave (the KV cache,
  // workspace and fixed weights each need one).
  std::function<uint64_t()> largest_reclaimable_range;
};

constexpr int kDefaultMaxSequences = 8;

// Where a load's time went, for the log and the load-speed benchmark.
struct LoadTimings {
  // Weights copied into backend memory: the fixed weights and the resident
  // layers (from their host copies, when they have one).
  uint64_t resident_bytes = 0;
  // Copying them, up to when the last copy had finished (not counting time
  // spent on streamed layers while resident copies ran).
  double resident_seconds = 0;
  uint64_t host_bytes = 0;      // layers copied into their host copies
  double host_seconds = 0;
  double host_alloc_seconds = 0;  // allocating (pinning) that host memory
  double total_seconds = 0;     // the whole load
  // Of resident_bytes + host_bytes, those stored in the compute dtype and so
  // read from the file with pread() rather than converted from its mapping.
  uint64_t direct_bytes = 0;
};

// Everything a loaded model owns. Destroying it returns its arena blocks.
struct LoadedWeights {
  ModelConfig config;
  DType stored_dtype = DType::kFloat32;
  std::unique_ptr<Tokenizer> tokenizer;
  // The model's chat template (common/chat_template.h); nullptr when it has
  // none. A template Djinn cannot run fails the load.
  std::unique_ptr<ChatTemplate> chat_template;
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<KvCache> kv_cache;
  ResidencyPlan plan;  // as loaded; residency moves layers since
  std::unique_ptr<ModelResidency> residency;
  std::vector<ArenaBlock> blocks;  // fixed weights, workspace, KV cache
  uint64_t weight_bytes = 0;  // as held by the backend
  LoadTimings timings;
  Arena* arena = nullptr;
  Backend* backend = nullptr;

  LoadedWeights() = default;
  LoadedWeights(const LoadedWeights&) = delete;
  LoadedWeights& operator=(const LoadedWeights&) = delete;
  ~LoadedWeights();
};

// INVALID_ARGUMENT for bad files (naming the file and problem),
// RESOURCE_EXHAUSTED when the model does not fit the budget, CANCELLED.
absl::StatusOr<std::unique_ptr<LoadedWeights>> LoadModel(const std::string& directory, const LoadSettings& settings,
                                                         Backend* backend, Arena* arena);

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_MODEL_LOADER_H_
