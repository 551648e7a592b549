// Prometheus' own linter accepts what SerializeText writes: every metric
// type, labels needing escapes, special values.
#include <sys/wait.h>

#include <unistd.h>

#include <cstdio>
#include <limits>
#include <string>

#include "common/metrics/builder.h"
#include "common/metrics/registry.h"
#include "common/metrics/text_serializer.h"
#include "gtest/gtest.h"

namespace djinn::metrics {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `promtool check metrics` with `text` on stdin. The text goes through
// a temporary file so that one pipe carries the output and no deadlock is
// possible between writing stdin and reading stdout.
ProcessResult PromtoolCheckMetrics(const std::string& text) {
  ProcessResult result;
  char path[] = "/tmp/djinn_metrics_promtool_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return result;
  FILE* f = fdopen(fd, "w");
  fwrite(text.data(), 1, text.size(), f);
  fclose(f);
  const std::string command =
      std::string(kPromtool) + " check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe != nullptr) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
    const int status = pclose(pipe);
    if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  }
  unlink(path);
  return result;
}

std::string ExampleExposition() {
  Registry registry;
  auto& requests = BuildCounter()
                       .Name("djinn_requests_total")
                       .Help("Requests served, by model and outcome.")
                       .Register(registry);
  requests.Add({{"model", "llama-7b"}, {"code", "ok"}}).Increment(41);
  requests.Add({{"model", "weird \"name\"\\with\nnewline"}, {"code", "error"}}).Increment();

  auto& bytes = BuildGauge()
                    .Name("djinn_memory_bytes")
                    .Help("Bytes resident per tier.\nSee docs\\memory.")
                    .Labels({{"instance", "djinnd-0"}})
                    .Register(registry);
  bytes.Add({{"tier", "gpu"}}).Set(7.5e9);
  bytes.Add({{"tier", "host"}}).Set(123456789);
  bytes.Add({{"tier", "nan"}}).Set(std::numeric_limits<double>::quiet_NaN());
  bytes.Add({{"tier", "inf"}}).Set(std::numeric_limits<double>::infinity());
  bytes.Add({{"tier", "neg_inf"}}).Set(-std::numeric_limits<double>::infinity());

  auto& latency = BuildHistogram()
                      .Name("djinn_request_duration_seconds")
                      .Help("End-to-end request latency.")
                      .Register(registry);
  Histogram& h = latency.Add({{"model", "llama-7b"}}, ExponentialBuckets(0.005, 2, 10));
  for (double v : {0.001, 0.01, 0.02, 0.5, 1.0, 3.0, 100.0}) h.Observe(v);
  latency.Add({{"model", "idle"}}, ExponentialBuckets(0.005, 2, 10));  // all zero

  BuildGauge().Name("djinn_up").Help("Always 1.").Register(registry).Add({}).Set(1);
  return SerializeText(registry);
}

TEST(MetricsPromtool, CheckMetricsAcceptsOurOutput) {
  ASSERT_EQ(access(kPromtool, X_OK), 0)
      << kPromtool << " is missing; scripts/install-deps.sh installs it (package prometheus)";
  const std::string text = ExampleExposition();
  const ProcessResult result = PromtoolCheckMetrics(text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- input ---\n" << text;
  EXPECT_EQ(result.output, "") << "--- input ---\n" << text;
}

// The checker must be able to fail, or the test above proves nothing.
TEST(MetricsPromtool, CheckMetricsRejectsBrokenOutput) {
  ASSERT_EQ(access(kPromtool, X_OK), 0) << kPromtool << " is missing";
  const ProcessResult lint = PromtoolCheckMetrics("# TYPE requests counter\nrequests 1\n");
  EXPECT_NE(lint.exit_code, 0);
  EXPECT_NE(lint.output, "");
  const ProcessResult syntax = PromtoolCheckMetrics("# TYPE x gauge\nx{a=\"unterminated} 1\n");
  EXPECT_NE(syntax.exit_code, 0);
}

}  // namespace
}  // namespace djinn::metrics
