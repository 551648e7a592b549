#include "common/metrics/histogram.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/metrics/fatal.h"

namespace djinn::metrics {
namespace {

BucketBoundaries Validated(BucketBoundaries bounds) {
  if (!bounds.empty() && bounds.back() == INFINITY) bounds.pop_back();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (std::isnan(bounds[i])) internal::Fatal("histogram bucket bound is NaN");
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      internal::Fatal(absl::StrCat("histogram bucket bounds must be strictly increasing, got ",
                                   bounds[i - 1], " then ", bounds[i]));
    }
  }
  return bounds;
}

}  // namespace

BucketBoundaries ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    internal::Fatal("ExponentialBuckets needs start > 0, factor > 1, count >= 1");
  }
  BucketBoundaries bounds;
  double b = start;
  for (int i = 0; i < count; ++i, b *= factor) bounds.push_back(b);
  return bounds;
}

BucketBoundaries LinearBuckets(double start, double width, int count) {
  if (!(width > 0) || count < 1) internal::Fatal("LinearBuckets needs width > 0, count >= 1");
  BucketBoundaries bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(start + i * width);
  return bounds;
}

Histogram::Histogram(BucketBoundaries bounds)
    : bounds_(Validated(std::move(bounds))), counts_(bounds_.size() + 1) {}

void Histogram::Observe(double v) {
  // First bound >= v; written as a predicate so that NaN (for which every
  // comparison is false) falls through to the +Inf bucket.
  const auto it =
      std::partition_point(bounds_.begin(), bounds_.end(), [v](double b) { return !(b >= v); });
  counts_[it - bounds_.begin()].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.cumulative.reserve(counts_.size());
  uint64_t running = 0;
  for (const auto& c : counts_) {
    running += c.load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

void Histogram::CollectInto(MetricSnapshot* out) const { out->histogram = Snapshot(); }

}  // namespace djinn::metrics
