#include "daemon/core/snapshot_metrics.h"

#include <string>
#include <tuple>
#include <utility>

#include "common/logging.h"

namespace djinn {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Builds one family's series; families without series are left out of the
// exposition, as prometheus-cpp's own registry does.
class FamilyBuilder {
 public:
  FamilyBuilder(std::string name, std::string help, MetricType type) {
    family_.name = std::move(name);
    family_.help = std::move(help);
    family_.type = type;
  }

  FamilyBuilder& Add(std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric metric;
    metric.label = std::move(labels);
    if (family_.type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family_.metric.push_back(std::move(metric));
    return *this;
  }

  // Moves the family out (once its series are all added).
  void AppendTo(std::vector<MetricFamily>* out) {
    if (!family_.metric.empty()) out->push_back(std::move(family_));
  }

 private:
  MetricFamily family_;
};

FamilyBuilder Gauge(std::string name, std::string help) {
  return FamilyBuilder(std::move(name), std::move(help), MetricType::Gauge);
}
FamilyBuilder Counter(std::string name, std::string help) {
  return FamilyBuilder(std::move(name), std::move(help), MetricType::Counter);
}

double D(uint64_t value) { return static_cast<double>(value); }

uint64_t Category(const ArenaUsage& usage, MemoryCategory category) {
  return usage.by_category[static_cast<int>(category)];
}

}  // namespace

SnapshotMetrics::SnapshotMetrics(std::function<CoreSnapshot()> snapshot) : snapshot_(std::move(snapshot)) {}

std::vector<MetricFamily> SnapshotMetrics::Collect() const { return Families(snapshot_()); }

std::vector<MetricFamily> SnapshotMetrics::Families(const CoreSnapshot& s) const {
  std::vector<MetricFamily> out;
  const SnapshotTotals totals = Totals(s);

  Gauge("djinn_memory_budget_bytes", "The memory budget (--vram-budget) the daemon reserved at start-up.")
      .Add({}, D(s.memory.capacity))
      .AppendTo(&out);
  FamilyBuilder memory = Gauge("djinn_memory_bytes",
                               "How the budget is split; the categories sum to djinn_memory_budget_bytes: "
                               "resident_weights, ring_buffer, kv_cache, workspace, free.");
  for (auto [category, value] :
       {std::pair{"resident_weights", Category(s.memory, MemoryCategory::kWeights)},
        std::pair{"ring_buffer", Category(s.memory, MemoryCategory::kRingBuffer)},
        std::pair{"kv_cache", Category(s.memory, MemoryCategory::kKvCache)},
        std::pair{"workspace", Category(s.memory, MemoryCategory::kWorkspace)},
        std::pair{"free", s.memory.free()}}) {
    memory.Add({{"category", category}}, D(value));
  }
  memory.AppendTo(&out);
  Gauge("djinn_kv_cache_used_bytes", "KV-cache bytes held by live sequences (part of the kv_cache category).")
      .Add({}, D(totals.kv_used_bytes))
      .AppendTo(&out);
  Gauge("djinn_models_loaded", "Models loaded and ready to serve.").Add({}, totals.ready_models).AppendTo(&out);

  FamilyBuilder ring_capacity = Gauge(
      "djinn_ring_buffer_capacity_bytes", "Ring buffer a model streams its non-resident layers through (0: all resident).");
  FamilyBuilder ring_utilization = Gauge(
      "djinn_ring_buffer_utilization_ratio",
      "Share of the ring buffer holding layer blocks (every streaming pass fills every slot).");
  FamilyBuilder streamed_per_pass =
      Gauge("djinn_streamed_bytes_per_pass", "Weight bytes a model copies host-to-device in every forward pass.");
  FamilyBuilder weight_bytes = Gauge("djinn_model_weight_bytes",
                                     "A model's weights by where they live: placement=\"resident\" (device "
                                     "memory) or \"streamed\" (host memory, copied every pass).");
  FamilyBuilder layers = Gauge("djinn_model_layers", "A model's decoder layers by placement (resident or streamed).");
  FamilyBuilder h2d_bytes =
      Counter("djinn_h2d_bytes_total", "Weight bytes streamed host-to-device through the ring buffer.");
  FamilyBuilder h2d_seconds = Counter("djinn_h2d_pass_seconds_total",
                                      "Wall time of the forward passes that streamed weights; "
                                      "rate(djinn_h2d_bytes_total) / rate(this) is the rate weights arrived at, "
                                      "compute the copies did not hide included.");
  FamilyBuilder h2d_copy_seconds = Counter("djinn_h2d_copy_seconds_total",
                                           "Time the copy queue spent copying weights, from timing events (passes "
                                           "whose results were read).");
  FamilyBuilder h2d_rate = Gauge(
      "djinn_h2d_achieved_bytes_per_second",
      "Bytes per second the link delivered while the copy queue was copying weights (since load).");
  FamilyBuilder ring_stalls = Counter("djinn_ring_stalls_total",
                                      "Streamed blocks a queue waited for: waiting=\"compute\" (compute waited for "
                                      "a block still copying), waiting=\"copy\" (a copy waited for a free slot).");
  FamilyBuilder ring_stall_seconds =
      Counter("djinn_ring_stall_seconds_total", "Time spent in the waits djinn_ring_stalls_total counts.");
  FamilyBuilder ring_used = Gauge("djinn_ring_buffer_used_bytes",
                                  "Bytes of a model's ring buffer slots holding layer blocks (all of it once a "
                                  "streaming pass ran).");
  FamilyBuilder promotions = Counter("djinn_residency_promotions_total",
                                     "Layers of a model promoted into device memory (from their host copies) when "
                                     "it became busy or memory came free.");
  FamilyBuilder promoted_bytes = Counter("djinn_residency_promoted_bytes_total",
                                         "Bytes the promotions of a model's layers copied host-to-device.");
  FamilyBuilder evictions = Counter("djinn_residency_evictions_total",
                                    "Layers of a model that gave their device memory to another model (they stream "
                                    "until promoted again).");
  FamilyBuilder queued = Gauge("djinn_generate_requests_queued",
                               "Generate requests waiting for KV-cache pages (a slot in the running batch).");
  FamilyBuilder running = Gauge("djinn_running_sequences",
                                "Sequences in a model's running batch: each forward pass advances every one.");
  for (const ModelInfo& info : s.models) {
    const std::vector<ClientMetric::Label> model{{"model", info.name}};
    const ResidencySnapshot& now = info.residency;
    queued.Add(model, D(info.counters.queued));
    running.Add(model, D(info.counters.active));
    ring_capacity.Add(model, D(now.ring_bytes));
    // Every pass copies a block into every slot (a plan never has more slots
    // than streamed layers) and no slot is ever emptied, so the ring is all
    // used from the first streaming pass on.
    const uint64_t used = info.ring.passes > 0 ? now.ring_bytes : 0;
    ring_used.Add(model, D(used));
    ring_utilization.Add(model, now.ring_bytes > 0 ? D(used) / D(now.ring_bytes) : 0.0);
    streamed_per_pass.Add(model, D(now.streamed_bytes));
    for (auto [placement, bytes, count] :
         {std::tuple{"resident", info.fixed_weight_bytes() + now.resident_layer_bytes, now.resident_layers},
          std::tuple{"streamed", now.streamed_bytes, now.streamed_layers}}) {
      weight_bytes.Add({{"model", info.name}, {"placement", placement}}, D(bytes));
      layers.Add({{"model", info.name}, {"placement", placement}}, static_cast<double>(count));
    }
    h2d_bytes.Add(model, D(info.ring.bytes_copied));
    h2d_seconds.Add(model, info.ring.pass_seconds);
    h2d_copy_seconds.Add(model, info.ring.copy_seconds);
    h2d_rate.Add(model, info.ring.copy_seconds > 0 ? info.ring.timed_bytes / info.ring.copy_seconds : 0);
    for (auto [waiting, stalls, stall_seconds] :
         {std::tuple{"compute", info.ring.compute_stalls, info.ring.compute_stall_seconds},
          std::tuple{"copy", info.ring.copy_stalls, info.ring.copy_stall_seconds}}) {
      ring_stalls.Add({{"model", info.name}, {"waiting", waiting}}, D(stalls));
      ring_stall_seconds.Add({{"model", info.name}, {"waiting", waiting}}, stall_seconds);
    }
    promotions.Add(model, D(now.counters.promotions));
    promoted_bytes.Add(model, D(now.counters.promoted_bytes));
    evictions.Add(model, D(now.counters.evictions));
  }
  for (FamilyBuilder* family :
       {&ring_capacity, &ring_utilization, &streamed_per_pass, &weight_bytes, &layers, &h2d_bytes, &h2d_seconds,
        &h2d_copy_seconds, &h2d_rate, &ring_stalls, &ring_stall_seconds, &ring_used, &promotions, &promoted_bytes,
        &evictions, &queued, &running}) {
    family->AppendTo(&out);
  }

  if (s.device_memory.ok()) {
    const std::vector<ClientMetric::Label> device{{"device", s.device.id}};
    Gauge("djinn_device_memory_total_bytes",
          "The device's memory as its driver reports it (cudaMemGetInfo; on the CPU backend the host's MemTotal).")
        .Add(device, D(s.device_memory->total_bytes))
        .AppendTo(&out);
    Gauge("djinn_device_memory_used_bytes",
          "Device memory in use by every process as the driver reports it, this daemon's budget and context "
          "included (on the CPU backend MemTotal - MemAvailable).")
        .Add(device, D(s.device_memory->used_bytes))
        .AppendTo(&out);
  } else if (!device_memory_error_logged_.exchange(true)) {
    // The series are left out; a scrape must not fail for this.
    LogWarning("cannot read device memory", {{"error", s.device_memory.status().ToString()}});
  }
  Gauge("djinn_build_info", "Always 1; the version label is djinnd's version.")
      .Add({{"version", s.version}}, 1)
      .AppendTo(&out);
  Gauge("djinn_start_time_seconds", "Unix time the daemon's service started; Stats.uptime_seconds counts from it.")
      .Add({}, absl::ToDoubleSeconds(s.started - absl::UnixEpoch()))
      .AppendTo(&out);
  return out;
}

}  // namespace djinn
