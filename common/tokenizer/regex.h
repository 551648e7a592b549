// The split regexes of tokenizer.json, run by PCRE2 (UTF + UCP, JIT when
// available). `tokenizers` compiles them with Oniguruma, whose \s is not
// quite PCRE2's (PCRE2 also counts U+180E MONGOLIAN VOWEL SEPARATOR); \s and
// \S are spelled out as Oniguruma means them, and \p{L}-style general
// categories get the characters of Unicode 15 that PCRE2 10.42 (Unicode 14)
// does not know yet (their categories from utf8proc, which has Unicode 15, as
// Oniguruma has), so both engines split alike.
#ifndef DJINN_COMMON_TOKENIZER_REGEX_H_
#define DJINN_COMMON_TOKENIZER_REGEX_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn::tokenizer {

class Regex {
 public:
  // INVALID_ARGUMENT with PCRE2's message if the pattern does not compile.
  static absl::StatusOr<Regex> Compile(std::string_view oniguruma_pattern);

  // [begin, end) byte ranges of the successive non-overlapping matches in
  // `text` (valid UTF-8), leftmost first; an empty match advances by one
  // character, as Oniguruma's find_iter does. Thread-safe.
  std::vector<std::pair<size_t, size_t>> FindAll(std::string_view text) const;

  // The pattern as PCRE2 got it.
  const std::string& pcre2_pattern() const { return pattern_; }

 private:
  struct Code;
  Regex(std::string pattern, std::shared_ptr<const Code> code) : pattern_(std::move(pattern)), code_(std::move(code)) {}

  std::string pattern_;
  std::shared_ptr<const Code> code_;
};

// Oniguruma's \s, \S and \p{..} spelled for PCRE2 (exposed for tests).
absl::StatusOr<std::string> OnigurumaToPcre2(std::string_view pattern);

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_REGEX_H_
