// What a ModelRunner computes for a prompt, for tests that compare two
// runners (or one runner before and after a change) output for output.
// Failures are reported to the running test; the result is then empty or
// cut short.
#ifndef DJINN_TESTS_UNIT_SUPPORT_RUNNER_OUTPUT_H_
#define DJINN_TESTS_UNIT_SUPPORT_RUNNER_OUTPUT_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/engine/model_runner.h"
#include "gtest/gtest.h"

namespace djinn::testing {

// Every position's logits of `prompt`, from ScoreTokens.
inline std::vector<float> ScoredLogits(ModelRunner& runner, const std::vector<int32_t>& prompt) {
  absl::StatusOr<std::vector<float>> logits = runner.ScoreTokens(prompt);
  EXPECT_TRUE(logits.ok()) << logits.status();
  return logits.value_or(std::vector<float>{});
}

// `tokens` greedy tokens after `prompt` (EOS ignored), through the runner's
// queue and batched passes.
inline std::vector<int32_t> GreedyTokens(ModelRunner& runner, const std::vector<int32_t>& prompt, uint32_t tokens) {
  GenerationRequest request;
  request.prompt_ids = prompt;
  request.max_tokens = tokens;
  request.ignore_eos = true;
  absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner.Submit(request);
  EXPECT_TRUE(stream.ok()) << stream.status();
  std::vector<int32_t> out;
  if (!stream.ok()) return out;
  for (;;) {
    GenerationEvent event;
    if (!(*stream)->Next(&event, absl::Seconds(30))) {
      ADD_FAILURE() << "no event";
      return out;
    }
    EXPECT_TRUE(event.error.ok()) << event.error;
    out.insert(out.end(), event.token_ids.begin(), event.token_ids.end());
    if (event.finish != FinishReason::kNone || !event.error.ok()) return out;
  }
}

}  // namespace djinn::testing

#endif  // DJINN_TESTS_UNIT_SUPPORT_RUNNER_OUTPUT_H_
