#include "common/tokenizer/pattern.h"

#include "absl/strings/str_cat.h"
#include "common/tokenizer/json_fields.h"

namespace djinn::tokenizer {

absl::StatusOr<Pattern> Pattern::FromJson(const nlohmann::json& json, const std::string& what) {
  if (json.is_object() && json.size() == 1) {
    if (auto it = json.find("String"); it != json.end() && it->is_string()) return Literal(it->get<std::string>());
    if (auto it = json.find("Regex"); it != json.end() && it->is_string()) {
      absl::StatusOr<Regex> regex = Regex::Compile(it->get<std::string>());
      if (!regex.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, ": ", regex.status().message()));
      }
      return Pattern("", *std::move(regex));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer.json: ", what, " pattern ", json.dump(), " is not {\"String\": ...} or {\"Regex\": ...}"));
}

std::vector<std::pair<size_t, size_t>> Pattern::FindAll(std::string_view text) const {
  if (regex_.has_value()) return regex_->FindAll(text);
  std::vector<std::pair<size_t, size_t>> matches;
  if (literal_.empty()) return matches;
  for (size_t at = text.find(literal_); at != std::string_view::npos; at = text.find(literal_, at + literal_.size())) {
    matches.emplace_back(at, at + literal_.size());
  }
  return matches;
}

std::string Pattern::ReplaceAll(std::string_view text, std::string_view content) const {
  std::string out;
  size_t previous = 0;
  for (const auto& [begin, end] : FindAll(text)) {
    out.append(text.substr(previous, begin - previous));
    out.append(content);
    previous = end;
  }
  out.append(text.substr(previous));
  return out;
}

absl::StatusOr<Replacement> Replacement::FromJson(const nlohmann::json& json, const std::string& what) {
  if (absl::Status s = CheckKeys(json, what, {"type", "pattern", "content"}); !s.ok()) return s;
  absl::StatusOr<std::string> content = GetString(json, "content", what);
  if (!content.ok()) return content.status();
  absl::StatusOr<Pattern> pattern = Pattern::FromJson(json.value("pattern", nlohmann::json()), what);
  if (!pattern.ok()) return pattern.status();
  return Replacement(*std::move(pattern), *std::move(content));
}

}  // namespace djinn::tokenizer
