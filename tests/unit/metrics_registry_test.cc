// Registry and family semantics: registration by name, child identity,
// naming rules (which abort), collect callbacks.
#include <cmath>
#include <string>
#include <vector>

#include "common/metrics/builder.h"
#include "common/metrics/labels.h"
#include "common/metrics/registry.h"
#include "common/metrics/text_serializer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace djinn::metrics {
namespace {

using ::testing::ElementsAre;

TEST(MetricsRegistry, SameNameAndTypeReturnsTheSameFamily) {
  Registry registry;
  auto& a = BuildCounter().Name("x_total").Help("first").Register(registry);
  auto& b = BuildCounter().Name("x_total").Help("second").Register(registry);
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(b.help(), "first");
  EXPECT_EQ(a.type(), MetricType::kCounter);
}

TEST(MetricsRegistry, AddReturnsTheSameChildForTheSameLabels) {
  Registry registry;
  auto& family = BuildGauge().Name("g").Help("h").Register(registry);
  Gauge& a = family.Add({{"k", "v"}});
  Gauge& b = family.Add({{"k", "v"}});
  Gauge& c = family.Add({{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  // Many more children must not move existing ones.
  for (int i = 0; i < 1000; ++i) family.Add({{"k", std::to_string(i)}});
  EXPECT_EQ(&family.Add({{"k", "v"}}), &a);
}

TEST(MetricsRegistry, RemoveDropsTheChild) {
  Registry registry;
  auto& family = BuildGauge().Name("g").Help("h").Register(registry);
  family.Add({{"k", "a"}}).Set(1);
  Gauge& b = family.Add({{"k", "b"}});
  b.Set(2);
  family.Remove(&b);
  EXPECT_FALSE(family.Has({{"k", "b"}}));
  EXPECT_TRUE(family.Has({{"k", "a"}}));
  EXPECT_EQ(SerializeText(registry), "# HELP g h\n# TYPE g gauge\ng{k=\"a\"} 1\n");
  // Adding it again starts from zero.
  EXPECT_EQ(family.Add({{"k", "b"}}).Value(), 0);
}

TEST(MetricsRegistry, HistogramBucketsOfTheFirstAddWin) {
  Registry registry;
  auto& family = BuildHistogram().Name("h_seconds").Help("h").Register(registry);
  Histogram& a = family.Add({}, BucketBoundaries{1, 2});
  Histogram& b = family.Add({}, BucketBoundaries{5});
  EXPECT_EQ(&a, &b);
  EXPECT_THAT(b.bounds(), ElementsAre(1, 2));
}

TEST(MetricsRegistry, CounterIgnoresNegativeAndNaNIncrements) {
  Counter c;
  c.Increment();
  c.Increment(2.5);
  c.Increment(-1);
  c.Increment(std::nan(""));
  EXPECT_EQ(c.Value(), 3.5);
}

TEST(MetricsRegistry, GaugeGoesBothWays) {
  Gauge g;
  g.Set(10);
  g.Increment();
  g.Increment(4);
  g.Decrement();
  g.Decrement(20);
  EXPECT_EQ(g.Value(), -6);
}

TEST(MetricsRegistry, HistogramPlacesValuesInTheFirstBucketAtOrAbove) {
  Histogram h({1, 2, 4});
  for (double v : {-5.0, 1.0, 1.0000001, 2.0, 4.0, 4.5, std::nan("")}) h.Observe(v);
  const HistogramSnapshot s = h.Snapshot();
  // -5 and 1 -> le=1; 1.0000001 and 2 -> le=2; 4 -> le=4; 4.5 and NaN -> +Inf.
  EXPECT_THAT(s.cumulative, ElementsAre(2, 4, 5, 7));
  EXPECT_EQ(s.count, 7u);
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(MetricsRegistry, TrailingInfBoundIsDropped) {
  Histogram h({0.5, INFINITY});
  EXPECT_THAT(h.bounds(), ElementsAre(0.5));
}

TEST(MetricsRegistry, BucketHelpers) {
  EXPECT_THAT(ExponentialBuckets(1, 2, 4), ElementsAre(1, 2, 4, 8));
  EXPECT_THAT(LinearBuckets(0, 0.5, 3), ElementsAre(0, 0.5, 1));
}

TEST(MetricsRegistry, NameValidation) {
  EXPECT_TRUE(IsValidMetricName("djinn_requests_total"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("9lives"));
  EXPECT_FALSE(IsValidMetricName("has-dash"));
  EXPECT_FALSE(IsValidMetricName("has space"));
  EXPECT_TRUE(IsValidLabelName("model"));
  EXPECT_TRUE(IsValidLabelName("_private"));
  EXPECT_FALSE(IsValidLabelName(""));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("1a"));
  EXPECT_FALSE(IsValidLabelName("__name__"));
}

using MetricsRegistryDeathTest = ::testing::Test;

TEST_F(MetricsRegistryDeathTest, DifferentTypeForTheSameNameAborts) {
  Registry registry;
  BuildGauge().Name("thing").Help("h").Register(registry);
  EXPECT_DEATH(BuildHistogram().Name("thing").Help("h").Register(registry),
               "registered as histogram but already registered as gauge");
}

TEST_F(MetricsRegistryDeathTest, CounterWithoutTotalSuffixAborts) {
  Registry registry;
  EXPECT_DEATH(BuildCounter().Name("requests").Help("h").Register(registry), "_total");
}

TEST_F(MetricsRegistryDeathTest, InvalidMetricNameAborts) {
  Registry registry;
  EXPECT_DEATH(BuildGauge().Name("bad-name").Help("h").Register(registry), "invalid metric name");
}

TEST_F(MetricsRegistryDeathTest, InvalidLabelNameAborts) {
  Registry registry;
  auto& family = BuildGauge().Name("g").Help("h").Register(registry);
  EXPECT_DEATH(family.Add({{"bad-label", "v"}}), "invalid label name");
  EXPECT_DEATH(BuildGauge().Name("g2").Labels({{"__x", "v"}}).Register(registry),
               "invalid constant label name");
}

TEST_F(MetricsRegistryDeathTest, LeIsReservedInHistograms) {
  Registry registry;
  auto& family = BuildHistogram().Name("h_seconds").Help("h").Register(registry);
  EXPECT_DEATH(family.Add({{"le", "1"}}, BucketBoundaries{1}), "reserved");
}

TEST_F(MetricsRegistryDeathTest, ChildLabelRepeatingAConstantLabelAborts) {
  Registry registry;
  auto& family = BuildGauge().Name("g").Labels({{"a", "1"}}).Register(registry);
  EXPECT_DEATH(family.Add({{"a", "2"}}), "constant label");
}

TEST_F(MetricsRegistryDeathTest, SampleNameCollisionAborts) {
  Registry registry;
  BuildHistogram().Name("x").Help("h").Register(registry);
  EXPECT_DEATH(BuildGauge().Name("x_count").Help("h").Register(registry), "already emits");
  Registry other;
  BuildGauge().Name("y_sum").Help("h").Register(other);
  EXPECT_DEATH(BuildHistogram().Name("y").Help("h").Register(other), "already emits");
}

TEST_F(MetricsRegistryDeathTest, UnsortedBucketsAbort) {
  EXPECT_DEATH(Histogram({1, 1}), "strictly increasing");
  EXPECT_DEATH(Histogram({2, 1}), "strictly increasing");
  EXPECT_DEATH(Histogram({std::nan("")}), "NaN");
}

TEST(MetricsRegistry, CollectCallbacksRunBeforeValuesAreRead) {
  Registry registry;
  auto& family = BuildGauge().Name("djinn_memory_bytes").Help("h").Register(registry);
  Gauge& gpu = family.Add({{"tier", "gpu"}});
  Gauge& host = family.Add({{"tier", "host"}});
  // Stands in for the daemon's Stats snapshot: both gauges are refreshed
  // from one state, and the scrape must see the values set by this call.
  int snapshots = 0;
  registry.AddCollectCallback([&] {
    ++snapshots;
    gpu.Set(100 * snapshots);
    host.Set(1000 * snapshots);
  });
  EXPECT_EQ(SerializeText(registry),
            "# HELP djinn_memory_bytes h\n"
            "# TYPE djinn_memory_bytes gauge\n"
            "djinn_memory_bytes{tier=\"gpu\"} 100\n"
            "djinn_memory_bytes{tier=\"host\"} 1000\n");
  EXPECT_EQ(SerializeText(registry),
            "# HELP djinn_memory_bytes h\n"
            "# TYPE djinn_memory_bytes gauge\n"
            "djinn_memory_bytes{tier=\"gpu\"} 200\n"
            "djinn_memory_bytes{tier=\"host\"} 2000\n");
  EXPECT_EQ(snapshots, 2);
}

TEST(MetricsRegistry, CollectCallbacksRunInOrderAndCanBeRemoved) {
  Registry registry;
  std::vector<int> calls;
  const auto first = registry.AddCollectCallback([&] { calls.push_back(1); });
  registry.AddCollectCallback([&] { calls.push_back(2); });
  registry.Collect();
  EXPECT_THAT(calls, ElementsAre(1, 2));
  registry.RemoveCollectCallback(first);
  calls.clear();
  registry.Collect();
  EXPECT_THAT(calls, ElementsAre(2));
}

TEST(MetricsRegistry, CallbackMayRegisterFamiliesAndAddChildren) {
  Registry registry;
  registry.AddCollectCallback([&] {
    BuildGauge().Name("late").Help("h").Register(registry).Add({}).Set(7);
  });
  EXPECT_EQ(SerializeText(registry), "# HELP late h\n# TYPE late gauge\nlate 7\n");
}

}  // namespace
}  // namespace djinn::metrics
