// The djinn.v1.Djinn gRPC service: validates and translates each call, hands
// the work to the model registry and runners, and streams results back.
// Every error leaves as the canonical gRPC code of its absl::Status.
#ifndef DJINN_DAEMON_SERVER_DJINN_SERVICE_H_
#define DJINN_DAEMON_SERVER_DJINN_SERVICE_H_

#include <atomic>
#include <set>
#include <string>

#include "absl/time/time.h"
#include "daemon/backend/backend.h"
#include "daemon/memory/arena.h"
#include "daemon/server/model_registry.h"
#include "daemon/server/server_metrics.h"
#include "djinn/v1/djinn.grpc.pb.h"

namespace djinn {

class DjinnService final : public v1::Djinn::Service {
 public:
  DjinnService(ModelRegistry* registry, Backend* backend, Arena* arena, ServerMetrics* metrics);
  ~DjinnService() override;

  grpc::Status LoadModel(grpc::ServerContext* context, const v1::LoadModelRequest* request,
                         grpc::ServerWriter<v1::LoadModelProgress>* writer) override;
  grpc::Status UnloadModel(grpc::ServerContext* context, const v1::UnloadModelRequest* request,
                           v1::UnloadModelResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status Stats(grpc::ServerContext* context, const v1::StatsRequest* request,
                     v1::StatsResponse* response) override;

  // The same snapshot the Stats RPC returns.
  v1::StatsResponse Snapshot() const;

 private:
  struct Counters {
    std::atomic<uint64_t> started{0}, completed{0}, cancelled{0}, failed{0};
  };

  // At every scrape (the registry's collect callback; scrapes run one at a
  // time): the gauges and engine-derived counters, from one snapshot.
  void ExportGauges();
  void ExportDeviceMemory();
  void ExportModel(const ModelInfo& info);
  // Drops a model's ExportModel series once it is no longer listed.
  void DropModel(const std::string& model);

  ModelRegistry* const registry_;
  Backend* const backend_;
  Arena* const arena_;
  ServerMetrics* const metrics_;
  const absl::Time started_;
  Counters counters_;
  metrics::Family<metrics::Gauge>& budget_gauge_;
  metrics::Family<metrics::Gauge>& memory_gauge_;
  metrics::Family<metrics::Gauge>& kv_used_gauge_;
  metrics::Family<metrics::Gauge>& models_gauge_;
  metrics::Family<metrics::Gauge>& ring_capacity_gauge_;
  metrics::Family<metrics::Gauge>& ring_utilization_gauge_;
  metrics::Family<metrics::Gauge>& streamed_per_pass_gauge_;
  metrics::Family<metrics::Gauge>& model_weight_bytes_gauge_;
  metrics::Family<metrics::Gauge>& model_layers_gauge_;
  metrics::Family<metrics::Counter>& h2d_bytes_counter_;
  metrics::Family<metrics::Counter>& h2d_seconds_counter_;
  metrics::Family<metrics::Counter>& h2d_copy_seconds_counter_;
  metrics::Family<metrics::Gauge>& h2d_rate_gauge_;
  metrics::Family<metrics::Counter>& ring_stalls_counter_;
  metrics::Family<metrics::Counter>& ring_stall_seconds_counter_;
  metrics::Family<metrics::Gauge>& ring_used_gauge_;
  metrics::Family<metrics::Counter>& promotions_counter_;
  metrics::Family<metrics::Counter>& promoted_bytes_counter_;
  metrics::Family<metrics::Counter>& evictions_counter_;
  metrics::Family<metrics::Gauge>& queued_gauge_;
  metrics::Family<metrics::Gauge>& running_gauge_;
  metrics::Family<metrics::Gauge>& device_memory_total_gauge_;
  metrics::Family<metrics::Gauge>& device_memory_used_gauge_;
  metrics::Family<metrics::Gauge>& build_info_gauge_;
  metrics::Family<metrics::Gauge>& start_time_gauge_;
  // Models ExportGauges exported at the last scrape (only it touches this).
  std::set<std::string> exported_models_;
  // Which device the device-memory gauges describe ("cpu", "cuda:0").
  const std::string device_id_;
  // A device that cannot report its memory is logged once, not every scrape.
  std::atomic<bool> device_memory_error_logged_{false};
  uint64_t collect_callback_ = 0;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_SERVER_DJINN_SERVICE_H_
