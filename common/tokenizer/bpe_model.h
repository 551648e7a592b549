// tokenizer.json's "model" of type BPE, as HF `tokenizers` runs it: a word
// becomes its characters (unknown ones as <0xNN> byte tokens with
// byte_fallback, else the unk token, fused with fuse_unk), then the adjacent
// pair with the lowest merge rank is merged (leftmost on ties) until no pair
// has a merge. ignore_merges takes a word that is a vocabulary entry whole.
// Merges may be "a b" strings or [a, b] pairs.
//
// Results of short words are cached (thread-safe, bounded).
#ifndef DJINN_COMMON_TOKENIZER_BPE_MODEL_H_
#define DJINN_COMMON_TOKENIZER_BPE_MODEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace djinn::tokenizer {

class BpeModel {
 public:
  // `json` is the "model" object.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& json);

  // Appends the ids of `word` (non-empty) to `ids`.
  void Tokenize(std::string_view word, std::vector<int32_t>& ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // nullptr if the id is not in the vocabulary.
  const std::string* IdToToken(int32_t id) const;
  // One more than the largest id.
  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }

 private:
  struct Merge {
    uint32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  BpeModel() = default;
  std::vector<int32_t> MergeWord(std::string_view word) const;

  absl::flat_hash_map<std::string, int32_t> vocab_;
  std::vector<std::optional<std::string>> tokens_;  // by id
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::optional<std::string> unk_token_;
  std::optional<std::string> continuing_subword_prefix_, end_of_word_suffix_;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::optional<int32_t> byte_ids_[256];  // <0xNN> tokens, for byte_fallback

  static constexpr size_t kCacheCapacity = 1 << 16;
  static constexpr size_t kCacheMaxWordBytes = 64;
  mutable absl::Mutex cache_mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_ ABSL_GUARDED_BY(cache_mutex_);
};

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_BPE_MODEL_H_
