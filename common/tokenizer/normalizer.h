// tokenizer.json's "normalizer": rewrites the text before pre-tokenization,
// as HF `tokenizers` does. Implemented: Sequence, Prepend, Replace (string
// or regex pattern), NFC, NFD, NFKC, NFKD. Any other type or option is
// refused at load.
#ifndef DJINN_COMMON_TOKENIZER_NORMALIZER_H_
#define DJINN_COMMON_TOKENIZER_NORMALIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace djinn::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `json` is the "normalizer" object (not null).
  static absl::StatusOr<std::unique_ptr<Normalizer>> FromJson(const nlohmann::json& json);
  virtual std::string Normalize(std::string text) const = 0;
};

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_NORMALIZER_H_
