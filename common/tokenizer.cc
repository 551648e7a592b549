#include "common/tokenizer.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/hf_tokenizer.h"
#include "common/tokenizer/sentencepiece_tokenizer.h"

namespace djinn {

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& directory) {
  const std::filesystem::path dir(directory);
  if (std::filesystem::exists(dir / "tokenizer.json")) return HfTokenizer::Load(directory);
  if (std::filesystem::exists(dir / "tokenizer.model")) return SentencePieceTokenizer::Load(directory);
  return absl::InvalidArgumentError(absl::StrCat("no tokenizer.json or tokenizer.model in ", directory));
}

}  // namespace djinn
