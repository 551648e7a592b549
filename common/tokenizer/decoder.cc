#include "common/tokenizer/decoder.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/metaspace.h"
#include "common/tokenizer/pattern.h"
#include "common/tokenizer/utf8.h"

namespace djinn::tokenizer {
namespace {

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    for (const auto& part : parts_) tokens = part->DecodeChain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

// Characters back to bytes (a token with a character outside the table, such
// as an added token, stays as its UTF-8), then the whole as lossy UTF-8.
class ByteLevelDecoder : public Decoder {
 public:
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      std::optional<std::string> decoded = ByteLevelToBytes(token);
      bytes += decoded.has_value() ? *decoded : token;
    }
    return {Utf8Lossy(bytes)};
  }
};

class ReplaceDecoder : public Decoder {
 public:
  explicit ReplaceDecoder(Replacement replacement) : replacement_(std::move(replacement)) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    for (std::string& token : tokens) token = replacement_.Apply(token);
    return tokens;
  }

 private:
  Replacement replacement_;
};

// Runs of <0xNN> tokens become their bytes when those are valid UTF-8, else
// one U+FFFD per byte.
class ByteFallbackDecoder : public Decoder {
 public:
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      if (Utf8Lossy(pending) == pending) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending_count; ++i) out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
      pending_count = 0;
    };
    for (std::string& token : tokens) {
      std::optional<int> byte = ParseByteToken(token);
      if (byte.has_value()) {
        pending.push_back(static_cast<char>(*byte));
        ++pending_count;
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    return out;
  }

 private:
  static std::optional<int> ParseByteToken(const std::string& token) {
    if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return std::nullopt;
    int value = 0;
    for (size_t i = 3; i < 5; ++i) {
      const char c = token[i];
      int digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return std::nullopt;
      }
      value = value * 16 + digit;
    }
    return value;
  }
};

class FuseDecoder : public Decoder {
 public:
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    return {absl::StrJoin(tokens, "")};
  }
};

// Removes up to `start` leading and `stop` trailing `content` characters
// from every token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    for (std::string& token : tokens) {
      size_t begin = 0, end = token.size();
      for (size_t i = 0; i < start_ && token.compare(begin, content_.size(), content_) == 0 && begin < end; ++i) {
        begin += content_.size();
      }
      for (size_t i = 0; i < stop_ && end >= begin + content_.size() &&
                         token.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i) {
        end -= content_.size();
      }
      token = token.substr(begin, end - begin);
    }
    return tokens;
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

// The replacement character back to spaces; the first token loses its
// leading one when the pre-tokenizer prepends it.
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first) : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    const Pattern pattern = Pattern::Literal(replacement_);
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& token = tokens[i];
      if (i == 0 && strip_first_ && token.starts_with(replacement_)) token.erase(0, replacement_.size());
      token = pattern.ReplaceAll(token, " ");
    }
    return tokens;
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> Decoder::FromJson(const nlohmann::json& json) {
  absl::StatusOr<std::string> type = GetType(json, "decoder");
  if (!type.ok()) return type.status();
  const std::string what = absl::StrCat("decoder \"", *type, "\"");
  if (*type == "Sequence") {
    if (absl::Status s = CheckKeys(json, what, {"type", "decoders"}); !s.ok()) return s;
    absl::StatusOr<std::vector<std::unique_ptr<Decoder>>> parts = GetComponents<Decoder>(json, "decoders", what);
    if (!parts.ok()) return parts.status();
    return std::make_unique<SequenceDecoder>(*std::move(parts));
  }
  if (*type == "ByteLevel") {
    // Its options only matter to offsets and pre-tokenization.
    if (absl::Status s = CheckKeys(json, what, {"type", "add_prefix_space", "trim_offsets", "use_regex"}); !s.ok()) return s;
    return std::make_unique<ByteLevelDecoder>();
  }
  if (*type == "Replace") {
    absl::StatusOr<Replacement> replacement = Replacement::FromJson(json, what);
    if (!replacement.ok()) return replacement.status();
    return std::make_unique<ReplaceDecoder>(*std::move(replacement));
  }
  if (*type == "ByteFallback") {
    if (absl::Status s = CheckKeys(json, what, {"type"}); !s.ok()) return s;
    return std::make_unique<ByteFallbackDecoder>();
  }
  if (*type == "Fuse") {
    if (absl::Status s = CheckKeys(json, what, {"type"}); !s.ok()) return s;
    return std::make_unique<FuseDecoder>();
  }
  if (*type == "Strip") {
    if (absl::Status s = CheckKeys(json, what, {"type", "content", "start", "stop"}); !s.ok()) return s;
    absl::StatusOr<std::string> content = GetString(json, "content", what);
    if (!content.ok()) return content.status();
    if (ValidUtf8Length(*content, 0) != content->size()) {
      return absl::InvalidArgumentError("tokenizer.json: decoder \"Strip\" content is not one character");
    }
    absl::StatusOr<int64_t> start = GetInt(json, "start", what, 0);
    if (!start.ok()) return start.status();
    absl::StatusOr<int64_t> stop = GetInt(json, "stop", what, 0);
    if (!stop.ok()) return stop.status();
    if (*start < 0 || *stop < 0) return absl::InvalidArgumentError("tokenizer.json: decoder \"Strip\" start/stop is negative");
    return std::make_unique<StripDecoder>(*content, *start, *stop);
  }
  if (*type == "Metaspace") {
    if (absl::Status s = CheckKeys(json, what, {"type", "replacement", "prepend_scheme", "split", "add_prefix_space", "str_rep"}); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::string> replacement = GetString(json, "replacement", what);
    if (!replacement.ok()) return replacement.status();
    absl::StatusOr<PrependScheme> scheme = GetPrependScheme(json, what);
    if (!scheme.ok()) return scheme.status();
    // Unless the pre-tokenizer prepends none, the first word had one.
    return std::make_unique<MetaspaceDecoder>(*replacement, /*strip_first=*/*scheme != PrependScheme::kNever);
  }
  return Unsupported(absl::StrCat("decoder type \"", *type, "\""));
}

}  // namespace djinn::tokenizer
