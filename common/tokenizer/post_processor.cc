#include "common/tokenizer/post_processor.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/json_fields.h"

namespace djinn::tokenizer {
namespace {

// RobertaProcessing/BertProcessing's "cls"/"sep": ["<s>", 0].
absl::StatusOr<int32_t> TokenPairId(const nlohmann::json& json, const std::string& key, const std::string& what) {
  auto it = json.find(key);
  if (it == json.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what, " needs \"", key, "\": [token, id]"));
  }
  return (*it)[1].get<int32_t>();
}

absl::Status Append(const nlohmann::json& json, SpecialTokensTemplate& out) {
  absl::StatusOr<std::string> type = GetType(json, "post_processor");
  if (!type.ok()) return type.status();
  const std::string what = absl::StrCat("post_processor \"", *type, "\"");
  if (*type == "Sequence") {
    if (absl::Status s = CheckKeys(json, what, {"type", "processors"}); !s.ok()) return s;
    absl::StatusOr<const nlohmann::json*> parts = GetArray(json, "processors", what);
    if (!parts.ok()) return parts.status();
    for (const nlohmann::json& part : **parts) {
      if (absl::Status s = Append(part, out); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (*type == "ByteLevel") {
    // Trims offsets only.
    return CheckKeys(json, what, {"type", "add_prefix_space", "trim_offsets", "use_regex"});
  }
  if (*type == "RobertaProcessing" || *type == "BertProcessing") {
    if (absl::Status s = CheckKeys(json, what, {"type", "cls", "sep", "trim_offsets", "add_prefix_space"}); !s.ok()) return s;
    absl::StatusOr<int32_t> cls = TokenPairId(json, "cls", what);
    if (!cls.ok()) return cls.status();
    absl::StatusOr<int32_t> sep = TokenPairId(json, "sep", what);
    if (!sep.ok()) return sep.status();
    out.prefix.insert(out.prefix.begin(), *cls);
    out.suffix.push_back(*sep);
    return absl::OkStatus();
  }
  if (*type == "TemplateProcessing") {
    if (absl::Status s = CheckKeys(json, what, {"type", "single", "pair", "special_tokens"}); !s.ok()) return s;
    auto single = json.find("single");
    if (single == json.end() || !single->is_array()) return absl::InvalidArgumentError("tokenizer.json: TemplateProcessing needs \"single\"");
    const nlohmann::json specials = json.value("special_tokens", nlohmann::json::object());
    SpecialTokensTemplate piece;
    bool seen_sequence = false;
    for (const auto& item : *single) {
      if (!item.is_object()) return Unsupported(absl::StrCat(what, " template item ", item.dump()));
      if (item.contains("Sequence") && item["Sequence"].is_object()) {
        if (seen_sequence || item["Sequence"].value("id", "") != "A") {
          return Unsupported(absl::StrCat(what, " single template ", single->dump()));
        }
        seen_sequence = true;
      } else if (item.contains("SpecialToken") && item["SpecialToken"].is_object()) {
        const std::string name = item["SpecialToken"].value("id", "");
        auto special = specials.find(name);
        if (special == specials.end() || !special->contains("ids") || !(*special)["ids"].is_array()) {
          return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: TemplateProcessing special token \"", name,
                                                         "\" is not in \"special_tokens\""));
        }
        for (const auto& id : (*special)["ids"]) {
          if (!id.is_number_integer()) return absl::InvalidArgumentError("tokenizer.json: TemplateProcessing id is not an integer");
          (seen_sequence ? piece.suffix : piece.prefix).push_back(id.get<int32_t>());
        }
      } else {
        return Unsupported(absl::StrCat(what, " template item ", item.dump()));
      }
    }
    if (!seen_sequence) return Unsupported(absl::StrCat(what, " single template without $A"));
    // Each processor of a Sequence wraps the result of the previous one.
    out.prefix.insert(out.prefix.begin(), piece.prefix.begin(), piece.prefix.end());
    out.suffix.insert(out.suffix.end(), piece.suffix.begin(), piece.suffix.end());
    return absl::OkStatus();
  }
  return Unsupported(absl::StrCat("post_processor type \"", *type, "\""));
}

}  // namespace

absl::StatusOr<SpecialTokensTemplate> ParsePostProcessor(const nlohmann::json& json) {
  SpecialTokensTemplate out;
  if (json.is_null()) return out;
  if (absl::Status s = Append(json, out); !s.ok()) return s;
  return out;
}

}  // namespace djinn::tokenizer
