#include "common/metrics/gauge.h"

namespace djinn::metrics {

void Gauge::Set(double v) { value_.store(v, std::memory_order_relaxed); }

void Gauge::Increment(double v) { value_.fetch_add(v, std::memory_order_relaxed); }

void Gauge::Decrement(double v) { value_.fetch_sub(v, std::memory_order_relaxed); }

double Gauge::Value() const { return value_.load(std::memory_order_relaxed); }

void Gauge::CollectInto(MetricSnapshot* out) const { out->value = Value(); }

}  // namespace djinn::metrics
