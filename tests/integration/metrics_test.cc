// /metrics of a real djinnd (CPU backend) as a product surface: every series
// is there before any traffic, docs/metrics.md lists exactly what a scrape
// holds, the inter-token latency sees every gap of a stream, the queue and
// batch gauges follow the runner, and an unloaded model leaves no gauges.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/prometheus_text.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

using ::testing::Optional;

// Name -> type of every row of docs/metrics.md's metric tables (tables whose
// first header cell is "metric"; the name is the first cell, in backticks).
std::map<std::string, std::string> DocumentedMetrics() {
  std::ifstream in(std::string(DJINN_SOURCE_DIR) + "/docs/metrics.md");
  std::map<std::string, std::string> documented;
  bool in_metric_table = false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("|", 0) != 0) {
      in_metric_table = false;
      continue;
    }
    std::vector<std::string> cells = absl::StrSplit(line, '|');
    if (cells.size() < 4) continue;
    for (std::string& cell : cells) cell = std::string(absl::StripAsciiWhitespace(cell));
    if (cells[1] == "metric") {
      in_metric_table = true;
      continue;
    }
    absl::string_view name = cells[1];
    if (!in_metric_table || !absl::ConsumePrefix(&name, "`") || !absl::ConsumeSuffix(&name, "`")) continue;
    documented[std::string(name)] = cells[2];
  }
  return documented;
}

std::unique_ptr<DaemonProcess> StartDaemon(std::vector<std::string> extra = {}) {
  std::vector<std::string> flags = {"--model-root=" + ModelRoot(), "--vram-budget=512MiB"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  auto daemon = DaemonProcess::Start(flags);
  EXPECT_TRUE(daemon.ok()) << daemon.status();
  return daemon.ok() ? *std::move(daemon) : nullptr;
}

std::string Series(const std::string& name, const std::string& model) {
  return name + "{model=\"" + model + "\"}";
}

// Calls Stats until `done` holds for it (or 30 s pass); returns the last one.
template <typename Done>
v1::StatsResponse StatsWhen(v1::Djinn::Stub& stub, Done done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  v1::StatsResponse stats = Stats(stub);
  while (!done(stats) && absl::Now() < deadline) stats = Stats(stub);
  return stats;
}

TEST(MetricsTest, EverySeriesIsThereBeforeAnyTraffic) {
  TestModel("tiny");
  auto daemon = StartDaemon();
  ASSERT_NE(daemon, nullptr);
  // No model yet: the daemon-wide series.
  const std::string empty = ScrapeMetrics(daemon->metrics_port());
  ASSERT_NE(empty, "");
  EXPECT_THAT(SampleValue(empty, "djinn_models_loaded"), Optional(0.0));
  EXPECT_THAT(SampleValue(empty, R"(djinn_model_loads_total{outcome="ok"})"), Optional(0.0));
  EXPECT_THAT(SampleValue(empty, R"(djinn_model_loads_total{outcome="failed"})"), Optional(0.0));
  EXPECT_THAT(SampleValue(empty, R"(djinn_memory_bytes{category="free"})"), Optional(512.0 * 1024 * 1024));
  EXPECT_GT(SampleValue(empty, "djinn_start_time_seconds").value_or(0), 1.7e9);  // a Unix time of this decade
  EXPECT_GT(SampleValue(empty, R"(djinn_device_memory_total_bytes{device="cpu"})").value_or(0), 0);
  EXPECT_EQ(SampleValue(empty, Series("djinn_running_sequences", "tiny")), std::nullopt);

  auto stub = Connect(daemon->address());
  EXPECT_THAT(SampleValue(empty, "djinn_build_info{version=\"" + Stats(*stub).version() + "\"}"), Optional(1.0));

  // Once a model is loaded: its series, at zero, with no request made.
  ASSERT_TRUE(Load(*stub, "tiny", "tiny").status.ok());
  const std::string loaded = ScrapeMetrics(daemon->metrics_port());
  for (const char* outcome : {"completed", "cancelled", "failed", "rejected"}) {
    EXPECT_THAT(SampleValue(loaded, std::string(R"(djinn_generate_requests_total{model="tiny",outcome=")") + outcome +
                                        "\"}"),
                Optional(0.0))
        << outcome;
  }
  for (const char* name : {"djinn_generate_requests_in_flight", "djinn_generate_requests_queued",
                           "djinn_running_sequences", "djinn_prompt_tokens_total", "djinn_generated_tokens_total",
                           "djinn_time_to_first_token_seconds_count", "djinn_request_duration_seconds_count",
                           "djinn_queue_duration_seconds_count", "djinn_time_per_output_token_seconds_count",
                           "djinn_inter_token_latency_seconds_count", "djinn_ring_buffer_used_bytes",
                           "djinn_ring_buffer_capacity_bytes", "djinn_h2d_bytes_total"}) {
    EXPECT_THAT(SampleValue(loaded, Series(name, "tiny")), Optional(0.0)) << name;
  }
  EXPECT_THAT(SampleValue(loaded, R"(djinn_model_loads_total{outcome="ok"})"), Optional(1.0));
  const v1::StatsResponse stats = Stats(*stub);
  ASSERT_EQ(stats.models_size(), 1);
  EXPECT_THAT(SampleValue(loaded, R"(djinn_model_layers{model="tiny",placement="resident"})"),
              Optional(static_cast<double>(stats.models(0).resident_layers())));
}

TEST(MetricsTest, DocsListEveryMetricTheDaemonExportsAndNothingElse) {
  TestModel("tiny");
  // A loaded model and no traffic: the per-model series are there at zero.
  auto daemon = StartDaemon({"--model=tiny=tiny"});
  ASSERT_NE(daemon, nullptr);
  const std::map<std::string, std::string> scraped = MetricTypes(ScrapeMetrics(daemon->metrics_port()));
  const std::map<std::string, std::string> documented = DocumentedMetrics();
  ASSERT_GT(documented.size(), 30u) << "docs/metrics.md's tables did not parse";
  ASSERT_GT(scraped.size(), 30u);
  for (const auto& [name, type] : scraped) {
    auto doc = documented.find(name);
    if (doc == documented.end()) {
      ADD_FAILURE() << name << " is exported but not in docs/metrics.md";
    } else {
      EXPECT_EQ(doc->second, type) << name << ": docs/metrics.md gives another type";
    }
  }
  for (const auto& [name, type] : documented) {
    EXPECT_TRUE(scraped.count(name)) << name << " is in docs/metrics.md but not in a scrape";
  }
}

TEST(MetricsTest, InterTokenLatencySeesEveryGapOfAStream) {
  TestModel("tiny");
  auto daemon = StartDaemon({"--model=tiny=tiny"});
  ASSERT_NE(daemon, nullptr);
  auto stub = Connect(daemon->address());
  const GenerateResult result = Generate(*stub, GreedyRequest("tiny", "one request", 12));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  const uint32_t tokens = result.last().usage().completion_tokens();
  ASSERT_EQ(tokens, 12u);

  const std::string body = ScrapeMetrics(daemon->metrics_port());
  const std::string itl = "djinn_inter_token_latency_seconds";
  EXPECT_THAT(SampleValue(body, Series(itl + "_count", "tiny")), Optional(tokens - 1.0));
  EXPECT_THAT(SampleValue(body, R"(djinn_inter_token_latency_seconds_bucket{model="tiny",le="+Inf"})"),
              Optional(tokens - 1.0));
  EXPECT_GT(SampleValue(body, Series(itl + "_sum", "tiny")).value_or(0), 0);
  // The gaps add up to the stream's length after its first token: less than
  // the whole request (slack for the handler's writes after the engine's clock stopped).
  EXPECT_LT(SampleValue(body, Series(itl + "_sum", "tiny")).value_or(1e9),
            SampleValue(body, Series("djinn_request_duration_seconds_sum", "tiny")).value_or(0) + 0.5);
  // The per-token buckets: 1 ms .. 5 s.
  EXPECT_TRUE(SampleValue(body, R"(djinn_inter_token_latency_seconds_bucket{model="tiny",le="0.001"})"));
  EXPECT_TRUE(SampleValue(body, R"(djinn_inter_token_latency_seconds_bucket{model="tiny",le="5"})"));
  EXPECT_THAT(SampleValue(body, Series("djinn_time_per_output_token_seconds_count", "tiny")), Optional(1.0));
  EXPECT_THAT(SampleValue(body, Series("djinn_generated_tokens_total", "tiny")), Optional(tokens * 1.0));
}

TEST(MetricsTest, QueueAndBatchGaugesFollowTheRunner) {
  LongContextTestModel();
  auto daemon = StartDaemon();
  ASSERT_NE(daemon, nullptr);
  auto stub = Connect(daemon->address());
  v1::LoadOptions one_at_a_time;
  one_at_a_time.set_max_sequences(1);
  ASSERT_TRUE(Load(*stub, "long", "long", one_at_a_time).status.ok());

  // One long generation runs; a second waits for its KV-cache slot.
  grpc::ClientContext running_context, queued_context;
  auto running = stub->Generate(&running_context, GreedyRequest("long", "a long story", 16000));
  v1::GenerateResponse message;
  ASSERT_TRUE(running->Read(&message));
  auto queued = stub->Generate(&queued_context, GreedyRequest("long", "another long story", 16000));
  const v1::StatsResponse waiting =
      StatsWhen(*stub, [](const v1::StatsResponse& s) { return s.requests().generate_queued() == 1; });
  ASSERT_EQ(waiting.requests().generate_queued(), 1u);
  const std::string busy = ScrapeMetrics(daemon->metrics_port());
  EXPECT_THAT(SampleValue(busy, Series("djinn_generate_requests_queued", "long")), Optional(1.0));
  EXPECT_THAT(SampleValue(busy, Series("djinn_running_sequences", "long")), Optional(1.0));
  EXPECT_THAT(SampleValue(busy, Series("djinn_generate_requests_in_flight", "long")), Optional(2.0));

  running_context.TryCancel();
  queued_context.TryCancel();
  while (running->Read(&message)) {
  }
  while (queued->Read(&message)) {
  }
  EXPECT_EQ(running->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(queued->Finish().error_code(), grpc::StatusCode::CANCELLED);
  const v1::StatsResponse idle = StatsWhen(*stub, [](const v1::StatsResponse& s) {
    return s.requests().generate_queued() == 0 && s.requests().generate_active() == 0;
  });
  ASSERT_EQ(idle.requests().generate_queued() + idle.requests().generate_active(), 0u);
  const std::string after = ScrapeMetrics(daemon->metrics_port());
  EXPECT_THAT(SampleValue(after, Series("djinn_generate_requests_queued", "long")), Optional(0.0));
  EXPECT_THAT(SampleValue(after, Series("djinn_running_sequences", "long")), Optional(0.0));
}

TEST(MetricsTest, AnUnloadedModelLeavesNoGaugesBehind) {
  TestModel("tiny");
  auto daemon = StartDaemon({"--model=tiny=tiny"});
  ASSERT_NE(daemon, nullptr);
  auto stub = Connect(daemon->address());
  ASSERT_TRUE(Generate(*stub, GreedyRequest("tiny", "before unload", 3)).status.ok());
  EXPECT_TRUE(SampleValue(ScrapeMetrics(daemon->metrics_port()), Series("djinn_running_sequences", "tiny")));
  ASSERT_TRUE(Unload(*stub, "tiny").ok());

  const std::string body = ScrapeMetrics(daemon->metrics_port());
  for (const char* name : {"djinn_running_sequences", "djinn_generate_requests_queued",
                           "djinn_ring_buffer_capacity_bytes", "djinn_ring_buffer_used_bytes",
                           "djinn_h2d_bytes_total"}) {
    EXPECT_EQ(SampleValue(body, Series(name, "tiny")), std::nullopt) << name;
  }
  EXPECT_EQ(SampleValue(body, R"(djinn_model_layers{model="tiny",placement="resident"})"), std::nullopt);
  // What the model served is history and stays.
  EXPECT_THAT(SampleValue(body, R"(djinn_generate_requests_total{model="tiny",outcome="completed"})"), Optional(1.0));
  EXPECT_THAT(SampleValue(body, "djinn_models_loaded"), Optional(0.0));
  // A model loaded again under the name starts its series afresh.
  ASSERT_TRUE(Load(*stub, "tiny", "tiny").status.ok());
  EXPECT_THAT(SampleValue(ScrapeMetrics(daemon->metrics_port()), Series("djinn_running_sequences", "tiny")),
              Optional(0.0));
}

}  // namespace
}  // namespace djinn::testing
