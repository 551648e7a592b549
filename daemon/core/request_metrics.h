// The request-level Prometheus metrics (prometheus-cpp): what every front-end's
// requests add up to, counted by the core (GenerateCall, LoadModel) so that
// gRPC and HTTP requests land in the same series. Defined in one place so
// their names, units and labels read as a product surface (docs/metrics.md).
// The engine-derived series (memory, ring, residency) are computed at each
// scrape from the core's snapshot instead (snapshot_metrics.h).
#ifndef DJINN_DAEMON_CORE_REQUEST_METRICS_H_
#define DJINN_DAEMON_CORE_REQUEST_METRICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "daemon/engine/generation.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace djinn {

enum class RequestOutcome { kCompleted, kCancelled, kFailed, kRejected };
// "completed", "cancelled", "failed", "rejected": the label value and log field.
const char* OutcomeName(RequestOutcome outcome);

// Generate requests admitted and how they ended, for Stats (CoreSnapshot).
struct RequestCounters {
  std::atomic<uint64_t> started{0}, completed{0}, cancelled{0}, failed{0};
};

class RequestMetrics {
 public:
  RequestMetrics();

  void GenerateStarted(const std::string& model);
  // Refused before it started (invalid request): counted with outcome "rejected".
  void GenerateRejected(const std::string& model);
  // `usage` may be empty (all zero) when the request failed before running.
  void GenerateFinished(const std::string& model, RequestOutcome outcome, const GenerationUsage& usage);
  void LoadFinished(bool ok);
  // Creates every per-model series this class owns for `model` at zero (if
  // not there yet), so that dashboards and alerts see them before traffic.
  void ExportModelSeries(const std::string& model);
  // Gaps between consecutive tokens streamed to a client (InterTokenTimer).
  prometheus::Histogram& InterTokenLatency(const std::string& model);

  // Their registry, for the exposer (or any other prometheus::Collectable user).
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& prompt_tokens_;
  prometheus::Family<prometheus::Counter>& generated_tokens_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Histogram>& time_to_first_token_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Family<prometheus::Histogram>& queue_duration_;
  prometheus::Family<prometheus::Histogram>& time_per_output_token_;
  prometheus::Family<prometheus::Histogram>& inter_token_latency_;
  prometheus::Family<prometheus::Counter>& loads_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_CORE_REQUEST_METRICS_H_
