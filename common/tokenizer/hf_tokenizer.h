// A tokenizer.json tokenizer, computed as HF `tokenizers` computes it, with
// the BOS/EOS rules of tokenizer_config.json:
//
//   text -> added tokens cut out of the raw text (normalized=false ones)
//        -> normalizer, per remaining piece -> added tokens cut out of the
//           normalised text (normalized=true ones) -> pre_tokenizer -> BPE
//        -> post_processor (with add_special_tokens)
//
// Each stage lives in its own file beside this one. Everything in
// tokenizer.json that could change the ids and that Djinn does not implement
// (a component type, an option, truncation or padding) is refused at load
// with INVALID_ARGUMENT naming it.
//
// tokenizer_config.json: bos_token/eos_token name the BOS/EOS. For the
// tokenizer classes that transformers rebuilds the post-processor of from
// add_bos_token/add_eos_token (LlamaTokenizer[Fast], CodeLlamaTokenizer[Fast],
// GemmaTokenizer[Fast]), Djinn does the same; for the others (e.g.
// PreTrainedTokenizerFast, Qwen2Tokenizer) tokenizer.json's post_processor
// alone decides, as in transformers. split_special_tokens=true stops special
// tokens written in the text from being matched.
#ifndef DJINN_COMMON_TOKENIZER_HF_TOKENIZER_H_
#define DJINN_COMMON_TOKENIZER_HF_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer.h"
#include "common/tokenizer/added_vocabulary.h"
#include "common/tokenizer/bpe_model.h"
#include "common/tokenizer/decoder.h"
#include "common/tokenizer/normalizer.h"
#include "common/tokenizer/post_processor.h"
#include "common/tokenizer/pre_tokenizer.h"

namespace djinn {

class HfTokenizer : public Tokenizer {
 public:
  // <directory>/tokenizer.json and, when present, tokenizer_config.json.
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> Load(const std::string& directory);
  // From the files' contents (`tokenizer_config` empty: none).
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> FromJson(std::string_view tokenizer_json,
                                                               std::string_view tokenizer_config);

  using Tokenizer::Encode;
  std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens) const override;
  std::string Decode(std::span<const int32_t> ids) const override;
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  int32_t vocab_size() const override;

 private:
  HfTokenizer() = default;
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> FromJsonUnchecked(std::string_view tokenizer_json,
                                                                        std::string_view tokenizer_config);
  absl::Status ReadConfig(std::string_view tokenizer_config);

  std::unique_ptr<tokenizer::Normalizer> normalizer_;      // may be null
  std::unique_ptr<tokenizer::PreTokenizer> pre_tokenizer_;  // may be null
  std::unique_ptr<tokenizer::BpeModel> model_;
  std::unique_ptr<tokenizer::Decoder> decoder_;  // may be null: tokens joined by spaces
  std::optional<tokenizer::AddedVocabulary> added_;
  tokenizer::SpecialTokensTemplate template_;
  bool split_special_tokens_ = false;
};

}  // namespace djinn

#endif  // DJINN_COMMON_TOKENIZER_HF_TOKENIZER_H_
