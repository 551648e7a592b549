// Weight streaming through a real djinnd (CPU backend): under a budget too
// small for every layer, the daemon streams the last layers through the ring
// buffer, says so in Stats, /metrics and `djinnctl plan`, and generates the
// same text as a daemon that holds every layer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kTokens = 24;

struct Served {
  std::string text;
  std::vector<uint32_t> ids;
  v1::StatsResponse stats;
};

// Starts a daemon with `budget` bytes, loads tiny-deep, generates greedily.
Served Serve(uint64_t budget, std::unique_ptr<DaemonProcess>* keep = nullptr) {
  Served served;
  auto daemon = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=" + std::to_string(budget)});
  EXPECT_TRUE(daemon.ok()) << daemon.status();
  if (!daemon.ok()) return served;
  auto stub = Connect((*daemon)->address());
  const LoadResult load = Load(*stub, "deep", "tiny-deep");
  EXPECT_TRUE(load.status.ok()) << load.status.error_message();
  const GenerateResult generated = Generate(*stub, GreedyRequest("deep", "Once upon a time", kTokens));
  EXPECT_TRUE(generated.status.ok()) << generated.status.error_message();
  served.text = generated.text;
  served.ids = generated.token_ids;
  served.stats = Stats(*stub);
  if (keep != nullptr) *keep = *std::move(daemon);
  return served;
}

TEST(StreamingTest, AStreamingDaemonGeneratesWhatAResidentOneDoes) {
  TestModel("tiny-deep");
  // Fully resident: how much of the budget the model takes, and the text.
  const Served resident = Serve(256ull << 20);
  ASSERT_EQ(resident.stats.models_size(), 1);
  const v1::ModelStats& whole = resident.stats.models(0);
  ASSERT_EQ(whole.streamed_layers(), 0u);
  ASSERT_EQ(resident.ids.size(), kTokens);
  const uint64_t used = resident.stats.memory().budget_bytes() - resident.stats.memory().free_bytes();
  // Short of about seven layers' weights: some layers must stream.
  const uint64_t per_layer = whole.weight_bytes() / (whole.resident_layers() + 2);  // an underestimate
  const uint64_t budget = used - 7 * per_layer;

  std::unique_ptr<DaemonProcess> daemon;
  const Served streamed = Serve(budget, &daemon);
  ASSERT_NE(daemon, nullptr);
  ASSERT_EQ(streamed.stats.models_size(), 1);
  const v1::ModelStats& model = streamed.stats.models(0);
  EXPECT_GT(model.streamed_layers(), 0u);
  EXPECT_EQ(model.resident_layers() + model.streamed_layers(), whole.resident_layers());
  EXPECT_GT(model.ring_buffer_bytes(), 0u);
  EXPECT_EQ(streamed.stats.memory().ring_buffer_bytes(), model.ring_buffer_bytes());
  EXPECT_EQ(streamed.stats.memory().host_pinned_bytes(), model.streamed_bytes());
  EXPECT_EQ(model.streamed_bytes_per_pass(), model.streamed_bytes());
  // Every pass copied the streamed layers: the prompt's and one per token after the first.
  EXPECT_GE(streamed.stats.pcie().h2d_bytes_total(), kTokens * model.streamed_bytes_per_pass());
  EXPECT_EQ(streamed.stats.pcie().h2d_bytes_total() % model.streamed_bytes_per_pass(), 0u);
  EXPECT_GT(streamed.stats.pcie().achieved_gb_per_second(), 0.0);
  EXPECT_GT(streamed.stats.pcie().h2d_copy_seconds_total(), 0.0);
  // The model's own figures are the daemon's (one model).
  EXPECT_EQ(model.h2d_bytes_total(), streamed.stats.pcie().h2d_bytes_total());
  EXPECT_DOUBLE_EQ(model.h2d_gb_per_second(), streamed.stats.pcie().achieved_gb_per_second());
  EXPECT_EQ(model.ring_compute_stalls(), streamed.stats.ring_buffer().compute_stalls());
  EXPECT_EQ(model.ring_copy_stalls(), streamed.stats.ring_buffer().copy_stalls());
  EXPECT_GE(model.ring_compute_stall_seconds(), 0.0);
  EXPECT_GE(model.ring_copy_stall_seconds(), 0.0);
  // A stall is a wait for one block: at most one per streamed block and pass.
  const uint64_t blocks = streamed.stats.pcie().h2d_bytes_total() / model.streamed_bytes_per_pass() *
                          model.streamed_layers();
  EXPECT_LE(model.ring_compute_stalls(), blocks);
  EXPECT_LE(model.ring_copy_stalls(), blocks);

  EXPECT_EQ(streamed.ids, resident.ids);
  EXPECT_EQ(streamed.text, resident.text);

  // The plan, as djinnctl prints it.
  const CommandResult plan = RunCommand({DJINNCTL_PATH, "--addr=" + daemon->address(), "plan", "deep"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_THAT(plan.out, HasSubstr("streamed from host memory"));
  EXPECT_THAT(plan.out, HasSubstr("ring buffer"));
  EXPECT_THAT(plan.out, HasSubstr(std::to_string(model.streamed_layers()) + " streamed"));
  // The residency map: layers in order, the resident ones first, streamed
  // ones taking the ring's slots in turn.
  ASSERT_EQ(model.layers_size(), static_cast<int>(whole.resident_layers()));
  for (int l = 0; l < model.layers_size(); ++l) {
    const v1::LayerResidency& layer = model.layers(l);
    EXPECT_EQ(layer.layer(), static_cast<uint32_t>(l));
    EXPECT_EQ(layer.resident(), l < static_cast<int>(model.resident_layers()));
    EXPECT_EQ(layer.bytes(), model.streamed_bytes() / model.streamed_layers());
    const int streamed_index = l - static_cast<int>(model.resident_layers());
    EXPECT_EQ(layer.ring_slot(), layer.resident() ? -1 : streamed_index % static_cast<int>(model.ring_buffer_slots()));
  }
  const int last = model.layers_size() - 1;
  EXPECT_THAT(plan.out, HasSubstr("layer 0  resident"));
  EXPECT_THAT(plan.out, HasSubstr(absl::StrCat("layer ", last, "  streamed")));
  EXPECT_THAT(plan.out, HasSubstr(absl::StrCat("copied into ring slot ", model.layers(last).ring_slot(), " every pass")));
  const CommandResult missing = RunCommand({DJINNCTL_PATH, "--addr=" + daemon->address(), "plan", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND"));

  // And /metrics.
  const std::string metrics = HttpGet(daemon->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("djinn_ring_buffer_capacity_bytes{model=\"deep\"} " +
                                 std::to_string(model.ring_buffer_bytes())));
  EXPECT_THAT(metrics, HasSubstr("djinn_h2d_bytes_total{model=\"deep\"} "));
  EXPECT_THAT(metrics, HasSubstr("djinn_streamed_bytes_per_pass{model=\"deep\"} "));
  EXPECT_THAT(metrics, HasSubstr("djinn_h2d_copy_seconds_total{model=\"deep\"} "));
  // Where the model's weights live.
  EXPECT_THAT(metrics, HasSubstr("djinn_model_layers{model=\"deep\",placement=\"resident\"} " +
                                 std::to_string(model.resident_layers())));
  EXPECT_THAT(metrics, HasSubstr("djinn_model_layers{model=\"deep\",placement=\"streamed\"} " +
                                 std::to_string(model.streamed_layers())));
  EXPECT_THAT(metrics, HasSubstr("djinn_model_weight_bytes{model=\"deep\",placement=\"resident\"} "));
  EXPECT_THAT(metrics, HasSubstr("djinn_model_weight_bytes{model=\"deep\",placement=\"streamed\"} "));
  EXPECT_THAT(metrics, HasSubstr("djinn_h2d_achieved_bytes_per_second{model=\"deep\"} "));
  for (const char* waiting : {"compute", "copy"}) {
    for (const char* name : {"djinn_ring_stalls_total", "djinn_ring_stall_seconds_total"}) {
      EXPECT_THAT(metrics, HasSubstr(std::string(name) + "{model=\"deep\",waiting=\"" + waiting + "\"} "));
    }
  }
}

// The memory split, as Stats reports it: every category of the budget and
// the pinned host memory of streamed layers.
std::vector<uint64_t> Split(v1::Djinn::Stub& stub) {
  const v1::MemorySplit m = Stats(stub).memory();
  return {m.resident_weight_bytes(), m.ring_buffer_bytes(), m.kv_cache_bytes(), m.workspace_bytes(),
          m.free_bytes(),            m.host_pinned_bytes()};
}

grpc::Status Unload(v1::Djinn::Stub& stub, const std::string& name) {
  grpc::ClientContext context;
  v1::UnloadModelRequest request;
  request.set_name(name);
  v1::UnloadModelResponse response;
  return stub.UnloadModel(&context, request, &response);
}

// Two models in one budget, the second streaming because the first took the
// room: loading and unloading them in any order brings every split back to
// what it was at that set of models, and an empty daemon back to all free.
TEST(StreamingTest, TwoModelsLoadedAndUnloadedInAnyOrderLeaveTheSplitAsItWas) {
  TestModel("tiny-deep");
  uint64_t one_model = 0;
  {
    auto probe = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=256MiB"});
    ASSERT_TRUE(probe.ok()) << probe.status();
    auto stub = Connect((*probe)->address());
    ASSERT_TRUE(Load(*stub, "x", "tiny-deep").status.ok());
    const v1::MemorySplit m = Stats(*stub).memory();
    one_model = m.budget_bytes() - m.free_bytes();
  }
  // Room for one model and half of another: the second streams.
  auto daemon = DaemonProcess::Start({"--model-root=" + ModelRoot(),
                                      "--vram-budget=" + std::to_string(one_model + one_model / 2)});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = Connect((*daemon)->address());
  const std::vector<uint64_t> empty = Split(*stub);
  ASSERT_TRUE(Load(*stub, "x", "tiny-deep").status.ok());
  const std::vector<uint64_t> x_alone = Split(*stub);
  ASSERT_TRUE(Load(*stub, "y", "tiny-deep").status.ok());
  const std::vector<uint64_t> both = Split(*stub);
  const v1::StatsResponse stats = Stats(*stub);
  ASSERT_EQ(stats.models_size(), 2);
  EXPECT_EQ(stats.models(0).streamed_layers(), 0u);
  EXPECT_GT(stats.models(1).streamed_layers(), 0u);
  EXPECT_GT(both[5], 0u);  // y's streamed layers in pinned host memory

  ASSERT_TRUE(Unload(*stub, "y").ok());
  EXPECT_EQ(Split(*stub), x_alone);
  ASSERT_TRUE(Load(*stub, "y", "tiny-deep").status.ok());
  EXPECT_EQ(Split(*stub), both);
  ASSERT_TRUE(Unload(*stub, "x").ok());  // the other order: the first one goes first
  const std::vector<uint64_t> y_alone = Split(*stub);
  EXPECT_GT(y_alone[4], x_alone[4]);  // x's room is free again
  ASSERT_TRUE(Load(*stub, "x", "tiny-deep").status.ok());
  ASSERT_TRUE(Unload(*stub, "x").ok());
  EXPECT_EQ(Split(*stub), y_alone);
  ASSERT_TRUE(Unload(*stub, "y").ok());
  EXPECT_EQ(Split(*stub), empty);
  EXPECT_EQ(empty[4], Stats(*stub).memory().budget_bytes());
  // And the daemon still serves: a model loads and generates.
  ASSERT_TRUE(Load(*stub, "z", "tiny-deep").status.ok());
  EXPECT_TRUE(Generate(*stub, GreedyRequest("z", "Once", 4)).status.ok());
}

}  // namespace
}  // namespace djinn::testing
