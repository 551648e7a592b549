// One Generate request as any front-end drives it: the stream of events from
// the model's runner, plus the request's accounting (the outcome counters,
// the request metrics, the one log line per request). A front-end pulls
// events with Next, delivers them to its client in its own protocol, reports
// each delivery, and ends the call with the outcome it saw:
//
//   absl::StatusOr<std::unique_ptr<GenerateCall>> call = core.Generate(model, request);
//   while (call->Next(&event, poll)) { ...write...; call->Delivered(event, absl::Now()); ... }
//   call->Finish(RequestOutcome::kCompleted);
//
// A call dropped without Finish ends as cancelled (its stream is cancelled,
// so the runner frees its KV pages at its next step).
#ifndef DJINN_DAEMON_CORE_GENERATE_CALL_H_
#define DJINN_DAEMON_CORE_GENERATE_CALL_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "daemon/core/inter_token_timer.h"
#include "daemon/core/request_metrics.h"
#include "daemon/engine/generation.h"
#include "daemon/engine/generation_stream.h"
#include "daemon/engine/model_runner.h"

namespace djinn {

class GenerateCall {
 public:
  // Counts the request as started. Made by Core::Generate.
  GenerateCall(std::string model, std::shared_ptr<ModelRunner> runner, std::shared_ptr<GenerationStream> stream,
               RequestMetrics* metrics, RequestCounters* counters);
  ~GenerateCall();
  GenerateCall(const GenerateCall&) = delete;
  GenerateCall& operator=(const GenerateCall&) = delete;

  // The next event, or false when none came within `timeout` (the front-end
  // then checks whether its client is still there). The last event has
  // finish != kNone or a non-OK error.
  bool Next(GenerationEvent* event, absl::Duration timeout);
  // Asks the runner to stop this request (the client went away).
  void Cancel();
  // `event` reached the client at `now`: the inter-token latency's clock.
  void Delivered(const GenerationEvent& event, absl::Time now);
  // Ends the request with `outcome`: counts it, observes its usage, logs it.
  // Only the first call counts.
  void Finish(RequestOutcome outcome);

  const std::string& model() const { return model_; }

 private:
  const std::string model_;
  // Held so that the model's memory outlives its last request.
  const std::shared_ptr<ModelRunner> runner_;
  const std::shared_ptr<GenerationStream> stream_;
  RequestMetrics* const metrics_;
  RequestCounters* const counters_;
  InterTokenTimer inter_token_;
  GenerationUsage usage_;  // from the last event, once it came
  bool finished_ = false;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_CORE_GENERATE_CALL_H_
