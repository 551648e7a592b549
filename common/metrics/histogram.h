// A distribution of observations (latencies, sizes) counted into buckets with
// fixed upper bounds. Observe() is a binary search and two atomic adds.
#ifndef DJINN_COMMON_METRICS_HISTOGRAM_H_
#define DJINN_COMMON_METRICS_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "common/metrics/snapshot.h"

namespace djinn::metrics {

// Upper bounds of the buckets, strictly increasing. The +Inf bucket is always
// there; a trailing +Inf in the list is accepted and dropped.
using BucketBoundaries = std::vector<double>;

// start, start*factor, ... (count bounds). start > 0, factor > 1.
BucketBoundaries ExponentialBuckets(double start, double factor, int count);
// start, start+width, ... (count bounds). width > 0.
BucketBoundaries LinearBuckets(double start, double width, int count);

class Histogram {
 public:
  static constexpr MetricType kType = MetricType::kHistogram;

  // Aborts if the bounds are not strictly increasing or contain NaN.
  explicit Histogram(BucketBoundaries bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts v into the first bucket whose bound is >= v. NaN lands in +Inf
  // (as in the Go client) and makes the sum NaN.
  void Observe(double v);

  const BucketBoundaries& bounds() const { return bounds_; }
  HistogramSnapshot Snapshot() const;
  void CollectInto(MetricSnapshot* out) const;

 private:
  const BucketBoundaries bounds_;
  // Per-bucket (not cumulative) counts; bounds_.size() + 1 entries. The total
  // count is derived from these at snapshot time, so _count always equals
  // the +Inf bucket even while observations race with a scrape.
  std::vector<std::atomic<uint64_t>> counts_;
  std::atomic<double> sum_{0.0};
};

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_HISTOGRAM_H_
