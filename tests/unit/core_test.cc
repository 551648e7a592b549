// The core API on the CPU backend: one snapshot feeds both Stats and the
// engine-derived /metrics series, a model's series exist exactly while it
// is listed, and a GenerateCall accounts for its request however it ends.
#include "daemon/core/core.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/server/proto_convert.h"
#include "tests/unit/support/test_model_dir.h"

namespace djinn {
namespace {

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::ProcessTempDir("core_root");
    testing::WriteTestModelOrFail("tiny", 1, root_ / "tiny");
    CoreOptions options;
    options.model_root = root_.string();
    options.memory_budget = "256MiB";
    absl::StatusOr<std::unique_ptr<Core>> core = Core::Create(options, std::make_unique<CpuBackend>(2));
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
  }

  // Runs a request to its end and finishes the call as a front-end would.
  GenerationUsage Generate(const std::string& model) {
    GenerationRequest request;
    request.prompt_ids = {1, 2, 3};
    request.max_tokens = 3;
    absl::StatusOr<std::unique_ptr<GenerateCall>> call = core_->Generate(model, request);
    EXPECT_TRUE(call.ok()) << call.status();
    if (!call.ok()) return {};
    GenerationEvent event;
    while ((*call)->Next(&event, absl::InfiniteDuration())) {
      EXPECT_TRUE(event.error.ok()) << event.error;
      (*call)->Delivered(event, absl::Now());
      if (event.finish != FinishReason::kNone) break;
    }
    (*call)->Finish(RequestOutcome::kCompleted);
    return event.usage;
  }

  // Every series of the snapshot's families, as "name{k=v,...}" -> value.
  static std::map<std::string, double> Series(const std::vector<prometheus::MetricFamily>& families) {
    std::map<std::string, double> out;
    for (const prometheus::MetricFamily& family : families) {
      for (const prometheus::ClientMetric& metric : family.metric) {
        std::string key = family.name + "{";
        for (const auto& label : metric.label) key += label.name + "=" + label.value + ",";
        key += "}";
        out[key] = family.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value;
      }
    }
    return out;
  }

  std::filesystem::path root_;
  std::unique_ptr<Core> core_;
};

TEST_F(CoreTest, StatsAndMetricsComeFromOneSnapshot) {
  ASSERT_TRUE(core_->LoadModel("tiny", "tiny", LoadSettings{}).ok());
  const GenerationUsage usage = Generate("tiny");
  EXPECT_EQ(usage.completion_tokens, 3u);

  const CoreSnapshot snapshot = core_->Snapshot();
  const v1::StatsResponse stats = ToProto(snapshot);
  SnapshotMetrics metrics([] { return CoreSnapshot{}; });
  const std::map<std::string, double> series = Series(metrics.Families(snapshot));

  EXPECT_EQ(stats.memory().budget_bytes(), 256ull << 20);
  EXPECT_EQ(series.at("djinn_memory_budget_bytes{}"), static_cast<double>(stats.memory().budget_bytes()));
  EXPECT_EQ(series.at("djinn_memory_bytes{category=free,}"), static_cast<double>(stats.memory().free_bytes()));
  EXPECT_EQ(series.at("djinn_memory_bytes{category=resident_weights,}"),
            static_cast<double>(stats.memory().resident_weight_bytes()));
  EXPECT_EQ(series.at("djinn_models_loaded{}"), 1);
  ASSERT_EQ(stats.models_size(), 1);
  EXPECT_EQ(series.at("djinn_model_weight_bytes{model=tiny,placement=resident,}"),
            static_cast<double>(stats.models(0).resident_bytes()));
  EXPECT_EQ(series.at("djinn_model_layers{model=tiny,placement=resident,}"), stats.models(0).resident_layers());
  EXPECT_EQ(stats.requests().generate_started(), 1u);
  EXPECT_EQ(stats.requests().generate_completed(), 1u);
  EXPECT_EQ(stats.requests().generated_tokens_total(), 3u);
  EXPECT_EQ(series.at("djinn_build_info{version=" + snapshot.version + ",}"), 1);
}

TEST_F(CoreTest, AModelsSeriesExistExactlyWhileItIsListed) {
  SnapshotMetrics metrics([this] { return core_->Snapshot(); });
  EXPECT_EQ(Series(metrics.Collect()).count("djinn_running_sequences{model=tiny,}"), 0u);
  ASSERT_TRUE(core_->LoadModel("tiny", "tiny", LoadSettings{}).ok());
  Generate("tiny");
  std::map<std::string, double> loaded = Series(metrics.Collect());
  EXPECT_EQ(loaded.count("djinn_running_sequences{model=tiny,}"), 1u);
  EXPECT_EQ(loaded.count("djinn_ring_stalls_total{model=tiny,waiting=copy,}"), 1u);
  ASSERT_TRUE(core_->UnloadModel("tiny").ok());
  for (const auto& [name, value] : Series(metrics.Collect())) {
    EXPECT_EQ(name.find("model=tiny"), std::string::npos) << name << " outlived its model";
  }
}

TEST_F(CoreTest, ACallDroppedWithoutFinishCountsAsCancelled) {
  ASSERT_TRUE(core_->LoadModel("tiny", "tiny", LoadSettings{}).ok());
  GenerationRequest request;
  request.prompt_ids = {1, 2};
  request.max_tokens = 2;
  {
    absl::StatusOr<std::unique_ptr<GenerateCall>> call = core_->Generate("tiny", request);
    ASSERT_TRUE(call.ok()) << call.status();
  }
  const CoreSnapshot snapshot = core_->Snapshot();
  EXPECT_EQ(snapshot.requests.started, 1u);
  EXPECT_EQ(snapshot.requests.cancelled, 1u);
  EXPECT_EQ(snapshot.requests.completed, 0u);
}

TEST_F(CoreTest, RefusalsAreStatusesNotCalls) {
  EXPECT_EQ(core_->Generate("nope", GenerationRequest{}).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(core_->LoadModel("tiny", "tiny", LoadSettings{}).ok());
  GenerationRequest empty;  // no prompt at all
  EXPECT_EQ(core_->Generate("tiny", empty).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(core_->Snapshot().requests.started, 0u);
  EXPECT_EQ(core_->LoadModel("tiny", "tiny", LoadSettings{}).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(CoreCreateTest, BadOptionsAreInvalidArgument) {
  CoreOptions options;
  options.model_root = "/nonexistent/models";
  EXPECT_EQ(Core::Create(options, std::make_unique<CpuBackend>(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.model_root = ::testing::TempDir();
  options.memory_budget = "lots";
  EXPECT_EQ(Core::Create(options, std::make_unique<CpuBackend>(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace djinn
