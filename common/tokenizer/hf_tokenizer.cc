#include "common/tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/utf8.h"

namespace djinn {
namespace {

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path.string()));
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// tokenizer_config.json writes special tokens as a string or as an
// AddedToken object {"content": ..., ...}.
absl::StatusOr<std::optional<std::string>> ConfigToken(const nlohmann::json& config, const std::string& key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return std::optional<std::string>((*it)["content"].get<std::string>());
  }
  return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json: \"", key, "\" is neither a string nor a token"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::Load(const std::string& directory) {
  const std::filesystem::path dir(directory);
  absl::StatusOr<std::string> json = ReadFile(dir / "tokenizer.json");
  if (!json.ok()) return json.status();
  std::string config;
  if (std::filesystem::exists(dir / "tokenizer_config.json")) {
    absl::StatusOr<std::string> bytes = ReadFile(dir / "tokenizer_config.json");
    if (!bytes.ok()) return bytes.status();
    config = *std::move(bytes);
  }
  absl::StatusOr<std::unique_ptr<HfTokenizer>> tokenizer = FromJson(*json, config);
  if (!tokenizer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(directory, ": ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::FromJson(std::string_view tokenizer_json,
                                                                   std::string_view tokenizer_config) {
  // The readers check types before they read; should a value still have a
  // type nlohmann::json cannot convert, that is bad input, not a crash.
  try {
    return FromJsonUnchecked(tokenizer_json, tokenizer_config);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json or tokenizer_config.json has a value of the wrong type: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::FromJsonUnchecked(std::string_view tokenizer_json,
                                                                            std::string_view tokenizer_config) {
  const nlohmann::json json = nlohmann::json::parse(tokenizer_json, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return absl::InvalidArgumentError("tokenizer.json is not a JSON object");
  if (absl::Status s = tokenizer::CheckKeys(json, "the top level", {"version", "truncation", "padding", "added_tokens",
                                                                     "normalizer", "pre_tokenizer", "post_processor",
                                                                     "decoder", "model"});
      !s.ok()) {
    return s;
  }
  // Both change the ids of a single sequence (cut it, pad it).
  for (const char* key : {"truncation", "padding"}) {
    if (json.contains(key) && !json[key].is_null()) return tokenizer::Unsupported(absl::StrCat("\"", key, "\" (not null)"));
  }
  std::unique_ptr<HfTokenizer> t(new HfTokenizer());
  if (json.contains("normalizer") && !json["normalizer"].is_null()) {
    absl::StatusOr<std::unique_ptr<tokenizer::Normalizer>> n = tokenizer::Normalizer::FromJson(json["normalizer"]);
    if (!n.ok()) return n.status();
    t->normalizer_ = *std::move(n);
  }
  if (json.contains("pre_tokenizer") && !json["pre_tokenizer"].is_null()) {
    absl::StatusOr<std::unique_ptr<tokenizer::PreTokenizer>> p = tokenizer::PreTokenizer::FromJson(json["pre_tokenizer"]);
    if (!p.ok()) return p.status();
    t->pre_tokenizer_ = *std::move(p);
  }
  if (!json.contains("model")) return absl::InvalidArgumentError("tokenizer.json has no \"model\"");
  absl::StatusOr<std::unique_ptr<tokenizer::BpeModel>> model = tokenizer::BpeModel::FromJson(json["model"]);
  if (!model.ok()) return model.status();
  t->model_ = *std::move(model);
  if (json.contains("decoder") && !json["decoder"].is_null()) {
    absl::StatusOr<std::unique_ptr<tokenizer::Decoder>> d = tokenizer::Decoder::FromJson(json["decoder"]);
    if (!d.ok()) return d.status();
    t->decoder_ = *std::move(d);
  }
  const tokenizer::Normalizer* normalizer = t->normalizer_.get();
  absl::StatusOr<tokenizer::AddedVocabulary> added = tokenizer::AddedVocabulary::FromJson(
      json.value("added_tokens", nlohmann::json()),
      [normalizer](const std::string& content) { return normalizer ? normalizer->Normalize(content) : content; });
  if (!added.ok()) return added.status();
  t->added_ = *std::move(added);
  absl::StatusOr<tokenizer::SpecialTokensTemplate> post = tokenizer::ParsePostProcessor(json.value("post_processor", nlohmann::json()));
  if (!post.ok()) return post.status();
  t->template_ = *std::move(post);
  for (int32_t id : t->template_.prefix) {
    if (id < 0 || id >= t->vocab_size()) return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: post_processor id ", id, " is outside the vocabulary"));
  }
  for (int32_t id : t->template_.suffix) {
    if (id < 0 || id >= t->vocab_size()) return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: post_processor id ", id, " is outside the vocabulary"));
  }
  if (!tokenizer_config.empty()) {
    if (absl::Status s = t->ReadConfig(tokenizer_config); !s.ok()) return s;
  }
  return t;
}

absl::Status HfTokenizer::ReadConfig(std::string_view tokenizer_config) {
  const nlohmann::json config = nlohmann::json::parse(tokenizer_config, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) return absl::InvalidArgumentError("tokenizer_config.json is not a JSON object");
  for (auto [key, token, id] : {std::tuple{"bos_token", &bos_token_, &bos_id_}, std::tuple{"eos_token", &eos_token_, &eos_id_}}) {
    absl::StatusOr<std::optional<std::string>> name = ConfigToken(config, key);
    if (!name.ok()) return name.status();
    if (!name->has_value()) continue;
    std::optional<int32_t> value = TokenToId(**name);
    if (!value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json: ", key, " \"", **name, "\" is not a token of tokenizer.json"));
    }
    *token = **name;
    *id = *value;
  }
  if (auto it = config.find("split_special_tokens"); it != config.end() && !it->is_null()) {
    if (!it->is_boolean()) return absl::InvalidArgumentError("tokenizer_config.json: \"split_special_tokens\" is not a boolean");
    split_special_tokens_ = it->get<bool>();
  }
  const std::string tokenizer_class =
      config.contains("tokenizer_class") && config["tokenizer_class"].is_string() ? config["tokenizer_class"].get<std::string>() : "";
  static constexpr std::string_view kRebuildingClasses[] = {"LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer",
                                                            "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"};
  if (std::find(std::begin(kRebuildingClasses), std::end(kRebuildingClasses), tokenizer_class) != std::end(kRebuildingClasses)) {
    // transformers' update_post_processor(): "<bos> $A <eos>" by
    // add_bos_token (default true) and add_eos_token (default false). Its
    // add_prefix_space rewrites the pre-tokenizer from the slow tokenizer,
    // which Djinn cannot do.
    if (config.contains("add_prefix_space") && !config["add_prefix_space"].is_null()) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json: add_prefix_space for ", tokenizer_class,
                                                     " (a conversion from the slow tokenizer) is not supported"));
    }
    bool add_bos = true, add_eos = false;
    for (auto [key, flag] : {std::pair{"add_bos_token", &add_bos}, std::pair{"add_eos_token", &add_eos}}) {
      if (auto it = config.find(key); it != config.end() && !it->is_null()) {
        if (!it->is_boolean()) return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json: \"", key, "\" is not a boolean"));
        *flag = it->get<bool>();
      }
    }
    if ((add_bos && !bos_id_.has_value()) || (add_eos && !eos_id_.has_value())) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json: add_bos_token/add_eos_token without a bos_token/eos_token"));
    }
    template_ = {};
    if (add_bos) template_.prefix.push_back(*bos_id_);
    if (add_eos) template_.suffix.push_back(*eos_id_);
  }
  return absl::OkStatus();
}

std::vector<int32_t> HfTokenizer::Encode(std::string_view input, bool add_special_tokens) const {
  const std::string text = tokenizer::Utf8Lossy(input);
  std::vector<int32_t> ids;
  if (add_special_tokens) ids = template_.prefix;
  auto is_special = [this](int32_t id) {
    const tokenizer::AddedToken* token = added_->Find(id);
    return token != nullptr && token->special;
  };
  // With split_special_tokens a matched special token is text after all.
  auto split = [&](std::string_view piece, bool normalized) {
    std::vector<tokenizer::TextPiece> pieces = added_->Split(piece, normalized);
    if (!split_special_tokens_) return pieces;
    std::vector<tokenizer::TextPiece> merged;
    for (tokenizer::TextPiece p : pieces) {
      if (p.id.has_value() && is_special(*p.id)) p.id.reset();
      if (!p.id.has_value() && !merged.empty() && !merged.back().id.has_value()) {
        merged.back().end = p.end;
      } else {
        merged.push_back(p);
      }
    }
    return merged;
  };
  for (const tokenizer::TextPiece& raw : split(text, /*normalized=*/false)) {
    if (raw.id.has_value()) {
      ids.push_back(*raw.id);
      continue;
    }
    std::string normalized(std::string_view(text).substr(raw.begin, raw.end - raw.begin));
    if (normalizer_ != nullptr) normalized = normalizer_->Normalize(std::move(normalized));
    for (const tokenizer::TextPiece& piece : split(normalized, /*normalized=*/true)) {
      if (piece.id.has_value()) {
        ids.push_back(*piece.id);
        continue;
      }
      // Empty pieces are dropped before pre-tokenization (a Metaspace or
      // ByteLevel prefix is not added to nothing), as in `tokenizers`.
      if (piece.end == piece.begin) continue;
      std::vector<tokenizer::Word> words;
      words.push_back({normalized.substr(piece.begin, piece.end - piece.begin), raw.begin == 0 && piece.begin == 0});
      if (pre_tokenizer_ != nullptr) words = pre_tokenizer_->PreTokenize(std::move(words));
      for (const tokenizer::Word& word : words) model_->Tokenize(word.text, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), template_.suffix.begin(), template_.suffix.end());
  return ids;
}

std::string HfTokenizer::Decode(std::span<const int32_t> ids) const {
  // As `tokenizers` decodes: the tokens of the ids (special ones skipped,
  // other added tokens by their content) go through the decoder together.
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const tokenizer::AddedToken* token = added_->Find(id); token != nullptr) {
      if (!token->special) tokens.push_back(token->content);
    } else if (const std::string* text = model_->IdToToken(id); text != nullptr) {
      tokens.push_back(*text);
    }
  }
  if (decoder_ == nullptr) return absl::StrJoin(tokens, " ");
  return absl::StrJoin(decoder_->DecodeChain(std::move(tokens)), "");
}

std::optional<int32_t> HfTokenizer::TokenToId(std::string_view token) const {
  if (std::optional<int32_t> id = added_->TokenToId(token); id.has_value()) return id;
  return model_->TokenToId(token);
}

int32_t HfTokenizer::vocab_size() const { return std::max(model_->vocab_size(), added_->max_id() + 1); }

}  // namespace djinn
