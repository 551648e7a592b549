// The model's tokenizer, as an interface with two implementations:
//   - HfTokenizer (common/tokenizer/hf_tokenizer.h): tokenizer.json (+
//     tokenizer_config.json), computed as HF `tokenizers` does. Llama 3.x,
//     Qwen2.5/Qwen3, Mistral and the tokenizer.json form of Llama 2.
//   - SentencePieceTokenizer (common/tokenizer/sentencepiece_tokenizer.h):
//     a SentencePiece BPE tokenizer.model, as Llama 1/2 checkpoints ship it.
// Load() picks tokenizer.json when the directory has one, as transformers'
// fast tokenizers do.
//
// Implementations are immutable after loading: Encode/Decode may be called
// from several threads at once.
#ifndef DJINN_COMMON_TOKENIZER_H_
#define DJINN_COMMON_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // <directory>/tokenizer.json (with tokenizer_config.json when present),
  // else <directory>/tokenizer.model. INVALID_ARGUMENT naming the file and
  // the part of it Djinn does not implement, or when neither file exists.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& directory);

  // HF's tokenizer(text, add_special_tokens=...).input_ids. Special and added
  // tokens written in the text are matched as tokens (as `tokenizers` does by
  // default). add_special_tokens adds what the tokenizer's rules add around
  // the text (the post-processor, e.g. Llama's BOS); for tokenizer.model, the
  // BOS. Invalid UTF-8 in `text` is read as U+FFFD.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens) const = 0;
  // Encode(text, /*add_special_tokens=*/false): the text's own tokens only.
  std::vector<int32_t> Encode(std::string_view text) const { return Encode(text, false); }

  // HF's decode(ids, skip_special_tokens=True): special tokens, and ids the
  // tokenizer does not know (the model's vocabulary may be larger), decode
  // to nothing.
  virtual std::string Decode(std::span<const int32_t> ids) const = 0;

  // The id of a token, added and special tokens included (HF's
  // convert_tokens_to_ids), or nullopt.
  virtual std::optional<int32_t> TokenToId(std::string_view token) const = 0;

  // One more than the largest id the tokenizer knows, added tokens included.
  virtual int32_t vocab_size() const = 0;

  // The BOS/EOS tokens: tokenizer_config.json's bos_token/eos_token for
  // tokenizer.json, the model's own for tokenizer.model. nullopt if none.
  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> eos_id() const { return eos_id_; }
  const std::optional<std::string>& bos_token() const { return bos_token_; }
  const std::optional<std::string>& eos_token() const { return eos_token_; }

 protected:
  std::optional<int32_t> bos_id_, eos_id_;
  std::optional<std::string> bos_token_, eos_token_;
};

}  // namespace djinn

#endif  // DJINN_COMMON_TOKENIZER_H_
