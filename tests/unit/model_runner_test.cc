// Loading test models into an arena and serving them: LoadModel's progress,
// budget and cancellation; ModelRunner's validation, greedy generation (the
// KV cache checked against full recomputation through ScoreTokens), limits,
// stop tokens and cancellation.
#include "daemon/engine/model_runner.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/byte_size.h"
#include "common/safetensors.h"
#include "common/testmodel/test_model.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/engine/llama_model.h"
#include "daemon/engine/model_loader.h"
#include "daemon/memory/arena.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/unit/support/arena_budget.h"
#include "tests/unit/support/pseudo_random_prompt.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kArenaBytes = 64ull << 20;
constexpr int64_t kChunk = 64;  // LlamaModel's prefill chunk
const absl::Duration kEventTimeout = absl::Seconds(10);

// The test models, each written on first use (once per test process).
class Models {
 public:
  static Models& Get() {
    static Models* models = new Models();
    return *models;
  }

  fs::path Dir(const std::string& name) {
    if (written_.insert(name).second) {
      if (name == "tiny-bf16") {
        Write("tiny", name, "bfloat16");
      } else if (name == "tiny-long") {
        // "tiny" with a long context: generations that cannot finish before
        // the test cancels them.
        Write("tiny", name, "");
        EditConfig(name, [](nlohmann::json& c) { c["max_position_embeddings"] = 8192; });
      } else {
        Write(name, name, "");
      }
    }
    return root_ / name;
  }

  void EditConfig(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
    const fs::path path = root_ / name / "config.json";
    nlohmann::json config;
    {
      std::ifstream in(path);
      config = nlohmann::json::parse(in);
    }
    edit(config);
    std::ofstream(path, std::ios::trunc) << config.dump(2);
  }

  // A copy of model `from` under a new name.
  fs::path Copy(const std::string& from, const std::string& to) {
    const fs::path source = Dir(from);
    fs::remove_all(root_ / to);
    fs::copy(source, root_ / to, fs::copy_options::recursive);
    written_.insert(to);
    return root_ / to;
  }

 private:
  Models() : root_(fs::path(::testing::TempDir()) / ("model_runner_test_" + std::to_string(::getpid()))) {
    fs::remove_all(root_);
    std::atexit([] { fs::remove_all(Get().root_); });
  }

  void Write(const std::string& preset, const std::string& name, const std::string& dtype) {
    testmodel::TestModelOptions options;
    options.preset = preset;
    options.out_dir = (root_ / name).string();
    options.seed = 7;
    options.dtype = dtype;
    const absl::Status status = testmodel::WriteTestModel(options);
    if (!status.ok()) ADD_FAILURE() << "writing " << name << ": " << status;
  }

  const fs::path root_;
  std::set<std::string> written_;
};

// A two-thread CPU backend and an arena over memory it reserved.
struct Budget : testing::ArenaBudget<CpuBackend> {
  explicit Budget(uint64_t bytes = kArenaBytes) : ArenaBudget(bytes, 2) {}
};

absl::StatusOr<std::unique_ptr<LoadedWeights>> Load(Budget& budget, const std::string& model,
                                                    const LoadSettings& settings = {}) {
  return LoadModel(Models::Get().Dir(model).string(), settings, &budget.backend, budget.arena.get());
}

std::unique_ptr<ModelRunner> MustRun(Budget& budget, const std::string& model, const LoadSettings& settings = {}) {
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, model, settings);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return nullptr;
  return std::make_unique<ModelRunner>(*std::move(loaded));
}

int32_t Argmax(const float* row, int64_t n) { return static_cast<int32_t>(std::max_element(row, row + n) - row); }

// The greedy continuation recomputed from scratch at every step: the logits
// of the whole sequence so far, argmax of the last row.
std::vector<int32_t> RecomputedGreedy(ModelRunner& runner, std::vector<int32_t> tokens, int steps) {
  const int64_t vocab = runner.weights().config.vocab_size;
  std::vector<int32_t> generated;
  for (int s = 0; s < steps; ++s) {
    absl::StatusOr<std::vector<float>> logits = runner.ScoreTokens(tokens);
    EXPECT_TRUE(logits.ok()) << logits.status();
    if (!logits.ok()) return generated;
    const int32_t next = Argmax(logits->data() + (tokens.size() - 1) * vocab, vocab);
    generated.push_back(next);
    tokens.push_back(next);
  }
  return generated;
}

struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  GenerationUsage usage;
  absl::Status error;
  int events = 0;
};

// Reads events until the last one (finish or error).
Outcome Collect(GenerationStream& stream) {
  Outcome out;
  for (;;) {
    GenerationEvent event;
    if (!stream.Next(&event, kEventTimeout)) {
      ADD_FAILURE() << "no event within " << kEventTimeout << " after " << out.events << " events";
      return out;
    }
    ++out.events;
    out.tokens.insert(out.tokens.end(), event.token_ids.begin(), event.token_ids.end());
    out.text += event.text;
    if (!event.error.ok()) {
      out.error = event.error;
      return out;
    }
    if (event.finish != FinishReason::kNone) {
      out.finish = event.finish;
      out.usage = event.usage;
      return out;
    }
  }
}

Outcome Generate(ModelRunner& runner, const GenerationRequest& request) {
  absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner.Submit(request);
  EXPECT_TRUE(stream.ok()) << stream.status();
  if (!stream.ok()) return {};
  return Collect(**stream);
}

GenerationRequest Greedy(std::vector<int32_t> prompt, uint32_t max_tokens) {
  GenerationRequest request;
  request.prompt_ids = std::move(prompt);
  request.max_tokens = max_tokens;
  request.temperature = 0;
  request.ignore_eos = true;
  return request;
}

std::vector<int32_t> Prompt(size_t length, uint32_t seed = 1) { return testing::PseudoRandomPrompt(length, seed); }

// The checks below are run by the grouped TESTs at the end of the file.

// --- Loading -----------------------------------------------------------------

void ProgressPhasesInOrder() {
  Budget budget;
  std::vector<LoadProgress> progress;
  LoadSettings settings;
  settings.on_progress = [&](const LoadProgress& p) { progress.push_back(p); };
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny", settings);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const uint64_t total = (*loaded)->weight_bytes;
  ASSERT_GE(progress.size(), 5u);
  EXPECT_EQ(progress.front().phase, LoadPhase::kReadingConfig);
  EXPECT_EQ(progress.back().phase, LoadPhase::kReady);
  std::vector<LoadPhase> phases;
  for (const LoadProgress& p : progress) {
    if (phases.empty() || phases.back() != p.phase) phases.push_back(p.phase);
  }
  EXPECT_EQ(phases, (std::vector<LoadPhase>{LoadPhase::kReadingConfig, LoadPhase::kPlanning, LoadPhase::kLoadingWeights,
                                            LoadPhase::kAllocatingKvCache, LoadPhase::kReady}));
  uint64_t last = 0;
  int weight_reports = 0;
  for (const LoadProgress& p : progress) {
    if (p.phase == LoadPhase::kReadingConfig) continue;
    EXPECT_EQ(p.bytes_total, total);
    EXPECT_GE(p.bytes_loaded, last) << "progress went backwards";
    EXPECT_LE(p.bytes_loaded, p.bytes_total);
    last = p.bytes_loaded;
    if (p.phase == LoadPhase::kLoadingWeights) ++weight_reports;
  }
  // One report per tensor (2 layers x 9 + embed + norm + lm_head) plus the start.
  EXPECT_EQ(weight_reports, 1 + 2 * 9 + 3);
  EXPECT_EQ(progress.back().bytes_loaded, total);
}

void TinyModelShape() {
  Budget budget;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const LoadedWeights& w = **loaded;
  EXPECT_EQ(w.config.hidden_size, 64);
  EXPECT_EQ(w.stored_dtype, DType::kFloat32);
  EXPECT_EQ(w.weight_bytes, 4 * w.config.ParameterCount());
  EXPECT_EQ(w.weight_bytes, 658'688u);  // what the preset says the tiny model holds
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> files = SafetensorsModel::Open(Models::Get().Dir("tiny").string());
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(w.weight_bytes, (*files)->total_bytes());
  ASSERT_NE(w.model, nullptr);
  EXPECT_EQ(w.model->context_length(), 256);
  ASSERT_NE(w.kv_cache, nullptr);
  EXPECT_EQ(w.kv_cache->slots(), kDefaultMaxSequences);
  EXPECT_EQ(w.kv_cache->active(), 0);
  EXPECT_EQ(w.kv_cache->shape().layers, 2);
  EXPECT_EQ(w.kv_cache->shape().context_length, 256);
  EXPECT_EQ(w.kv_cache->shape().kv_dim, 64);
  ASSERT_NE(w.tokenizer, nullptr);
  EXPECT_EQ(w.tokenizer->vocab_size(), 512);

  const ArenaUsage usage = budget.arena->Usage();
  EXPECT_EQ(usage.by_category[static_cast<int>(MemoryCategory::kWeights)], w.weight_bytes);
  EXPECT_EQ(usage.by_category[static_cast<int>(MemoryCategory::kKvCache)],
            kDefaultMaxSequences * w.kv_cache->shape().BytesPerSequence());
  EXPECT_GE(usage.by_category[static_cast<int>(MemoryCategory::kWorkspace)],
            LlamaModel::WorkspaceBytes(w.config, WorkspaceShape{256, kChunk, kDefaultMaxSequences, KvCache::kPageTokens},
                                       DType::kFloat32, budget.backend));
  // q, k and v stack into one matrix, as do gate and up.
  const LayerWeights& layer = w.model->weights().layers[0];
  EXPECT_EQ(layer.qkv.rows, w.config.q_dim() + 2 * w.config.kv_dim());
  EXPECT_EQ(layer.gate_up.rows, 2 * w.config.intermediate_size);
  EXPECT_EQ(usage.by_category[static_cast<int>(MemoryCategory::kRingBuffer)], 0u);
}

void GqaModelShape() {
  Budget budget;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny-gqa");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const LoadedWeights& w = **loaded;
  EXPECT_EQ(w.config.num_attention_heads, 8);
  EXPECT_EQ(w.config.num_key_value_heads, 2);
  EXPECT_FALSE(w.config.tie_word_embeddings);
  EXPECT_EQ(w.config.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_EQ(w.weight_bytes, 4 * w.config.ParameterCount());
  EXPECT_EQ(w.model->context_length(), 512);
  EXPECT_EQ(w.kv_cache->shape().kv_dim, 32);
  EXPECT_NE(w.model->weights().lm_head.data, w.model->weights().embed.data);
}

void TiedModelShape() {
  Budget budget;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny-tied");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const LoadedWeights& w = **loaded;
  EXPECT_TRUE(w.config.tie_word_embeddings);
  EXPECT_EQ(w.weight_bytes, 4 * w.config.ParameterCount());  // the tied head counted once
  // The tied head is the embedding, not a copy.
  EXPECT_EQ(w.model->weights().lm_head.data, w.model->weights().embed.data);
}

void ContextLengthAndSequenceSettings() {
  Budget budget;
  LoadSettings settings;
  settings.max_context_length = 100;
  settings.max_sequences = 3;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny", settings);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->model->context_length(), 100);
  EXPECT_EQ((*loaded)->kv_cache->shape().context_length, 100);
  EXPECT_EQ((*loaded)->kv_cache->slots(), 3);
  loaded->reset();

  settings.max_context_length = 257;  // beyond max_position_embeddings
  absl::StatusOr<std::unique_ptr<LoadedWeights>> too_long = Load(budget, "tiny", settings);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument) << too_long.status();
  EXPECT_NE(too_long.status().message().find("257"), std::string::npos) << too_long.status();
  EXPECT_EQ(budget.arena->Usage().free(), budget.arena->Usage().capacity);
}

void SequencesLoweredToWhatFits() {
  // Room for the weights, the workspace and two and a half sequences.
  absl::StatusOr<ModelConfig> config = LoadModelConfig(Models::Get().Dir("tiny").string());
  ASSERT_TRUE(config.ok());
  const uint64_t weights = 4 * config->ParameterCount();
  CpuBackend backend(1);
  const uint64_t workspace =
      (LlamaModel::WorkspaceBytes(*config, WorkspaceShape{256, kChunk, kDefaultMaxSequences, KvCache::kPageTokens}, DType::kFloat32,
                                  backend) +
       Arena::kAlignment - 1) /
      Arena::kAlignment * Arena::kAlignment;
  const uint64_t per_sequence = KvCache::Shape{2, 256, 64, DType::kFloat32}.BytesPerSequence();
  Budget budget(weights + workspace + 5 * per_sequence / 2);
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->kv_cache->slots(), 2);
}

void TooLargeForArena() {
  Budget budget(512 << 10);  // the tiny model's weights alone are 643 KiB
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kResourceExhausted) << loaded.status();
  EXPECT_NE(loaded.status().message().find("512.00 KiB"), std::string::npos) << loaded.status();
  EXPECT_EQ(budget.arena->Usage().free(), budget.arena->Usage().capacity);
  EXPECT_EQ(budget.arena->LargestFreeRange(), budget.arena->Usage().capacity);
}

void FailureMidLoadGivesBackEveryBlock() {
  // Enough free memory in total, but after a 200 KiB range it is cut into
  // 8 KiB pieces: the workspace and the KV cache fit, the weights that come
  // after them do not.
  constexpr uint64_t kHole = 8 << 10, kPin = Arena::kAlignment, kHoles = 160;
  Budget budget((200 << 10) + kHoles * (kHole + kPin));
  Arena& arena = *budget.arena;
  absl::StatusOr<ArenaBlock> head = arena.Allocate(200 << 10, MemoryCategory::kRingBuffer);
  ASSERT_TRUE(head.ok());
  std::vector<ArenaBlock> holes;
  for (uint64_t i = 0; i < kHoles; ++i) {
    absl::StatusOr<ArenaBlock> hole = arena.Allocate(kHole, MemoryCategory::kRingBuffer);
    ASSERT_TRUE(hole.ok());
    holes.push_back(*hole);
    ASSERT_TRUE(arena.Allocate(kPin, MemoryCategory::kRingBuffer).ok());
  }
  arena.Free(*head);
  for (const ArenaBlock& hole : holes) arena.Free(hole);
  const ArenaUsage before = arena.Usage();
  const uint64_t largest_before = arena.LargestFreeRange();
  ASSERT_LT(largest_before, uint64_t{210} << 10);
  ASSERT_GT(before.free(), uint64_t{1} << 20);  // passes the loader's up-front check

  std::vector<LoadProgress> progress;
  LoadSettings settings;
  settings.on_progress = [&](const LoadProgress& p) { progress.push_back(p); };
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny", settings);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kResourceExhausted) << loaded.status();
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().phase, LoadPhase::kPlanning) << "expected the failure after the plan";
  const ArenaUsage after = arena.Usage();
  EXPECT_EQ(after.free(), before.free());
  EXPECT_EQ(after.by_category, before.by_category);
  EXPECT_EQ(arena.LargestFreeRange(), largest_before);
}

void CancelledLoadGivesBackEverything() {
  for (int cancel_at : {1, 6}) {
    SCOPED_TRACE(::testing::Message() << "cancelled at poll " << cancel_at);
    Budget budget;
    int polls = 0;
    LoadSettings settings;
    settings.cancelled = [&] { return ++polls >= cancel_at; };
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny", settings);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kCancelled) << loaded.status();
    EXPECT_EQ(polls, cancel_at);
    EXPECT_EQ(budget.arena->Usage().free(), budget.arena->Usage().capacity);
    EXPECT_EQ(budget.arena->LargestFreeRange(), budget.arena->Usage().capacity);
  }
}

void UnloadGivesBackEverything() {
  Budget budget;
  {
    std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny-gqa");
    ASSERT_NE(runner, nullptr);
    EXPECT_LT(budget.arena->Usage().free(), budget.arena->Usage().capacity);
    Generate(*runner, Greedy(Prompt(5), 3));
  }
  EXPECT_EQ(budget.arena->Usage().free(), budget.arena->Usage().capacity);
  EXPECT_EQ(budget.arena->LargestFreeRange(), budget.arena->Usage().capacity);
}

void ConfigInconsistentWithTensors() {
  const fs::path dir = Models::Get().Copy("tiny", "tiny-bad-shape");
  Models::Get().EditConfig("tiny-bad-shape", [](nlohmann::json& c) { c["intermediate_size"] = 100; });
  Budget budget;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded =
      LoadModel(dir.string(), LoadSettings{}, &budget.backend, budget.arena.get());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << loaded.status();
  EXPECT_NE(loaded.status().message().find("mlp.gate_proj.weight"), std::string::npos) << loaded.status();
  EXPECT_EQ(budget.arena->Usage().free(), budget.arena->Usage().capacity);

  absl::StatusOr<std::unique_ptr<LoadedWeights>> empty =
      LoadModel((dir / "nothing-here").string(), LoadSettings{}, &budget.backend, budget.arena.get());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument) << empty.status();
}

void ShardedAndBFloat16Models() {
  Budget budget;
  std::unique_ptr<ModelRunner> tiny = MustRun(budget, "tiny");
  std::unique_ptr<ModelRunner> sharded = MustRun(budget, "tiny-sharded");
  std::unique_ptr<ModelRunner> bf16 = MustRun(budget, "tiny-bf16");
  ASSERT_TRUE(tiny && sharded && bf16);
  const std::vector<int32_t> prompt = Prompt(20);
  absl::StatusOr<std::vector<float>> a = tiny->ScoreTokens(prompt);
  absl::StatusOr<std::vector<float>> b = sharded->ScoreTokens(prompt);
  absl::StatusOr<std::vector<float>> c = bf16->ScoreTokens(prompt);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  // Same weights split over three files: the same logits, bit for bit.
  EXPECT_EQ(*a, *b);
  // Weights stored in bfloat16 and widened: close, not equal.
  EXPECT_EQ(bf16->weights().stored_dtype, DType::kBFloat16);
  EXPECT_EQ(bf16->weights().weight_bytes, tiny->weights().weight_bytes);  // held in fp32 either way
  double max_diff = 0, max_logit = 0;
  for (size_t i = 0; i < a->size(); ++i) {
    ASSERT_TRUE(std::isfinite((*c)[i]));
    max_diff = std::max(max_diff, std::abs(static_cast<double>((*a)[i]) - (*c)[i]));
    max_logit = std::max(max_logit, std::abs(static_cast<double>((*a)[i])));
  }
  EXPECT_GT(max_diff, 0.0);
  EXPECT_LT(max_diff, 0.1 * max_logit);
}

// --- Scoring -------------------------------------------------------------------

void ScoreTokensShapeAndValidation() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  const std::vector<int32_t> prompt = Prompt(12);
  absl::StatusOr<std::vector<float>> logits = runner->ScoreTokens(prompt);
  ASSERT_TRUE(logits.ok()) << logits.status();
  ASSERT_EQ(logits->size(), prompt.size() * 512);
  for (float v : *logits) ASSERT_TRUE(std::isfinite(v));
  // Rows differ from one another (each position is scored on its own).
  EXPECT_FALSE(std::equal(logits->begin(), logits->begin() + 512, logits->begin() + 512));

  for (const std::vector<int32_t>& bad : {std::vector<int32_t>{}, std::vector<int32_t>{1, 512},
                                          std::vector<int32_t>{1, -1}, Prompt(257)}) {
    absl::StatusOr<std::vector<float>> result = runner->ScoreTokens(bad);
    ASSERT_FALSE(result.ok()) << bad.size() << " tokens";
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(runner->ScoreTokens(Prompt(256)).ok());  // the whole context
  EXPECT_EQ(runner->weights().kv_cache->active(), 0);
}

void ScoreTokensRowsDoNotDependOnChunking() {
  // Row t of a long sequence equals the last row of its prefix of t + 1
  // tokens, whether the prefix fits one prefill chunk or not.
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny-gqa");
  ASSERT_NE(runner, nullptr);
  const std::vector<int32_t> sequence = Prompt(150, 3);
  absl::StatusOr<std::vector<float>> all = runner->ScoreTokens(sequence);
  ASSERT_TRUE(all.ok()) << all.status();
  for (size_t length : {size_t{1}, size_t{2}, size_t{40}, size_t{kChunk - 1}, size_t{kChunk}, size_t{kChunk + 1},
                        size_t{2 * kChunk}, size_t{2 * kChunk + 5}, size_t{150}}) {
    SCOPED_TRACE(length);
    absl::StatusOr<std::vector<float>> prefix =
        runner->ScoreTokens(std::vector<int32_t>(sequence.begin(), sequence.begin() + length));
    ASSERT_TRUE(prefix.ok()) << prefix.status();
    const float* want = all->data() + (length - 1) * 512;
    const float* got = prefix->data() + (length - 1) * 512;
    float scale = 0;
    for (int i = 0; i < 512; ++i) scale = std::max(scale, std::abs(want[i]));
    for (int i = 0; i < 512; ++i) ASSERT_NEAR(got[i], want[i], 1e-5f * scale) << "logit " << i;
  }
}

// --- Generation -------------------------------------------------------------

void FirstGreedyTokenIsArgmaxOfLastScoredRow() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  for (uint32_t seed : {1u, 2u, 3u}) {
    const std::vector<int32_t> prompt = Prompt(9, seed);
    absl::StatusOr<std::vector<float>> logits = runner->ScoreTokens(prompt);
    ASSERT_TRUE(logits.ok());
    const Outcome out = Generate(*runner, Greedy(prompt, 1));
    ASSERT_EQ(out.tokens.size(), 1u);
    EXPECT_EQ(out.tokens[0], Argmax(logits->data() + (prompt.size() - 1) * 512, 512));
    EXPECT_EQ(out.finish, FinishReason::kLength);
  }
}

void KvCacheMatchesRecomputation(const std::string& preset) {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, preset);
  ASSERT_NE(runner, nullptr);
  GenerationRequest request;
  request.prompt_text = "The children were reading";
  request.max_tokens = 20;
  request.ignore_eos = true;
  const Outcome out = Generate(*runner, request);
  ASSERT_TRUE(out.error.ok()) << out.error;
  EXPECT_EQ(out.finish, FinishReason::kLength);
  ASSERT_EQ(out.tokens.size(), 20u);

  std::vector<int32_t> prompt = {1};
  for (int32_t id : runner->weights().tokenizer->Encode("The children were reading")) prompt.push_back(id);
  EXPECT_EQ(out.usage.prompt_tokens, prompt.size());
  EXPECT_EQ(out.usage.completion_tokens, 20u);
  EXPECT_EQ(out.tokens, RecomputedGreedy(*runner, prompt, 20));
}

void LongPromptMatchesRecomputation(const std::string& preset) {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, preset);
  ASSERT_NE(runner, nullptr);
  // A prompt of two and a bit prefill chunks.
  const std::vector<int32_t> prompt = Prompt(2 * kChunk + 9, 5);
  const Outcome out = Generate(*runner, Greedy(prompt, 20));
  EXPECT_EQ(out.finish, FinishReason::kLength);
  EXPECT_EQ(out.tokens, RecomputedGreedy(*runner, prompt, 20));
}

void DecodingAcrossAChunkBoundaryMatchesRecomputation(const std::string& preset) {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, preset);
  ASSERT_NE(runner, nullptr);
  // Prefill in one chunk, then single tokens past position 64.
  const std::vector<int32_t> prompt = Prompt(kChunk - 20, 6);
  const Outcome out = Generate(*runner, Greedy(prompt, 40));
  EXPECT_EQ(out.finish, FinishReason::kLength);
  EXPECT_EQ(out.tokens, RecomputedGreedy(*runner, prompt, 40));
}

void GreedyIsDeterministicAlsoWhenInterleaved() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  const GenerationRequest request = Greedy(Prompt(10, 9), 30);
  const Outcome first = Generate(*runner, request);
  const Outcome second = Generate(*runner, request);
  EXPECT_EQ(first.tokens, second.tokens);
  EXPECT_EQ(first.text, second.text);
  // Several at once share the runner but not their state.
  std::vector<std::shared_ptr<GenerationStream>> streams;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner->Submit(i % 2 ? request : Greedy(Prompt(7, 4), 30));
    ASSERT_TRUE(stream.ok());
    streams.push_back(*stream);
  }
  const Outcome other = Generate(*runner, Greedy(Prompt(7, 4), 30));
  for (int i = 0; i < 4; ++i) {
    const Outcome out = Collect(*streams[i]);
    EXPECT_EQ(out.tokens, i % 2 ? first.tokens : other.tokens) << "stream " << i;
  }
}

// Prompts admitted together are prefilled together, packed into passes of
// at most one chunk (64 rows on the CPU): here 50 + 70 + 30 + 100 rows span
// four passes, with prompts split across pass boundaries. Each continuation
// equals the same request run alone.
void PromptsPrefilledTogetherMatchAlone() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  std::vector<GenerationRequest> requests;
  std::vector<Outcome> alone;
  for (size_t length : {50, 70, 30, 100}) {
    requests.push_back(Greedy(Prompt(length, static_cast<int>(length)), 12));
    alone.push_back(Generate(*runner, requests.back()));
    ASSERT_EQ(alone.back().tokens.size(), 12u);
  }
  std::vector<std::shared_ptr<GenerationStream>> streams;
  for (const GenerationRequest& request : requests) {
    absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner->Submit(request);
    ASSERT_TRUE(stream.ok());
    streams.push_back(*stream);
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    EXPECT_EQ(Collect(*streams[i]).tokens, alone[i].tokens) << "request " << i;
  }
}

// LlamaModel::PrefillBatch directly (the runner may or may not admit
// requests together): four prompts packed into 64-row passes, split across
// pass boundaries, each first greedy token the argmax of that prompt's last
// scored row, and each sequence's KV cache what its own prefill writes (the
// next decode step of every sequence matches its own recomputation).
void PrefillBatchPacksPromptsIntoPasses() {
  Budget budget;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  LoadedWeights& w = **loaded;
  const int64_t vocab = w.config.vocab_size;
  std::vector<std::vector<int32_t>> prompts;
  for (size_t length : {50, 70, 30, 100}) prompts.push_back(Prompt(length, static_cast<int>(length) + 1));
  // References first (ScoreTokens uses a slot of its own and gives it back).
  std::vector<int32_t> expected_first, expected_second;
  for (const std::vector<int32_t>& prompt : prompts) {
    std::vector<float> all(prompt.size() * vocab);
    std::optional<int> slot = w.kv_cache->Acquire(static_cast<int64_t>(prompt.size()) + 1);
    ASSERT_TRUE(slot.has_value());
    w.model->Score(prompt, w.kv_cache->Pages(*slot), all);
    const int32_t first = Argmax(all.data() + (prompt.size() - 1) * vocab, vocab);
    expected_first.push_back(first);
    std::vector<int32_t> extended = prompt;
    extended.push_back(first);
    std::vector<float> all2(extended.size() * vocab);
    w.model->Score(extended, w.kv_cache->Pages(*slot), all2);
    expected_second.push_back(Argmax(all2.data() + prompt.size() * vocab, vocab));
    w.kv_cache->Release(*slot);
  }
  std::vector<int> slots;
  std::vector<PrefillSequence> sequences;
  for (const std::vector<int32_t>& prompt : prompts) {
    slots.push_back(*w.kv_cache->Acquire(static_cast<int64_t>(prompt.size()) + 1));
    sequences.push_back(PrefillSequence{prompt, w.kv_cache->Pages(slots.back()), SamplingRow{}});
  }
  const std::span<const int32_t> first = w.model->PrefillBatch(sequences);
  ASSERT_EQ(first.size(), prompts.size());
  std::vector<DecodeRow> rows;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(first[i], expected_first[i]) << "prompt " << i;
    rows.push_back(DecodeRow{first[i], static_cast<int64_t>(prompts[i].size()), w.kv_cache->Pages(slots[i]),
                             SamplingRow{}});
  }
  const std::span<const int32_t> second = w.model->Decode(rows);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(second[i], expected_second[i]) << "prompt " << i;
  for (int slot : slots) w.kv_cache->Release(slot);
}

// One Step that advances a decoding sequence and writes another's prompt
// in chunks gives each the tokens it gets alone: decode rows first, then
// the prompt rows; a chunk that does not end its prompt samples nothing.
void StepMixesDecodeRowsAndPromptChunks() {
  Budget budget;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  LoadedWeights& w = **loaded;
  const int64_t vocab = w.config.vocab_size;
  const std::vector<int32_t> a = Prompt(20, 5), b = Prompt(110, 9);
  ASSERT_GT(static_cast<int64_t>(b.size()), w.model->prefill_chunk());  // B needs two passes
  // References: greedy continuations recomputed from scratch.
  auto greedy = [&](std::vector<int32_t> tokens, int steps) {
    std::vector<int32_t> out;
    std::optional<int> slot = w.kv_cache->Acquire(static_cast<int64_t>(tokens.size()) + steps);
    EXPECT_TRUE(slot.has_value());
    for (int s = 0; s < steps && slot.has_value(); ++s) {
      std::vector<float> all(tokens.size() * vocab);
      w.model->Score(tokens, w.kv_cache->Pages(*slot), all);
      out.push_back(Argmax(all.data() + (tokens.size() - 1) * vocab, vocab));
      tokens.push_back(out.back());
    }
    if (slot.has_value()) w.kv_cache->Release(*slot);
    return out;
  };
  const std::vector<int32_t> expected_a = greedy(a, 4), expected_b = greedy(b, 2);

  const int slot_a = *w.kv_cache->Acquire(static_cast<int64_t>(a.size()) + 4);
  const int slot_b = *w.kv_cache->Acquire(static_cast<int64_t>(b.size()) + 2);
  const std::span<const int32_t> pages_a = w.kv_cache->Pages(slot_a), pages_b = w.kv_cache->Pages(slot_b);
  const PrefillSequence only_a{a, pages_a, SamplingRow{}};
  const int32_t a1 = w.model->PrefillBatch({&only_a, 1})[0];
  EXPECT_EQ(a1, expected_a[0]);
  const int64_t a_len = static_cast<int64_t>(a.size());
  // Pass 1: A's second token and the first 60 rows of B's prompt.
  std::vector<DecodeRow> decode = {DecodeRow{a1, a_len, pages_a, SamplingRow{}}};
  std::vector<PromptChunk> chunks = {PromptChunk{b, pages_b, 0, 60, SamplingRow{}}};
  std::span<const int32_t> ids = w.model->Step(decode, chunks);
  ASSERT_EQ(ids.size(), 1u);  // B's chunk does not end its prompt
  const int32_t a2 = ids[0];
  EXPECT_EQ(a2, expected_a[1]);
  // Pass 2: A's third token and the rest of B's prompt, which samples B's first.
  decode = {DecodeRow{a2, a_len + 1, pages_a, SamplingRow{}}};
  chunks = {PromptChunk{b, pages_b, 60, static_cast<int64_t>(b.size()) - 60, SamplingRow{}}};
  ids = w.model->Step(decode, chunks);
  ASSERT_EQ(ids.size(), 2u);
  const int32_t a3 = ids[0], b1 = ids[1];
  EXPECT_EQ(a3, expected_a[2]);
  EXPECT_EQ(b1, expected_b[0]);
  // Pass 3: both decode.
  decode = {DecodeRow{a3, a_len + 2, pages_a, SamplingRow{}},
            DecodeRow{b1, static_cast<int64_t>(b.size()), pages_b, SamplingRow{}}};
  ids = w.model->Step(decode, {});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], expected_a[3]);
  EXPECT_EQ(ids[1], expected_b[1]);
  w.kv_cache->Release(slot_a);
  w.kv_cache->Release(slot_b);
}

// A prompt longer than a pass joins while another sequence decodes: it is
// written over several passes beside the decoding row, and both get the
// tokens they get alone.
void LongPromptJoinsARunningBatch() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  const GenerationRequest a = Greedy(Prompt(20, 5), 40), b = Greedy(Prompt(200, 9), 12);
  ASSERT_GT(200, 2 * runner->weights().model->prefill_chunk());  // at least three passes
  const Outcome a_alone = Generate(*runner, a), b_alone = Generate(*runner, b);
  ASSERT_EQ(a_alone.tokens.size(), 40u);
  ASSERT_EQ(b_alone.tokens.size(), 12u);

  absl::StatusOr<std::shared_ptr<GenerationStream>> a_stream = runner->Submit(a);
  ASSERT_TRUE(a_stream.ok());
  GenerationEvent first;
  ASSERT_TRUE((*a_stream)->Next(&first, kEventTimeout));  // A is decoding now
  absl::StatusOr<std::shared_ptr<GenerationStream>> b_stream = runner->Submit(b);
  ASSERT_TRUE(b_stream.ok());
  Outcome a_rest = Collect(**a_stream);
  a_rest.tokens.insert(a_rest.tokens.begin(), first.token_ids.begin(), first.token_ids.end());
  EXPECT_EQ(a_rest.tokens, a_alone.tokens);
  EXPECT_EQ(Collect(**b_stream).tokens, b_alone.tokens);
}

// A seeded sampled request gives the same tokens alone and in a batch: each
// row's draw comes from its own request's stream, whatever else runs.
void SampledIsTheSameAloneAndBatched() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  GenerationRequest sampled = Greedy(Prompt(12, 3), 40);
  sampled.temperature = 0.9f;
  sampled.top_k = 40;
  sampled.top_p = 0.95f;
  sampled.seed = 1234;
  const Outcome alone = Generate(*runner, sampled);
  ASSERT_EQ(alone.tokens.size(), 40u);
  // A different seed gives a different continuation (else the test proves nothing).
  GenerationRequest reseeded = sampled;
  reseeded.seed = 99;
  EXPECT_NE(Generate(*runner, reseeded).tokens, alone.tokens);

  std::vector<std::shared_ptr<GenerationStream>> streams;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<std::shared_ptr<GenerationStream>> stream =
        runner->Submit(i == 2 ? sampled : Greedy(Prompt(5 + i, i), 20 + 7 * i));
    ASSERT_TRUE(stream.ok());
    streams.push_back(*stream);
  }
  for (int i = 0; i < 5; ++i) {
    const Outcome out = Collect(*streams[i]);
    if (i == 2) EXPECT_EQ(out.tokens, alone.tokens);
  }
}

// A budget too small for every layer streams the last ones through the ring
// buffer; the outputs are exactly those of the all-resident model (same
// kernels, same order), whatever share of the layers streams.
void StreamedLayersGiveTheSameResults() {
  Budget everything;
  std::unique_ptr<ModelRunner> resident = MustRun(everything, "tiny-deep");
  ASSERT_NE(resident, nullptr);
  ASSERT_EQ(resident->weights().plan.streamed_layers, 0);
  const std::vector<int32_t> prompt = Prompt(70, 11);  // more than one 64-row prefill chunk
  absl::StatusOr<std::vector<float>> reference_logits = resident->ScoreTokens(prompt);
  ASSERT_TRUE(reference_logits.ok());
  const Outcome reference = Generate(*resident, Greedy(prompt, 24));
  const uint64_t all = everything.arena->Usage().capacity - everything.arena->Usage().free();
  resident.reset();

  int previous_streamed = 0;
  for (uint64_t cut_layers : {5, 8, 11}) {
    SCOPED_TRACE(::testing::Message() << "budget short of " << cut_layers << " layers");
    // One layer's float32 bytes, from the config (plus the arena's per-tensor alignment).
    absl::StatusOr<ModelConfig> config = LoadModelConfig(Models::Get().Dir("tiny-deep").string());
    ASSERT_TRUE(config.ok());
    const int64_t h = config->hidden_size;
    const uint64_t layer =
        4 * static_cast<uint64_t>(2 * h * config->q_dim() + 2 * h * config->kv_dim() + 3 * h * config->intermediate_size +
                                  2 * h) +
        6 * Arena::kAlignment;
    Budget budget(all - cut_layers * layer + 4 * layer + 64 * Arena::kAlignment);
    LoadSettings settings;
    settings.max_sequences = kDefaultMaxSequences;
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny-deep", settings);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ResidencyPlan plan = (*loaded)->plan;
    EXPECT_GT(plan.streamed_layers, previous_streamed);
    previous_streamed = plan.streamed_layers;
    EXPECT_EQ(plan.resident_layers + plan.streamed_layers, 12);
    EXPECT_EQ(budget.arena->Usage().by_category[static_cast<int>(MemoryCategory::kRingBuffer)], plan.ring_bytes);
    ModelRunner runner(*std::move(loaded));
    absl::StatusOr<std::vector<float>> logits = runner.ScoreTokens(prompt);
    ASSERT_TRUE(logits.ok());
    EXPECT_EQ(*logits, *reference_logits);  // bit for bit
    EXPECT_EQ(Generate(runner, Greedy(prompt, 24)).tokens, reference.tokens);
    const RingCounters ring = runner.ring_counters();
    EXPECT_GT(ring.passes, 0u);
    EXPECT_EQ(ring.bytes_copied, ring.passes * plan.streamed_weight_bytes);
  }
}

// Budgets computed from the planner's own sizes stream exactly 10%, 50% and
// 90% of tiny-deep-50's layers (5, 25 and 45 of 50: a plan never streams
// fewer than kRingSlots + 1 layers, residency_plan.h), each giving the
// resident model's logits bit for bit and its greedy tokens. The smallest
// budget that loads (fixed weights, workspace, one KV sequence, a ring of 2)
// streams every layer with the same results; one byte less is
// RESOURCE_EXHAUSTED naming that size. (tests/gpu/streaming_model_test.cc
// does the same on the GPU.)
void TenFiftyAndNinetyPercentStreamed() {
  const std::string model = "tiny-deep-50";
  LoadSettings settings;
  settings.max_context_length = 128;
  settings.max_sequences = 2;
  const std::vector<int32_t> prompt = Prompt(70, 5);  // more than one 64-row prefill chunk

  // Fully resident: the reference, and the planner's sizes.
  std::vector<float> reference_logits;
  std::vector<int32_t> reference_tokens;
  int64_t layers = 0;
  uint64_t resident_total = 0, kv_per_sequence = 0;
  {
    Budget everything;
    std::unique_ptr<ModelRunner> runner = MustRun(everything, model, settings);
    ASSERT_NE(runner, nullptr);
    const ResidencyPlan& plan = runner->weights().plan;
    ASSERT_EQ(plan.streamed_layers, 0);
    ASSERT_EQ(plan.kv_sequences, settings.max_sequences);
    layers = plan.resident_layers;
    ASSERT_EQ(layers, 50);
    resident_total = plan.total_bytes();
    kv_per_sequence = plan.kv_bytes / plan.kv_sequences;
    absl::StatusOr<std::vector<float>> logits = runner->ScoreTokens(prompt);
    ASSERT_TRUE(logits.ok()) << logits.status();
    reference_logits = *std::move(logits);
    reference_tokens = Generate(*runner, Greedy(prompt, 12)).tokens;
    ASSERT_EQ(reference_tokens.size(), 12u);
  }
  // One layer's block: a budget one byte short of everything streams some
  // layers; their bytes per pass over their count.
  uint64_t layer_bytes = 0;
  {
    Budget short_one(resident_total - 1);
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(short_one, model, settings);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_GT((*loaded)->plan.streamed_layers, 0);
    layer_bytes = (*loaded)->plan.streamed_weight_bytes / (*loaded)->plan.streamed_layers;
  }

  auto expect_resident_results = [&](Budget& budget, const ResidencyPlan& plan,
                                     std::unique_ptr<LoadedWeights> loaded) {
    EXPECT_EQ(budget.arena->Usage().capacity - budget.arena->Usage().free(), plan.total_bytes());
    ModelRunner runner(std::move(loaded));
    absl::StatusOr<std::vector<float>> logits = runner.ScoreTokens(prompt);
    ASSERT_TRUE(logits.ok()) << logits.status();
    EXPECT_TRUE(*logits == reference_logits) << "logits differ from the resident run";  // bit for bit
    EXPECT_EQ(Generate(runner, Greedy(prompt, 12)).tokens, reference_tokens);
    const RingCounters ring = runner.ring_counters();
    EXPECT_GT(ring.passes, 0u);
    EXPECT_EQ(ring.bytes_copied, ring.passes * plan.streamed_weight_bytes);
  };

  for (int percent : {10, 50, 90}) {
    const int64_t streamed = layers * percent / 100;
    ASSERT_GT(streamed, ResidencyPlan::kRingSlots);
    // Resident total less the streamed layers plus a full ring, and half a
    // layer to spare: one more resident layer does not fit.
    const uint64_t bytes = resident_total - (streamed - ResidencyPlan::kRingSlots) * layer_bytes + layer_bytes / 2;
    SCOPED_TRACE(::testing::Message() << percent << "% streamed: budget " << bytes << " B");
    Budget budget(bytes);
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, model, settings);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ResidencyPlan plan = (*loaded)->plan;
    EXPECT_EQ(plan.streamed_layers, streamed);
    EXPECT_EQ(plan.resident_layers, layers - streamed);
    EXPECT_EQ(plan.ring_slots, ResidencyPlan::kRingSlots);
    EXPECT_EQ(plan.kv_sequences, settings.max_sequences);
    expect_resident_results(budget, plan, *std::move(loaded));
  }

  const uint64_t minimum =
      resident_total - (layers - 2) * layer_bytes - (settings.max_sequences - 1) * kv_per_sequence;
  {
    SCOPED_TRACE("the smallest budget");
    Budget budget(minimum);
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, model, settings);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ResidencyPlan plan = (*loaded)->plan;
    EXPECT_EQ(plan.streamed_layers, layers);
    EXPECT_EQ(plan.ring_slots, 2);
    EXPECT_EQ(plan.kv_sequences, 1);
    expect_resident_results(budget, plan, *std::move(loaded));
  }
  Budget too_small(minimum - 1);
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(too_small, model, settings);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kResourceExhausted) << loaded.status();
  EXPECT_NE(loaded.status().message().find(absl::StrCat("needs at least ", FormatBytes(minimum))), std::string::npos)
      << loaded.status();
  EXPECT_NE(loaded.status().message().find(absl::StrCat(minimum, " B")), std::string::npos) << loaded.status();
  EXPECT_EQ(too_small.arena->Usage().free(), too_small.arena->Usage().capacity);
}

void MaxTokensAndUsage() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  const std::vector<int32_t> prompt = Prompt(11);
  for (uint32_t max_tokens : {1u, 5u, 17u}) {
    const Outcome out = Generate(*runner, Greedy(prompt, max_tokens));
    EXPECT_EQ(out.finish, FinishReason::kLength);
    EXPECT_EQ(out.tokens.size(), max_tokens);
    EXPECT_EQ(out.usage.completion_tokens, max_tokens);
    EXPECT_EQ(out.usage.prompt_tokens, 11u);
    EXPECT_GE(out.usage.total_seconds, out.usage.time_to_first_token_seconds);
    EXPECT_GE(out.usage.time_to_first_token_seconds, 0.0);
  }
  // The prompt and max_tokens may fill the context exactly.
  const Outcome full = Generate(*runner, Greedy(Prompt(250), 6));
  EXPECT_EQ(full.finish, FinishReason::kLength);
  EXPECT_EQ(full.tokens.size(), 6u);
}

void DefaultMaxTokensIsCappedByTheContext() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  const Outcome out = Generate(*runner, Greedy(Prompt(200), 0));
  EXPECT_EQ(out.finish, FinishReason::kLength);
  EXPECT_EQ(out.tokens.size(), 256u - 200u);
  const Outcome short_prompt = Generate(*runner, Greedy(Prompt(10), 0));
  EXPECT_EQ(short_prompt.tokens.size(), kDefaultMaxTokens);
}

void StopTokenEndsGeneration() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  const std::vector<int32_t> prompt = Prompt(8, 11);
  const std::vector<int32_t> greedy = RecomputedGreedy(*runner, prompt, 12);
  // Stop at the first occurrence of the 6th greedy token.
  const int32_t stop = greedy[5];
  const size_t first = std::find(greedy.begin(), greedy.end(), stop) - greedy.begin();
  GenerationRequest request = Greedy(prompt, 12);
  request.stop_token_ids = {stop};
  const Outcome out = Generate(*runner, request);
  EXPECT_EQ(out.finish, FinishReason::kStop);
  // The stop token's id is returned.
  EXPECT_EQ(out.tokens, std::vector<int32_t>(greedy.begin(), greedy.begin() + first + 1));
  EXPECT_EQ(out.usage.completion_tokens, first + 1);
}

void StreamedTextIsTheDecodedContinuation() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  GenerationRequest request;
  request.prompt_text = "Once upon a time";
  request.max_tokens = 25;
  request.ignore_eos = true;
  const Outcome out = Generate(*runner, request);
  ASSERT_EQ(out.tokens.size(), 25u);
  const Tokenizer& tokenizer = *runner->weights().tokenizer;
  std::vector<int32_t> all = {1};
  for (int32_t id : tokenizer.Encode("Once upon a time")) all.push_back(id);
  const std::string prompt_text = tokenizer.Decode(all);
  ASSERT_EQ(prompt_text, "Once upon a time");
  all.insert(all.end(), out.tokens.begin(), out.tokens.end());
  const std::string full = tokenizer.Decode(all);
  ASSERT_EQ(full.rfind(prompt_text, 0), 0u);
  EXPECT_EQ(out.text, full.substr(prompt_text.size()));
}

void SubmitValidation() {
  Budget budget;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny");
  ASSERT_NE(runner, nullptr);
  auto expect_invalid = [&](const GenerationRequest& request, const std::string& what) {
    absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner->Submit(request);
    ASSERT_FALSE(stream.ok()) << what;
    EXPECT_EQ(stream.status().code(), absl::StatusCode::kInvalidArgument) << what << ": " << stream.status();
  };
  expect_invalid(Greedy({}, 5), "empty prompt");
  expect_invalid(Greedy(Prompt(256), 1), "prompt as long as the context");
  expect_invalid(Greedy(Prompt(300), 1), "prompt longer than the context");
  expect_invalid(Greedy(Prompt(250), 7), "prompt + max_tokens beyond the context");
  expect_invalid(Greedy({1, 512}, 5), "id == vocab_size");
  expect_invalid(Greedy({1, -3}, 5), "negative id");
  GenerationRequest request = Greedy(Prompt(5), 5);
  request.temperature = -0.5f;
  expect_invalid(request, "negative temperature");
  request = Greedy(Prompt(5), 5);
  request.top_p = 1.5f;
  expect_invalid(request, "top_p > 1");
  request = Greedy(Prompt(5), 5);
  request.top_k = -1;
  expect_invalid(request, "negative top_k");

  // An empty text prompt is just BOS: valid.
  GenerationRequest text;
  text.prompt_text = "";
  text.max_tokens = 2;
  text.ignore_eos = true;
  const Outcome out = Generate(*runner, text);
  EXPECT_EQ(out.usage.prompt_tokens, 1u);
  EXPECT_EQ(out.tokens.size(), 2u);
  // Rejected requests were not counted.
  EXPECT_EQ(runner->counters().requests_total, 1u);
}

// Admission: a bounded queue, deadlines honoured queued and running, and
// priorities (with aging) choosing who is admitted next.
void QueueLimitDeadlinesAndPriorities() {
  Budget budget;
  LoadSettings settings;
  settings.max_sequences = 1;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, "tiny-long", settings);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ModelRunner runner(*std::move(loaded), /*max_queued=*/2);
  KvCache& cache = *runner.weights().kv_cache;
  ASSERT_EQ(cache.slots(), 1);

  // The one sequence is held: everything queues.
  std::optional<int> held = cache.Acquire(1);
  ASSERT_TRUE(held.has_value());
  GenerationRequest low = Greedy(Prompt(6, 1), 8);
  GenerationRequest high = Greedy(Prompt(6, 2), 8);
  high.priority = 5;
  absl::StatusOr<std::shared_ptr<GenerationStream>> low_stream = runner.Submit(low);
  absl::StatusOr<std::shared_ptr<GenerationStream>> high_stream = runner.Submit(high);
  ASSERT_TRUE(low_stream.ok() && high_stream.ok());
  absl::StatusOr<std::shared_ptr<GenerationStream>> refused = runner.Submit(Greedy(Prompt(6, 3), 8));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();

  // Freed: the later, higher-priority request is admitted first; the earlier
  // one waits for it to finish.
  cache.Release(*held);
  const Outcome high_out = Collect(**high_stream);
  const Outcome low_out = Collect(**low_stream);
  EXPECT_EQ(high_out.tokens.size(), 8u);
  EXPECT_EQ(low_out.tokens.size(), 8u);
  EXPECT_GT(low_out.usage.queue_seconds, high_out.usage.queue_seconds);

  // A deadline that passes while queued: DEADLINE_EXCEEDED, never admitted.
  held = cache.Acquire(1);
  ASSERT_TRUE(held.has_value());
  GenerationRequest late = Greedy(Prompt(6, 4), 8);
  late.deadline = absl::Now() + absl::Milliseconds(20);
  absl::StatusOr<std::shared_ptr<GenerationStream>> late_stream = runner.Submit(late);
  ASSERT_TRUE(late_stream.ok());
  GenerationEvent event;
  ASSERT_TRUE((*late_stream)->Next(&event, kEventTimeout));
  EXPECT_EQ(event.error.code(), absl::StatusCode::kDeadlineExceeded) << event.error;
  EXPECT_TRUE(event.token_ids.empty());
  cache.Release(*held);

  // A deadline that passes while generating: ends with DEADLINE_EXCEEDED
  // after some tokens, and its pages are free again.
  GenerationRequest endless = Greedy(Prompt(6, 5), 8000);
  endless.deadline = absl::Now() + absl::Milliseconds(100);
  absl::StatusOr<std::shared_ptr<GenerationStream>> endless_stream = runner.Submit(endless);
  ASSERT_TRUE(endless_stream.ok());
  size_t tokens = 0;
  absl::Status ended;
  for (;;) {
    GenerationEvent e;
    ASSERT_TRUE((*endless_stream)->Next(&e, kEventTimeout));
    tokens += e.token_ids.size();
    if (!e.error.ok() || e.finish != FinishReason::kNone) {
      ended = e.error;
      break;
    }
  }
  EXPECT_EQ(ended.code(), absl::StatusCode::kDeadlineExceeded) << ended;
  EXPECT_GT(tokens, 0u);
  EXPECT_LT(tokens, 8000u);
  EXPECT_EQ(cache.active(), 0);
  EXPECT_EQ(cache.pages_free(), cache.pages_total());
}

void CancelAllEndsRunningAndQueuedStreams() {
  Budget budget;
  LoadSettings settings;
  settings.max_sequences = 2;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny-long", settings);
  ASSERT_NE(runner, nullptr);
  KvCache& cache = *runner->weights().kv_cache;
  ASSERT_EQ(cache.slots(), 2);
  // Hold one of the two sequences, so that one request runs and the others
  // wait in the queue.
  std::optional<int> held = cache.Acquire(1);
  ASSERT_TRUE(held.has_value());

  const GenerationRequest long_request = Greedy(Prompt(10), 8192 - 10);  // would take thousands of steps
  absl::StatusOr<std::shared_ptr<GenerationStream>> running = runner->Submit(long_request);
  ASSERT_TRUE(running.ok());
  GenerationEvent first;
  ASSERT_TRUE((*running)->Next(&first, kEventTimeout));  // it is running
  ASSERT_EQ(first.finish, FinishReason::kNone);
  std::vector<std::shared_ptr<GenerationStream>> queued;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner->Submit(Greedy(Prompt(5), 10));
    ASSERT_TRUE(stream.ok());
    queued.push_back(*stream);
  }
  runner->CancelAll();

  const Outcome running_out = Collect(**running);
  EXPECT_EQ(running_out.finish, FinishReason::kCancelled);
  EXPECT_LT(running_out.usage.completion_tokens, long_request.max_tokens);
  for (const auto& stream : queued) {
    const Outcome out = Collect(*stream);
    EXPECT_EQ(out.finish, FinishReason::kCancelled);
    EXPECT_TRUE(out.tokens.empty());
  }
  cache.Release(*held);

  // CancelAll is not sticky: the next request runs to its end.
  const Outcome after = Generate(*runner, Greedy(Prompt(5), 4));
  EXPECT_EQ(after.finish, FinishReason::kLength);
  EXPECT_EQ(after.tokens.size(), 4u);

  runner->Drain();
  EXPECT_EQ(cache.active(), 0);
  EXPECT_EQ(runner->counters().active, 0);
  EXPECT_EQ(runner->counters().queued, 0);
}

void CancelledStreamEnds() {
  Budget budget;
  LoadSettings settings;
  settings.max_sequences = 2;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny-long", settings);
  ASSERT_NE(runner, nullptr);
  const GenerationRequest request = Greedy(Prompt(10), 8000);
  absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner->Submit(request);
  ASSERT_TRUE(stream.ok());
  absl::StatusOr<std::shared_ptr<GenerationStream>> other = runner->Submit(Greedy(Prompt(6), 5));
  ASSERT_TRUE(other.ok());
  GenerationEvent first;
  ASSERT_TRUE((*stream)->Next(&first, kEventTimeout));
  (*stream)->Cancel();  // the client went away
  const Outcome out = Collect(**stream);
  EXPECT_EQ(out.finish, FinishReason::kCancelled);
  EXPECT_LT(out.usage.completion_tokens, request.max_tokens);
  // The other request is unaffected.
  const Outcome other_out = Collect(**other);
  EXPECT_EQ(other_out.finish, FinishReason::kLength);
  EXPECT_EQ(other_out.tokens.size(), 5u);
  runner->Drain();
  EXPECT_EQ(runner->weights().kv_cache->active(), 0);
}

void SlotsAndCountersAfterEverythingFinished() {
  Budget budget;
  LoadSettings settings;
  settings.max_sequences = 2;
  std::unique_ptr<ModelRunner> runner = MustRun(budget, "tiny", settings);
  ASSERT_NE(runner, nullptr);
  // More requests than slots: they queue, and all finish.
  std::vector<std::shared_ptr<GenerationStream>> streams;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner->Submit(Greedy(Prompt(4 + i, i), 6));
    ASSERT_TRUE(stream.ok());
    streams.push_back(*stream);
  }
  uint64_t generated = 0, prompt_tokens = 0;
  for (int i = 0; i < 5; ++i) {
    const Outcome out = Collect(*streams[i]);
    EXPECT_EQ(out.finish, FinishReason::kLength) << i;
    generated += out.tokens.size();
    prompt_tokens += out.usage.prompt_tokens;
  }
  runner->Drain();
  EXPECT_EQ(runner->weights().kv_cache->active(), 0);
  const RunnerCounters counters = runner->counters();
  EXPECT_EQ(counters.active, 0);
  EXPECT_EQ(counters.queued, 0);
  EXPECT_EQ(counters.requests_total, 5u);
  EXPECT_EQ(counters.generated_tokens_total, generated);
  EXPECT_EQ(counters.prompt_tokens_total, prompt_tokens);
  EXPECT_EQ(generated, 30u);
  // After Drain the runner refuses new work.
  absl::StatusOr<std::shared_ptr<GenerationStream>> refused = runner->Submit(Greedy(Prompt(4), 2));
  EXPECT_FALSE(refused.ok());
}

// Each test below is one process under ctest, and each process writes its
// test models first (the tokenizer is trained in-process): the checks are
// grouped so that the suite stays fast.
#define RUN_CHECK(check, ...)   \
  do {                          \
    SCOPED_TRACE(#check);       \
    check(__VA_ARGS__);         \
  } while (false)

TEST(ModelLoaderTest, LoadsTestModels) {
  RUN_CHECK(ProgressPhasesInOrder);
  RUN_CHECK(TinyModelShape);
  RUN_CHECK(GqaModelShape);
  RUN_CHECK(TiedModelShape);
  RUN_CHECK(ContextLengthAndSequenceSettings);
  RUN_CHECK(SequencesLoweredToWhatFits);
  RUN_CHECK(ShardedAndBFloat16Models);
}

TEST(ModelLoaderTest, FailuresGiveBackEveryBlock) {
  RUN_CHECK(TooLargeForArena);
  RUN_CHECK(FailureMidLoadGivesBackEveryBlock);
  RUN_CHECK(CancelledLoadGivesBackEverything);
  RUN_CHECK(UnloadGivesBackEverything);
  RUN_CHECK(ConfigInconsistentWithTensors);
}

TEST(ModelRunnerTest, ScoreTokens) {
  RUN_CHECK(ScoreTokensShapeAndValidation);
  RUN_CHECK(ScoreTokensRowsDoNotDependOnChunking);
  RUN_CHECK(FirstGreedyTokenIsArgmaxOfLastScoredRow);
}

TEST(ModelRunnerTest, GreedyGenerationMatchesRecomputation) {
  for (const std::string preset : {"tiny", "tiny-gqa"}) {
    SCOPED_TRACE(preset);
    RUN_CHECK(KvCacheMatchesRecomputation, preset);
    RUN_CHECK(LongPromptMatchesRecomputation, preset);
    RUN_CHECK(DecodingAcrossAChunkBoundaryMatchesRecomputation, preset);
  }
  RUN_CHECK(GreedyIsDeterministicAlsoWhenInterleaved);
}

TEST(ModelRunnerTest, PrefillBatchPacksPromptsIntoPasses) { RUN_CHECK(PrefillBatchPacksPromptsIntoPasses); }

TEST(ModelRunnerTest, PromptsPrefilledTogetherMatchAlone) { RUN_CHECK(PromptsPrefilledTogetherMatchAlone); }

TEST(ModelRunnerTest, StepMixesDecodeRowsAndPromptChunks) { RUN_CHECK(StepMixesDecodeRowsAndPromptChunks); }

TEST(ModelRunnerTest, LongPromptJoinsARunningBatch) { RUN_CHECK(LongPromptJoinsARunningBatch); }

TEST(ModelRunnerTest, QueueLimitDeadlinesAndPriorities) { RUN_CHECK(QueueLimitDeadlinesAndPriorities); }

TEST(ModelRunnerTest, SampledGenerationDoesNotDependOnTheBatch) { RUN_CHECK(SampledIsTheSameAloneAndBatched); }

TEST(ModelRunnerTest, StreamedLayersGiveTheSameResults) { RUN_CHECK(StreamedLayersGiveTheSameResults); }

TEST(ModelRunnerTest, TenFiftyAndNinetyPercentStreamed) { RUN_CHECK(TenFiftyAndNinetyPercentStreamed); }

TEST(ModelRunnerTest, RequestLimitsAndValidation) {
  RUN_CHECK(MaxTokensAndUsage);
  RUN_CHECK(DefaultMaxTokensIsCappedByTheContext);
  RUN_CHECK(StopTokenEndsGeneration);
  RUN_CHECK(StreamedTextIsTheDecodedContinuation);
  RUN_CHECK(SubmitValidation);
}

TEST(ModelRunnerTest, Cancellation) {
  RUN_CHECK(CancelAllEndsRunningAndQueuedStreams);
  RUN_CHECK(CancelledStreamEnds);
}

TEST(ModelRunnerTest, SlotsAndCounters) { RUN_CHECK(SlotsAndCountersAfterEverythingFinished); }

}  // namespace
}  // namespace djinn
