// Log-probabilities of generated tokens through the engine (CPU backend, the
// random-weight test model): LlamaModel's PrefillBatch / Decode rows and
// ModelRunner's requests (greedy, sampled, batched with requests that do not
// ask, long prompts cut into chunks) report, for each generated token,
// log_softmax of the logits ScoreTokens computes at its position (in double,
// here), and the top alternatives in that distribution's order; passes
// where no row asks issue no TopLogprobs; and the request validation.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/engine/llama_model.h"
#include "daemon/engine/model_loader.h"
#include "daemon/engine/model_runner.h"
#include "gtest/gtest.h"
#include "tests/unit/support/arena_budget.h"
#include "tests/unit/support/pseudo_random_prompt.h"
#include "tests/unit/support/test_model_dir.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

// The engine's float32 logits against the same logits' double log_softmax:
// the logits agree to float rounding, so the logprobs to about this much.
constexpr double kTolerance = 1e-4;
const absl::Duration kEventTimeout = absl::Seconds(20);

struct Budget : testing::ArenaBudget<CpuBackend> {
  Budget() : ArenaBudget(64ull << 20, 2) {}
};

// The tiny test model (vocabulary 512, context 256), written once.
std::string TinyModel() {
  static const std::string* dir = [] {
    const fs::path path = testing::ProcessTempDir("logprobs_test");
    testing::WriteTestModelOrFail("tiny", /*seed=*/11, path);
    return new std::string(path.string());
  }();
  return *dir;
}

std::unique_ptr<LoadedWeights> MustLoad(Budget& budget) {
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded =
      LoadModel(TinyModel(), LoadSettings{}, &budget.backend, budget.arena.get());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? *std::move(loaded) : nullptr;
}

std::vector<int32_t> Prompt(size_t length, uint32_t seed) { return testing::PseudoRandomPrompt(length, seed); }

// log_softmax of one row of logits, in double.
std::vector<double> LogSoftmax(const float* logits, int64_t vocab) {
  const double max = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(logits[i] - max);
  std::vector<double> out(vocab);
  for (int64_t i = 0; i < vocab; ++i) out[i] = logits[i] - max - std::log(sum);
  return out;
}

// `token`'s reported log-probabilities against `reference` (the position's
// log_softmax): the chosen value, and the k-th alternative holding the k-th
// largest reference value (so the ids are the reference's top list, up to
// near-ties that float rounding may order either way), most likely first.
void ExpectMatches(const GeneratedLogprobs& got, int32_t token, size_t top_n, const std::vector<double>& reference,
                   const std::string& where) {
  EXPECT_EQ(got.chosen.id, token) << where;
  EXPECT_NEAR(got.chosen.logprob, reference[token], kTolerance) << where;
  ASSERT_EQ(got.top.size(), top_n) << where;
  std::vector<double> sorted = reference;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  for (size_t k = 0; k < top_n; ++k) {
    const TokenLogprob& alternative = got.top[k];
    ASSERT_GE(alternative.id, 0) << where;
    ASSERT_LT(alternative.id, static_cast<int32_t>(reference.size())) << where;
    EXPECT_NEAR(alternative.logprob, reference[alternative.id], kTolerance) << where << " top " << k;
    EXPECT_NEAR(reference[alternative.id], sorted[k], kTolerance) << where << " top " << k;
    if (k > 0) EXPECT_GE(got.top[k - 1].logprob, alternative.logprob) << where << " top " << k;
  }
}

// Every position's log_softmax for `tokens` (a fresh sequence), from
// ScoreTokens' logits.
std::vector<std::vector<double>> ScoreLogSoftmax(ModelRunner& runner, const std::vector<int32_t>& tokens) {
  const int64_t vocab = runner.weights().config.vocab_size;
  absl::StatusOr<std::vector<float>> logits = runner.ScoreTokens(tokens);
  EXPECT_TRUE(logits.ok()) << logits.status();
  std::vector<std::vector<double>> out;
  if (!logits.ok()) return out;
  for (size_t p = 0; p < tokens.size(); ++p) out.push_back(LogSoftmax(logits->data() + p * vocab, vocab));
  return out;
}

struct Outcome {
  std::vector<int32_t> tokens;
  std::vector<GeneratedLogprobs> logprobs;
  absl::Status error;
  FinishReason finish = FinishReason::kNone;
};

Outcome Collect(GenerationStream& stream) {
  Outcome out;
  for (;;) {
    GenerationEvent event;
    if (!stream.Next(&event, kEventTimeout)) {
      ADD_FAILURE() << "no event within " << kEventTimeout;
      return out;
    }
    out.tokens.insert(out.tokens.end(), event.token_ids.begin(), event.token_ids.end());
    out.logprobs.insert(out.logprobs.end(), event.logprobs.begin(), event.logprobs.end());
    if (!event.error.ok()) {
      out.error = event.error;
      return out;
    }
    if (event.finish != FinishReason::kNone) {
      out.finish = event.finish;
      return out;
    }
  }
}

GenerationRequest Request(std::vector<int32_t> prompt, uint32_t max_tokens, std::optional<uint32_t> top_logprobs) {
  GenerationRequest request;
  request.prompt_ids = std::move(prompt);
  request.max_tokens = max_tokens;
  request.ignore_eos = true;
  request.logprobs = top_logprobs.has_value();
  request.top_logprobs = top_logprobs.value_or(0);
  return request;
}

// Checks every generated token of `outcome` (for `request`) against
// ScoreTokens over prompt + generated.
void ExpectMatchesScoring(ModelRunner& runner, const GenerationRequest& request, const Outcome& outcome,
                          const std::string& name) {
  ASSERT_TRUE(outcome.error.ok()) << name << ": " << outcome.error;
  ASSERT_EQ(outcome.tokens.size(), request.max_tokens) << name;
  if (!request.logprobs) {
    EXPECT_TRUE(outcome.logprobs.empty()) << name << ": logprobs nobody asked for";
    return;
  }
  ASSERT_EQ(outcome.logprobs.size(), outcome.tokens.size()) << name;
  std::vector<int32_t> sequence = request.prompt_ids;
  sequence.insert(sequence.end(), outcome.tokens.begin(), outcome.tokens.end() - 1);
  const std::vector<std::vector<double>> reference = ScoreLogSoftmax(runner, sequence);
  ASSERT_EQ(reference.size(), sequence.size());
  const size_t prompt = request.prompt_ids.size();
  for (size_t i = 0; i < outcome.tokens.size(); ++i) {
    ExpectMatches(outcome.logprobs[i], outcome.tokens[i], request.top_logprobs, reference[prompt - 1 + i],
                  name + " token " + std::to_string(i));
  }
}

Outcome Generate(ModelRunner& runner, const GenerationRequest& request) {
  absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner.Submit(request);
  EXPECT_TRUE(stream.ok()) << stream.status();
  if (!stream.ok()) return {};
  return Collect(**stream);
}

GeneratedLogprobs FromRow(std::span<const TokenLogprob> row) {
  EXPECT_FALSE(row.empty());
  if (row.empty()) return {};
  return GeneratedLogprobs{row[0], {row.begin() + 1, row.end()}};
}

// LlamaModel directly: rows that ask get their entries, in the order of the
// returned ids, whether their logits row came from a prompt's last chunk
// (PrefillBatch, one prompt cut over two passes) or a decode step; rows
// that do not ask get none.
TEST(LogprobsTest, PrefillBatchAndDecodeRowsThatAsk) {
  Budget budget;
  std::unique_ptr<LoadedWeights> w = MustLoad(budget);
  ASSERT_NE(w, nullptr);
  const int64_t vocab = w->config.vocab_size;
  // 50, 100 (two passes of the 64-row chunk) and 30 tokens.
  const std::vector<std::vector<int32_t>> prompts = {Prompt(50, 1), Prompt(100, 2), Prompt(30, 3)};
  // References first (Score writes the cache of a slot of its own).
  std::vector<std::vector<double>> first_reference, second_reference;
  std::vector<int32_t> greedy_first;
  for (const std::vector<int32_t>& prompt : prompts) {
    std::optional<int> slot = w->kv_cache->Acquire(static_cast<int64_t>(prompt.size()) + 1);
    ASSERT_TRUE(slot.has_value());
    std::vector<float> all(prompt.size() * vocab);
    w->model->Score(prompt, w->kv_cache->Pages(*slot), all);
    const float* last = all.data() + (prompt.size() - 1) * vocab;
    first_reference.push_back(LogSoftmax(last, vocab));
    greedy_first.push_back(static_cast<int32_t>(std::max_element(last, last + vocab) - last));
    std::vector<int32_t> extended = prompt;
    extended.push_back(greedy_first.back());
    std::vector<float> all2(extended.size() * vocab);
    w->model->Score(extended, w->kv_cache->Pages(*slot), all2);
    second_reference.push_back(LogSoftmax(all2.data() + prompt.size() * vocab, vocab));
    w->kv_cache->Release(*slot);
  }

  std::vector<int> slots;
  std::vector<PrefillSequence> sequences;
  const std::vector<int32_t> prefill_asks = {5, -1, 0};
  for (size_t i = 0; i < prompts.size(); ++i) {
    slots.push_back(*w->kv_cache->Acquire(static_cast<int64_t>(prompts[i].size()) + 1));
    sequences.push_back(PrefillSequence{prompts[i], w->kv_cache->Pages(slots.back()), SamplingRow{}, prefill_asks[i]});
  }
  const std::span<const int32_t> first = w->model->PrefillBatch(sequences);
  ASSERT_EQ(first.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string where = "prefill " + std::to_string(i);
    EXPECT_EQ(first[i], greedy_first[i]) << where;
    if (prefill_asks[i] < 0) {
      EXPECT_TRUE(w->model->Logprobs(i).empty()) << where;
      continue;
    }
    ExpectMatches(FromRow(w->model->Logprobs(i)), first[i], prefill_asks[i], first_reference[i], where);
  }
  EXPECT_EQ(w->model->Logprobs(0)[0].logprob, w->model->Logprobs(0)[1].logprob) << "greedy: the chosen is the top-1";

  std::vector<DecodeRow> rows;
  const std::vector<int32_t> decode_asks = {-1, 20, 3};
  for (size_t i = 0; i < prompts.size(); ++i) {
    rows.push_back(DecodeRow{greedy_first[i], static_cast<int64_t>(prompts[i].size()), w->kv_cache->Pages(slots[i]),
                             SamplingRow{}, decode_asks[i]});
  }
  const std::span<const int32_t> second = w->model->Decode(rows);
  ASSERT_EQ(second.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string where = "decode " + std::to_string(i);
    if (decode_asks[i] < 0) {
      EXPECT_TRUE(w->model->Logprobs(i).empty()) << where;
      continue;
    }
    ExpectMatches(FromRow(w->model->Logprobs(i)), second[i], decode_asks[i], second_reference[i], where);
    EXPECT_EQ(w->model->Logprobs(i)[1].id, second[i]) << where << ": greedy picks the top-1";
  }
  for (int slot : slots) w->kv_cache->Release(slot);
}

// Through ModelRunner: greedy requests, alone and batched with others that
// ask for a different number of alternatives or none, with prompts longer
// than a pass (cut into chunks that join running decode rows).
TEST(LogprobsTest, RequestsReportLogSoftmaxOfScoredLogits) {
  Budget budget;
  std::unique_ptr<LoadedWeights> loaded = MustLoad(budget);
  ASSERT_NE(loaded, nullptr);
  ModelRunner runner(std::move(loaded));
  const GenerationRequest alone = Request(Prompt(12, 4), 10, 5);
  ExpectMatchesScoring(runner, alone, Generate(runner, alone), "alone");

  std::vector<GenerationRequest> requests = {Request(Prompt(20, 5), 24, 20), Request(Prompt(150, 6), 12, 3),
                                             Request(Prompt(9, 7), 16, std::nullopt), Request(Prompt(80, 8), 8, 0),
                                             Request(Prompt(40, 9), 14, 1)};
  std::vector<std::shared_ptr<GenerationStream>> streams;
  for (const GenerationRequest& request : requests) {
    absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner.Submit(request);
    ASSERT_TRUE(stream.ok()) << stream.status();
    streams.push_back(*stream);
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    const Outcome outcome = Collect(*streams[i]);
    ExpectMatchesScoring(runner, requests[i], outcome, "batched " + std::to_string(i));
    if (requests[i].logprobs && requests[i].top_logprobs > 0) {
      for (size_t t = 0; t < outcome.logprobs.size(); ++t) {  // greedy: the chosen token is the top-1
        EXPECT_EQ(outcome.logprobs[t].top[0].id, outcome.tokens[t]) << "batched " << i << " token " << t;
        EXPECT_EQ(outcome.logprobs[t].top[0].logprob, outcome.logprobs[t].chosen.logprob);
      }
    }
  }
}

// Sampled tokens are reported under the raw distribution (before
// temperature and top-k), not the one they were drawn from.
TEST(LogprobsTest, SampledTokensAreReportedUnderTheRawDistribution) {
  Budget budget;
  std::unique_ptr<LoadedWeights> loaded = MustLoad(budget);
  ASSERT_NE(loaded, nullptr);
  ModelRunner runner(std::move(loaded));
  GenerationRequest request = Request(Prompt(16, 10), 20, 4);
  request.temperature = 2.5f;
  request.top_k = 6;
  request.seed = 99;
  const Outcome outcome = Generate(runner, request);
  ExpectMatchesScoring(runner, request, outcome, "sampled");
  ASSERT_EQ(outcome.logprobs.size(), outcome.tokens.size());
  // The temperature-scaled distribution differs enough to tell apart, and
  // sampling left the greedy path somewhere.
  std::vector<int32_t> sequence = request.prompt_ids;
  sequence.insert(sequence.end(), outcome.tokens.begin(), outcome.tokens.end() - 1);
  absl::StatusOr<std::vector<float>> logits = runner.ScoreTokens(sequence);
  ASSERT_TRUE(logits.ok());
  const int64_t vocab = runner.weights().config.vocab_size;
  double largest_difference = 0;
  int off_greedy = 0;
  for (size_t i = 0; i < outcome.tokens.size(); ++i) {
    std::vector<float> scaled(logits->begin() + (request.prompt_ids.size() - 1 + i) * vocab,
                              logits->begin() + (request.prompt_ids.size() + i) * vocab);
    for (float& x : scaled) x /= request.temperature;
    const double tempered = LogSoftmax(scaled.data(), vocab)[outcome.tokens[i]];
    largest_difference = std::max(largest_difference, std::abs(tempered - outcome.logprobs[i].chosen.logprob));
    off_greedy += outcome.logprobs[i].top[0].id != outcome.tokens[i];
  }
  EXPECT_GT(largest_difference, 100 * kTolerance);
  EXPECT_GT(off_greedy, 0) << "every sampled token was the greedy one: the test proves little";
}

// A CPU backend that counts TopLogprobs calls and the rows they cover.
class CountingBackend : public CpuBackend {
 public:
  explicit CountingBackend(int threads) : CpuBackend(threads) {}
  void TopLogprobs(const Tensor& logits, const Tensor& ids, int64_t top_n, const Tensor& out) override {
    ++calls;
    rows += logits.rows;
    CpuBackend::TopLogprobs(logits, ids, top_n, out);
  }
  std::atomic<int> calls{0}, rows{0};
};

// Passes where no row asks issue no TopLogprobs at all; passes where one
// does cover that row only (alone in its pass here).
TEST(LogprobsTest, OnlyPassesThatAskPayForIt) {
  testing::ArenaBudget<CountingBackend> budget(64ull << 20, 2);
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded =
      LoadModel(TinyModel(), LoadSettings{}, &budget.backend, budget.arena.get());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ModelRunner runner(*std::move(loaded));
  const Outcome plain = Generate(runner, Request(Prompt(70, 12), 9, std::nullopt));
  ASSERT_EQ(plain.tokens.size(), 9u);
  EXPECT_EQ(budget.backend.calls.load(), 0);
  const Outcome asked = Generate(runner, Request(Prompt(70, 12), 9, 2));
  ASSERT_EQ(asked.tokens.size(), 9u);
  EXPECT_EQ(asked.tokens, plain.tokens) << "asking changed the tokens";
  EXPECT_EQ(budget.backend.calls.load(), 9);  // one per generated token
  EXPECT_EQ(budget.backend.rows.load(), 9);
}

TEST(LogprobsTest, Validation) {
  Budget budget;
  std::unique_ptr<LoadedWeights> loaded = MustLoad(budget);
  ASSERT_NE(loaded, nullptr);
  ModelRunner runner(std::move(loaded));
  GenerationRequest too_many = Request(Prompt(5, 1), 2, 21);
  absl::StatusOr<std::shared_ptr<GenerationStream>> refused = runner.Submit(too_many);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("top_logprobs"), std::string::npos) << refused.status();
  GenerationRequest without = Request(Prompt(5, 1), 2, std::nullopt);
  without.top_logprobs = 3;
  refused = runner.Submit(without);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("logprobs"), std::string::npos) << refused.status();
  // The limits themselves are accepted.
  const GenerationRequest twenty = Request(Prompt(5, 1), 2, 20);
  ExpectMatchesScoring(runner, twenty, Generate(runner, twenty), "twenty");
  const GenerationRequest zero = Request(Prompt(5, 1), 2, 0);
  const Outcome chosen_only = Generate(runner, zero);
  ExpectMatchesScoring(runner, zero, chosen_only, "zero");
}

}  // namespace
}  // namespace djinn
