#include "common/tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/utf8.h"

namespace djinn::tokenizer {
namespace {

// An optional string option where null means unset.
absl::StatusOr<std::optional<std::string>> OptionalString(const nlohmann::json& json, const std::string& key) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: model \"", key, "\" is not a string"));
  return std::optional<std::string>(it->get<std::string>());
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const nlohmann::json& json) {
  absl::StatusOr<std::string> type = GetType(json, "model");
  if (!type.ok()) return type.status();
  if (*type != "BPE") return Unsupported(absl::StrCat("model type \"", *type, "\""));
  const std::string what = "model \"BPE\"";
  if (absl::Status s = CheckKeys(json, what, {"type", "dropout", "unk_token", "continuing_subword_prefix",
                                              "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges",
                                              "vocab", "merges"});
      !s.ok()) {
    return s;
  }
  if (auto it = json.find("dropout"); it != json.end() && !it->is_null() &&
                                      !(it->is_number() && it->get<double>() == 0.0)) {
    return Unsupported("model \"BPE\" dropout (random merges)");
  }
  std::unique_ptr<BpeModel> m(new BpeModel());
  absl::StatusOr<std::optional<std::string>> unk = OptionalString(json, "unk_token");
  if (!unk.ok()) return unk.status();
  m->unk_token_ = *unk;
  absl::StatusOr<std::optional<std::string>> prefix = OptionalString(json, "continuing_subword_prefix");
  if (!prefix.ok()) return prefix.status();
  m->continuing_subword_prefix_ = *prefix;
  absl::StatusOr<std::optional<std::string>> suffix = OptionalString(json, "end_of_word_suffix");
  if (!suffix.ok()) return suffix.status();
  m->end_of_word_suffix_ = *suffix;
  for (auto [key, field] : {std::pair{"byte_fallback", &m->byte_fallback_}, std::pair{"fuse_unk", &m->fuse_unk_},
                            std::pair{"ignore_merges", &m->ignore_merges_}}) {
    absl::StatusOr<bool> value = GetBool(json, key, what, false);
    if (!value.ok()) return value.status();
    *field = *value;
  }

  auto vocab = json.find("vocab");
  if (vocab == json.end() || !vocab->is_object()) return absl::InvalidArgumentError("tokenizer.json: model has no \"vocab\" object");
  m->vocab_.reserve(vocab->size());
  for (const auto& [token, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t{1} << 31) - 1) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: vocab id of \"", token, "\" is not a valid id"));
    }
    const int32_t value = static_cast<int32_t>(id.get<int64_t>());
    m->vocab_[token] = value;
    if (static_cast<size_t>(value) >= m->tokens_.size()) m->tokens_.resize(value + 1);
    m->tokens_[value] = token;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = m->vocab_.find(absl::StrFormat("<0x%02X>", b));
    if (it != m->vocab_.end()) m->byte_ids_[b] = it->second;
  }

  auto merges = json.find("merges");
  if (merges == json.end() || !merges->is_array()) return absl::InvalidArgumentError("tokenizer.json: model has no \"merges\" array");
  const size_t prefix_length = m->continuing_subword_prefix_.has_value() ? m->continuing_subword_prefix_->size() : 0;
  uint32_t rank = 0;
  for (const auto& merge : *merges) {
    std::string a, b;
    if (merge.is_string()) {
      const std::string line = merge.get<std::string>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: merge \"", line, "\" is not two tokens"));
      }
      a = line.substr(0, space);
      b = line.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      a = merge[0].get<std::string>();
      b = merge[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: merge ", merge.dump(), " is not \"a b\" or [a, b]"));
    }
    auto ia = m->vocab_.find(a), ib = m->vocab_.find(b);
    if (ia == m->vocab_.end() || ib == m->vocab_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: merge \"", a, " ", b, "\" uses a token outside the vocab"));
    }
    const std::string merged = a + b.substr(std::min(prefix_length, b.size()));
    auto im = m->vocab_.find(merged);
    if (im == m->vocab_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: merge \"", a, " ", b, "\" makes \"", merged,
                                                     "\", which is not in the vocab"));
    }
    // A repeated pair takes its later rank, as `tokenizers` (a map built in order) does.
    m->merges_[PairKey(ia->second, ib->second)] = Merge{rank++, im->second};
  }
  if (m->unk_token_.has_value() && !m->vocab_.contains(*m->unk_token_)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: unk_token \"", *m->unk_token_, "\" is not in the vocab"));
  }
  return m;
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(absl::string_view(token.data(), token.size()));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size() || !tokens_[id].has_value()) return nullptr;
  return &*tokens_[id];
}

void BpeModel::Tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(absl::string_view(word.data(), word.size())); it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kCacheMaxWordBytes;
  if (cacheable) {
    absl::MutexLock lock(&cache_mutex_);
    if (auto it = cache_.find(absl::string_view(word.data(), word.size())); it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> merged = MergeWord(word);
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (cacheable) {
    absl::MutexLock lock(&cache_mutex_);
    if (cache_.size() >= kCacheCapacity) cache_.clear();  // simple bound: start over
    cache_.emplace(std::string(word), std::move(merged));
  }
}

std::vector<int32_t> BpeModel::MergeWord(std::string_view word) const {
  // The symbols of the word, a linked list as in `tokenizers`' Word.
  struct Symbol {
    int32_t id;
    int prev, next;
    bool removed;
  };
  std::vector<Symbol> symbols;
  auto add = [&symbols](int32_t id) {
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, false});
  };
  std::optional<int32_t> pending_unk;  // an unk run not yet added (fuse_unk)
  const std::optional<int32_t> unk_id = unk_token_.has_value() ? TokenToId(*unk_token_) : std::nullopt;
  for (size_t i = 0; i < word.size();) {
    const size_t n = Utf8CharLength(word, i);
    const bool first = i == 0, last = i + n >= word.size();
    std::string piece(word.substr(i, n));
    i += n;
    if (!first && continuing_subword_prefix_.has_value()) piece = *continuing_subword_prefix_ + piece;
    if (last && end_of_word_suffix_.has_value()) piece += *end_of_word_suffix_;
    if (auto it = vocab_.find(piece); it != vocab_.end()) {
      if (pending_unk.has_value()) {
        add(*pending_unk);
        pending_unk.reset();
      }
      add(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char b : piece) all = all && byte_ids_[b].has_value();
      if (all) {
        // (A pending unk stays pending, after these bytes: `tokenizers` does the same.)
        for (unsigned char b : piece) add(*byte_ids_[b]);
        continue;
      }
    }
    if (unk_id.has_value()) {
      if (pending_unk.has_value() && !fuse_unk_) add(*pending_unk);
      pending_unk = *unk_id;
    }
    // Without an unk token the character is dropped, as in `tokenizers`.
  }
  if (pending_unk.has_value()) add(*pending_unk);
  if (symbols.empty()) return {};
  symbols.back().next = -1;

  struct Candidate {
    uint32_t rank;
    int pos;
    int32_t new_id;
  };
  // A min-heap on (rank, position).
  auto later = [](const Candidate& a, const Candidate& b) { return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos; };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
  auto consider = [&](int left) {
    if (left < 0 || symbols[left].next < 0) return;
    auto it = merges_.find(PairKey(symbols[left].id, symbols[symbols[left].next].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.new_id});
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) consider(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.removed || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    // Skip entries made stale by an earlier merge.
    auto it = merges_.find(PairKey(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    left.id = top.new_id;
    right.removed = true;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    consider(left.prev);
    consider(top.pos);
  }
  std::vector<int32_t> ids;
  for (int i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
  return ids;
}

}  // namespace djinn::tokenizer
