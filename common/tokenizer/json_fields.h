// Reading tokenizer.json objects strictly: every key of a component must be
// one Djinn knows (a key it does not know may change the result, so it is
// refused, naming it), and values must have the expected JSON type.
#ifndef DJINN_COMMON_TOKENIZER_JSON_FIELDS_H_
#define DJINN_COMMON_TOKENIZER_JSON_FIELDS_H_

#include <initializer_list>
#include <string>
#include <string_view>

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
// The "type" of a component object, or INVALID_ARGUMENT.
absl::StatusOr<std::string> GetType(const nlohmann::json& object, const std::string& what);
// `tokenizer.json: <what> is not supported`.
absl::Status Unsupported(const std::string& what);

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_JSON_FIELDS_H_
