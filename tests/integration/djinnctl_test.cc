// djinnctl, run as a user runs it, against a real djinnd on loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/shared_daemon_test.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class DjinnctlTest : public SharedDaemonTest<DjinnctlTest> {
 protected:
  static void SetUpTestSuite() {
    TestModel("tiny");
    StartDaemon({"--model-root=" + ModelRoot(), "--vram-budget=256MiB"});
  }

  static CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {DJINNCTL_PATH, "--addr=" + daemon_->address()});
    return RunCommand(args);
  }
};

TEST_F(DjinnctlTest, LoadListGenerateStatsUnload) {
  const CommandResult load = Ctl({"load", "cli", "tiny"});
  ASSERT_EQ(load.exit_code, 0) << load.err;
  EXPECT_THAT(load.out, HasSubstr("cli"));
  EXPECT_THAT(load.out, HasSubstr("LlamaForCausalLM"));
  EXPECT_EQ(load.err, "");  // no progress bar when stderr is not a terminal

  const CommandResult list = Ctl({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("cli"));

  // generate prints exactly the generated text on stdout (plus a newline),
  // the same text the API streams for the same request.
  const CommandResult generate =
      Ctl({"generate", "cli", "Once upon a time", "--max-tokens", "24", "--ignore-eos", "--seed", "3", "--priority", "5"});
  ASSERT_EQ(generate.exit_code, 0) << generate.err;
  auto stub = Connect(daemon_->address());
  v1::GenerateRequest request = GreedyRequest("cli", "Once upon a time", 24);
  request.set_seed(3);
  const GenerateResult api = Generate(*stub, request);
  ASSERT_TRUE(api.status.ok());
  EXPECT_EQ(generate.out, api.text + "\n");
  EXPECT_THAT(generate.err, HasSubstr("completion 24 tokens"));
  EXPECT_THAT(generate.err, HasSubstr("finish length"));

  const CommandResult stats = Ctl({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const nlohmann::json json = nlohmann::json::parse(stats.out);
  EXPECT_EQ(json["device"]["kind"], "cpu");
  EXPECT_EQ(json["models"][0]["name"], "cli");
  EXPECT_EQ(std::stoull(json["memory"]["budgetBytes"].get<std::string>()), 256ull << 20);
  EXPECT_GE(std::stoull(json["requests"]["generateCompleted"].get<std::string>()), 2u);
  const CommandResult table = Ctl({"stats"});
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.out, HasSubstr("resident weights"));

  const CommandResult unload = Ctl({"unload", "cli"});
  EXPECT_EQ(unload.exit_code, 0) << unload.err;
  EXPECT_THAT(Ctl({"list"}).out, ::testing::Not(HasSubstr("cli")));
}

TEST_F(DjinnctlTest, HealthReportsServing) {
  const CommandResult health = Ctl({"health"});
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_THAT(health.out, HasSubstr("SERVING"));
}

TEST_F(DjinnctlTest, ErrorsPrintTheStatusCodeAndExitNonZero) {
  const CommandResult missing = Ctl({"load", "m", "no-such-dir"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND"));
  const CommandResult outside = Ctl({"load", "m", "/"});
  EXPECT_EQ(outside.exit_code, 1);
  EXPECT_THAT(outside.err, HasSubstr("PERMISSION_DENIED"));
  const CommandResult unknown = Ctl({"generate", "nobody", "hi"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND"));
  const CommandResult usage = Ctl({"frobnicate"});
  EXPECT_EQ(usage.exit_code, 2);
  // A daemon that is not there.
  const CommandResult down = RunCommand({DJINNCTL_PATH, "--addr=127.0.0.1:1", "stats"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_THAT(down.err, HasSubstr("UNAVAILABLE"));
}

TEST_F(DjinnctlTest, MakeTestModelWritesWhatTheDaemonLoads) {
  const std::string dir = (fs::path(ModelRoot()) / "from-cli").string();
  const CommandResult make =
      RunCommand({DJINNCTL_PATH, "make-test-model", "--preset", "tiny-gqa", "--seed", "5", "--out", dir});
  ASSERT_EQ(make.exit_code, 0) << make.err;
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.model"}) {
    EXPECT_TRUE(fs::exists(fs::path(dir) / file)) << file;
  }
  const CommandResult load = Ctl({"load", "from-cli", "from-cli"});
  EXPECT_EQ(load.exit_code, 0) << load.err;
  EXPECT_EQ(Ctl({"generate", "from-cli", "hello", "--max-tokens", "4"}).exit_code, 0);
  EXPECT_EQ(Ctl({"unload", "from-cli"}).exit_code, 0);
}

}  // namespace
}  // namespace djinn::testing
