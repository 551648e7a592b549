// The hand-off between the engine thread that produces a request's tokens and
// the RPC handler that writes them to the client. The handler can cancel it
// (client went away); the engine then frees the sequence's KV slot at its next
// step and closes the stream.
#ifndef DJINN_DAEMON_ENGINE_GENERATION_STREAM_H_
#define DJINN_DAEMON_ENGINE_GENERATION_STREAM_H_

#include <atomic>
#include <deque>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/engine/generation.h"

namespace djinn {

class GenerationStream {
 public:
  // Engine side.
  void Push(GenerationEvent event);
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  // Handler side. Waits up to `timeout` for the next event; false on timeout.
  bool Next(GenerationEvent* event, absl::Duration timeout);
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }

 private:
  absl::Mutex mutex_;
  std::deque<GenerationEvent> events_ ABSL_GUARDED_BY(mutex_);
  std::atomic<bool> cancelled_{false};
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_GENERATION_STREAM_H_
