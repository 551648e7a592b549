// Metrics updated from many threads at once end up exact, and scrapes that
// race with updates see consistent histograms.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics/builder.h"
#include "common/metrics/registry.h"
#include "common/metrics/text_serializer.h"
#include "gtest/gtest.h"

namespace djinn::metrics {
namespace {

constexpr int kThreads = 8;
constexpr int kPerThread = 100000;

template <typename Fn>
void RunOnThreads(int n, Fn fn) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(fn, t);
  for (auto& t : threads) t.join();
}

TEST(MetricsConcurrency, CounterIncrementsSumExactly) {
  Registry registry;
  Counter& c = BuildCounter().Name("c_total").Help("h").Register(registry).Add({});
  RunOnThreads(kThreads, [&](int) {
    for (int i = 0; i < kPerThread; ++i) c.Increment();
  });
  EXPECT_EQ(c.Value(), static_cast<double>(kThreads) * kPerThread);
}

TEST(MetricsConcurrency, GaugeIncrementsAndDecrementsCancel) {
  Gauge g;
  g.Set(5);
  RunOnThreads(kThreads, [&](int t) {
    for (int i = 0; i < kPerThread; ++i) {
      if (t % 2 == 0) {
        g.Increment(2);
      } else {
        g.Decrement(2);
      }
    }
  });
  EXPECT_EQ(g.Value(), 5);
}

TEST(MetricsConcurrency, HistogramCountsEveryObservation) {
  Histogram h({1, 10, 100});
  RunOnThreads(kThreads, [&](int t) {
    for (int i = 0; i < kPerThread; ++i) h.Observe(t);  // 0 -> le=1, 1..7 -> le=10
  });
  const HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count, static_cast<uint64_t>(kThreads) * kPerThread);
  EXPECT_EQ(s.cumulative[0], 2u * kPerThread);  // t = 0 and t = 1
  EXPECT_EQ(s.cumulative[1], s.count);
  EXPECT_EQ(s.sum, static_cast<double>(kPerThread) * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7));
}

TEST(MetricsConcurrency, ConcurrentAddReturnsOneChildPerLabelSet) {
  Registry registry;
  auto& family = BuildCounter().Name("c_total").Help("h").Register(registry);
  RunOnThreads(kThreads, [&](int) {
    for (int i = 0; i < 1000; ++i) family.Add({{"k", std::to_string(i % 10)}}).Increment();
  });
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(family.Add({{"k", std::to_string(k)}}).Value(), kThreads * 100) << k;
  }
}

TEST(MetricsConcurrency, ScrapesRacingWithUpdatesStayConsistent) {
  Registry registry;
  auto& family = BuildHistogram().Name("h_seconds").Help("h").Register(registry);
  Histogram& h = family.Add({}, BucketBoundaries{0.5});
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 200000; ++i) h.Observe(i % 2);
    done.store(true);
  });
  uint64_t last_count = 0;
  int scrapes = 0;
  while (!done.load() || scrapes == 0) {
    const std::vector<FamilySnapshot> families = registry.Collect();
    ASSERT_EQ(families.size(), 1u);
    ASSERT_EQ(families[0].metrics.size(), 1u);
    const HistogramSnapshot& s = families[0].metrics[0].histogram;
    // _count is the +Inf bucket, and counts never go backwards.
    ASSERT_EQ(s.count, s.cumulative.back());
    ASSERT_LE(s.cumulative[0], s.cumulative[1]);
    ASSERT_GE(s.count, last_count);
    last_count = s.count;
    ++scrapes;
  }
  writer.join();
  EXPECT_EQ(h.Snapshot().count, 200000u);
}

TEST(MetricsConcurrency, ConcurrentSerialisationsRunCallbacksSerially) {
  Registry registry;
  Gauge& g = BuildGauge().Name("g").Help("h").Register(registry).Add({});
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> calls{0};
  registry.AddCollectCallback([&] {
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    g.Set(calls.fetch_add(1));
    inside.fetch_sub(1);
  });
  RunOnThreads(kThreads, [&](int) {
    for (int i = 0; i < 200; ++i) SerializeText(registry);
  });
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(calls.load(), kThreads * 200);
}

}  // namespace
}  // namespace djinn::metrics
