// tokenizer.json's "decoder": turns the tokens of ids back into text, as HF
// `tokenizers` does (each decoder maps a list of token strings to another;
// the result is their concatenation). Implemented: Sequence, ByteLevel,
// Replace, ByteFallback, Fuse, Strip, Metaspace. Anything else is refused at
// load.
#ifndef DJINN_COMMON_TOKENIZER_DECODER_H_
#define DJINN_COMMON_TOKENIZER_DECODER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace djinn::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // `json` is the "decoder" object (not null).
  static absl::StatusOr<std::unique_ptr<Decoder>> FromJson(const nlohmann::json& json);
  virtual std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const = 0;
};

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_DECODER_H_
