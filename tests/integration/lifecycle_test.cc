// Model lifecycle against a real djinnd on loopback: load with progress,
// list, unload, and every way a load can be refused, with the daemon still
// serving afterwards; Stats and Health answer while a load runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/model_config.h"
#include "common/safetensors.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestModel("tiny");
    auto daemon = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=256MiB"});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
    stub_ = Connect(daemon_->address());
  }

  // The daemon still loads and generates after whatever the test did.
  void ExpectStillServing() {
    const LoadResult load = Load(*stub_, "after", "tiny");
    ASSERT_TRUE(load.status.ok()) << load.status.error_message();
    const GenerateResult result = Generate(*stub_, GreedyRequest("after", "still here", 4));
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_EQ(result.token_ids.size(), 4u);
  }

  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<v1::Djinn::Stub> stub_;
};

uint64_t CountParameters(const std::string& dir) {
  auto model = SafetensorsModel::Open(dir);
  EXPECT_TRUE(model.ok());
  uint64_t n = 0;
  for (const auto& file : (*model)->files()) {
    for (const auto& [name, info] : file->tensors()) n += info.elements();
  }
  return n;
}

TEST_F(LifecycleTest, LoadStreamsProgressAndEndsWithTheDescription) {
  const LoadResult load = Load(*stub_, "tiny", "tiny");
  ASSERT_TRUE(load.status.ok()) << load.status.error_message();
  ASSERT_GE(load.progress.size(), 3u);
  // Phases never go backwards; bytes loaded never shrink and reach the total.
  for (size_t i = 1; i < load.progress.size(); ++i) {
    EXPECT_GE(load.progress[i].phase(), load.progress[i - 1].phase());
    if (load.progress[i].phase() == load.progress[i - 1].phase()) {
      EXPECT_GE(load.progress[i].bytes_loaded(), load.progress[i - 1].bytes_loaded());
    }
  }
  const v1::LoadModelProgress& last = load.progress.back();
  EXPECT_EQ(last.phase(), v1::LoadModelProgress::PHASE_READY);
  EXPECT_EQ(last.bytes_loaded(), last.bytes_total());
  EXPECT_GT(last.bytes_total(), 0u);

  const v1::ModelDescription& model = last.model();
  const ModelConfig config = *LoadModelConfig(TestModel("tiny"));
  EXPECT_EQ(model.name(), "tiny");
  EXPECT_EQ(model.path(), fs::canonical(TestModel("tiny")).string());
  EXPECT_EQ(model.architecture(), "LlamaForCausalLM");
  EXPECT_EQ(model.parameters(), CountParameters(TestModel("tiny")));
  EXPECT_EQ(model.dtype(), v1::DTYPE_FLOAT32);
  EXPECT_EQ(model.compute_dtype(), v1::DTYPE_FLOAT32);
  EXPECT_EQ(model.weight_bytes(), model.parameters() * 4);
  EXPECT_EQ(model.context_length(), config.max_position_embeddings);
  EXPECT_EQ(model.num_layers(), config.num_hidden_layers);
  EXPECT_EQ(model.vocab_size(), config.vocab_size);
  EXPECT_EQ(model.state(), v1::MODEL_STATE_READY);
  EXPECT_GE(model.max_sequences(), 1u);
}

TEST_F(LifecycleTest, ListAndUnloadReturnTheMemory) {
  const v1::StatsResponse before = Stats(*stub_);
  EXPECT_EQ(before.memory().free_bytes(), before.memory().budget_bytes());
  ASSERT_TRUE(Load(*stub_, "a", "tiny").status.ok());
  ASSERT_TRUE(Load(*stub_, "b", "tiny").status.ok());

  grpc::ClientContext list_context;
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(&list_context, v1::ListModelsRequest(), &list).ok());
  ASSERT_EQ(list.models_size(), 2);
  EXPECT_EQ(list.models(0).name(), "a");
  EXPECT_EQ(list.models(1).name(), "b");

  const v1::StatsResponse loaded = Stats(*stub_);
  const v1::MemorySplit& m = loaded.memory();
  EXPECT_EQ(m.resident_weight_bytes() + m.ring_buffer_bytes() + m.kv_cache_bytes() + m.workspace_bytes() +
                m.free_bytes(),
            m.budget_bytes());
  EXPECT_GE(m.resident_weight_bytes(), 2 * list.models(0).weight_bytes());
  EXPECT_GT(m.kv_cache_bytes(), 0u);
  ASSERT_EQ(loaded.models_size(), 2);
  EXPECT_EQ(loaded.models(0).resident_bytes(), list.models(0).weight_bytes());
  EXPECT_EQ(loaded.models(0).streamed_bytes(), 0u);

  for (const char* name : {"a", "b"}) {
    grpc::ClientContext context;
    v1::UnloadModelRequest request;
    request.set_name(name);
    v1::UnloadModelResponse response;
    ASSERT_TRUE(stub_->UnloadModel(&context, request, &response).ok());
  }
  const v1::StatsResponse after = Stats(*stub_);
  EXPECT_EQ(after.models_size(), 0);
  EXPECT_EQ(after.memory().free_bytes(), after.memory().budget_bytes());
  EXPECT_EQ(Generate(*stub_, GreedyRequest("a", "x", 1)).status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(LifecycleTest, MissingPathIsNotFound) {
  const LoadResult load = Load(*stub_, "m", "no-such-model");
  EXPECT_EQ(load.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(load.status.error_message(), HasSubstr("no-such-model"));
  ExpectStillServing();
}

TEST_F(LifecycleTest, PathsOutsideTheModelRootArePermissionDenied) {
  const std::string outside = fs::path(ModelRoot()).parent_path().string();
  EXPECT_EQ(Load(*stub_, "m", outside).status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Load(*stub_, "m", "../").status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Load(*stub_, "m", "tiny/../../etc").status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // A symlink inside the root that leads out of it.
  const fs::path link = fs::path(ModelRoot()) / "escape";
  fs::remove(link);
  fs::create_directory_symlink(fs::temp_directory_path(), link);
  const LoadResult via_link = Load(*stub_, "m", "escape");
  EXPECT_EQ(via_link.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(via_link.status.error_message(), HasSubstr("outside the model root"));
  ExpectStillServing();
}

TEST_F(LifecycleTest, TruncatedSafetensorsIsInvalidArgument) {
  const std::string dir = CopyOfTestModel("tiny", "truncated");
  const fs::path weights = fs::path(dir) / "model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) - 1000);
  const LoadResult load = Load(*stub_, "t", "truncated");
  EXPECT_EQ(load.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(load.status.error_message(), HasSubstr("truncated"));
  ExpectStillServing();
}

TEST_F(LifecycleTest, CorruptSafetensorsHeaderIsInvalidArgument) {
  const std::string dir = CopyOfTestModel("tiny", "corrupt");
  {
    std::fstream file(fs::path(dir) / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8);
    file.write("#garbage#", 9);  // the JSON header no longer parses
  }
  const LoadResult load = Load(*stub_, "c", "corrupt");
  EXPECT_EQ(load.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(load.status.error_message(), HasSubstr("header"));
  ExpectStillServing();
}

TEST_F(LifecycleTest, BadConfigIsInvalidArgument) {
  const std::string dir = CopyOfTestModel("tiny", "badconfig");
  std::ofstream(fs::path(dir) / "config.json") << "{ not json";
  const LoadResult load = Load(*stub_, "b", "badconfig");
  EXPECT_EQ(load.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(load.status.error_message(), HasSubstr("config.json"));
  ExpectStillServing();
}

TEST_F(LifecycleTest, UnsupportedArchitectureIsInvalidArgument) {
  const std::string dir = CopyOfTestModel("tiny", "gpt2");
  std::ofstream(fs::path(dir) / "config.json")
      << R"({"architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_layer": 2})";
  const LoadResult load = Load(*stub_, "g", "gpt2");
  EXPECT_EQ(load.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(load.status.error_message(), HasSubstr("GPT2LMHeadModel"));
  ExpectStillServing();
}

TEST_F(LifecycleTest, MissingTensorIsInvalidArgument) {
  // config.json claims a third layer the weights do not have.
  const std::string dir = CopyOfTestModel("tiny", "missing-layer");
  std::ifstream in(fs::path(dir) / "config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  in.close();
  config["num_hidden_layers"] = 3;
  std::ofstream(fs::path(dir) / "config.json") << config.dump(2);
  const LoadResult load = Load(*stub_, "l", "missing-layer");
  EXPECT_EQ(load.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(load.status.error_message(), HasSubstr("model.layers.2."));
  ExpectStillServing();
}

TEST_F(LifecycleTest, LoadingANameTwiceIsAlreadyExists) {
  ASSERT_TRUE(Load(*stub_, "twice", "tiny").status.ok());
  EXPECT_EQ(Load(*stub_, "twice", "tiny").status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Load(*stub_, "bad/name", "tiny").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ExpectStillServing();
}

TEST_F(LifecycleTest, UnknownModelIsNotFound) {
  EXPECT_EQ(Generate(*stub_, GreedyRequest("nobody", "hi", 2)).status.error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext context;
  v1::UnloadModelRequest request;
  request.set_name("nobody");
  v1::UnloadModelResponse response;
  EXPECT_EQ(stub_->UnloadModel(&context, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  ExpectStillServing();
}

TEST_F(LifecycleTest, ShardedAndHalfPrecisionModelsLoad) {
  const LoadResult sharded = Load(*stub_, "sharded", fs::path(TestModel("tiny-sharded")).filename().string());
  ASSERT_TRUE(sharded.status.ok()) << sharded.status.error_message();
  EXPECT_TRUE(fs::exists(fs::path(TestModel("tiny-sharded")) / "model.safetensors.index.json"));
  ASSERT_TRUE(Load(*stub_, "single", "tiny").status.ok());
  // Same weights, split differently: the same greedy tokens.
  const auto a = Generate(*stub_, GreedyRequest("sharded", "one two three", 24));
  const auto b = Generate(*stub_, GreedyRequest("single", "one two three", 24));
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.token_ids, b.token_ids);

  for (const auto& [dtype, expected] : {std::pair{"float16", v1::DTYPE_FLOAT16}, std::pair{"bfloat16", v1::DTYPE_BFLOAT16}}) {
    const std::string dir = TestModel("tiny", dtype);
    const LoadResult load = Load(*stub_, dtype, fs::path(dir).filename().string());
    ASSERT_TRUE(load.status.ok()) << load.status.error_message();
    EXPECT_EQ(load.progress.back().model().dtype(), expected);
    EXPECT_EQ(load.progress.back().model().compute_dtype(), v1::DTYPE_FLOAT32);
    EXPECT_TRUE(Generate(*stub_, GreedyRequest(dtype, "half", 8)).status.ok());
  }
}

class SmallBudgetTest : public ::testing::Test {};

TEST_F(SmallBudgetTest, AModelLargerThanTheBudgetIsResourceExhausted) {
  TestModel("tiny");
  auto daemon = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=64KiB"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = Connect((*daemon)->address());
  const LoadResult load = Load(*stub, "tiny", "tiny");
  EXPECT_EQ(load.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(load.status.error_message(), HasSubstr("budget"));
  const v1::StatsResponse stats = Stats(*stub);
  EXPECT_EQ(stats.memory().free_bytes(), stats.memory().budget_bytes());  // nothing leaked
}

// The daemon answers Stats and Health while a load runs (the registry does
// not hold its lock during LoadModel). small-deep-50 (367 MB of bfloat16,
// converted to float32 as it loads) takes hundreds of milliseconds to load on
// the CPU backend; after each progress message, Stats and Health come from
// another channel. The first progress message is sent from inside the load,
// after the registry lists the model as LOADING, so the Stats call after it
// sees LOADING unless the rest of the load (every weight) finishes within
// that one round trip.
TEST(LoadingTest, StatsAndHealthAnswerWhileALoadRuns) {
  TestModel("small-deep-50");
  auto daemon = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=1GiB"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto loader = Connect((*daemon)->address());
  auto channel = grpc::CreateChannel((*daemon)->address(), grpc::InsecureChannelCredentials());
  auto other = v1::Djinn::NewStub(channel);
  auto health = grpc::health::v1::Health::NewStub(channel);

  grpc::ClientContext load_context;
  v1::LoadModelRequest request;
  request.set_name("deep");
  request.set_path("small-deep-50");
  request.mutable_options()->set_max_context_length(256);
  request.mutable_options()->set_max_sequences(2);
  auto reader = loader->LoadModel(&load_context, request);
  v1::LoadModelProgress progress;
  int messages = 0, loading_seen = 0;
  while (reader->Read(&progress)) {
    ++messages;
    SCOPED_TRACE(::testing::Message() << "after progress message " << messages << " (phase "
                                      << v1::LoadModelProgress::Phase_Name(progress.phase()) << ")");
    grpc::ClientContext stats_context;
    v1::StatsResponse stats;
    const grpc::Status stats_status = other->Stats(&stats_context, v1::StatsRequest(), &stats);
    ASSERT_TRUE(stats_status.ok()) << stats_status.error_message();
    ASSERT_EQ(stats.models_size(), 1);
    EXPECT_EQ(stats.models(0).name(), "deep");
    if (stats.models(0).state() == v1::MODEL_STATE_LOADING) ++loading_seen;

    grpc::ClientContext health_context;
    grpc::health::v1::HealthCheckResponse serving;
    const grpc::Status health_status =
        health->Check(&health_context, grpc::health::v1::HealthCheckRequest(), &serving);
    ASSERT_TRUE(health_status.ok()) << health_status.error_message();
    EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  const grpc::Status loaded = reader->Finish();
  ASSERT_TRUE(loaded.ok()) << loaded.error_message();
  EXPECT_EQ(progress.phase(), v1::LoadModelProgress::PHASE_READY);
  EXPECT_GT(messages, 50 * 9);  // one per tensor at least
  EXPECT_GE(loading_seen, 1) << "no Stats response during the load showed the model LOADING";
  const v1::StatsResponse after = Stats(*other);
  ASSERT_EQ(after.models_size(), 1);
  EXPECT_EQ(after.models(0).state(), v1::MODEL_STATE_READY);
}

}  // namespace
}  // namespace djinn::testing
