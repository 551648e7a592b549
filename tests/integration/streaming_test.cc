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
  // Every layer keeps its host copy (resident ones, to give way to other models).
  EXPECT_EQ(model.host_copy_bytes(), model.layers(0).bytes() * model.layers_size());
  EXPECT_EQ(streamed.stats.memory().host_pinned_bytes(), model.host_copy_bytes());
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
  // Passes ran: every slot of the ring holds a layer block.
  EXPECT_THAT(metrics, HasSubstr("djinn_ring_buffer_used_bytes{model=\"deep\"} " +
                                 std::to_string(model.ring_buffer_bytes()) + "\n"));
  EXPECT_THAT(metrics, HasSubstr("djinn_ring_buffer_utilization_ratio{model=\"deep\"} 1\n"));
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
// Budget bytes one tiny-deep takes, loaded alone.
uint64_t OneModelBytes() {
  auto probe = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=256MiB"});
  EXPECT_TRUE(probe.ok()) << probe.status();
  if (!probe.ok()) return 0;
  auto stub = Connect((*probe)->address());
  EXPECT_TRUE(Load(*stub, "x", "tiny-deep").status.ok());
  const v1::MemorySplit m = Stats(*stub).memory();
  return m.budget_bytes() - m.free_bytes();
}

std::vector<uint64_t> Split(v1::Djinn::Stub& stub) {
  const v1::MemorySplit m = Stats(stub).memory();
  return {m.resident_weight_bytes(), m.ring_buffer_bytes(), m.kv_cache_bytes(), m.workspace_bytes(),
          m.free_bytes(),            m.host_pinned_bytes()};
}

// Two models in one budget with room for one and a half: the layers of the
// idle one give way to the one that loads, and come back when it unloads.
// Loading and unloading them in any order brings every split back to what
// it was at that set of models, and an empty daemon back to all free.
TEST(StreamingTest, TwoModelsLoadedAndUnloadedInAnyOrderLeaveTheSplitAsItWas) {
  TestModel("tiny-deep");
  const uint64_t one_model = OneModelBytes();
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
  const v1::ModelStats& x = stats.models(0);
  EXPECT_EQ(x.name(), "x");
  EXPECT_GT(x.residency_evictions(), 0u);  // x was idle: its layers made room for y
  EXPECT_GT(x.streamed_layers(), 0u);
  EXPECT_GT(both[1], 0u);  // x's ring
  EXPECT_EQ(both[5], 2 * x_alone[5]);  // every layer of both keeps its host copy

  ASSERT_TRUE(Unload(*stub, "y").ok());
  EXPECT_EQ(Split(*stub), x_alone);  // x took its layers back
  EXPECT_EQ(Stats(*stub).models(0).streamed_layers(), 0u);
  ASSERT_TRUE(Load(*stub, "y", "tiny-deep").status.ok());
  // As it was, but for where the layers landed: the evicted blocks may sit
  // elsewhere, so a layer more or less of x may be resident.
  const std::vector<uint64_t> again = Split(*stub);
  EXPECT_EQ(again[2], both[2]);  // KV caches
  EXPECT_EQ(again[3], both[3]);  // workspaces
  EXPECT_EQ(again[5], both[5]);  // host copies
  EXPECT_EQ(again[0] + again[1] + again[4], both[0] + both[1] + both[4]);
  ASSERT_TRUE(Unload(*stub, "x").ok());  // the other order: the first one goes first
  const std::vector<uint64_t> y_alone = Split(*stub);
  // The same model: y holds every layer as x did alone (its KV cache is
  // what fitted beside x when it loaded).
  EXPECT_EQ(y_alone[0], x_alone[0]);
  EXPECT_EQ(y_alone[1], 0u);
  EXPECT_GT(y_alone[4], both[4]);
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

// The same two models, requests alternating between them: each request's
// model takes the room back from the other (promotions and evictions, in
// Stats and /metrics), and every text is what a daemon holding the whole
// model generates.
TEST(StreamingTest, RequestsAlternatingBetweenTwoModelsMoveTheirLayers) {
  TestModel("tiny-deep");
  const std::string prompt = "Once upon a time";
  const Served reference = Serve(256ull << 20);
  const uint64_t one_model = OneModelBytes();
  auto daemon = DaemonProcess::Start({"--model-root=" + ModelRoot(),
                                      "--vram-budget=" + std::to_string(one_model + one_model / 2)});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = Connect((*daemon)->address());
  ASSERT_TRUE(Load(*stub, "x", "tiny-deep").status.ok());
  ASSERT_TRUE(Load(*stub, "y", "tiny-deep").status.ok());
  v1::StatsResponse before = Stats(*stub);
  for (int turn = 0; turn < 4; ++turn) {
    const std::string model = turn % 2 == 0 ? "x" : "y";
    SCOPED_TRACE(model);
    const GenerateResult generated = Generate(*stub, GreedyRequest(model, prompt, kTokens));
    ASSERT_TRUE(generated.status.ok()) << generated.status.error_message();
    EXPECT_EQ(generated.text, reference.text);
    const v1::StatsResponse stats = Stats(*stub);
    ASSERT_EQ(stats.models_size(), 2);
    const v1::ModelStats& served = stats.models(turn % 2);
    const v1::ModelStats& other = stats.models(1 - turn % 2);
    // The model that served took layers back; the other, idle, gave them.
    EXPECT_GT(served.residency_promotions(), before.models(turn % 2).residency_promotions());
    EXPECT_GT(other.residency_evictions(), before.models(1 - turn % 2).residency_evictions());
    EXPECT_LT(served.streamed_layers(), other.streamed_layers());
    EXPECT_EQ(served.residency_promoted_bytes(), served.residency_promotions() * served.layers(0).bytes());
    before = stats;
  }
  const std::string metrics = HttpGet((*daemon)->metrics_port(), "/metrics");
  for (const char* model : {"x", "y"}) {
    EXPECT_THAT(metrics, HasSubstr(absl::StrCat("djinn_residency_promotions_total{model=\"", model, "\"}")));
    EXPECT_THAT(metrics, HasSubstr(absl::StrCat("djinn_residency_evictions_total{model=\"", model, "\"}")));
  }
}

}  // namespace
}  // namespace djinn::testing
