// A monotonically increasing value (requests served, bytes copied). Lock-free:
// one atomic add per Increment.
#ifndef DJINN_COMMON_METRICS_COUNTER_H_
#define DJINN_COMMON_METRICS_COUNTER_H_

#include <atomic>

#include "common/metrics/snapshot.h"

namespace djinn::metrics {

class Counter {
 public:
  static constexpr MetricType kType = MetricType::kCounter;

  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds v. Negative and NaN increments are ignored: a counter that went
  // down would read as a process restart to rate().
  void Increment(double v = 1.0);
  double Value() const;

  void CollectInto(MetricSnapshot* out) const;

 private:
  std::atomic<double> value_{0.0};
};

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_COUNTER_H_
