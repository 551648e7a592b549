// Log-probabilities over real gRPC, against a real djinnd on loopback: each
// streamed message carries one entry per token id, equal to log_softmax of
// the logits the same model computes in this process (ModelRunner::
// ScoreTokens on a CPU backend, log_softmax in double here); the top
// alternatives in order; nothing when not asked; INVALID_ARGUMENT naming the
// field for top_logprobs above 20 or without logprobs; djinnctl --logprobs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/engine/model_loader.h"
#include "daemon/engine/model_runner.h"
#include "daemon/memory/arena.h"
#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/shared_daemon_test.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

using ::testing::HasSubstr;

constexpr double kTolerance = 1e-4;

class GenerateLogprobsTest : public SharedDaemonTest<GenerateLogprobsTest> {
 protected:
  static void SetUpTestSuite() {
    TestModel("tiny-gqa");
    StartDaemon({"--model-root=" + ModelRoot(), "--vram-budget=256MiB", "--model=gqa=tiny-gqa"});
  }
};

// The same model, loaded in this process on the CPU backend: every
// position's log_softmax of `tokens`, in double.
std::vector<std::vector<double>> ReferenceLogSoftmax(const std::vector<int32_t>& tokens) {
  CpuBackend backend(2);
  const uint64_t bytes = 128ull << 20;
  absl::StatusOr<std::byte*> base = backend.ReserveArena(bytes);
  EXPECT_TRUE(base.ok()) << base.status();
  std::vector<std::vector<double>> out;
  {
    Arena arena(*base, bytes);
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded =
        LoadModel(TestModel("tiny-gqa"), LoadSettings{}, &backend, &arena);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    if (loaded.ok()) {
      ModelRunner runner(*std::move(loaded));
      const int64_t vocab = runner.weights().config.vocab_size;
      absl::StatusOr<std::vector<float>> logits = runner.ScoreTokens(tokens);
      EXPECT_TRUE(logits.ok()) << logits.status();
      for (size_t p = 0; logits.ok() && p < tokens.size(); ++p) {
        const float* row = logits->data() + p * vocab;
        const double max = *std::max_element(row, row + vocab);
        double sum = 0;
        for (int64_t i = 0; i < vocab; ++i) sum += std::exp(row[i] - max);
        std::vector<double> lp(vocab);
        for (int64_t i = 0; i < vocab; ++i) lp[i] = row[i] - max - std::log(sum);
        out.push_back(std::move(lp));
      }
    }
  }
  backend.ReleaseArena(*base, bytes);
  return out;
}

v1::GenerateRequest IdsRequest(const std::vector<int32_t>& prompt, uint32_t max_tokens) {
  v1::GenerateRequest request = GreedyRequest("gqa", "", max_tokens);
  for (int32_t id : prompt) request.mutable_token_ids()->add_ids(static_cast<uint32_t>(id));
  return request;
}

const std::vector<int32_t> kPrompt = {1, 87, 301, 44, 9, 250, 17, 499, 3, 120};

TEST_F(GenerateLogprobsTest, EveryTokenCarriesItsLogSoftmaxAndTheTopAlternatives) {
  v1::GenerateRequest request = IdsRequest(kPrompt, 16);
  request.set_temperature(1.3f);  // sampled: the chosen token need not be the top-1
  request.set_seed(5);
  request.set_logprobs(true);
  request.set_top_logprobs(7);
  const GenerateResult result = Generate(*stub_, request);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_EQ(result.token_ids.size(), 16u);
  std::vector<v1::GeneratedTokenLogprobs> logprobs;
  for (const v1::GenerateResponse& message : result.messages) {
    ASSERT_EQ(message.logprobs_size(), message.token_ids_size()) << message.DebugString();
    for (int i = 0; i < message.token_ids_size(); ++i) {
      EXPECT_EQ(message.logprobs(i).token_id(), message.token_ids(i));
      logprobs.push_back(message.logprobs(i));
    }
  }
  std::vector<int32_t> sequence = kPrompt;
  sequence.insert(sequence.end(), result.token_ids.begin(), result.token_ids.end() - 1);
  const std::vector<std::vector<double>> reference = ReferenceLogSoftmax(sequence);
  ASSERT_EQ(reference.size(), sequence.size());
  int outside_top = 0;
  for (size_t t = 0; t < logprobs.size(); ++t) {
    const std::vector<double>& ref = reference[kPrompt.size() - 1 + t];
    std::vector<double> sorted = ref;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    EXPECT_NEAR(logprobs[t].logprob(), ref[logprobs[t].token_id()], kTolerance) << "token " << t;
    ASSERT_EQ(logprobs[t].top_logprobs_size(), 7) << "token " << t;
    bool listed = false;
    for (int k = 0; k < 7; ++k) {
      const v1::TokenLogprob& top = logprobs[t].top_logprobs(k);
      ASSERT_LT(top.token_id(), ref.size());
      EXPECT_NEAR(top.logprob(), ref[top.token_id()], kTolerance) << "token " << t << " top " << k;
      EXPECT_NEAR(ref[top.token_id()], sorted[k], kTolerance) << "token " << t << " top " << k;
      listed |= top.token_id() == logprobs[t].token_id();
    }
    outside_top += !listed;
  }
  // The chosen token's logprob is reported whether or not it made the list.
  EXPECT_GT(outside_top, 0) << "every sampled token was in its top 7: the case is not covered";
}

TEST_F(GenerateLogprobsTest, GreedyChosenIsTheTopOneAndUnaskedRequestsGetNone) {
  v1::GenerateRequest request = IdsRequest(kPrompt, 12);
  request.set_logprobs(true);
  request.set_top_logprobs(20);
  const GenerateResult greedy = Generate(*stub_, request);
  ASSERT_TRUE(greedy.status.ok()) << greedy.status.error_message();
  int seen = 0;
  for (const v1::GenerateResponse& message : greedy.messages) {
    for (const v1::GeneratedTokenLogprobs& token : message.logprobs()) {
      ASSERT_EQ(token.top_logprobs_size(), 20);
      EXPECT_EQ(token.top_logprobs(0).token_id(), token.token_id());
      EXPECT_EQ(token.top_logprobs(0).logprob(), token.logprob());
      double total = 0;
      for (int k = 0; k < 20; ++k) {
        total += std::exp(token.top_logprobs(k).logprob());
        if (k > 0) EXPECT_GE(token.top_logprobs(k - 1).logprob(), token.top_logprobs(k).logprob());
      }
      EXPECT_LE(total, 1.0 + 1e-5);
      ++seen;
    }
  }
  EXPECT_EQ(seen, 12);

  // Chosen only, and none at all: the same tokens either way.
  request.set_top_logprobs(0);
  const GenerateResult chosen_only = Generate(*stub_, request);
  ASSERT_TRUE(chosen_only.status.ok());
  EXPECT_EQ(chosen_only.token_ids, greedy.token_ids);
  for (const v1::GenerateResponse& message : chosen_only.messages) {
    ASSERT_EQ(message.logprobs_size(), message.token_ids_size());
    for (const v1::GeneratedTokenLogprobs& token : message.logprobs()) EXPECT_EQ(token.top_logprobs_size(), 0);
  }
  const GenerateResult plain = Generate(*stub_, IdsRequest(kPrompt, 12));
  ASSERT_TRUE(plain.status.ok());
  EXPECT_EQ(plain.token_ids, greedy.token_ids);
  for (const v1::GenerateResponse& message : plain.messages) EXPECT_EQ(message.logprobs_size(), 0);
}

TEST_F(GenerateLogprobsTest, InvalidRequestsNameTheField) {
  v1::GenerateRequest too_many = IdsRequest(kPrompt, 4);
  too_many.set_logprobs(true);
  too_many.set_top_logprobs(21);
  GenerateResult result = Generate(*stub_, too_many);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("top_logprobs"));
  EXPECT_TRUE(result.messages.empty());

  v1::GenerateRequest without = IdsRequest(kPrompt, 4);
  without.set_top_logprobs(3);
  result = Generate(*stub_, without);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("logprobs"));
}

TEST_F(GenerateLogprobsTest, DjinnctlPrintsOneLinePerToken) {
  const CommandResult ctl =
      RunCommand({DJINNCTL_PATH, "--addr=" + daemon_->address(), "generate", "gqa", "--token-ids",
                  "1,87,301,44,9,250,17,499,3,120", "--max-tokens", "5", "--ignore-eos", "--logprobs", "3"});
  ASSERT_EQ(ctl.exit_code, 0) << ctl.err;
  v1::GenerateRequest request = IdsRequest(kPrompt, 5);
  request.set_logprobs(true);
  request.set_top_logprobs(3);
  const GenerateResult api = Generate(*stub_, request);
  ASSERT_TRUE(api.status.ok());
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(ctl.err, '\n')) {
    if (absl::StartsWith(line, "logprob ")) lines.emplace_back(line);
  }
  ASSERT_EQ(lines.size(), 5u) << ctl.err;
  std::vector<v1::GeneratedTokenLogprobs> tokens;
  for (const v1::GenerateResponse& message : api.messages) {
    tokens.insert(tokens.end(), message.logprobs().begin(), message.logprobs().end());
  }
  ASSERT_EQ(tokens.size(), 5u);
  for (size_t t = 0; t < 5; ++t) {
    const v1::GeneratedTokenLogprobs& token = tokens[t];
    EXPECT_THAT(lines[t], HasSubstr("id=" + std::to_string(token.token_id()) + " "));
    EXPECT_THAT(lines[t], HasSubstr(" | " + std::to_string(token.top_logprobs(0).token_id()) + " "));
    EXPECT_EQ(std::count(lines[t].begin(), lines[t].end(), ','), 2) << lines[t];
  }
}

}  // namespace
}  // namespace djinn::testing
