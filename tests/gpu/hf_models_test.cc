// Models written by transformers itself, on the CUDA backend, against
// transformers: the GPU half of issue 12's check (the CPU half is
// tests/unit/hf_models_test.cc over the small CI fixtures).
//
// tests/hf/hf_models.py made, on this host, with transformers' own classes
// and save_pretrained (5.x layout, sharded): Llama (llama3 rope scaling,
// theta 500000), Llama with attention and MLP biases, Mistral, Qwen2 (q/k/v
// biases, tied embeddings) and Qwen3 (q/k norm, head_dim 128 apart from
// hidden/heads), hidden 768, 4 layers, GQA groups of 3 and 5, at the real
// tokenizers' vocabulary sizes with the real tokenizer files, each in
// float32 and bfloat16; and per model a reference: transformers' float64
// logits over a prompt, 64 greedy tokens, and (bf16) transformers' own bf16
// error. The prompt is a conversation rendered and tokenized by
// apply_chat_template with the model's real tokenizer (plain text for Llama
// 2's files, which have no template).
//
// Per model, here:
//   - Djinn's ChatTemplate and Tokenizer, loaded from the model directory,
//     give exactly apply_chat_template's text and prompt ids;
//   - the model with every layer resident, and again under a budget half a
//     layer short of that (layers stream through the ring buffer), holds to
//     hf_model_check.h's bounds: float32 within 1e-4 (relative, Frobenius
//     and max) with all 64 greedy tokens equal; bfloat16 within max(2e-2,
//     2 × transformers' own bf16 error) with the leading tokens out of
//     rounding's reach equal; the streamed run gives the resident run's
//     greedy tokens.
// And the chat fixtures made on this host (hf_models.py chat) against the
// same tokenizer files: 21 conversations per template, plain-text encoding.
//
//   gpu_hf_models_test --reference-dir REF [--chat-dir CHAT --tokenizers-dir TOK]
//
// Run by tests/gpu/check_hf_models.sh, which makes all of it. Not part of
// CTest (needs a GPU).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/backend/cuda/cuda_backend.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/hf/hf_chat_check.h"
#include "tests/hf/hf_model_check.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;
using hf_check::Reference;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kSlack = 1ull << 30;  // KV cache (one short context) and workspace

fs::path EnvPath(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? fs::path(value) : fs::path();
}

std::vector<fs::path> JsonFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code error;
  if (dir.empty() || !fs::is_directory(dir, error)) return out;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.path().extension() == ".json") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ParamName(const fs::path& path) {
  std::string name = path.stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

CudaBackend* TheGpu() {
  static CudaBackend* backend = [] {
    absl::StatusOr<std::unique_ptr<CudaBackend>> b = CudaBackend::Create();
    if (!b.ok()) {
      std::fprintf(stderr, "gpu_hf_models_test: no usable CUDA device: %s\n", b.status().ToString().c_str());
      return static_cast<CudaBackend*>(nullptr);
    }
    return b->release();
  }();
  return backend;
}

// ------------------------------------------------------------ results table

struct Row {
  std::string model, run, compute;
  hf_check::LogitError error;
  hf_check::Bounds bounds;
  size_t greedy_agree = 0, greedy_total = 0;
  std::string hf_half_agree = "—";  // Djinn's greedy vs transformers' own in the same half dtype
  int64_t streamed_layers = 0, layers = 0;
  double load_s = 0, score_s = 0, generate_s = 0;
  bool ok = false;
};

std::vector<Row>& Rows() {
  static std::vector<Row> rows;
  return rows;
}

class TableEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (Rows().empty()) return;
    std::printf("\n### Djinn (CUDA) vs transformers on models transformers wrote\n\n");
    std::printf("| model | run | compute | rel ‖·‖ | max | bound rel / max | greedy = reference (required) "
                "| = HF same-dtype greedy | streamed layers | load s | score s | generate s | result |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const Row& r : Rows()) {
      std::printf("| %s | %s | %s | %.2e | %.2e | %.1e / %.1e | %zu/%zu (%zu) | %s | %lld/%lld | %.2f | %.3f | %.3f "
                  "| %s |\n",
                  r.model.c_str(), r.run.c_str(), r.compute.c_str(), r.error.rel_fro, r.error.max_rel, r.bounds.rel,
                  r.bounds.max, r.greedy_agree, r.greedy_total, r.bounds.greedy_required, r.hf_half_agree.c_str(),
                  static_cast<long long>(r.streamed_layers), static_cast<long long>(r.layers), r.load_s, r.score_s,
                  r.generate_s, r.ok ? "ok" : "FAIL");
    }
    std::printf("\n");
    std::fflush(stdout);
  }
};
[[maybe_unused]] ::testing::Environment* const kTable = ::testing::AddGlobalTestEnvironment(new TableEnvironment);

// Holds `run` to the reference's bounds and records a table row.
void ExpectMatches(const Reference& ref, const hf_check::Run& run, const std::string& what) {
  Row row;
  row.model = ref.name;
  row.run = what;
  row.compute = DTypeName(run.compute);
  row.streamed_layers = run.plan.streamed_layers;
  row.layers = static_cast<int64_t>(run.plan.layers.size());
  row.load_s = run.load_s;
  row.score_s = run.score_s;
  row.generate_s = run.generate_s;
  row.greedy_total = run.greedy.size();
  EXPECT_TRUE(run.status.ok()) << ref.name << " " << what << ": " << run.status;
  row.error = hf_check::Compare(run.logits, ref.logits, ref.prompt.size(), ref.vocab);
  row.bounds = hf_check::BoundsFor(ref, run.compute, row.error.max_abs);
  row.greedy_agree = hf_check::LeadingAgreement(run.greedy, ref.greedy);
  // Printed, not asserted: both sides round in half precision.
  if (run.compute != DType::kFloat32 && !ref.hf_half_greedy.empty()) {
    row.hf_half_agree = absl::StrFormat("%zu/%zu", hf_check::LeadingAgreement(run.greedy, ref.hf_half_greedy),
                                        ref.hf_half_greedy.size());
  }
  EXPECT_TRUE(row.error.finite) << ref.name << " " << what << ": non-finite or missing logits";
  EXPECT_LE(row.error.rel_fro, row.bounds.rel) << ref.name << " " << what << ": ‖djinn − ref‖/‖ref‖";
  EXPECT_LE(row.error.max_rel, row.bounds.max) << ref.name << " " << what << ": max|djinn − ref|/max|ref|";
  EXPECT_EQ(run.finish, FinishReason::kLength) << ref.name << " " << what;
  EXPECT_EQ(run.greedy.size(), ref.greedy.size()) << ref.name << " " << what;
  EXPECT_GE(row.greedy_agree, row.bounds.greedy_required)
      << ref.name << " " << what << ": greedy tokens equal the reference for " << row.greedy_agree
      << (row.greedy_agree < ref.gaps.size() ? absl::StrCat(" (reference top-2 gap there: ", ref.gaps[row.greedy_agree], ")")
                                             : "");
  row.ok = run.status.ok() && row.error.finite && row.error.rel_fro <= row.bounds.rel &&
           row.error.max_rel <= row.bounds.max && run.finish == FinishReason::kLength &&
           run.greedy.size() == ref.greedy.size() && row.greedy_agree >= row.bounds.greedy_required;
  std::printf("%s %s: compute %s, rel %.3e max %.3e (bounds %.1e / %.1e), greedy %zu/%zu (%zu required), "
              "%lld of %lld layers streamed\n",
              ref.name.c_str(), what.c_str(), row.compute.c_str(), row.error.rel_fro, row.error.max_rel,
              row.bounds.rel, row.bounds.max, row.greedy_agree, ref.greedy.size(), row.bounds.greedy_required,
              static_cast<long long>(row.streamed_layers), static_cast<long long>(row.layers));
  std::fflush(stdout);
  Rows().push_back(row);
}

// ------------------------------------------------------------ models

class HfGpuModelTest : public ::testing::TestWithParam<fs::path> {};

TEST_P(HfGpuModelTest, ChatPromptResidentAndStreamedMatchTransformers) {
  CudaBackend* gpu = TheGpu();
  ASSERT_NE(gpu, nullptr) << "no usable CUDA device";
  absl::StatusOr<Reference> read = hf_check::ReadReference(GetParam());
  ASSERT_TRUE(read.ok()) << read.status();
  const Reference& ref = *read;

  // The prompt: apply_chat_template's ids, which Djinn must reproduce from the model directory.
  const nlohmann::json& chat = ref.json.value("chat", nlohmann::json());
  if (!chat.is_null()) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load(ref.model_dir.string());
    absl::StatusOr<std::unique_ptr<ChatTemplate>> tmpl = ChatTemplate::Load(ref.model_dir.string());
    EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
    EXPECT_TRUE(tmpl.ok()) << tmpl.status();
    if (tokenizer.ok() && tmpl.ok()) {
      hf_check::ExpectChatCaseMatches(**tmpl, **tokenizer, chat, ref.name + " prompt");
    }
    EXPECT_EQ(chat.at("ids").get<std::vector<int32_t>>(), ref.prompt);
  }

  const DType compute = gpu->ComputeDType(ref.stored);
  const hf_check::Run resident = hf_check::RunModel(
      *gpu, hf_check::ResidentArenaBytes(ref.model_dir, ref.stored, compute, kSlack), ref.model_dir,
      hf_check::SettingsFor(ref), ref);
  EXPECT_EQ(resident.plan.streamed_layers, 0);
  ExpectMatches(ref, resident, "resident");
  ASSERT_TRUE(resident.status.ok());

  // Half a layer short of the all-resident plan (whole MiB): layers stream.
  const uint64_t short_budget = (resident.plan.total_bytes() - resident.plan.layer_bytes / 2) / kMiB * kMiB;
  const hf_check::Run streamed =
      hf_check::RunModel(*gpu, short_budget, ref.model_dir, hf_check::SettingsFor(ref), ref);
  EXPECT_GT(streamed.plan.streamed_layers, 0) << "the budget did not make any layer stream";
  ExpectMatches(ref, streamed, "streamed");
  EXPECT_EQ(streamed.greedy, resident.greedy) << "streaming changed the greedy tokens";
  if (streamed.logits.size() == resident.logits.size()) {
    const hf_check::LogitError apart =
        hf_check::Compare(streamed.logits, resident.logits, ref.prompt.size(), ref.vocab);
    std::printf("%s: streamed vs resident logits: max abs %.3e\n", ref.name.c_str(), apart.max_abs);
  }
}

INSTANTIATE_TEST_SUITE_P(References, HfGpuModelTest,
                         ::testing::ValuesIn(hf_check::ReferenceFiles(EnvPath("DJINN_HF_REFERENCE_DIR"))),
                         [](const ::testing::TestParamInfo<fs::path>& info) { return ParamName(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(HfGpuModelTest);

// Every architecture in float32 and bfloat16, and the biased Llama.
TEST(HfGpuModelSet, CoversTheArchitectures) {
  const std::vector<fs::path> files = hf_check::ReferenceFiles(EnvPath("DJINN_HF_REFERENCE_DIR"));
  ASSERT_FALSE(files.empty()) << "no references in '" << EnvPath("DJINN_HF_REFERENCE_DIR").string()
                              << "' (--reference-dir)";
  std::set<std::string> have;
  for (const fs::path& path : files) {
    std::ifstream in(path);
    const nlohmann::json j = nlohmann::json::parse(in);
    have.insert(j.at("name").get<std::string>());
  }
  for (const char* want : {"llama-float32", "llama-bfloat16", "llama-bias-float32", "mistral-float32",
                           "mistral-bfloat16", "qwen2-float32", "qwen2-bfloat16", "qwen3-float32", "qwen3-bfloat16"}) {
    EXPECT_TRUE(have.count(want)) << "no reference for " << want;
  }
}

// ------------------------------------------------------------ chat

class HfGpuChatTest : public ::testing::TestWithParam<fs::path> {};

TEST_P(HfGpuChatTest, RendersAndTokenizesAsTransformers) {
  std::ifstream in(GetParam());
  const nlohmann::json fixture = nlohmann::json::parse(in);
  hf_check::ExpectChatFixtureMatches(fixture,
                                     EnvPath("DJINN_HF_TOKENIZERS_DIR") / fixture.at("tokenizer").get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Chat, HfGpuChatTest, ::testing::ValuesIn(JsonFiles(EnvPath("DJINN_HF_CHAT_DIR"))),
                         [](const ::testing::TestParamInfo<fs::path>& info) { return ParamName(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(HfGpuChatTest);

}  // namespace
}  // namespace djinn

// --reference-dir, --chat-dir and --tokenizers-dir (DIR or =DIR) set the
// environment variables the parameterised tests read, before InitGoogleTest
// generates them.
int main(int argc, char** argv) {
  const std::pair<const char*, const char*> flags[] = {{"--reference-dir", "DJINN_HF_REFERENCE_DIR"},
                                                       {"--chat-dir", "DJINN_HF_CHAT_DIR"},
                                                       {"--tokenizers-dir", "DJINN_HF_TOKENIZERS_DIR"}};
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    bool taken = false;
    for (const auto& [flag, env] : flags) {
      const std::string with_value = std::string(flag) + "=";
      if (arg == flag && i + 1 < argc) {
        ::setenv(env, argv[++i], 1);
        taken = true;
      } else if (arg.rfind(with_value, 0) == 0) {
        ::setenv(env, arg.substr(with_value.size()).c_str(), 1);
        taken = true;
      }
      if (taken) break;
    }
    if (!taken) args.push_back(argv[i]);
  }
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  ::testing::InitGoogleTest(&count, args.data());
  return RUN_ALL_TESTS();
}
