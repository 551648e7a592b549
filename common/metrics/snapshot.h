// Point-in-time values of metric families: what Registry::Collect() returns
// and what the text serialiser formats. Plain data, no locks.
#ifndef DJINN_COMMON_METRICS_SNAPSHOT_H_
#define DJINN_COMMON_METRICS_SNAPSHOT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/metrics/labels.h"

namespace djinn::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge", "histogram": the spelling of the # TYPE line.
const char* MetricTypeName(MetricType type);

struct HistogramSnapshot {
  std::vector<double> bounds;            // finite upper bounds, increasing; +Inf implied
  std::vector<uint64_t> cumulative;      // bounds.size() + 1 entries; last is the count
  double sum = 0;
  uint64_t count = 0;                    // == cumulative.back()
};

// One child of a family: its full label set and its value.
struct MetricSnapshot {
  Labels labels;
  double value = 0;                      // counter and gauge
  HistogramSnapshot histogram;           // histogram only
};

struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<MetricSnapshot> metrics;   // sorted by labels
};

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_SNAPSHOT_H_
