#include "common/generation_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace djinn {

absl::StatusOr<std::vector<int64_t>> ParseGenerationEosTokenIds(const std::string& json_text) {
  nlohmann::json config = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError("generation_config.json is not a JSON object");
  }
  std::vector<int64_t> ids;
  auto it = config.find("eos_token_id");
  if (it == config.end() || it->is_null()) return ids;
  auto bad = [] {
    return absl::InvalidArgumentError("generation_config.json: eos_token_id must be an int or a list of ints");
  };
  if (it->is_number_integer()) {
    ids.push_back(it->get<int64_t>());
    return ids;
  }
  if (!it->is_array()) return bad();
  for (const auto& id : *it) {
    if (!id.is_number_integer()) return bad();
    ids.push_back(id.get<int64_t>());
  }
  return ids;
}

absl::StatusOr<std::vector<int64_t>> LoadGenerationEosTokenIds(const std::string& directory) {
  const std::filesystem::path path = std::filesystem::path(directory) / "generation_config.json";
  if (!std::filesystem::exists(path)) return std::vector<int64_t>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseGenerationEosTokenIds(text.str());
}

std::vector<int64_t> UnionOfTokenIds(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> out = a;
  for (int64_t id : b) {
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

}  // namespace djinn
