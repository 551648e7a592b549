#include "common/metrics/counter.h"

namespace djinn::metrics {

void Counter::Increment(double v) {
  if (!(v >= 0.0)) return;  // also rejects NaN
  value_.fetch_add(v, std::memory_order_relaxed);
}

double Counter::Value() const { return value_.load(std::memory_order_relaxed); }

void Counter::CollectInto(MetricSnapshot* out) const { out->value = Value(); }

}  // namespace djinn::metrics
