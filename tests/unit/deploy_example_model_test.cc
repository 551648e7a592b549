// The deploy examples name models that load. Every `--model=NAME=DIR` of a
// Kubernetes overlay's flag file has its published config.json and
// generation_config.json under tests/data/deploy/DIR/ (as the Hub ships them;
// the weights are not needed to check them), and Djinn's readers accept them
// and read what the model is. The tokenizer and chat template of those models
// are checked by the conformance tests (conformance.tokenizer runs the real
// Llama 3.1 tokenizer.json, conformance.chat_template its real template).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/generation_config.h"
#include "common/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

struct FlagFile {
  std::vector<std::pair<std::string, std::string>> models;  // NAME, DIR
  int64_t preload_max_context = 0;
};

FlagFile ReadFlags(const fs::path& path) {
  std::ifstream in(path);
  FlagFile flags;
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "--model=")) {
      for (absl::string_view entry : absl::StrSplit(line.substr(8), ',')) {
        std::pair<std::string, std::string> name_dir = absl::StrSplit(entry, absl::MaxSplits('=', 1));
        flags.models.push_back(name_dir);
      }
    } else if (absl::StartsWith(line, "--preload_max_context=")) {
      EXPECT_TRUE(absl::SimpleAtoi(line.substr(22), &flags.preload_max_context)) << line;
    }
  }
  return flags;
}

std::vector<fs::path> OverlayFlagFiles() {
  std::vector<fs::path> files;
  for (const auto& overlay : fs::directory_iterator(fs::path(DJINN_SOURCE_DIR) / "deploy/kubernetes/overlays")) {
    const fs::path flags = overlay.path() / "djinnd.flags";
    if (fs::exists(flags)) files.push_back(flags);
  }
  return files;
}

TEST(DeployExampleModelTest, EveryPreloadedModelsConfigLoads) {
  const std::vector<fs::path> files = OverlayFlagFiles();
  ASSERT_FALSE(files.empty());
  int models = 0;
  for (const fs::path& file : files) {
    const FlagFile flags = ReadFlags(file);
    for (const auto& [name, dir] : flags.models) {
      SCOPED_TRACE(file.string() + ": " + name + "=" + dir);
      const fs::path files_dir = fs::path(DJINN_SOURCE_DIR) / "tests/data/deploy" / dir;
      ASSERT_TRUE(fs::exists(files_dir / "config.json")) << "add the model's published config.json there";
      absl::StatusOr<ModelConfig> config = LoadModelConfig(files_dir.string());
      ASSERT_TRUE(config.ok()) << config.status();
      absl::StatusOr<std::vector<int64_t>> eos = LoadGenerationEosTokenIds(files_dir.string());
      ASSERT_TRUE(eos.ok()) << eos.status();
      if (flags.preload_max_context > 0) {
        EXPECT_LE(flags.preload_max_context, config->max_position_embeddings);
      }
      ++models;
    }
  }
  EXPECT_GT(models, 0);
}

// The example overlay's model, read as the published files say it is.
TEST(DeployExampleModelTest, Llama31_70BInstructIsReadAsPublished) {
  const std::string dir = std::string(DJINN_SOURCE_DIR) + "/tests/data/deploy/Llama-3.1-70B-Instruct";
  absl::StatusOr<ModelConfig> config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, "LlamaForCausalLM");
  EXPECT_EQ(config->rope_theta, 500000.0);
  EXPECT_EQ(config->rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_EQ(config->rope_scaling.factor, 8.0);
  EXPECT_EQ(config->num_key_value_heads, 8);
  // Meta's published parameter count for Llama 3.1 70B.
  EXPECT_EQ(config->ParameterCount(), 70'553'706'496ull);
  absl::StatusOr<std::vector<int64_t>> eos = LoadGenerationEosTokenIds(dir);
  ASSERT_TRUE(eos.ok()) << eos.status();
  EXPECT_THAT(UnionOfTokenIds(config->eos_token_ids, *eos), ElementsAre(128001, 128008, 128009));
}

}  // namespace
}  // namespace djinn
