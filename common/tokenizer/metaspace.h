// Metaspace, SentencePiece's treatment of spaces as HF `tokenizers` has it:
// the pre-tokenizer turns spaces into a replacement character and may
// prepend one to a word; the decoder turns them back and drops the one it
// prepended. Both read when it prepends from the same tokenizer.json keys.
#ifndef DJINN_COMMON_TOKENIZER_METASPACE_H_
#define DJINN_COMMON_TOKENIZER_METASPACE_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace djinn::tokenizer {

// Which words get the replacement character prepended: all, the first of
// the text only, or none.
enum class PrependScheme { kAlways, kFirst, kNever };

// A Metaspace component's "prepend_scheme" or, in older files without it,
// "add_prefix_space" (true is kAlways, false kNever; absent is true). `what`
// names the component in messages.
absl::StatusOr<PrependScheme> GetPrependScheme(const nlohmann::json& object, const std::string& what);

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_METASPACE_H_
