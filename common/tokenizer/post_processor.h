// tokenizer.json's "post_processor" for a single sequence: what
// add_special_tokens adds around the text's ids. Implemented:
// TemplateProcessing, ByteLevel (ids unchanged), RobertaProcessing,
// BertProcessing, Sequence. Anything else is refused at load.
#ifndef DJINN_COMMON_TOKENIZER_POST_PROCESSOR_H_
#define DJINN_COMMON_TOKENIZER_POST_PROCESSOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace djinn::tokenizer {

// A single-sequence template: ids before and after the text's.
struct SpecialTokensTemplate {
  std::vector<int32_t> prefix, suffix;
};

// `json` is the "post_processor" object, or null (nothing added).
absl::StatusOr<SpecialTokensTemplate> ParsePostProcessor(const nlohmann::json& json);

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_POST_PROCESSOR_H_
