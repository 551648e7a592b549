// The daemon's core: what every front-end (the gRPC service, an HTTP API)
// calls, as plain C++ with absl::Status errors. It owns the device backend,
// the memory arena over the whole budget and the model registry, counts
// requests, and offers one snapshot from which Stats and /metrics are both
// built. Front-ends translate their protocol to these calls and back and
// hold nothing of the engine themselves.
//
// Thread-safe: every method may be called from any thread at any time.
#ifndef DJINN_DAEMON_CORE_CORE_H_
#define DJINN_DAEMON_CORE_CORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/backend/backend.h"
#include "daemon/core/generate_call.h"
#include "daemon/core/model_registry.h"
#include "daemon/core/request_metrics.h"
#include "daemon/core/snapshot.h"
#include "daemon/core/snapshot_metrics.h"
#include "daemon/memory/arena.h"
#include "prometheus/collectable.h"

namespace djinn {

struct CoreOptions {
  std::string device = "auto";         // "cpu", "cuda" or "auto" (CreateBackend)
  int cpu_threads = 0;                 // CPU backend threads; 0: one per core
  std::string memory_budget = "auto";  // a byte size ("24GiB") or "auto" (DefaultBudget)
  std::string model_root;              // loads are confined to it; must exist
  int max_queued_requests = ModelRunner::kDefaultMaxQueued;  // per model
  bool resident_host_copies = true;    // LoadSettings.resident_host_copies
};

class Core {
 public:
  // Creates the backend, reserves the budget and opens the model root.
  // INVALID_ARGUMENT for a bad budget or root; the backend's errors as they are.
  static absl::StatusOr<std::unique_ptr<Core>> Create(const CoreOptions& options);
  // An already-made backend (tests: a CPU backend with chosen threads).
  static absl::StatusOr<std::unique_ptr<Core>> Create(const CoreOptions& options, std::unique_ptr<Backend> backend);
  // Unloads every model and gives the budget back to the backend.
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // ModelRegistry::Load, counted in djinn_model_loads_total.
  absl::StatusOr<ModelInfo> LoadModel(const std::string& name, const std::string& path, LoadSettings settings);
  absl::Status UnloadModel(const std::string& name);
  std::vector<ModelInfo> ListModels() const;

  // Starts a request on a READY model. NOT_FOUND (no such model),
  // UNAVAILABLE (still loading); the runner's refusals (INVALID_ARGUMENT,
  // RESOURCE_EXHAUSTED, ...) are counted as rejected.
  absl::StatusOr<std::unique_ptr<GenerateCall>> Generate(const std::string& model, const GenerationRequest& request);

  CoreSnapshot Snapshot() const;

  // What /metrics exposes: the request metrics' registry and the
  // snapshot-derived series, for a prometheus::Exposer (or a test).
  std::vector<std::weak_ptr<prometheus::Collectable>> MetricsCollectables() const;

  // Ends every request on every model now (shutdown).
  void CancelAll();

  const std::string& model_root() const { return registry_->model_root(); }
  DeviceDescription device() const { return device_; }
  uint64_t budget_bytes() const { return budget_; }

 private:
  Core(std::unique_ptr<Backend> backend, std::byte* base, uint64_t budget);

  const std::unique_ptr<Backend> backend_;
  std::byte* const base_;
  const uint64_t budget_;
  const DeviceDescription device_;
  const absl::Time started_;
  Arena arena_;
  std::unique_ptr<ModelRegistry> registry_;
  RequestMetrics request_metrics_;
  RequestCounters request_counters_;
  std::shared_ptr<SnapshotMetrics> snapshot_metrics_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_CORE_CORE_H_
