// tokenizer.json's "added_tokens": tokens matched in the text before the
// model sees it, as HF `tokenizers`' AddedVocabulary does by default
// (special tokens included, i.e. encode_special_tokens off). Tokens with
// normalized=false are found in the raw text, the others in the normalised
// text; leftmost-longest matching; single_word, lstrip and rstrip honoured.
#ifndef DJINN_COMMON_TOKENIZER_ADDED_VOCABULARY_H_
#define DJINN_COMMON_TOKENIZER_ADDED_VOCABULARY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace djinn::tokenizer {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// A piece of text: an added token (id set) or text still to encode.
struct TextPiece {
  std::optional<int32_t> id;
  size_t begin, end;  // bytes of the text it was cut from
};

class AddedVocabulary {
 public:
  // `json` is the "added_tokens" array. `normalize` turns the content of
  // normalized tokens into what they match in normalised text.
  template <typename NormalizeFn>
  static absl::StatusOr<AddedVocabulary> FromJson(const nlohmann::json& json, NormalizeFn normalize);

  // Cuts `text` at the matches of the normalized=false tokens
  // (normalized_text=false) or of the normalized ones (true).
  std::vector<TextPiece> Split(std::string_view text, bool normalized_text) const;

  const AddedToken* Find(int32_t id) const;
  std::optional<int32_t> TokenToId(std::string_view content) const;
  int32_t max_id() const { return max_id_; }  // -1 if none

  // A byte trie of token contents (public for its test).
  class Trie {
   public:
    void Insert(std::string_view key, int32_t value);
    // The longest key starting at text[at], as (length, value).
    std::optional<std::pair<size_t, int32_t>> LongestAt(std::string_view text, size_t at) const;

   private:
    struct Node {
      absl::flat_hash_map<unsigned char, int> children;
      std::optional<int32_t> value;
    };
    std::vector<Node> nodes_{1};
  };

 private:
  AddedVocabulary() = default;
  absl::Status Add(AddedToken token, std::string normalized_content);

  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<int32_t, size_t> by_id_;
  absl::flat_hash_map<std::string, int32_t> by_content_;
  Trie raw_trie_, normalized_trie_;
  int32_t max_id_ = -1;
};

absl::StatusOr<AddedToken> ParseAddedToken(const nlohmann::json& json);

template <typename NormalizeFn>
absl::StatusOr<AddedVocabulary> AddedVocabulary::FromJson(const nlohmann::json& json, NormalizeFn normalize) {
  AddedVocabulary vocabulary;
  if (json.is_null()) return vocabulary;
  if (!json.is_array()) return absl::InvalidArgumentError("tokenizer.json: \"added_tokens\" is not an array");
  for (const auto& entry : json) {
    absl::StatusOr<AddedToken> token = ParseAddedToken(entry);
    if (!token.ok()) return token.status();
    std::string content = token->normalized ? normalize(token->content) : token->content;
    if (absl::Status s = vocabulary.Add(*std::move(token), std::move(content)); !s.ok()) return s;
  }
  return vocabulary;
}

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_ADDED_VOCABULARY_H_
