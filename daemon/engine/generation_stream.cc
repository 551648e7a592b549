#include "daemon/engine/generation_stream.h"

namespace djinn {

void GenerationStream::Push(GenerationEvent event) {
  absl::MutexLock lock(&mutex_);
  events_.push_back(std::move(event));
}

bool GenerationStream::Next(GenerationEvent* event, absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return !events_.empty(); };
  if (!mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout)) return false;
  *event = std::move(events_.front());
  events_.pop_front();
  return true;
}

}  // namespace djinn
