// Generation against a real djinnd on loopback: streaming, usage, sampling
// parameters, stop conditions, validation, concurrency and cancellation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "absl/time/clock.h"
#include "common/tokenizer.h"
#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/shared_daemon_test.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

using ::testing::HasSubstr;

class GenerateTest : public SharedDaemonTest<GenerateTest> {
 protected:
  static void SetUpTestSuite() {
    TestModel("tiny");
    TestModel("tiny-gqa");
    LongContextTestModel();
    StartDaemon({"--model-root=" + ModelRoot(), "--vram-budget=512MiB", "--model=tiny=tiny", "--model", "gqa=tiny-gqa",
                 "--model=long=long"});
  }

  // Polls Stats until no sequence holds a KV-cache slot, or fails after 10 s.
  void ExpectKvCacheReleased() {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    v1::StatsResponse stats;
    do {
      stats = Stats(*stub_);
      uint32_t active = 0;
      for (const auto& model : stats.models()) active += model.kv_sequences_active();
      if (active == 0 && stats.memory().kv_cache_used_bytes() == 0) return;
    } while (absl::Now() < deadline);
    ADD_FAILURE() << "KV cache still held: " << stats.DebugString();
  }
};

TEST_F(GenerateTest, StreamsTokensTextAndUsage) {
  const GenerateResult result = Generate(*stub_, GreedyRequest("tiny", "The quick brown fox", 16));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.token_ids.size(), 16u);
  EXPECT_GE(result.messages.size(), 2u);  // streamed, not one blob
  for (size_t i = 0; i + 1 < result.messages.size(); ++i) {
    EXPECT_EQ(result.messages[i].finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
    EXPECT_FALSE(result.messages[i].has_usage());
  }
  const v1::GenerateResponse last = result.last();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  auto tokenizer = Tokenizer::Load(TestModel("tiny"));
  ASSERT_TRUE(tokenizer.ok());
  const std::vector<int32_t> prompt = (*tokenizer)->Encode("The quick brown fox");
  EXPECT_EQ(last.usage().prompt_tokens(), prompt.size() + 1);  // + BOS
  EXPECT_EQ(last.usage().completion_tokens(), 16u);
  EXPECT_GT(last.usage().time_to_first_token_seconds(), 0);
  EXPECT_GE(last.usage().total_seconds(), last.usage().time_to_first_token_seconds());
  // The streamed text is the generated ids' text, continuing the prompt.
  std::vector<int32_t> all = {1};
  all.insert(all.end(), prompt.begin(), prompt.end());
  const std::string prompt_text = (*tokenizer)->Decode(all);
  all.insert(all.end(), result.token_ids.begin(), result.token_ids.end());
  EXPECT_EQ(prompt_text + result.text, (*tokenizer)->Decode(all));
}

TEST_F(GenerateTest, TokenIdPromptsAreUsedVerbatim) {
  auto tokenizer = Tokenizer::Load(TestModel("tiny"));
  v1::GenerateRequest by_ids = GreedyRequest("tiny", "", 12);
  by_ids.mutable_token_ids()->add_ids(1);
  for (int32_t id : (*tokenizer)->Encode("hello world")) by_ids.mutable_token_ids()->add_ids(id);
  const GenerateResult a = Generate(*stub_, by_ids);
  const GenerateResult b = Generate(*stub_, GreedyRequest("tiny", "hello world", 12));
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.token_ids, b.token_ids);
  EXPECT_EQ(a.last().usage().prompt_tokens(), b.last().usage().prompt_tokens());
}

TEST_F(GenerateTest, GreedyIsDeterministicAndSeedsReproduce) {
  const auto greedy1 = Generate(*stub_, GreedyRequest("gqa", "Once upon a time", 32));
  const auto greedy2 = Generate(*stub_, GreedyRequest("gqa", "Once upon a time", 32));
  ASSERT_TRUE(greedy1.status.ok() && greedy2.status.ok());
  EXPECT_EQ(greedy1.token_ids, greedy2.token_ids);

  auto sampled = [&](uint64_t seed) {
    v1::GenerateRequest request = GreedyRequest("gqa", "Once upon a time", 32);
    request.set_temperature(1.5f);
    request.set_top_k(50);
    request.set_top_p(0.95f);
    request.set_seed(seed);
    const GenerateResult result = Generate(*stub_, request);
    EXPECT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_EQ(result.last().usage().seed(), seed);
    return result.token_ids;
  };
  const auto a = sampled(7), b = sampled(7), c = sampled(8), d = sampled(9);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(a != c || a != d) << "different seeds gave identical samples";
  EXPECT_NE(a, greedy1.token_ids);

  // Without a seed the daemon picks one and reports it; replaying it reproduces.
  v1::GenerateRequest unseeded = GreedyRequest("gqa", "Once upon a time", 16);
  unseeded.set_temperature(1.0f);
  const GenerateResult first = Generate(*stub_, unseeded);
  ASSERT_TRUE(first.status.ok());
  unseeded.set_seed(first.last().usage().seed());
  EXPECT_EQ(Generate(*stub_, unseeded).token_ids, first.token_ids);
}

TEST_F(GenerateTest, StopTokenEndsTheStreamAfterIt) {
  const auto full = Generate(*stub_, GreedyRequest("tiny", "stop tokens", 20));
  ASSERT_TRUE(full.status.ok());
  const uint32_t stop = full.token_ids[5];
  const size_t first = std::find(full.token_ids.begin(), full.token_ids.end(), stop) - full.token_ids.begin();
  v1::GenerateRequest request = GreedyRequest("tiny", "stop tokens", 20);
  request.add_stop_token_ids(stop);
  const auto stopped = Generate(*stub_, request);
  ASSERT_TRUE(stopped.status.ok());
  EXPECT_EQ(stopped.last().finish_reason(), v1::FINISH_REASON_STOP);
  ASSERT_EQ(stopped.token_ids.size(), first + 1);
  EXPECT_EQ(stopped.token_ids.back(), stop);
  EXPECT_EQ(stopped.last().usage().completion_tokens(), first + 1);
}

TEST_F(GenerateTest, StopStringCutsTheTextBeforeIt) {
  const auto full = Generate(*stub_, GreedyRequest("tiny", "stop strings", 40));
  ASSERT_TRUE(full.status.ok());
  ASSERT_GE(full.text.size(), 12u) << full.text;
  // A stop string from the middle of the text the model will produce.
  const std::string stop = full.text.substr(full.text.size() / 2, 3);
  const size_t cut = full.text.find(stop);
  v1::GenerateRequest request = GreedyRequest("tiny", "stop strings", 40);
  request.add_stop(stop);
  const auto stopped = Generate(*stub_, request);
  ASSERT_TRUE(stopped.status.ok());
  EXPECT_EQ(stopped.last().finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(stopped.text, full.text.substr(0, cut));
  EXPECT_LT(stopped.token_ids.size(), full.token_ids.size());
}

TEST_F(GenerateTest, InvalidRequestsAreRefusedClearly) {
  auto code = [&](const v1::GenerateRequest& request) { return Generate(*stub_, request).status; };
  // Prompt + max_tokens beyond the context (256 for tiny).
  grpc::Status too_long = code(GreedyRequest("tiny", "x", 300));
  EXPECT_EQ(too_long.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_long.error_message(), HasSubstr("context length"));
  v1::GenerateRequest long_prompt = GreedyRequest("tiny", "", 1);
  for (int i = 0; i < 300; ++i) long_prompt.mutable_token_ids()->add_ids(5);
  EXPECT_EQ(code(long_prompt).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GenerateRequest bad_id = GreedyRequest("tiny", "", 1);
  bad_id.mutable_token_ids()->add_ids(100000);
  EXPECT_THAT(code(bad_id).error_message(), HasSubstr("vocabulary"));
  v1::GenerateRequest empty;
  empty.set_model("tiny");
  EXPECT_EQ(code(empty).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GenerateRequest bad_sampling = GreedyRequest("tiny", "x", 2);
  bad_sampling.set_temperature(-1);
  EXPECT_EQ(code(bad_sampling).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // And the daemon serves the next request normally.
  EXPECT_TRUE(code(GreedyRequest("tiny", "fine", 4)).ok());
}

TEST_F(GenerateTest, ConcurrentRequestsMatchSingleRuns) {
  const std::vector<std::string> prompts = {"alpha", "bravo charlie", "delta echo foxtrot", "golf", "hotel india",
                                            "juliet", "kilo lima", "mike november oscar", "papa", "quebec romeo",
                                            "sierra", "tango uniform"};
  std::vector<std::vector<uint32_t>> expected;
  for (const std::string& p : prompts) expected.push_back(Generate(*stub_, GreedyRequest("gqa", p, 24)).token_ids);
  // More concurrent requests than KV slots (8): some queue, all complete.
  std::vector<GenerateResult> results(prompts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] {
      auto stub = Connect(daemon_->address());
      results[i] = Generate(*stub, GreedyRequest("gqa", prompts[i], 24));
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(results[i].status.ok()) << results[i].status.error_message();
    EXPECT_EQ(results[i].token_ids, expected[i]) << prompts[i];
  }
  ExpectKvCacheReleased();
}

TEST_F(GenerateTest, CancelledStreamFreesItsKvCache) {
  const uint64_t cancelled_before = Stats(*stub_).requests().generate_cancelled();
  grpc::ClientContext context;
  // 16000 tokens take far longer than the round trip of the cancellation.
  auto reader = stub_->Generate(&context, GreedyRequest("long", "a long story", 16000));
  v1::GenerateResponse first;
  ASSERT_TRUE(reader->Read(&first));
  context.TryCancel();
  v1::GenerateResponse rest;
  while (reader->Read(&rest)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ExpectKvCacheReleased();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Stats(*stub_).requests().generate_cancelled() == cancelled_before && absl::Now() < deadline) {
  }
  EXPECT_EQ(Stats(*stub_).requests().generate_cancelled(), cancelled_before + 1);
}

TEST_F(GenerateTest, ClientThatVanishesFreesItsKvCache) {
  // A djinnctl process streaming a long generation, killed mid-stream.
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    const std::string addr = "--addr=" + daemon_->address();
    ::execl(DJINNCTL_PATH, DJINNCTL_PATH, addr.c_str(), "generate", "long", "a very long story", "--max-tokens=16000",
            "--ignore-eos", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  char byte;
  ASSERT_EQ(::read(out[0], &byte, 1), 1);  // text is streaming
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ::close(out[0]);
  ExpectKvCacheReleased();
  EXPECT_TRUE(Generate(*stub_, GreedyRequest("gqa", "next", 4)).status.ok());
}

}  // namespace
}  // namespace djinn::testing
