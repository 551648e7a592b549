// The {"String": ...} / {"Regex": ...} patterns of tokenizer.json's Split,
// Replace normaliser and Replace decoder: where they match in a text.
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

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_PATTERN_H_
