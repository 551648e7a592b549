#include "daemon/core/generate_call.h"

#include <utility>

#include "common/logging.h"

namespace djinn {

GenerateCall::GenerateCall(std::string model, std::shared_ptr<ModelRunner> runner,
                           std::shared_ptr<GenerationStream> stream, RequestMetrics* metrics,
                           RequestCounters* counters)
    : model_(std::move(model)),
      runner_(std::move(runner)),
      stream_(std::move(stream)),
      metrics_(metrics),
      counters_(counters),
      inter_token_(&metrics->InterTokenLatency(model_)) {
  counters_->started.fetch_add(1);
  metrics_->GenerateStarted(model_);
}

GenerateCall::~GenerateCall() {
  if (!finished_) {
    stream_->Cancel();
    Finish(RequestOutcome::kCancelled);
  }
}

bool GenerateCall::Next(GenerationEvent* event, absl::Duration timeout) {
  if (!stream_->Next(event, timeout)) return false;
  if (event->finish != FinishReason::kNone) usage_ = event->usage;
  if (!event->error.ok()) LogError("generation failed", {{"model", model_}, {"error", event->error.ToString()}});
  return true;
}

void GenerateCall::Cancel() { stream_->Cancel(); }

void GenerateCall::Delivered(const GenerationEvent& event, absl::Time now) {
  inter_token_.Written(event.token_ids.size(), now);
}

void GenerateCall::Finish(RequestOutcome outcome) {
  if (finished_) return;
  finished_ = true;
  (outcome == RequestOutcome::kCompleted   ? counters_->completed
   : outcome == RequestOutcome::kCancelled ? counters_->cancelled
                                           : counters_->failed)
      .fetch_add(1);
  metrics_->GenerateFinished(model_, outcome, usage_);
  LogInfo("generate", {{"model", model_},
                       {"outcome", OutcomeName(outcome)},
                       {"prompt_tokens", usage_.prompt_tokens},
                       {"completion_tokens", usage_.completion_tokens},
                       {"time_to_first_token_seconds", usage_.time_to_first_token_seconds},
                       {"total_seconds", usage_.total_seconds}});
}

}  // namespace djinn
