#include "common/tokenizer/pre_tokenizer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/metaspace.h"
#include "common/tokenizer/pattern.h"

namespace djinn::tokenizer {
namespace {

// GPT-2's split regex, which ByteLevel applies when use_regex is set.
constexpr char kGpt2Pattern[] = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct Span {
  size_t begin, end;
  bool flag;  // a match before the behaviour is applied; "remove" after
};

// NormalizedString::split of `tokenizers`: the matches and the gaps between
// them cover the text; the behaviour decides what becomes a word.
std::vector<Word> SplitWord(const Word& word, const Pattern& pattern, Behavior behavior, bool invert) {
  const std::string& text = word.text;
  std::vector<Span> spans;
  size_t previous = 0;
  for (const auto& [begin, end] : pattern.FindAll(text)) {
    if (previous != begin) spans.push_back({previous, begin, false});
    spans.push_back({begin, end, true});
    previous = end;
  }
  if (previous != text.size()) spans.push_back({previous, text.size(), false});
  if (invert) {
    for (Span& s : spans) s.flag = !s.flag;
  }
  std::vector<Span> out;
  switch (behavior) {
    case Behavior::kIsolated:
      for (Span s : spans) out.push_back({s.begin, s.end, false});
      break;
    case Behavior::kRemoved:
      out = spans;
      break;
    case Behavior::kContiguous: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.flag == previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back({s.begin, s.end, false});
        }
        previous_match = s.flag;
      }
      break;
    }
    case Behavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.flag && !previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back({s.begin, s.end, false});
        }
        previous_match = s.flag;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->flag && !previous_match && !out.empty()) {
          out.back().begin = it->begin;
        } else {
          out.push_back({it->begin, it->end, false});
        }
        previous_match = it->flag;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
  }
  std::vector<Word> words;
  for (const Span& s : out) {
    if (s.flag || s.end == s.begin) continue;
    words.push_back({text.substr(s.begin, s.end - s.begin), word.at_start && s.begin == 0});
  }
  return words;
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  std::vector<Word> PreTokenize(std::vector<Word> words) const override {
    for (const auto& part : parts_) words = part->PreTokenize(std::move(words));
    return words;
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  std::vector<Word> PreTokenize(std::vector<Word> words) const override {
    std::vector<Word> out;
    for (const Word& w : words) {
      for (Word& piece : SplitWord(w, pattern_, behavior_, invert_)) out.push_back(std::move(piece));
    }
    return out;
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::optional<Pattern> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}
  std::vector<Word> PreTokenize(std::vector<Word> words) const override {
    std::vector<Word> out;
    for (Word& w : words) {
      if (add_prefix_space_ && !w.text.starts_with(' ')) w.text.insert(0, " ");
      std::vector<Word> pieces;
      if (regex_.has_value()) {
        pieces = SplitWord(w, *regex_, Behavior::kIsolated, false);
      } else if (!w.text.empty()) {
        pieces.push_back(std::move(w));
      }
      for (Word& piece : pieces) {
        piece.text = BytesToByteLevel(piece.text);
        out.push_back(std::move(piece));
      }
    }
    return out;
  }

 private:
  bool add_prefix_space_;
  std::optional<Pattern> regex_;
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  std::vector<Word> PreTokenize(std::vector<Word> words) const override {
    std::vector<Word> out;
    const Pattern space = Pattern::Literal(" ");
    const Pattern replacement = Pattern::Literal(replacement_);
    for (Word& w : words) {
      w.text = space.ReplaceAll(w.text, replacement_);
      const bool prepend = scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && w.at_start);
      if (prepend && !w.text.starts_with(replacement_)) w.text.insert(0, replacement_);
      if (split_) {
        for (Word& piece : SplitWord(w, replacement, Behavior::kMergedWithNext, false)) out.push_back(std::move(piece));
      } else if (!w.text.empty()) {
        out.push_back(std::move(w));
      }
    }
    return out;
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

absl::StatusOr<Behavior> ParseBehavior(const nlohmann::json& json, const std::string& what) {
  absl::StatusOr<std::string> name = GetString(json, "behavior", what);
  if (!name.ok()) return name.status();
  if (*name == "Removed") return Behavior::kRemoved;
  if (*name == "Isolated") return Behavior::kIsolated;
  if (*name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (*name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (*name == "Contiguous") return Behavior::kContiguous;
  return Unsupported(absl::StrCat(what, " behavior \"", *name, "\""));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(const nlohmann::json& json) {
  absl::StatusOr<std::string> type = GetType(json, "pre_tokenizer");
  if (!type.ok()) return type.status();
  const std::string what = absl::StrCat("pre_tokenizer \"", *type, "\"");
  if (*type == "Sequence") {
    if (absl::Status s = CheckKeys(json, what, {"type", "pretokenizers"}); !s.ok()) return s;
    absl::StatusOr<std::vector<std::unique_ptr<PreTokenizer>>> parts = GetComponents<PreTokenizer>(json, "pretokenizers", what);
    if (!parts.ok()) return parts.status();
    return std::make_unique<SequencePreTokenizer>(*std::move(parts));
  }
  if (*type == "Split") {
    if (absl::Status s = CheckKeys(json, what, {"type", "pattern", "behavior", "invert"}); !s.ok()) return s;
    absl::StatusOr<Pattern> pattern = Pattern::FromJson(json.value("pattern", nlohmann::json()), what);
    if (!pattern.ok()) return pattern.status();
    absl::StatusOr<Behavior> behavior = ParseBehavior(json, what);
    if (!behavior.ok()) return behavior.status();
    absl::StatusOr<bool> invert = GetBool(json, "invert", what, false);
    if (!invert.ok()) return invert.status();
    return std::make_unique<SplitPreTokenizer>(*std::move(pattern), *behavior, *invert);
  }
  if (*type == "ByteLevel") {
    // trim_offsets only changes offsets, not ids.
    if (absl::Status s = CheckKeys(json, what, {"type", "add_prefix_space", "trim_offsets", "use_regex"}); !s.ok()) return s;
    absl::StatusOr<bool> add_prefix_space = GetBool(json, "add_prefix_space", what, true);
    if (!add_prefix_space.ok()) return add_prefix_space.status();
    absl::StatusOr<bool> use_regex = GetBool(json, "use_regex", what, true);
    if (!use_regex.ok()) return use_regex.status();
    std::optional<Pattern> regex;
    if (*use_regex) {
      absl::StatusOr<Pattern> pattern = Pattern::FromJson(nlohmann::json{{"Regex", kGpt2Pattern}}, what);
      if (!pattern.ok()) return pattern.status();
      regex = *std::move(pattern);
    }
    return std::make_unique<ByteLevelPreTokenizer>(*add_prefix_space, std::move(regex));
  }
  if (*type == "Metaspace") {
    if (absl::Status s = CheckKeys(json, what, {"type", "replacement", "prepend_scheme", "split", "add_prefix_space", "str_rep"}); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::string> replacement = GetString(json, "replacement", what);
    if (!replacement.ok()) return replacement.status();
    absl::StatusOr<bool> split = GetBool(json, "split", what, true);
    if (!split.ok()) return split.status();
    absl::StatusOr<PrependScheme> scheme = GetPrependScheme(json, what);
    if (!scheme.ok()) return scheme.status();
    return std::make_unique<MetaspacePreTokenizer>(*replacement, *scheme, *split);
  }
  return Unsupported(absl::StrCat("pre_tokenizer type \"", *type, "\""));
}

}  // namespace djinn::tokenizer
