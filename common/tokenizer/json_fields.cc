#include "common/tokenizer/json_fields.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace djinn::tokenizer {

absl::Status CheckKeys(const nlohmann::json& object, const std::string& what,
                       std::initializer_list<std::string_view> known) {
  if (!object.is_object()) return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " is not an object"));
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " key \"", key, "\" is not supported"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetString(const nlohmann::json& object, const std::string& key, const std::string& what) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " needs a string \"", key, "\""));
  }
  return it->get<std::string>();
}

absl::StatusOr<bool> GetBool(const nlohmann::json& object, const std::string& key, const std::string& what,
                             bool default_value) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return default_value;
  if (!it->is_boolean()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " \"", key, "\" is not a boolean"));
  }
  return it->get<bool>();
}

absl::StatusOr<int64_t> GetInt(const nlohmann::json& object, const std::string& key, const std::string& what,
                               int64_t default_value) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return default_value;
  if (!it->is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " \"", key, "\" is not an integer"));
  }
  return it->get<int64_t>();
}

absl::StatusOr<const nlohmann::json*> GetArray(const nlohmann::json& object, const std::string& key,
                                               const std::string& what) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " needs \"", key, "\""));
  }
  return &*it;
}

absl::StatusOr<std::string> GetType(const nlohmann::json& object, const std::string& what) {
  if (!object.is_object()) return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " is not an object"));
  auto it = object.find("type");
  if (it == object.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " has no \"type\""));
  }
  return it->get<std::string>();
}

absl::Status Unsupported(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " is not supported"));
}

}  // namespace djinn::tokenizer
