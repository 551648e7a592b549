// The Prometheus text format as SerializeText writes it: exact output for a
// small registry, escaping, cumulative buckets, ordering, number spelling.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "common/metrics/builder.h"
#include "common/metrics/registry.h"
#include "common/metrics/text_serializer.h"
#include "gtest/gtest.h"

namespace djinn::metrics {
namespace {

TEST(MetricsExposition, ExactTextForSmallRegistry) {
  Registry registry;
  auto& requests =
      BuildCounter().Name("djinn_requests_total").Help("Requests served.").Register(registry);
  // Added out of order: the output must be sorted regardless.
  requests.Add({{"model", "b"}}).Increment(2);
  requests.Add({{"model", "a"}}).Increment();

  auto& memory = BuildGauge()
                     .Name("djinn_memory_bytes")
                     .Help("Bytes resident.\nBy tier, in C:\\bytes.")
                     .Register(registry);
  memory.Add({{"tier", "host"}}).Set(-0.25);
  memory.Add({{"tier", "gpu"}}).Set(1.5e9);

  auto& latency =
      BuildHistogram().Name("djinn_latency_seconds").Help("Latency.").Register(registry);
  Histogram& h = latency.Add({{"op", "x"}}, BucketBoundaries{0.005, 0.5, 1});
  // Sums of these are exact in binary, so the expected text can be exact.
  h.Observe(0.00390625);  // <= 0.005
  h.Observe(0.25);
  h.Observe(0.5);  // on a bound: counts in that bucket (le = less or equal)
  h.Observe(2);    // only +Inf

  EXPECT_EQ(SerializeText(registry),
            "# HELP djinn_latency_seconds Latency.\n"
            "# TYPE djinn_latency_seconds histogram\n"
            "djinn_latency_seconds_bucket{op=\"x\",le=\"0.005\"} 1\n"
            "djinn_latency_seconds_bucket{op=\"x\",le=\"0.5\"} 3\n"
            "djinn_latency_seconds_bucket{op=\"x\",le=\"1\"} 3\n"
            "djinn_latency_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"
            "djinn_latency_seconds_sum{op=\"x\"} 2.75390625\n"
            "djinn_latency_seconds_count{op=\"x\"} 4\n"
            "# HELP djinn_memory_bytes Bytes resident.\\nBy tier, in C:\\\\bytes.\n"
            "# TYPE djinn_memory_bytes gauge\n"
            "djinn_memory_bytes{tier=\"gpu\"} 1.5e+09\n"
            "djinn_memory_bytes{tier=\"host\"} -0.25\n"
            "# HELP djinn_requests_total Requests served.\n"
            "# TYPE djinn_requests_total counter\n"
            "djinn_requests_total{model=\"a\"} 1\n"
            "djinn_requests_total{model=\"b\"} 2\n");
}

TEST(MetricsExposition, LabelValuesAreEscaped) {
  Registry registry;
  auto& family = BuildGauge().Name("g").Help("h").Register(registry);
  family.Add({{"path", "C:\\dir \"quoted\"\nnext"}}).Set(1);
  EXPECT_EQ(SerializeText(registry),
            "# HELP g h\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir \\\"quoted\\\"\\nnext\"} 1\n");
}

TEST(MetricsExposition, EscapeFunctions) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  // HELP leaves double quotes alone.
  EXPECT_EQ(EscapeHelp("a\\b\"c\nd"), "a\\\\b\"c\\nd");
}

TEST(MetricsExposition, UnlabelledAndMultiLabelChildren) {
  Registry registry;
  auto& family = BuildCounter().Name("c_total").Help("h").Register(registry);
  family.Add({}).Increment(3);
  family.Add({{"b", "1"}, {"a", "2"}}).Increment();
  // Children sort by label set: {} before anything; label names in a child
  // come out sorted too.
  EXPECT_EQ(SerializeText(registry),
            "# HELP c_total h\n"
            "# TYPE c_total counter\n"
            "c_total 3\n"
            "c_total{a=\"2\",b=\"1\"} 1\n");
}

TEST(MetricsExposition, ConstantLabelsMergeIntoEveryChild) {
  Registry registry;
  auto& family =
      BuildGauge().Name("g").Help("h").Labels({{"instance", "d1"}}).Register(registry);
  family.Add({{"tier", "gpu"}}).Set(1);
  family.Add({{"a", "z"}}).Set(2);
  EXPECT_EQ(SerializeText(registry),
            "# HELP g h\n"
            "# TYPE g gauge\n"
            "g{a=\"z\",instance=\"d1\"} 2\n"
            "g{instance=\"d1\",tier=\"gpu\"} 1\n");
}

TEST(MetricsExposition, HistogramWithoutLabelsAndWithoutBounds) {
  Registry registry;
  auto& family = BuildHistogram().Name("h_seconds").Help("h").Register(registry);
  Histogram& h = family.Add({}, BucketBoundaries{});
  h.Observe(7);
  EXPECT_EQ(SerializeText(registry),
            "# HELP h_seconds h\n"
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"+Inf\"} 1\n"
            "h_seconds_sum 7\n"
            "h_seconds_count 1\n");
}

TEST(MetricsExposition, BucketsAreCumulative) {
  Registry registry;
  auto& family = BuildHistogram().Name("sizes_bytes").Help("h").Register(registry);
  Histogram& h = family.Add({}, LinearBuckets(10, 10, 3));  // 10, 20, 30
  for (int v : {1, 5, 15, 25, 25, 100}) h.Observe(v);
  const HistogramSnapshot s = h.Snapshot();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);
  EXPECT_EQ(s.cumulative[1], 3u);
  EXPECT_EQ(s.cumulative[2], 5u);
  EXPECT_EQ(s.cumulative[3], 6u);
  EXPECT_EQ(s.count, 6u);
  EXPECT_EQ(s.sum, 171);
  const std::string text = SerializeText(registry);
  EXPECT_NE(text.find("sizes_bytes_bucket{le=\"20\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("sizes_bytes_bucket{le=\"+Inf\"} 6\n"), std::string::npos) << text;
}

TEST(MetricsExposition, FamiliesSortedByNameAndEmptyFamiliesOmitted) {
  Registry registry;
  BuildGauge().Name("zeta").Help("z").Register(registry).Add({}).Set(1);
  BuildGauge().Name("alpha").Help("a").Register(registry).Add({}).Set(2);
  BuildGauge().Name("empty").Help("no children yet").Register(registry);
  BuildGauge().Name("no_help").Register(registry).Add({}).Set(3);
  EXPECT_EQ(SerializeText(registry),
            "# HELP alpha a\n"
            "# TYPE alpha gauge\n"
            "alpha 2\n"
            "# TYPE no_help gauge\n"
            "no_help 3\n"
            "# HELP zeta z\n"
            "# TYPE zeta gauge\n"
            "zeta 1\n");
}

TEST(MetricsExposition, SpecialValuesSpelledAsPrometheus) {
  Registry registry;
  auto& family = BuildGauge().Name("g").Help("h").Register(registry);
  family.Add({{"v", "a"}}).Set(std::numeric_limits<double>::quiet_NaN());
  family.Add({{"v", "b"}}).Set(std::numeric_limits<double>::infinity());
  family.Add({{"v", "c"}}).Set(-std::numeric_limits<double>::infinity());
  EXPECT_EQ(SerializeText(registry),
            "# HELP g h\n"
            "# TYPE g gauge\n"
            "g{v=\"a\"} NaN\n"
            "g{v=\"b\"} +Inf\n"
            "g{v=\"c\"} -Inf\n");
}

TEST(MetricsExposition, FormatValueMatchesGoClient) {
  // Expected strings are what strconv.FormatFloat(v, 'g', -1, 64) gives.
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-0.0), "-0");
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(-2.5), "-2.5");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(0.00001), "1e-05");
  EXPECT_EQ(FormatValue(1.5e-7), "1.5e-07");
  EXPECT_EQ(FormatValue(100), "100");
  EXPECT_EQ(FormatValue(123456), "123456");
  EXPECT_EQ(FormatValue(999999), "999999");
  EXPECT_EQ(FormatValue(1e6), "1e+06");
  EXPECT_EQ(FormatValue(1234567), "1.234567e+06");
  EXPECT_EQ(FormatValue(1.71234567e9), "1.71234567e+09");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(1e100), "1e+100");
  EXPECT_EQ(FormatValue(-3e-300), "-3e-300");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(MetricsExposition, FormatValueRoundTrips) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> bits;
  int checked = 0;
  for (int i = 0; i < 20000; ++i) {
    double v;
    const uint64_t b = bits(rng);
    static_assert(sizeof(v) == sizeof(b));
    std::memcpy(&v, &b, sizeof(v));
    if (!std::isfinite(v)) continue;
    const std::string s = FormatValue(v);
    ASSERT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
    ++checked;
  }
  for (double v : {5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1.0 / 3}) {
    const std::string s = FormatValue(v);
    ASSERT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
    ++checked;
  }
  EXPECT_GT(checked, 19000);
}

}  // namespace
}  // namespace djinn::metrics
