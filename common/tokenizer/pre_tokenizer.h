// tokenizer.json's "pre_tokenizer": splits normalised text into the words
// the BPE model encodes one by one, as HF `tokenizers` does. Implemented:
// Sequence, Split (string or regex pattern, every delimiter behaviour,
// invert), ByteLevel (with or without GPT-2's regex, add_prefix_space) and
// Metaspace (replacement, prepend_scheme, split). Anything else is refused at
// load.
#ifndef DJINN_COMMON_TOKENIZER_PRE_TOKENIZER_H_
#define DJINN_COMMON_TOKENIZER_PRE_TOKENIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace djinn::tokenizer {

struct Word {
  std::string text;
  // The word starts at the beginning of the input text (before added tokens
  // were cut out): Metaspace's prepend_scheme "first" asks.
  bool at_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // `json` is the "pre_tokenizer" object (not null).
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromJson(const nlohmann::json& json);
  // Splits every word further; empty words are dropped.
  virtual std::vector<Word> PreTokenize(std::vector<Word> words) const = 0;
};

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_PRE_TOKENIZER_H_
