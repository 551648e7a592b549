#include "daemon/core/core.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/byte_size.h"
#include "common/logging.h"
#include "daemon/backend/create_backend.h"

#ifndef DJINN_VERSION
#define DJINN_VERSION "dev"
#endif

namespace djinn {

absl::StatusOr<std::unique_ptr<Core>> Core::Create(const CoreOptions& options) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(options.device, options.cpu_threads);
  if (!backend.ok()) return backend.status();
  return Create(options, *std::move(backend));
}

absl::StatusOr<std::unique_ptr<Core>> Core::Create(const CoreOptions& options, std::unique_ptr<Backend> backend) {
  uint64_t budget = DefaultBudget(*backend);
  if (options.memory_budget != "auto") {
    absl::StatusOr<uint64_t> parsed = ParseByteSize(options.memory_budget);
    if (!parsed.ok()) return parsed.status();
    budget = *parsed;
  }
  absl::StatusOr<std::byte*> base = backend->ReserveArena(budget);
  if (!base.ok()) return base.status();
  std::unique_ptr<Core> core(new Core(std::move(backend), *base, budget));
  absl::StatusOr<std::unique_ptr<ModelRegistry>> registry =
      ModelRegistry::Create(options.model_root, core->backend_.get(), &core->arena_);
  if (!registry.ok()) return registry.status();  // ~Core gives the budget back
  core->registry_ = *std::move(registry);
  core->registry_->set_max_queued(options.max_queued_requests);
  core->registry_->set_resident_host_copies(options.resident_host_copies);
  LogInfo("device", {{"kind", core->device_.kind}, {"name", core->device_.name}, {"budget_bytes", budget}});
  return core;
}

Core::Core(std::unique_ptr<Backend> backend, std::byte* base, uint64_t budget)
    : backend_(std::move(backend)),
      base_(base),
      budget_(budget),
      device_(backend_->Describe()),
      started_(absl::Now()),
      arena_(base, budget),
      snapshot_metrics_(std::make_shared<SnapshotMetrics>([this] {
        // A listed model (loading included) has its request series from the
        // first scrape that lists it, at zero, before any traffic.
        CoreSnapshot snapshot = Snapshot();
        for (const ModelInfo& model : snapshot.models) request_metrics_.ExportModelSeries(model.name);
        return snapshot;
      })) {}

Core::~Core() {
  if (registry_ != nullptr) registry_->Clear();
  registry_.reset();
  backend_->ReleaseArena(base_, budget_);
}

absl::StatusOr<ModelInfo> Core::LoadModel(const std::string& name, const std::string& path, LoadSettings settings) {
  absl::StatusOr<ModelInfo> info = registry_->Load(name, path, std::move(settings));
  request_metrics_.LoadFinished(info.ok());
  return info;
}

absl::Status Core::UnloadModel(const std::string& name) { return registry_->Unload(name); }

std::vector<ModelInfo> Core::ListModels() const { return registry_->List(); }

absl::StatusOr<std::unique_ptr<GenerateCall>> Core::Generate(const std::string& model,
                                                             const GenerationRequest& request) {
  absl::StatusOr<std::shared_ptr<ModelRunner>> runner = registry_->Find(model);
  if (!runner.ok()) return runner.status();
  absl::StatusOr<std::shared_ptr<GenerationStream>> stream = (*runner)->Submit(request);
  if (!stream.ok()) {
    request_metrics_.GenerateRejected(model);
    return stream.status();
  }
  return std::make_unique<GenerateCall>(model, *std::move(runner), *std::move(stream), &request_metrics_,
                                        &request_counters_);
}

CoreSnapshot Core::Snapshot() const {
  CoreSnapshot out;
  out.version = DJINN_VERSION;
  out.started = started_;
  out.uptime = absl::Now() - started_;
  out.device = device_;
  out.device_memory = backend_->MemoryUsage();
  out.memory = arena_.Usage();
  out.models = registry_->List();
  out.requests.started = request_counters_.started.load();
  out.requests.completed = request_counters_.completed.load();
  out.requests.cancelled = request_counters_.cancelled.load();
  out.requests.failed = request_counters_.failed.load();
  return out;
}

std::vector<std::weak_ptr<prometheus::Collectable>> Core::MetricsCollectables() const {
  // The snapshot first: collecting it creates the request series of models
  // listed for the first time, which the request registry then exposes.
  return {snapshot_metrics_, request_metrics_.registry()};
}

void Core::CancelAll() { registry_->CancelAll(); }

}  // namespace djinn
