// Djinn's CPU engine against HuggingFace transformers.
//
// tests/fixtures/reference_<preset>.json were made by
// tests/reference/make_reference.py: transformers' LlamaForCausalLM, run in
// float64 on the test model that `djinnctl make-test-model` writes for the
// preset and seed recorded in the fixture. Here the same model is written
// again (its files must hash the same, or the fixture is stale), loaded by
// the engine, and its fp32 logits and greedy tokens compared.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "common/testmodel/test_model.h"
#include "common/tokenizer.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/engine/model_loader.h"
#include "daemon/engine/model_runner.h"
#include "daemon/memory/arena.h"
#include "tests/unit/support/file_sha256.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

// The bound for fp32: max |djinn - reference| / max |reference|.
constexpr double kMaxRelativeError = 1e-4;
constexpr size_t kMinGreedyAgreement = 32;

std::vector<fs::path> Fixtures() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(fs::path(DJINN_SOURCE_DIR) / "tests" / "fixtures")) {
    if (entry.path().filename().string().rfind("reference_", 0) == 0) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class ReferenceTest : public ::testing::TestWithParam<fs::path> {
 protected:
  void SetUp() override {
    std::ifstream in(GetParam());
    fixture_ = nlohmann::json::parse(in);
    dir_ = fs::temp_directory_path() / ("djinn-reference-" + GetParam().stem().string() + "-" +
                                        std::to_string(::getpid()));
    testmodel::TestModelOptions options;
    options.preset = fixture_["preset"].get<std::string>();
    options.seed = fixture_["seed"].get<uint64_t>();
    options.out_dir = dir_.string();
    ASSERT_TRUE(testmodel::WriteTestModel(options).ok());
  }
  void TearDown() override {
    arena_.reset();
    if (base_ != nullptr) backend_.ReleaseArena(base_, kArenaBytes);
    fs::remove_all(dir_);
  }

  std::unique_ptr<ModelRunner> LoadRunner() {
    auto base = backend_.ReserveArena(kArenaBytes);
    EXPECT_TRUE(base.ok());
    arena_ = std::make_unique<Arena>(*base, kArenaBytes);
    base_ = *base;
    auto loaded = LoadModel(dir_.string(), LoadSettings{}, &backend_, arena_.get());
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded.ok() ? std::make_unique<ModelRunner>(*std::move(loaded)) : nullptr;
  }

  static constexpr uint64_t kArenaBytes = 256ull << 20;
  nlohmann::json fixture_;
  fs::path dir_;
  CpuBackend backend_;
  std::byte* base_ = nullptr;
  std::unique_ptr<Arena> arena_;
};

TEST_P(ReferenceTest, ModelFilesAreTheOnesTheReferenceRan) {
  for (const auto& [name, sha] : fixture_["files"].items()) {
    EXPECT_EQ(testing::FileSha256(dir_ / name), sha.get<std::string>())
        << name << ": the fixture is stale or the writer changed";
  }
}

TEST_P(ReferenceTest, PromptLogitsMatchTransformers) {
  auto runner = LoadRunner();
  ASSERT_NE(runner, nullptr);
  const std::vector<int32_t> prompt = fixture_["prompt_ids"].get<std::vector<int32_t>>();
  auto logits = runner->ScoreTokens(prompt);
  ASSERT_TRUE(logits.ok()) << logits.status();
  const auto& reference = fixture_["prompt_logits"];
  const size_t vocab = reference[0].size();
  ASSERT_EQ(logits->size(), prompt.size() * vocab);
  double max_error = 0, max_reference = 0;
  for (size_t t = 0; t < prompt.size(); ++t) {
    for (size_t v = 0; v < vocab; ++v) {
      const double expected = reference[t][v].get<double>();
      const double actual = (*logits)[t * vocab + v];
      ASSERT_TRUE(std::isfinite(actual));
      max_error = std::max(max_error, std::abs(actual - expected));
      max_reference = std::max(max_reference, std::abs(expected));
    }
  }
  const double relative = max_error / max_reference;
  EXPECT_LE(relative, kMaxRelativeError) << "max abs error " << max_error << " of max |logit| " << max_reference;
  RecordProperty("max_relative_error", std::to_string(relative));
  std::printf("%s: max relative logit error %.3g\n", GetParam().stem().c_str(), relative);
}

TEST_P(ReferenceTest, GreedyTokensMatchTransformers) {
  auto runner = LoadRunner();
  ASSERT_NE(runner, nullptr);
  const std::vector<int32_t> expected = fixture_["greedy_ids"].get<std::vector<int32_t>>();
  ASSERT_GE(expected.size(), kMinGreedyAgreement);
  GenerationRequest request;
  request.prompt_ids = fixture_["prompt_ids"].get<std::vector<int32_t>>();
  request.max_tokens = static_cast<uint32_t>(expected.size());
  request.ignore_eos = true;
  auto stream = runner->Submit(request);
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::vector<int32_t> generated;
  GenerationEvent event;
  do {
    ASSERT_TRUE((*stream)->Next(&event, absl::Seconds(30)));
    ASSERT_TRUE(event.error.ok()) << event.error;
    generated.insert(generated.end(), event.token_ids.begin(), event.token_ids.end());
  } while (event.finish == FinishReason::kNone);
  EXPECT_EQ(event.finish, FinishReason::kLength);
  EXPECT_EQ(generated, expected);
}

TEST_P(ReferenceTest, TokenizerMatchesSentencePiece) {
  auto tokenizer = Tokenizer::Load(dir_.string());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ASSERT_FALSE(fixture_["tokenizer_cases"].empty());
  for (const auto& c : fixture_["tokenizer_cases"]) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ((*tokenizer)->Encode(text), ids) << "\"" << text << "\"";
    EXPECT_EQ((*tokenizer)->Decode(ids), c["decoded"].get<std::string>()) << "\"" << text << "\"";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceTest, ::testing::ValuesIn(Fixtures()),
                         [](const ::testing::TestParamInfo<fs::path>& info) {
                           std::string name = info.param.stem().string();
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(ReferenceFixtures, CoverMhaAndGqaPresets) {
  std::set<std::string> presets;
  for (const fs::path& path : Fixtures()) {
    std::ifstream in(path);
    presets.insert(nlohmann::json::parse(in)["preset"].get<std::string>());
  }
  EXPECT_TRUE(presets.count("tiny")) << "Llama-2-style (MHA) fixture missing";
  EXPECT_TRUE(presets.count("tiny-gqa")) << "Llama-3-style (GQA, rope scaling) fixture missing";
  EXPECT_TRUE(presets.count("tiny-tied")) << "tied-embedding fixture missing";
}

}  // namespace
}  // namespace djinn
