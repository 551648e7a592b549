// Measures the inter-token latency of one Generate stream as its client sees
// it: the time between consecutive generated tokens, taken when the message
// carrying them has been handed to gRPC. The engine pushes one token per
// message today; should a message ever carry several, the ones after its
// first arrive together and count as 0 apart, so that a stream of n tokens
// always makes n - 1 observations.
#ifndef DJINN_DAEMON_CORE_INTER_TOKEN_TIMER_H_
#define DJINN_DAEMON_CORE_INTER_TOKEN_TIMER_H_

#include <cstddef>

#include "absl/time/time.h"
#include "prometheus/histogram.h"

namespace djinn {

class InterTokenTimer {
 public:
  explicit InterTokenTimer(prometheus::Histogram* histogram) : histogram_(histogram) {}

  // `tokens` tokens of the stream were written to the client at `now`.
  void Written(size_t tokens, absl::Time now) {
    if (tokens == 0) return;  // e.g. a last message that only ends the stream
    if (last_token_ != absl::InfinitePast()) histogram_->Observe(absl::ToDoubleSeconds(now - last_token_));
    for (size_t i = 1; i < tokens; ++i) histogram_->Observe(0);
    last_token_ = now;
  }

 private:
  prometheus::Histogram* const histogram_;
  absl::Time last_token_ = absl::InfinitePast();
};

}  // namespace djinn

#endif  // DJINN_DAEMON_CORE_INTER_TOKEN_TIMER_H_
