#include "daemon/server/server_metrics.h"

#include "common/metrics/histogram.h"

namespace djinn {
namespace {

using metrics::BuildCounter;
using metrics::BuildGauge;
using metrics::BuildHistogram;

// 1 ms .. ~65 s: covers a tiny model on a CPU and a 13B model streamed over PCIe.
metrics::BucketBoundaries LatencyBuckets() { return metrics::ExponentialBuckets(0.001, 2, 17); }

}  // namespace

const char* OutcomeName(RequestOutcome outcome) {
  switch (outcome) {
    case RequestOutcome::kCompleted: return "completed";
    case RequestOutcome::kCancelled: return "cancelled";
    case RequestOutcome::kFailed: return "failed";
    case RequestOutcome::kRejected: return "rejected";
  }
  return "failed";
}

ServerMetrics::ServerMetrics(metrics::Registry* registry)
    : registry_(registry),
      requests_(BuildCounter()
                    .Name("djinn_generate_requests_total")
                    .Help("Generate requests that ended, by model and outcome (completed, cancelled, failed, rejected).")
                    .Register(*registry)),
      prompt_tokens_(BuildCounter()
                         .Name("djinn_prompt_tokens_total")
                         .Help("Prompt tokens of Generate requests that ran.")
                         .Register(*registry)),
      generated_tokens_(BuildCounter()
                            .Name("djinn_generated_tokens_total")
                            .Help("Tokens generated and streamed to clients.")
                            .Register(*registry)),
      in_flight_(BuildGauge()
                     .Name("djinn_generate_requests_in_flight")
                     .Help("Generate requests queued or streaming now.")
                     .Register(*registry)),
      time_to_first_token_(BuildHistogram()
                               .Name("djinn_time_to_first_token_seconds")
                               .Help("From request arrival to the first generated token.")
                               .Register(*registry)),
      request_duration_(BuildHistogram()
                            .Name("djinn_request_duration_seconds")
                            .Help("From request arrival to the last streamed message.")
                            .Register(*registry)),
      queue_duration_(BuildHistogram()
                          .Name("djinn_queue_duration_seconds")
                          .Help("Time a request waited for a KV-cache slot.")
                          .Register(*registry)),
      time_per_output_token_(BuildHistogram()
                                 .Name("djinn_time_per_output_token_seconds")
                                 .Help("Mean time between generated tokens of a request, after the first.")
                                 .Register(*registry)),
      loads_(BuildCounter()
                 .Name("djinn_model_loads_total")
                 .Help("LoadModel calls that ended, by outcome (ok, failed).")
                 .Register(*registry)) {}

void ServerMetrics::GenerateStarted(const std::string& model) { in_flight_.Add({{"model", model}}).Increment(); }

void ServerMetrics::GenerateRejected(const std::string& model) {
  requests_.Add({{"model", model}, {"outcome", OutcomeName(RequestOutcome::kRejected)}}).Increment();
}

void ServerMetrics::GenerateFinished(const std::string& model, RequestOutcome outcome, const GenerationUsage& usage) {
  const metrics::Labels labels{{"model", model}};
  in_flight_.Add(labels).Decrement();
  requests_.Add({{"model", model}, {"outcome", OutcomeName(outcome)}}).Increment();
  if (usage.prompt_tokens > 0) prompt_tokens_.Add(labels).Increment(usage.prompt_tokens);
  if (usage.completion_tokens > 0) {
    generated_tokens_.Add(labels).Increment(usage.completion_tokens);
    time_to_first_token_.Add(labels, LatencyBuckets()).Observe(usage.time_to_first_token_seconds);
    queue_duration_.Add(labels, LatencyBuckets()).Observe(usage.queue_seconds);
    request_duration_.Add(labels, LatencyBuckets()).Observe(usage.total_seconds);
    if (usage.completion_tokens > 1) {
      time_per_output_token_.Add(labels, LatencyBuckets())
          .Observe((usage.total_seconds - usage.time_to_first_token_seconds) / (usage.completion_tokens - 1));
    }
  }
}

void ServerMetrics::LoadFinished(bool ok) { loads_.Add({{"outcome", ok ? "ok" : "failed"}}).Increment(); }

}  // namespace djinn
