#include "daemon/server/djinn_service.h"

#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "absl/time/clock.h"
#include "common/logging.h"
#include "daemon/server/inter_token_timer.h"
#include "daemon/server/proto_convert.h"

#ifndef DJINN_VERSION
#define DJINN_VERSION "dev"
#endif

namespace djinn {
namespace {

// How often a waiting Generate handler checks whether its client went away.
// gRPC's synchronous API has no cancellation callback, so we poll; the engine
// is never blocked by it.
constexpr absl::Duration kCancellationPoll = absl::Milliseconds(20);

// Drops the series of `family` with exactly `labels`, if there is one.
template <typename T>
void RemoveSeries(metrics::Family<T>& family, const metrics::Labels& labels) {
  if (family.Has(labels)) family.Remove(&family.Add(labels));
}

// Sets the series of `family` with `labels` to `total`, an engine counter
// that only goes up: Prometheus counters only Increment, by what is new
// since the last scrape.
void MirrorCounter(metrics::Family<metrics::Counter>& family, const metrics::Labels& labels, double total) {
  metrics::Counter& counter = family.Add(labels);
  counter.Increment(total - counter.Value());
}

}  // namespace

DjinnService::DjinnService(ModelRegistry* registry, Backend* backend, Arena* arena, ServerMetrics* metrics)
    : registry_(registry),
      backend_(backend),
      arena_(arena),
      metrics_(metrics),
      started_(absl::Now()),
      budget_gauge_(metrics::BuildGauge()
                        .Name("djinn_memory_budget_bytes")
                        .Help("The memory budget (--vram-budget) the daemon reserved at start-up.")
                        .Register(*metrics->registry())),
      memory_gauge_(metrics::BuildGauge()
                        .Name("djinn_memory_bytes")
                        .Help("How the budget is split; the categories sum to djinn_memory_budget_bytes: "
                              "resident_weights, ring_buffer, kv_cache, workspace, free.")
                        .Register(*metrics->registry())),
      kv_used_gauge_(metrics::BuildGauge()
                         .Name("djinn_kv_cache_used_bytes")
                         .Help("KV-cache bytes held by live sequences (part of the kv_cache category).")
                         .Register(*metrics->registry())),
      models_gauge_(metrics::BuildGauge()
                        .Name("djinn_models_loaded")
                        .Help("Models loaded and ready to serve.")
                        .Register(*metrics->registry())),
      ring_capacity_gauge_(metrics::BuildGauge()
                               .Name("djinn_ring_buffer_capacity_bytes")
                               .Help("Ring buffer a model streams its non-resident layers through (0: all resident).")
                               .Register(*metrics->registry())),
      ring_utilization_gauge_(metrics::BuildGauge()
                                  .Name("djinn_ring_buffer_utilization_ratio")
                                  .Help("Share of the ring buffer holding layer blocks (every streaming pass fills "
                                        "every slot).")
                                  .Register(*metrics->registry())),
      streamed_per_pass_gauge_(metrics::BuildGauge()
                                   .Name("djinn_streamed_bytes_per_pass")
                                   .Help("Weight bytes a model copies host-to-device in every forward pass.")
                                   .Register(*metrics->registry())),
      model_weight_bytes_gauge_(metrics::BuildGauge()
                                    .Name("djinn_model_weight_bytes")
                                    .Help("A model's weights by where they live: placement=\"resident\" (device "
                                          "memory) or \"streamed\" (host memory, copied every pass).")
                                    .Register(*metrics->registry())),
      model_layers_gauge_(metrics::BuildGauge()
                              .Name("djinn_model_layers")
                              .Help("A model's decoder layers by placement (resident or streamed).")
                              .Register(*metrics->registry())),
      h2d_bytes_counter_(metrics::BuildCounter()
                             .Name("djinn_h2d_bytes_total")
                             .Help("Weight bytes streamed host-to-device through the ring buffer.")
                             .Register(*metrics->registry())),
      h2d_seconds_counter_(metrics::BuildCounter()
                               .Name("djinn_h2d_pass_seconds_total")
                               .Help("Wall time of the forward passes that streamed weights; "
                                     "rate(djinn_h2d_bytes_total) / rate(this) is the rate weights arrived at, "
                                     "compute the copies did not hide included.")
                               .Register(*metrics->registry())),
      h2d_copy_seconds_counter_(metrics::BuildCounter()
                                    .Name("djinn_h2d_copy_seconds_total")
                                    .Help("Time the copy queue spent copying weights, from timing events (passes "
                                          "whose results were read).")
                                    .Register(*metrics->registry())),
      h2d_rate_gauge_(metrics::BuildGauge()
                          .Name("djinn_h2d_achieved_bytes_per_second")
                          .Help("Bytes per second the link delivered while the copy queue was copying weights "
                                "(since load).")
                          .Register(*metrics->registry())),
      ring_stalls_counter_(metrics::BuildCounter()
                               .Name("djinn_ring_stalls_total")
                               .Help("Streamed blocks a queue waited for: waiting=\"compute\" (compute waited for "
                                     "a block still copying), waiting=\"copy\" (a copy waited for a free slot).")
                               .Register(*metrics->registry())),
      ring_stall_seconds_counter_(metrics::BuildCounter()
                                      .Name("djinn_ring_stall_seconds_total")
                                      .Help("Time spent in the waits djinn_ring_stalls_total counts.")
                                      .Register(*metrics->registry())),
      ring_used_gauge_(metrics::BuildGauge()
                           .Name("djinn_ring_buffer_used_bytes")
                           .Help("Bytes of a model's ring buffer slots holding layer blocks (all of it once a "
                                 "streaming pass ran).")
                           .Register(*metrics->registry())),
      promotions_counter_(metrics::BuildCounter()
                              .Name("djinn_residency_promotions_total")
                              .Help("Layers of a model promoted into device memory (from their host copies) when "
                                    "it became busy or memory came free.")
                              .Register(*metrics->registry())),
      promoted_bytes_counter_(metrics::BuildCounter()
                                  .Name("djinn_residency_promoted_bytes_total")
                                  .Help("Bytes the promotions of a model's layers copied host-to-device.")
                                  .Register(*metrics->registry())),
      evictions_counter_(metrics::BuildCounter()
                             .Name("djinn_residency_evictions_total")
                             .Help("Layers of a model that gave their device memory to another model (they stream "
                                   "until promoted again).")
                             .Register(*metrics->registry())),
      queued_gauge_(metrics::BuildGauge()
                        .Name("djinn_generate_requests_queued")
                        .Help("Generate requests waiting for KV-cache pages (a slot in the running batch).")
                        .Register(*metrics->registry())),
      running_gauge_(metrics::BuildGauge()
                         .Name("djinn_running_sequences")
                         .Help("Sequences in a model's running batch: each forward pass advances every one.")
                         .Register(*metrics->registry())),
      device_memory_total_gauge_(metrics::BuildGauge()
                                     .Name("djinn_device_memory_total_bytes")
                                     .Help("The device's memory as its driver reports it (cudaMemGetInfo; on the "
                                           "CPU backend the host's MemTotal).")
                                     .Register(*metrics->registry())),
      device_memory_used_gauge_(metrics::BuildGauge()
                                    .Name("djinn_device_memory_used_bytes")
                                    .Help("Device memory in use by every process as the driver reports it, this "
                                          "daemon's budget and context included (on the CPU backend "
                                          "MemTotal - MemAvailable).")
                                    .Register(*metrics->registry())),
      build_info_gauge_(metrics::BuildGauge()
                            .Name("djinn_build_info")
                            .Help("Always 1; the version label is djinnd's version.")
                            .Register(*metrics->registry())),
      start_time_gauge_(metrics::BuildGauge()
                            .Name("djinn_start_time_seconds")
                            .Help("Unix time the daemon's service started; Stats.uptime_seconds counts from it.")
                            .Register(*metrics->registry())),
      device_id_(backend->Describe().id) {
  build_info_gauge_.Add({{"version", DJINN_VERSION}}).Set(1);
  start_time_gauge_.Add({}).Set(absl::ToDoubleSeconds(started_ - absl::UnixEpoch()));
  collect_callback_ = metrics_->registry()->AddCollectCallback([this] { ExportGauges(); });
}

DjinnService::~DjinnService() { metrics_->registry()->RemoveCollectCallback(collect_callback_); }

grpc::Status DjinnService::LoadModel(grpc::ServerContext* context, const v1::LoadModelRequest* request,
                                     grpc::ServerWriter<v1::LoadModelProgress>* writer) {
  LoadSettings settings;
  settings.max_context_length = request->options().max_context_length();
  settings.max_sequences = static_cast<int>(request->options().max_sequences());
  settings.cancelled = [context] { return context->IsCancelled(); };
  settings.on_progress = [writer](const LoadProgress& progress) {
    if (progress.phase == LoadPhase::kReady) return;  // the final message carries the description
    v1::LoadModelProgress message;
    message.set_phase(ToProto(progress.phase));
    message.set_bytes_loaded(progress.bytes_loaded);
    message.set_bytes_total(progress.bytes_total);
    writer->Write(message);  // a vanished client shows up as IsCancelled()
  };
  absl::StatusOr<ModelInfo> info = registry_->Load(request->name(), request->path(), settings);
  metrics_->LoadFinished(info.ok());
  if (!info.ok()) return ToGrpcStatus(info.status());
  v1::LoadModelProgress done;
  done.set_phase(v1::LoadModelProgress::PHASE_READY);
  done.set_bytes_loaded(info->weight_bytes);
  done.set_bytes_total(info->weight_bytes);
  *done.mutable_model() = ToProto(*info);
  writer->Write(done);
  return grpc::Status::OK;
}

grpc::Status DjinnService::UnloadModel(grpc::ServerContext*, const v1::UnloadModelRequest* request,
                                       v1::UnloadModelResponse*) {
  return ToGrpcStatus(registry_->Unload(request->name()));
}

grpc::Status DjinnService::ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                                      v1::ListModelsResponse* response) {
  for (const ModelInfo& info : registry_->List()) *response->add_models() = ToProto(info);
  return grpc::Status::OK;
}

grpc::Status DjinnService::Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                    grpc::ServerWriter<v1::GenerateResponse>* writer) {
  const std::string& model = request->model();
  absl::StatusOr<std::shared_ptr<ModelRunner>> runner = registry_->Find(model);
  if (!runner.ok()) return ToGrpcStatus(runner.status());
  GenerationRequest generation = FromProto(*request);
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    generation.deadline = absl::FromChrono(context->deadline());
  }
  absl::StatusOr<std::shared_ptr<GenerationStream>> stream = (*runner)->Submit(generation);
  if (!stream.ok()) {
    metrics_->GenerateRejected(model);
    return ToGrpcStatus(stream.status());
  }

  counters_.started.fetch_add(1);
  metrics_->GenerateStarted(model);
  InterTokenTimer inter_token(&metrics_->InterTokenLatency(model));
  GenerationUsage usage;
  auto end = [&](RequestOutcome outcome, grpc::Status status) {
    (outcome == RequestOutcome::kCompleted   ? counters_.completed
     : outcome == RequestOutcome::kCancelled ? counters_.cancelled
                                             : counters_.failed)
        .fetch_add(1);
    metrics_->GenerateFinished(model, outcome, usage);
    LogInfo("generate", {{"model", model},
                         {"outcome", OutcomeName(outcome)},
                         {"prompt_tokens", usage.prompt_tokens},
                         {"completion_tokens", usage.completion_tokens},
                         {"time_to_first_token_seconds", usage.time_to_first_token_seconds},
                         {"total_seconds", usage.total_seconds}});
    return status;
  };
  GenerationEvent event;
  for (;;) {
    if (!(*stream)->Next(&event, kCancellationPoll)) {
      if (context->IsCancelled()) {
        (*stream)->Cancel();  // the runner frees the KV slot at its next step
        return end(RequestOutcome::kCancelled, grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled"));
      }
      continue;
    }
    if (!event.error.ok()) {
      LogError("generation failed", {{"model", model}, {"error", event.error.ToString()}});
      return end(RequestOutcome::kFailed, ToGrpcStatus(event.error));
    }
    if (event.finish != FinishReason::kNone) usage = event.usage;
    v1::GenerateResponse response;
    ToProto(event, &response);
    if (!writer->Write(response)) {
      (*stream)->Cancel();
      return end(RequestOutcome::kCancelled, grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    }
    inter_token.Written(event.token_ids.size(), absl::Now());
    if (event.finish == FinishReason::kCancelled) return end(RequestOutcome::kCancelled, grpc::Status::OK);
    if (event.finish != FinishReason::kNone) return end(RequestOutcome::kCompleted, grpc::Status::OK);
  }
}

grpc::Status DjinnService::Stats(grpc::ServerContext*, const v1::StatsRequest*, v1::StatsResponse* response) {
  *response = Snapshot();
  return grpc::Status::OK;
}

v1::StatsResponse DjinnService::Snapshot() const {
  v1::StatsResponse out;
  out.set_version(DJINN_VERSION);
  out.set_uptime_seconds(absl::ToDoubleSeconds(absl::Now() - started_));
  const DeviceDescription device = backend_->Describe();
  out.mutable_device()->set_kind(device.kind);
  out.mutable_device()->set_name(device.name);
  out.mutable_device()->set_total_memory_bytes(device.total_memory_bytes);

  const ArenaUsage usage = arena_->Usage();
  v1::MemorySplit* memory = out.mutable_memory();
  memory->set_budget_bytes(usage.capacity);
  memory->set_resident_weight_bytes(usage.by_category[static_cast<int>(MemoryCategory::kWeights)]);
  memory->set_ring_buffer_bytes(usage.by_category[static_cast<int>(MemoryCategory::kRingBuffer)]);
  memory->set_kv_cache_bytes(usage.by_category[static_cast<int>(MemoryCategory::kKvCache)]);
  memory->set_workspace_bytes(usage.by_category[static_cast<int>(MemoryCategory::kWorkspace)]);
  memory->set_free_bytes(usage.free());

  uint64_t kv_used = 0, queued = 0, active = 0, prompt_tokens = 0, generated_tokens = 0;
  uint64_t host_bytes = 0, ring_capacity = 0, h2d_bytes = 0, timed_bytes = 0;
  double h2d_seconds = 0, copy_seconds = 0;
  uint32_t ring_slots = 0;
  v1::RingBufferStats* ring = out.mutable_ring_buffer();
  for (const ModelInfo& info : registry_->List()) {
    v1::ModelStats* model = out.add_models();
    model->set_name(info.name);
    model->set_state(ToProto(info.state));
    model->set_weight_bytes(info.weight_bytes);
    // Now, not as loaded: layers move between models.
    const ResidencySnapshot& now = info.residency;
    model->set_resident_bytes(info.fixed_weight_bytes() + now.resident_layer_bytes);
    model->set_streamed_bytes(now.streamed_bytes);
    model->set_resident_layers(static_cast<uint32_t>(now.resident_layers));
    model->set_streamed_layers(static_cast<uint32_t>(now.streamed_layers));
    for (const std::string& line : info.plan.explanation) model->add_plan(line);
    model->set_ring_buffer_bytes(now.ring_bytes);
    model->set_ring_buffer_slots(static_cast<uint32_t>(now.ring_slots));
    model->set_streamed_bytes_per_pass(now.streamed_bytes);
    for (int64_t l = 0; l < now.resident_layers + now.streamed_layers; ++l) {
      v1::LayerResidency* layer = model->add_layers();
      layer->set_layer(static_cast<uint32_t>(l));
      layer->set_bytes(now.layer_bytes);
      layer->set_resident(l < now.resident_layers);
      layer->set_ring_slot(layer->resident() ? -1 : static_cast<int32_t>((l - now.resident_layers) % now.ring_slots));
    }
    model->set_residency_promotions(now.counters.promotions);
    model->set_residency_promoted_bytes(now.counters.promoted_bytes);
    model->set_residency_evictions(now.counters.evictions);
    model->set_host_copy_bytes(now.host_copy_bytes);
    host_bytes += now.host_copy_bytes;
    ring_capacity += now.ring_bytes;
    ring_slots += static_cast<uint32_t>(now.ring_slots);
    h2d_bytes += info.ring.bytes_copied;
    h2d_seconds += info.ring.pass_seconds;
    timed_bytes += info.ring.timed_bytes;
    copy_seconds += info.ring.copy_seconds;
    model->set_ring_compute_stalls(info.ring.compute_stalls);
    model->set_ring_compute_stall_seconds(info.ring.compute_stall_seconds);
    model->set_ring_copy_stalls(info.ring.copy_stalls);
    model->set_ring_copy_stall_seconds(info.ring.copy_stall_seconds);
    model->set_h2d_bytes_total(info.ring.bytes_copied);
    model->set_h2d_gb_per_second(info.ring.copy_seconds > 0 ? info.ring.timed_bytes / info.ring.copy_seconds / 1e9 : 0);
    ring->set_compute_stalls(ring->compute_stalls() + info.ring.compute_stalls);
    ring->set_compute_stall_seconds(ring->compute_stall_seconds() + info.ring.compute_stall_seconds);
    ring->set_copy_stalls(ring->copy_stalls() + info.ring.copy_stalls);
    ring->set_copy_stall_seconds(ring->copy_stall_seconds() + info.ring.copy_stall_seconds);
    model->set_kv_sequences_total(static_cast<uint32_t>(info.max_sequences));
    model->set_kv_sequences_active(static_cast<uint32_t>(info.counters.active));
    model->set_kv_cache_bytes(info.kv_cache_bytes);
    model->set_kv_cache_used_bytes(info.kv_used_bytes);
    model->set_requests_total(info.counters.requests_total);
    model->set_generated_tokens_total(info.counters.generated_tokens_total);
    kv_used += info.kv_used_bytes;
    queued += info.counters.queued;
    active += info.counters.active;
    prompt_tokens += info.counters.prompt_tokens_total;
    generated_tokens += info.counters.generated_tokens_total;
  }
  memory->set_kv_cache_used_bytes(kv_used);

  v1::RequestCounters* requests = out.mutable_requests();
  requests->set_generate_started(counters_.started.load());
  requests->set_generate_completed(counters_.completed.load());
  requests->set_generate_cancelled(counters_.cancelled.load());
  requests->set_generate_failed(counters_.failed.load());
  requests->set_generate_active(active);
  requests->set_generate_queued(queued);
  requests->set_prompt_tokens_total(prompt_tokens);
  requests->set_generated_tokens_total(generated_tokens);
  memory->set_host_pinned_bytes(host_bytes);
  ring->set_capacity_bytes(ring_capacity);
  ring->set_used_bytes(ring_capacity);  // every pass fills every slot
  ring->set_slots(ring_slots);
  out.mutable_pcie()->set_h2d_bytes_total(h2d_bytes);
  out.mutable_pcie()->set_h2d_seconds_total(h2d_seconds);
  out.mutable_pcie()->set_h2d_copy_seconds_total(copy_seconds);
  out.mutable_pcie()->set_achieved_gb_per_second(copy_seconds > 0 ? timed_bytes / copy_seconds / 1e9 : 0);
  return out;
}

void DjinnService::ExportGauges() {
  const v1::StatsResponse stats = Snapshot();
  const v1::MemorySplit& m = stats.memory();
  for (auto [category, value] : {std::pair{"resident_weights", m.resident_weight_bytes()},
                                 std::pair{"ring_buffer", m.ring_buffer_bytes()},
                                 std::pair{"kv_cache", m.kv_cache_bytes()},
                                 std::pair{"workspace", m.workspace_bytes()}, std::pair{"free", m.free_bytes()}}) {
    memory_gauge_.Add({{"category", category}}).Set(static_cast<double>(value));
  }
  budget_gauge_.Add({}).Set(static_cast<double>(m.budget_bytes()));
  kv_used_gauge_.Add({}).Set(static_cast<double>(m.kv_cache_used_bytes()));
  int ready = 0;
  for (const auto& model : stats.models()) ready += model.state() == v1::MODEL_STATE_READY ? 1 : 0;
  models_gauge_.Add({}).Set(ready);
  ExportDeviceMemory();
  std::set<std::string> listed;
  for (const ModelInfo& info : registry_->List()) {
    ExportModel(info);
    listed.insert(info.name);
  }
  for (const std::string& model : exported_models_) {
    if (!listed.count(model)) DropModel(model);
  }
  exported_models_ = std::move(listed);
}

void DjinnService::ExportModel(const ModelInfo& info) {
  const metrics::Labels labels{{"model", info.name}};
  metrics_->ExportModelSeries(info.name);
  queued_gauge_.Add(labels).Set(info.counters.queued);
  running_gauge_.Add(labels).Set(info.counters.active);
  const ResidencySnapshot& now = info.residency;
  ring_capacity_gauge_.Add(labels).Set(static_cast<double>(now.ring_bytes));
  // Every pass copies a block into every slot (a plan never has more slots
  // than streamed layers) and no slot is ever emptied, so the ring is all
  // used from the first streaming pass on.
  const uint64_t ring_used = info.ring.passes > 0 ? now.ring_bytes : 0;
  ring_used_gauge_.Add(labels).Set(static_cast<double>(ring_used));
  ring_utilization_gauge_.Add(labels).Set(
      now.ring_bytes > 0 ? static_cast<double>(ring_used) / static_cast<double>(now.ring_bytes) : 0.0);
  streamed_per_pass_gauge_.Add(labels).Set(static_cast<double>(now.streamed_bytes));
  for (auto [placement, bytes, layers] :
       {std::tuple{"resident", info.fixed_weight_bytes() + now.resident_layer_bytes, now.resident_layers},
        std::tuple{"streamed", now.streamed_bytes, now.streamed_layers}}) {
    const metrics::Labels where{{"model", info.name}, {"placement", placement}};
    model_weight_bytes_gauge_.Add(where).Set(static_cast<double>(bytes));
    model_layers_gauge_.Add(where).Set(static_cast<double>(layers));
  }
  MirrorCounter(h2d_bytes_counter_, labels, static_cast<double>(info.ring.bytes_copied));
  MirrorCounter(h2d_seconds_counter_, labels, info.ring.pass_seconds);
  MirrorCounter(h2d_copy_seconds_counter_, labels, info.ring.copy_seconds);
  h2d_rate_gauge_.Add(labels).Set(info.ring.copy_seconds > 0 ? info.ring.timed_bytes / info.ring.copy_seconds : 0);
  for (auto [waiting, stalls, stall_seconds] :
       {std::tuple{"compute", info.ring.compute_stalls, info.ring.compute_stall_seconds},
        std::tuple{"copy", info.ring.copy_stalls, info.ring.copy_stall_seconds}}) {
    const metrics::Labels stall_labels{{"model", info.name}, {"waiting", waiting}};
    MirrorCounter(ring_stalls_counter_, stall_labels, static_cast<double>(stalls));
    MirrorCounter(ring_stall_seconds_counter_, stall_labels, stall_seconds);
  }
  MirrorCounter(promotions_counter_, labels, static_cast<double>(now.counters.promotions));
  MirrorCounter(promoted_bytes_counter_, labels, static_cast<double>(now.counters.promoted_bytes));
  MirrorCounter(evictions_counter_, labels, static_cast<double>(now.counters.evictions));
}

// Only the series ExportModel computes from the model go: a gauge left behind
// would report an unloaded model's queue or ring forever, and the counters
// mirror engine counters that restart at zero if the name is loaded again.
// ServerMetrics' request series stay (a Generate handler may still hold one
// of them while it writes its last message).
void DjinnService::DropModel(const std::string& model) {
  const metrics::Labels labels{{"model", model}};
  for (metrics::Family<metrics::Gauge>* family :
       {&queued_gauge_, &running_gauge_, &ring_capacity_gauge_, &ring_used_gauge_, &ring_utilization_gauge_,
        &streamed_per_pass_gauge_, &h2d_rate_gauge_}) {
    RemoveSeries(*family, labels);
  }
  for (metrics::Family<metrics::Counter>* family :
       {&h2d_bytes_counter_, &h2d_seconds_counter_, &h2d_copy_seconds_counter_, &promotions_counter_,
        &promoted_bytes_counter_, &evictions_counter_}) {
    RemoveSeries(*family, labels);
  }
  for (const char* placement : {"resident", "streamed"}) {
    RemoveSeries(model_weight_bytes_gauge_, {{"model", model}, {"placement", placement}});
    RemoveSeries(model_layers_gauge_, {{"model", model}, {"placement", placement}});
  }
  for (const char* waiting : {"compute", "copy"}) {
    RemoveSeries(ring_stalls_counter_, {{"model", model}, {"waiting", waiting}});
    RemoveSeries(ring_stall_seconds_counter_, {{"model", model}, {"waiting", waiting}});
  }
}

void DjinnService::ExportDeviceMemory() {
  const absl::StatusOr<DeviceMemoryUsage> usage = backend_->MemoryUsage();
  if (!usage.ok()) {
    // The series keep their last values; a scrape must not fail for this.
    if (!device_memory_error_logged_.exchange(true)) {
      LogWarning("cannot read device memory", {{"error", usage.status().ToString()}});
    }
    return;
  }
  const metrics::Labels labels{{"device", device_id_}};
  device_memory_total_gauge_.Add(labels).Set(static_cast<double>(usage->total_bytes));
  device_memory_used_gauge_.Add(labels).Set(static_cast<double>(usage->used_bytes));
}

}  // namespace djinn
