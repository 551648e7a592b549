// A value that goes up and down (bytes resident, requests in flight).
// Lock-free: one atomic op per call.
#ifndef DJINN_COMMON_METRICS_GAUGE_H_
#define DJINN_COMMON_METRICS_GAUGE_H_

#include <atomic>

#include "common/metrics/snapshot.h"

namespace djinn::metrics {

class Gauge {
 public:
  static constexpr MetricType kType = MetricType::kGauge;

  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v);
  void Increment(double v = 1.0);
  void Decrement(double v = 1.0);
  double Value() const;

  void CollectInto(MetricSnapshot* out) const;

 private:
  std::atomic<double> value_{0.0};
};

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_GAUGE_H_
