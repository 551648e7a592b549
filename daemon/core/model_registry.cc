#include "daemon/core/model_registry.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

bool Inside(const fs::path& path, const std::string& root) {
  const std::string p = path.string();
  return p == root || absl::StartsWith(p, root == "/" ? root : root + "/");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Create(const std::string& model_root, Backend* backend,
                                                                      Arena* arena) {
  std::error_code ec;
  const fs::path root = fs::canonical(model_root, ec);
  if (ec || !fs::is_directory(root)) {
    return absl::InvalidArgumentError(absl::StrCat("model root ", model_root, " is not a directory"));
  }
  return std::unique_ptr<ModelRegistry>(new ModelRegistry(root.string(), backend, arena));
}

ModelRegistry::ModelRegistry(std::string model_root, Backend* backend, Arena* arena)
    : model_root_(std::move(model_root)),
      backend_(backend),
      arena_(arena),
      residency_manager_(std::make_shared<ResidencyManager>(arena)) {}

ModelRegistry::~ModelRegistry() { Clear(); }

absl::StatusOr<std::string> ModelRegistry::ResolvePath(const std::string& path) const {
  if (path.empty()) return absl::InvalidArgumentError("model path is empty");
  fs::path requested(path);
  if (requested.is_relative()) requested = fs::path(model_root_) / requested;
  // Refuse on the path as written first, so that probing outside the root
  // tells nothing about what exists there.
  if (!Inside(requested.lexically_normal(), model_root_)) {
    return absl::PermissionDeniedError(absl::StrCat("model path ", path, " is outside the model root ", model_root_));
  }
  std::error_code ec;
  if (!fs::exists(requested, ec)) return absl::NotFoundError(absl::StrCat("model path ", path, " does not exist"));
  const fs::path resolved = fs::canonical(requested, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("model path ", path, ": ", ec.message()));
  if (!Inside(resolved, model_root_)) {
    return absl::PermissionDeniedError(
        absl::StrCat("model path ", path, " resolves to ", resolved.string(), ", outside the model root ", model_root_));
  }
  if (!fs::is_directory(resolved)) {
    return absl::InvalidArgumentError(absl::StrCat("model path ", path, " is not a directory"));
  }
  return resolved.string();
}

absl::StatusOr<ModelInfo> ModelRegistry::Load(const std::string& name, const std::string& path,
                                              LoadSettings settings) {
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("model name \"", name, "\" must match [A-Za-z0-9._-]{1,64}"));
  }
  absl::StatusOr<std::string> resolved = ResolvePath(path);
  if (!resolved.ok()) return resolved.status();
  {
    absl::MutexLock lock(&mutex_);
    if (models_.count(name) > 0) return absl::AlreadyExistsError(absl::StrCat("a model named \"", name, "\" is already loaded"));
    Entry& entry = models_[name];
    entry.info.name = name;
    entry.info.path = *resolved;
    entry.info.state = ModelState::kLoading;
  }
  LogInfo("loading model", {{"model", name}, {"path", *resolved}});
  settings.resident_host_copies = resident_host_copies_;
  settings.reclaimable_bytes = [this] { return residency_manager_->ReclaimableBytes(); };
  settings.reclaim = [this](uint64_t bytes) { residency_manager_->Reclaim(bytes); };
  settings.largest_reclaimable_range = [this] { return residency_manager_->LargestReclaimableRange(); };
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = LoadModel(*resolved, settings, backend_, arena_);
  // The slow parts (the load above, Rebalance's waits for other models'
  // passes and its layer copies) run without the registry lock, so that
  // Find (every Generate) and List (every Stats and scrape) keep answering.
  if (!loaded.ok()) {
    residency_manager_->Rebalance();  // what the load reclaimed is free again
    absl::MutexLock lock(&mutex_);
    models_.erase(name);
    LogWarning("model load failed", {{"model", name}, {"error", loaded.status().ToString()}});
    return loaded.status();
  }
  residency_manager_->Rebalance();  // idle models take back what the load left free
  auto runner = std::make_shared<ModelRunner>(*std::move(loaded), max_queued_, residency_manager_);
  ModelInfo described;
  {
    absl::MutexLock lock(&mutex_);
    Entry& entry = models_[name];
    entry.info.state = ModelState::kReady;
    entry.runner = runner;
    described = Describe(entry);
  }
  const LoadTimings& t = runner->weights().timings;
  auto rate = [](uint64_t bytes, double seconds) { return seconds > 0 ? bytes / seconds / 1e9 : 0.0; };
  LogInfo("model ready", {{"model", name},
                          {"weight_bytes", described.weight_bytes},
                          {"context_length", described.context_length},
                          {"max_sequences", described.max_sequences},
                          {"load_seconds", t.total_seconds},
                          {"resident_bytes", t.resident_bytes},
                          {"resident_seconds", t.resident_seconds},
                          {"resident_gb_per_second", rate(t.resident_bytes, t.resident_seconds)},
                          {"host_bytes", t.host_bytes},
                          {"host_seconds", t.host_seconds},
                          {"host_alloc_seconds", t.host_alloc_seconds},
                          {"direct_bytes", t.direct_bytes},
                          {"host_gb_per_second", rate(t.host_bytes, t.host_seconds)}});
  return described;
}

ModelInfo ModelRegistry::Describe(const Entry& entry) {
  ModelInfo info = entry.info;
  if (entry.runner == nullptr) return info;
  const LoadedWeights& w = entry.runner->weights();
  info.config = w.config;
  info.stored_dtype = w.stored_dtype;
  info.compute_dtype = w.kv_cache->shape().dtype;
  info.weight_bytes = w.weight_bytes;
  info.context_length = w.model->context_length();
  info.max_sequences = w.kv_cache->slots();
  info.kv_cache_bytes = w.kv_cache->block().size;
  info.kv_bytes_per_sequence = w.kv_cache->shape().BytesPerSequence();
  info.kv_used_bytes = w.kv_cache->used_bytes();
  info.plan = w.plan;
  info.residency = entry.runner->residency();
  info.ring = entry.runner->ring_counters();
  info.counters = entry.runner->counters();
  return info;
}

absl::Status ModelRegistry::Unload(const std::string& name) {
  std::shared_ptr<ModelRunner> runner;
  {
    absl::MutexLock lock(&mutex_);
    auto it = models_.find(name);
    if (it == models_.end()) return absl::NotFoundError(absl::StrCat("no model named \"", name, "\""));
    if (it->second.info.state != ModelState::kReady) {
      return absl::FailedPreconditionError(absl::StrCat("model \"", name, "\" is still loading"));
    }
    it->second.info.state = ModelState::kUnloading;
    runner = it->second.runner;
  }
  runner->Drain();
  {
    absl::MutexLock lock(&mutex_);
    models_.erase(name);
  }
  // Handlers still holding the runner release it as their streams close; the
  // last reference frees the model's memory.
  runner.reset();
  LogInfo("model unloaded", {{"model", name}});
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ModelRunner>> ModelRegistry::Find(const std::string& name) const {
  absl::MutexLock lock(&mutex_);
  auto it = models_.find(name);
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat("no model named \"", name, "\""));
  switch (it->second.info.state) {
    case ModelState::kReady: return it->second.runner;
    case ModelState::kLoading: return absl::UnavailableError(absl::StrCat("model \"", name, "\" is still loading"));
    case ModelState::kUnloading: return absl::NotFoundError(absl::StrCat("model \"", name, "\" is unloading"));
  }
  return absl::InternalError("bad model state");
}

std::vector<ModelInfo> ModelRegistry::List() const {
  absl::MutexLock lock(&mutex_);
  std::vector<ModelInfo> out;
  for (const auto& [name, entry] : models_) out.push_back(Describe(entry));
  return out;
}

void ModelRegistry::CancelAll() {
  absl::MutexLock lock(&mutex_);
  for (auto& [name, entry] : models_) {
    if (entry.runner != nullptr) entry.runner->CancelAll();
  }
}

void ModelRegistry::Clear() {
  std::vector<std::string> names;
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [name, entry] : models_) {
      if (entry.info.state == ModelState::kReady) names.push_back(name);
    }
  }
  for (const std::string& name : names) Unload(name).IgnoreError();
}

}  // namespace djinn
