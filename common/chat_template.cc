#include "common/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace djinn {
namespace {

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// transformers' special tokens map: each a string or an AddedToken object.
absl::StatusOr<jinja::Dict> SpecialTokens(const nlohmann::json& config, const std::string& origin) {
  jinja::Dict tokens;
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) continue;
    if (it->is_string()) {
      tokens.emplace_back(key, jinja::Value::String(it->get<std::string>()));
    } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      tokens.emplace_back(key, jinja::Value::String((*it)["content"].get<std::string>()));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": \"", key, "\" is neither a string nor an AddedToken object with \"content\""));
    }
  }
  auto extra = config.find("additional_special_tokens");
  if (extra != config.end() && extra->is_array()) {
    jinja::List list;
    for (const auto& token : *extra) {
      if (token.is_string()) {
        list.push_back(jinja::Value::String(token.get<std::string>()));
      } else if (token.is_object() && token.contains("content") && token["content"].is_string()) {
        list.push_back(jinja::Value::String(token["content"].get<std::string>()));
      } else {
        return absl::InvalidArgumentError(absl::StrCat(origin, ": additional_special_tokens has an entry that is "
                                                               "neither a string nor an AddedToken object"));
      }
    }
    tokens.emplace_back("additional_special_tokens", jinja::Value::MakeList(std::move(list)));
  }
  return tokens;
}

// tokenizer_config.json's "chat_template": a string, or a list of named
// templates of which transformers uses "default". Empty: none.
absl::StatusOr<std::string> TemplateFromConfig(const nlohmann::json& config, const std::string& origin) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    std::string names;
    for (const auto& entry : *it) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
          !entry["name"].is_string() || !entry["template"].is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, ": chat_template list entries must be {\"name\": str, \"template\": str}"));
      }
      if (entry["name"] == "default") return entry["template"].get<std::string>();
      absl::StrAppend(&names, names.empty() ? "" : ", ", entry["name"].get<std::string>());
    }
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": chat_template has no template named \"default\" (it has: ", names, ")"));
  }
  return absl::InvalidArgumentError(absl::StrCat(origin, ": chat_template must be a string or a list"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::FromSource(const std::string& source,
                                                                       const std::string& tokenizer_config_json,
                                                                       const std::string& origin) {
  nlohmann::json config = nlohmann::json::object();
  if (!tokenizer_config_json.empty()) {
    config = nlohmann::json::parse(tokenizer_config_json, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object()) {
      return absl::InvalidArgumentError("tokenizer_config.json is not a JSON object");
    }
  }
  absl::StatusOr<jinja::Dict> special = SpecialTokens(config, "tokenizer_config.json");
  if (!special.ok()) return special.status();
  absl::StatusOr<jinja::Template> parsed = jinja::Template::Parse(source);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": chat template: ", parsed.status().message()));
  }
  return std::unique_ptr<ChatTemplate>(new ChatTemplate(source, *std::move(parsed), *std::move(special)));
}

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Load(const std::string& directory) {
  namespace fs = std::filesystem;
  const fs::path config_path = fs::path(directory) / "tokenizer_config.json";
  const fs::path jinja_path = fs::path(directory) / "chat_template.jinja";
  std::string config_text;
  nlohmann::json config = nlohmann::json::object();
  if (fs::exists(config_path)) {
    absl::StatusOr<std::string> text = ReadFile(config_path);
    if (!text.ok()) return text.status();
    config_text = *std::move(text);
    config = nlohmann::json::parse(config_text, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(config_path.string(), " is not a JSON object"));
    }
  }
  // transformers reads chat_template.jinja in preference to the config's.
  if (fs::exists(jinja_path)) {
    absl::StatusOr<std::string> source = ReadFile(jinja_path);
    if (!source.ok()) return source.status();
    return FromSource(*source, config_text, jinja_path.string());
  }
  absl::StatusOr<std::string> source = TemplateFromConfig(config, config_path.string());
  if (!source.ok()) return source.status();
  if (source->empty()) {
    return absl::NotFoundError(absl::StrCat("no chat template in ", directory,
                                            " (tokenizer_config.json has no \"chat_template\" and there is no "
                                            "chat_template.jinja)"));
  }
  return FromSource(*source, config_text, config_path.string());
}

absl::StatusOr<std::string> ChatTemplate::Render(std::span<const ChatMessage> messages,
                                                 bool add_generation_prompt) const {
  return Render(messages, add_generation_prompt, absl::ToCivilSecond(absl::Now(), absl::LocalTimeZone()));
}

absl::StatusOr<std::string> ChatTemplate::Render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                                 absl::CivilSecond now) const {
  jinja::List list;
  list.reserve(messages.size());
  for (const ChatMessage& m : messages) {
    list.push_back(jinja::Value::MakeDict(
        {{"role", jinja::Value::String(m.role)}, {"content", jinja::Value::String(m.content)}}));
  }
  jinja::Dict variables = special_tokens_;
  variables.emplace_back("messages", jinja::Value::MakeList(std::move(list)));
  variables.emplace_back("add_generation_prompt", jinja::Value::Bool(add_generation_prompt));
  variables.emplace_back("tools", jinja::Value::None());
  variables.emplace_back("documents", jinja::Value::None());
  absl::StatusOr<std::string> text = parsed_.Render(variables, now);
  if (!text.ok()) {
    absl::Status error = absl::InvalidArgumentError(absl::StrCat("chat template: ", text.status().message()));
    text.status().ForEachPayload(
        [&](absl::string_view url, const absl::Cord& payload) { error.SetPayload(url, payload); });
    return error;
  }
  return text;
}

}  // namespace djinn
