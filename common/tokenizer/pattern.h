// The {"String": ...} / {"Regex": ...} patterns of tokenizer.json's Split,
// Replace normaliser and Replace decoder: where they match in a text; and
// Replace itself, which the normaliser and the decoder share.
#ifndef DJINN_COMMON_TOKENIZER_PATTERN_H_
#define DJINN_COMMON_TOKENIZER_PATTERN_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer/regex.h"
#include "nlohmann/json.hpp"

namespace djinn::tokenizer {

class Pattern {
 public:
  static absl::StatusOr<Pattern> FromJson(const nlohmann::json& json, const std::string& what);
  static Pattern Literal(std::string text) { return Pattern(std::move(text), std::nullopt); }

  // Non-overlapping [begin, end) matches, leftmost first (an empty literal
  // matches nowhere).
  std::vector<std::pair<size_t, size_t>> FindAll(std::string_view text) const;
  // Every match replaced by `content`.
  std::string ReplaceAll(std::string_view text, std::string_view content) const;

 private:
  Pattern(std::string literal, std::optional<Regex> regex) : literal_(std::move(literal)), regex_(std::move(regex)) {}
  std::string literal_;
  std::optional<Regex> regex_;
};

// Replace, one component of HF `tokenizers` that serves as a normalizer and
// as a decoder: every match of its pattern becomes its content.
class Replacement {
 public:
  // From the component's object ("type", "pattern", "content"); `what` names
  // it in messages.
  static absl::StatusOr<Replacement> FromJson(const nlohmann::json& json, const std::string& what);

  std::string Apply(std::string_view text) const { return pattern_.ReplaceAll(text, content_); }

 private:
  Replacement(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  Pattern pattern_;
  std::string content_;
};

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_PATTERN_H_
