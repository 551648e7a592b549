// The Prometheus metrics djinnd exports, defined in one place so their names,
// units and labels read as a product surface (see docs/api.md).
#ifndef DJINN_DAEMON_SERVER_SERVER_METRICS_H_
#define DJINN_DAEMON_SERVER_SERVER_METRICS_H_

#include <string>

#include "common/metrics/builder.h"
#include "common/metrics/registry.h"
#include "daemon/engine/generation.h"

namespace djinn {

enum class RequestOutcome { kCompleted, kCancelled, kFailed, kRejected };
// "completed", "cancelled", "failed", "rejected": the label value and log field.
const char* OutcomeName(RequestOutcome outcome);

class ServerMetrics {
 public:
  explicit ServerMetrics(metrics::Registry* registry);

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
  metrics::Histogram& InterTokenLatency(const std::string& model);

  metrics::Registry* registry() const { return registry_; }

 private:
  metrics::Registry* registry_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Counter>& prompt_tokens_;
  metrics::Family<metrics::Counter>& generated_tokens_;
  metrics::Family<metrics::Gauge>& in_flight_;
  metrics::Family<metrics::Histogram>& time_to_first_token_;
  metrics::Family<metrics::Histogram>& request_duration_;
  metrics::Family<metrics::Histogram>& queue_duration_;
  metrics::Family<metrics::Histogram>& time_per_output_token_;
  metrics::Family<metrics::Histogram>& inter_token_latency_;
  metrics::Family<metrics::Counter>& loads_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_SERVER_SERVER_METRICS_H_
