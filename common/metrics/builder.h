// Builder-style registration, as in prometheus-cpp:
//
//   auto& latency = BuildHistogram().Name("djinn_request_latency_seconds")
//                       .Help("End-to-end request latency.").Register(registry);
//   auto& h = latency.Add({{"model", "llama"}}, ExponentialBuckets(0.005, 2, 12));
#ifndef DJINN_COMMON_METRICS_BUILDER_H_
#define DJINN_COMMON_METRICS_BUILDER_H_

#include <string>

#include "common/metrics/counter.h"
#include "common/metrics/family.h"
#include "common/metrics/gauge.h"
#include "common/metrics/histogram.h"
#include "common/metrics/labels.h"
#include "common/metrics/registry.h"

namespace djinn::metrics {

template <typename T>
class Builder {
 public:
  Builder& Name(const std::string& name) {
    name_ = name;
    return *this;
  }
  Builder& Help(const std::string& help) {
    help_ = help;
    return *this;
  }
  // Constant labels, attached to every child of the family.
  Builder& Labels(const ::djinn::metrics::Labels& labels) {
    labels_ = labels;
    return *this;
  }
  // See Registry::Register for what aborts.
  Family<T>& Register(Registry& registry) const {
    return registry.Register<T>(name_, help_, labels_);
  }

 private:
  std::string name_;
  std::string help_;
  ::djinn::metrics::Labels labels_;
};

inline Builder<Counter> BuildCounter() { return {}; }
inline Builder<Gauge> BuildGauge() { return {}; }
inline Builder<Histogram> BuildHistogram() { return {}; }

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_BUILDER_H_
