// The models this daemon serves, by name, and their lifecycle:
//
//   (absent) --Load--> LOADING --ok--> READY --Unload--> UNLOADING --> (absent)
//                         \--error--> (absent)
//
// Loads are confined to the model root: a path that resolves (symlinks
// included) outside it is refused. Names are reserved while loading, so a
// second load of the same name fails at once with ALREADY_EXISTS.
#ifndef DJINN_DAEMON_CORE_MODEL_REGISTRY_H_
#define DJINN_DAEMON_CORE_MODEL_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "daemon/backend/backend.h"
#include "daemon/engine/model_loader.h"
#include "daemon/engine/model_runner.h"
#include "daemon/engine/residency_manager.h"
#include "daemon/memory/arena.h"

namespace djinn {

enum class ModelState { kLoading, kReady, kUnloading };

struct ModelInfo {
  std::string name;
  std::string path;  // resolved
  ModelState state = ModelState::kLoading;
  // Set once READY:
  ModelConfig config;
  DType stored_dtype = DType::kFloat32;
  DType compute_dtype = DType::kFloat32;
  uint64_t weight_bytes = 0;
  int64_t context_length = 0;
  int max_sequences = 0;
  uint64_t kv_cache_bytes = 0;
  uint64_t kv_bytes_per_sequence = 0;  // a whole context's worth of pages
  uint64_t kv_used_bytes = 0;          // pages held by live sequences
  ResidencyPlan plan;           // as loaded
  ResidencySnapshot residency;  // now: layers move between models (ResidencyManager)
  // Embedding, final norm and lm_head: resident for good.
  uint64_t fixed_weight_bytes() const {
    return plan.resident_weight_bytes - static_cast<uint64_t>(plan.resident_layers) * plan.layer_bytes;
  }
  RingCounters ring;            // zero when nothing streamed
  RunnerCounters counters;
};

class ModelRegistry {
 public:
  // `model_root` must exist; it is resolved to an absolute, symlink-free path.
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> Create(const std::string& model_root, Backend* backend,
                                                               Arena* arena);
  ~ModelRegistry();

  // Requests a model may have waiting (ModelRunner); for models loaded after.
  void set_max_queued(int max_queued) { max_queued_ = max_queued; }
  // LoadSettings.resident_host_copies of every load (djinnd --resident_host_copies).
  void set_resident_host_copies(bool keep) { resident_host_copies_ = keep; }

  // Loads `path` (absolute or relative to the model root) as `name`. Its
  // plan counts what idle models could give back as free (ResidencyManager).
  // INVALID_ARGUMENT (bad name, bad files), PERMISSION_DENIED (outside the
  // root), NOT_FOUND (no such path), ALREADY_EXISTS, RESOURCE_EXHAUSTED.
  absl::StatusOr<ModelInfo> Load(const std::string& name, const std::string& path, LoadSettings settings)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // Waits for the model's requests to finish, then frees its memory.
  absl::Status Unload(const std::string& name) ABSL_LOCKS_EXCLUDED(mutex_);
  // The runner of a READY model; NOT_FOUND otherwise (UNAVAILABLE while it loads).
  absl::StatusOr<std::shared_ptr<ModelRunner>> Find(const std::string& name) const;
  std::vector<ModelInfo> List() const;
  // Ends every request on every model now (shutdown).
  void CancelAll();
  // Unloads everything.
  void Clear();

  const std::string& model_root() const { return model_root_; }
  // The manager every model of this registry shares device memory through
  // (tests add members of their own to it).
  ResidencyManager* residency_manager() const { return residency_manager_.get(); }

 private:
  struct Entry {
    ModelInfo info;
    std::shared_ptr<ModelRunner> runner;
  };

  ModelRegistry(std::string model_root, Backend* backend, Arena* arena);
  absl::StatusOr<std::string> ResolvePath(const std::string& path) const;
  static ModelInfo Describe(const Entry& entry);

  const std::string model_root_;
  Backend* const backend_;
  Arena* const arena_;
  int max_queued_ = ModelRunner::kDefaultMaxQueued;
  bool resident_host_copies_ = true;
  // Shared with the runners, which leave it when destroyed (maybe after the
  // registry, while a handler still holds one).
  const std::shared_ptr<ResidencyManager> residency_manager_;
  mutable absl::Mutex mutex_;
  std::map<std::string, Entry> models_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace djinn

#endif  // DJINN_DAEMON_CORE_MODEL_REGISTRY_H_
