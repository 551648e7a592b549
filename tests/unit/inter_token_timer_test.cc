// InterTokenTimer: one observation per gap between consecutive tokens of a
// stream, whatever messages carry them.
#include "daemon/server/inter_token_timer.h"

#include <gtest/gtest.h>

#include "common/metrics/histogram.h"

namespace djinn {
namespace {

metrics::BucketBoundaries Buckets() { return {0.001, 0.01, 0.1, 1}; }

TEST(InterTokenTimerTest, ObservesTheGapsBetweenOneTokenMessages) {
  metrics::Histogram histogram(Buckets());
  InterTokenTimer timer(&histogram);
  const absl::Time start = absl::UnixEpoch() + absl::Seconds(100);
  timer.Written(1, start);  // the first token: nothing to measure from
  EXPECT_EQ(histogram.Snapshot().count, 0u);
  timer.Written(1, start + absl::Milliseconds(5));
  timer.Written(1, start + absl::Milliseconds(55));
  const metrics::HistogramSnapshot snapshot = histogram.Snapshot();
  EXPECT_EQ(snapshot.count, 2u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.055);
}

TEST(InterTokenTimerTest, TokensOfOneMessageArriveTogether) {
  metrics::Histogram histogram(Buckets());
  InterTokenTimer timer(&histogram);
  const absl::Time start = absl::UnixEpoch();
  timer.Written(3, start);                           // 2 gaps of 0 inside the message
  timer.Written(2, start + absl::Milliseconds(20));  // one gap of 20 ms, then one of 0
  const metrics::HistogramSnapshot snapshot = histogram.Snapshot();
  EXPECT_EQ(snapshot.count, 4u);  // 5 tokens, 4 gaps
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.020);
}

TEST(InterTokenTimerTest, MessagesWithoutTokensMoveNothing) {
  metrics::Histogram histogram(Buckets());
  InterTokenTimer timer(&histogram);
  const absl::Time start = absl::UnixEpoch();
  timer.Written(1, start);
  timer.Written(0, start + absl::Seconds(3));  // e.g. a last message that only ends the stream
  timer.Written(1, start + absl::Milliseconds(40));
  const metrics::HistogramSnapshot snapshot = histogram.Snapshot();
  EXPECT_EQ(snapshot.count, 1u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.040);
}

}  // namespace
}  // namespace djinn
