#include "daemon/core/request_metrics.h"

namespace djinn {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using Buckets = prometheus::Histogram::BucketBoundaries;
using Labels = prometheus::Labels;

// Bucket upper bounds start * factor^i, i in [0, count).
Buckets ExponentialBuckets(double start, double factor, int count) {
  Buckets buckets;
  for (double bound = start; count-- > 0; bound *= factor) buckets.push_back(bound);
  return buckets;
}

// Request-level latencies (first token, request and queue duration): 1 ms ..
// ~65 s in powers of two. Kept as they were: a request to a 13B model
// streamed over PCIe runs for about a minute (128 tokens at 0.24-0.4 s), a
// tiny model on a CPU answers in milliseconds, and these durations grow with
// prompt and output length, so factor-2 resolution is all they warrant.
const Buckets& LatencyBuckets() {
  static const Buckets* const buckets = new Buckets(ExponentialBuckets(0.001, 2, 17));
  return *buckets;
}

// Per-token latencies (inter-token latency, time per output token): 1 ms ..
// 5 s in steps of at most 1.67x (1, 1.5, 2, 3, 5, 7 per decade) instead of
// 2x, because their percentiles are what decode speed is judged by and the
// values that matter lie close together: ~10 ms a token for a resident 13B
// model on an H100, 0.24 s and 0.39 s streamed under 16 and 8 GiB
// (docs/benchmarks.md). Past 5 s (+Inf) a token is an outage, not a speed.
// Time per output token moved from LatencyBuckets to these so that it and
// the inter-token latency, two views of one quantity, compare bucket for
// bucket.
const Buckets& TokenLatencyBuckets() {
  static const Buckets* const buckets = new Buckets{
      0.001, 0.0015, 0.002, 0.003, 0.005, 0.007, 0.01, 0.015, 0.02, 0.03, 0.05, 0.07,
      0.1,   0.15,   0.2,   0.3,   0.5,   0.7,   1,    1.5,   2,    3,    5};
  return *buckets;
}

constexpr RequestOutcome kOutcomes[] = {RequestOutcome::kCompleted, RequestOutcome::kCancelled,
                                        RequestOutcome::kFailed, RequestOutcome::kRejected};

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

RequestMetrics::RequestMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("djinn_generate_requests_total")
                    .Help("Generate requests that ended, by model and outcome (completed, cancelled, failed, rejected).")
                    .Register(*registry_)),
      prompt_tokens_(BuildCounter()
                         .Name("djinn_prompt_tokens_total")
                         .Help("Prompt tokens of Generate requests that ran.")
                         .Register(*registry_)),
      generated_tokens_(BuildCounter()
                            .Name("djinn_generated_tokens_total")
                            .Help("Tokens generated and streamed to clients.")
                            .Register(*registry_)),
      in_flight_(BuildGauge()
                     .Name("djinn_generate_requests_in_flight")
                     .Help("Generate requests queued or streaming now.")
                     .Register(*registry_)),
      time_to_first_token_(BuildHistogram()
                               .Name("djinn_time_to_first_token_seconds")
                               .Help("From request arrival to the first generated token.")
                               .Register(*registry_)),
      request_duration_(BuildHistogram()
                            .Name("djinn_request_duration_seconds")
                            .Help("From request arrival to the last streamed message.")
                            .Register(*registry_)),
      queue_duration_(BuildHistogram()
                          .Name("djinn_queue_duration_seconds")
                          .Help("Time a request waited for a KV-cache slot.")
                          .Register(*registry_)),
      time_per_output_token_(BuildHistogram()
                                 .Name("djinn_time_per_output_token_seconds")
                                 .Help("Mean time between generated tokens of a request, after the first.")
                                 .Register(*registry_)),
      inter_token_latency_(BuildHistogram()
                               .Name("djinn_inter_token_latency_seconds")
                               .Help("Time between consecutive generated tokens as they are streamed to a client "
                                     "(tokens sent in one message count as 0 apart).")
                               .Register(*registry_)),
      loads_(BuildCounter()
                 .Name("djinn_model_loads_total")
                 .Help("LoadModel calls that ended, by outcome (ok, failed).")
                 .Register(*registry_)) {
  for (const char* outcome : {"ok", "failed"}) loads_.Add({{"outcome", outcome}});  // at zero from the start
}

void RequestMetrics::GenerateStarted(const std::string& model) { in_flight_.Add({{"model", model}}).Increment(); }

void RequestMetrics::GenerateRejected(const std::string& model) {
  requests_.Add({{"model", model}, {"outcome", OutcomeName(RequestOutcome::kRejected)}}).Increment();
}

void RequestMetrics::GenerateFinished(const std::string& model, RequestOutcome outcome, const GenerationUsage& usage) {
  const Labels labels{{"model", model}};
  in_flight_.Add(labels).Decrement();
  requests_.Add({{"model", model}, {"outcome", OutcomeName(outcome)}}).Increment();
  if (usage.prompt_tokens > 0) prompt_tokens_.Add(labels).Increment(usage.prompt_tokens);
  if (usage.completion_tokens > 0) {
    generated_tokens_.Add(labels).Increment(usage.completion_tokens);
    time_to_first_token_.Add(labels, LatencyBuckets()).Observe(usage.time_to_first_token_seconds);
    queue_duration_.Add(labels, LatencyBuckets()).Observe(usage.queue_seconds);
    request_duration_.Add(labels, LatencyBuckets()).Observe(usage.total_seconds);
    if (usage.completion_tokens > 1) {
      time_per_output_token_.Add(labels, TokenLatencyBuckets())
          .Observe((usage.total_seconds - usage.time_to_first_token_seconds) / (usage.completion_tokens - 1));
    }
  }
}

void RequestMetrics::LoadFinished(bool ok) { loads_.Add({{"outcome", ok ? "ok" : "failed"}}).Increment(); }

void RequestMetrics::ExportModelSeries(const std::string& model) {
  const Labels labels{{"model", model}};
  for (RequestOutcome outcome : kOutcomes) requests_.Add({{"model", model}, {"outcome", OutcomeName(outcome)}});
  prompt_tokens_.Add(labels);
  generated_tokens_.Add(labels);
  in_flight_.Add(labels);
  time_to_first_token_.Add(labels, LatencyBuckets());
  request_duration_.Add(labels, LatencyBuckets());
  queue_duration_.Add(labels, LatencyBuckets());
  time_per_output_token_.Add(labels, TokenLatencyBuckets());
  inter_token_latency_.Add(labels, TokenLatencyBuckets());
}

prometheus::Histogram& RequestMetrics::InterTokenLatency(const std::string& model) {
  return inter_token_latency_.Add({{"model", model}}, TokenLatencyBuckets());
}

}  // namespace djinn
