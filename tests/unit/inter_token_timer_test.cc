// InterTokenTimer: one observation per gap between consecutive tokens of a
// stream, whatever messages carry them.
#include "daemon/core/inter_token_timer.h"

#include <gtest/gtest.h>

#include "prometheus/histogram.h"

namespace djinn {
namespace {

prometheus::Histogram::BucketBoundaries Buckets() { return {0.001, 0.01, 0.1, 1}; }

struct Observed {
  uint64_t count;
  double sum;
};

Observed Read(const prometheus::Histogram& histogram) {
  const prometheus::ClientMetric metric = histogram.Collect();
  return {metric.histogram.sample_count, metric.histogram.sample_sum};
}

TEST(InterTokenTimerTest, ObservesTheGapsBetweenOneTokenMessages) {
  prometheus::Histogram histogram(Buckets());
  InterTokenTimer timer(&histogram);
  const absl::Time start = absl::UnixEpoch() + absl::Seconds(100);
  timer.Written(1, start);  // the first token: nothing to measure from
  EXPECT_EQ(Read(histogram).count, 0u);
  timer.Written(1, start + absl::Milliseconds(5));
  timer.Written(1, start + absl::Milliseconds(55));
  const Observed snapshot = Read(histogram);
  EXPECT_EQ(snapshot.count, 2u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.055);
}

TEST(InterTokenTimerTest, TokensOfOneMessageArriveTogether) {
  prometheus::Histogram histogram(Buckets());
  InterTokenTimer timer(&histogram);
  const absl::Time start = absl::UnixEpoch();
  timer.Written(3, start);                           // 2 gaps of 0 inside the message
  timer.Written(2, start + absl::Milliseconds(20));  // one gap of 20 ms, then one of 0
  const Observed snapshot = Read(histogram);
  EXPECT_EQ(snapshot.count, 4u);  // 5 tokens, 4 gaps
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.020);
}

TEST(InterTokenTimerTest, MessagesWithoutTokensMoveNothing) {
  prometheus::Histogram histogram(Buckets());
  InterTokenTimer timer(&histogram);
  const absl::Time start = absl::UnixEpoch();
  timer.Written(1, start);
  timer.Written(0, start + absl::Seconds(3));  // e.g. a last message that only ends the stream
  timer.Written(1, start + absl::Milliseconds(40));
  const Observed snapshot = Read(histogram);
  EXPECT_EQ(snapshot.count, 1u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.040);
}

}  // namespace
}  // namespace djinn
