// Reading tokenizer.json objects strictly: every key of a component must be
// one Djinn knows (a key it does not know may change the result, so it is
// refused, naming it), and values must have the expected JSON type.
#ifndef DJINN_COMMON_TOKENIZER_JSON_FIELDS_H_
#define DJINN_COMMON_TOKENIZER_JSON_FIELDS_H_

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace djinn::tokenizer {

// `what` names the component in messages, e.g. `normalizer "Replace"`.
absl::Status CheckKeys(const nlohmann::json& object, const std::string& what,
                       std::initializer_list<std::string_view> known);
absl::StatusOr<std::string> GetString(const nlohmann::json& object, const std::string& key, const std::string& what);
absl::StatusOr<bool> GetBool(const nlohmann::json& object, const std::string& key, const std::string& what,
                             bool default_value);
absl::StatusOr<int64_t> GetInt(const nlohmann::json& object, const std::string& key, const std::string& what,
                               int64_t default_value);
// The array under `key`, which a "Sequence" component lists its parts in.
absl::StatusOr<const nlohmann::json*> GetArray(const nlohmann::json& object, const std::string& key,
                                               const std::string& what);
// The parts of a "Sequence" normalizer, pre-tokenizer or decoder: each
// element of the array under `key`, read by Component::FromJson.
template <typename Component>
absl::StatusOr<std::vector<std::unique_ptr<Component>>> GetComponents(const nlohmann::json& object,
                                                                      const std::string& key, const std::string& what) {
  absl::StatusOr<const nlohmann::json*> array = GetArray(object, key, what);
  if (!array.ok()) return array.status();
  std::vector<std::unique_ptr<Component>> parts;
  for (const nlohmann::json& part : **array) {
    absl::StatusOr<std::unique_ptr<Component>> component = Component::FromJson(part);
    if (!component.ok()) return component.status();
    parts.push_back(*std::move(component));
  }
  return parts;
}
// The "type" of a component object, or INVALID_ARGUMENT.
absl::StatusOr<std::string> GetType(const nlohmann::json& object, const std::string& what);
// `tokenizer.json: <what> is not supported`.
absl::Status Unsupported(const std::string& what);

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_JSON_FIELDS_H_
