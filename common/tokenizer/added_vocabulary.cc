#include "common/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/utf8.h"

namespace djinn::tokenizer {
namespace {

// The last character of text[0, end) / the first of text[begin, ...).
std::optional<char32_t> CharBefore(std::string_view text, size_t end) {
  if (end == 0) return std::nullopt;
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return DecodeUtf8(text, start);
}
std::optional<char32_t> CharAt(std::string_view text, size_t begin) {
  if (begin >= text.size()) return std::nullopt;
  return DecodeUtf8(text, begin);
}

}  // namespace

absl::StatusOr<AddedToken> ParseAddedToken(const nlohmann::json& json) {
  const std::string what = "added token";
  if (absl::Status s = CheckKeys(json, what, {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"});
      !s.ok()) {
    return s;
  }
  AddedToken token;
  absl::StatusOr<int64_t> id = GetInt(json, "id", what, -1);
  if (!id.ok()) return id.status();
  if (*id < 0 || *id >= (int64_t{1} << 31) - 1) return absl::InvalidArgumentError("tokenizer.json: an added token has no valid \"id\"");
  token.id = static_cast<int32_t>(*id);
  absl::StatusOr<std::string> content = GetString(json, "content", what);
  if (!content.ok()) return content.status();
  token.content = *content;
  if (token.content.empty()) return absl::InvalidArgumentError("tokenizer.json: an added token has empty \"content\"");
  for (auto [key, field] : {std::pair{"single_word", &token.single_word}, std::pair{"lstrip", &token.lstrip},
                            std::pair{"rstrip", &token.rstrip}, std::pair{"special", &token.special}}) {
    absl::StatusOr<bool> value = GetBool(json, key, what, false);
    if (!value.ok()) return value.status();
    *field = *value;
  }
  // `tokenizers`' default: normalized unless special.
  absl::StatusOr<bool> normalized = GetBool(json, "normalized", what, !token.special);
  if (!normalized.ok()) return normalized.status();
  token.normalized = *normalized;
  return token;
}

void AddedVocabulary::Trie::Insert(std::string_view key, int32_t value) {
  int node = 0;
  for (unsigned char c : key) {
    auto it = nodes_[node].children.find(c);
    if (it == nodes_[node].children.end()) {
      nodes_.emplace_back();
      it = nodes_[node].children.emplace(c, static_cast<int>(nodes_.size()) - 1).first;
    }
    node = it->second;
  }
  nodes_[node].value = value;
}

std::optional<std::pair<size_t, int32_t>> AddedVocabulary::Trie::LongestAt(std::string_view text, size_t at) const {
  std::optional<std::pair<size_t, int32_t>> best;
  int node = 0;
  for (size_t i = at; i < text.size(); ++i) {
    auto it = nodes_[node].children.find(static_cast<unsigned char>(text[i]));
    if (it == nodes_[node].children.end()) break;
    node = it->second;
    if (nodes_[node].value.has_value()) best = std::pair{i + 1 - at, *nodes_[node].value};
  }
  return best;
}

absl::Status AddedVocabulary::Add(AddedToken token, std::string normalized_content) {
  if (by_id_.contains(token.id)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: added token id ", token.id, " appears twice"));
  }
  if (token.normalized) {
    if (!normalized_content.empty()) normalized_trie_.Insert(normalized_content, token.id);
  } else {
    raw_trie_.Insert(token.content, token.id);
  }
  max_id_ = std::max(max_id_, token.id);
  by_content_[token.content] = token.id;
  by_id_[token.id] = tokens_.size();
  tokens_.push_back(std::move(token));
  return absl::OkStatus();
}

const AddedToken* AddedVocabulary::Find(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::TokenToId(std::string_view content) const {
  auto it = by_content_.find(absl::string_view(content.data(), content.size()));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

std::vector<TextPiece> AddedVocabulary::Split(std::string_view text, bool normalized_text) const {
  const Trie& trie = normalized_text ? normalized_trie_ : raw_trie_;
  std::vector<TextPiece> pieces;
  size_t start_offset = 0;  // end of the last token taken
  size_t at = 0;
  while (at < text.size()) {
    const std::optional<std::pair<size_t, int32_t>> match = trie.LongestAt(text, at);
    if (!match.has_value()) {
      ++at;
      continue;
    }
    size_t begin = at, end = at + match->first;
    at = end;  // matches do not overlap, even when one is skipped below
    const AddedToken& token = *Find(match->second);
    if (token.single_word) {
      const std::optional<char32_t> before = CharBefore(text, begin), after = CharAt(text, end);
      if ((before.has_value() && IsWordCharacter(*before)) || (after.has_value() && IsWordCharacter(*after))) continue;
    }
    if (token.lstrip) {
      size_t new_begin = begin;
      while (true) {
        const std::optional<char32_t> c = CharBefore(text, new_begin);
        if (!c.has_value() || !IsUnicodeWhitespace(*c)) break;
        size_t length = 1;
        while ((static_cast<unsigned char>(text[new_begin - length]) & 0xC0) == 0x80) ++length;
        new_begin -= length;
      }
      // Spaces an earlier token already took stay with it.
      begin = std::max(new_begin, start_offset);
    }
    if (token.rstrip) {
      while (true) {
        const std::optional<char32_t> c = CharAt(text, end);
        if (!c.has_value() || !IsUnicodeWhitespace(*c)) break;
        end += Utf8CharLength(text, end);
      }
    }
    if (start_offset < begin) pieces.push_back({std::nullopt, start_offset, begin});
    pieces.push_back({token.id, begin, end});
    start_offset = end;
  }
  if (start_offset < text.size() || pieces.empty()) pieces.push_back({std::nullopt, start_offset, text.size()});
  return pieces;
}

}  // namespace djinn::tokenizer
