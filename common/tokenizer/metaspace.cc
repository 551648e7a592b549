#include "common/tokenizer/metaspace.h"

#include "absl/strings/str_cat.h"
#include "common/tokenizer/json_fields.h"

namespace djinn::tokenizer {

absl::StatusOr<PrependScheme> GetPrependScheme(const nlohmann::json& object, const std::string& what) {
  if (auto it = object.find("prepend_scheme"); it != object.end() && !it->is_null()) {
    const std::string name = it->is_string() ? it->get<std::string>() : "";
    if (name == "always") return PrependScheme::kAlways;
    if (name == "first") return PrependScheme::kFirst;
    if (name == "never") return PrependScheme::kNever;
    return Unsupported(absl::StrCat(what, " prepend_scheme ", it->dump()));
  }
  absl::StatusOr<bool> add_prefix_space = GetBool(object, "add_prefix_space", what, true);
  if (!add_prefix_space.ok()) return add_prefix_space.status();
  return *add_prefix_space ? PrependScheme::kAlways : PrependScheme::kNever;
}

}  // namespace djinn::tokenizer
