#include "common/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/pattern.h"

namespace djinn::tokenizer {
namespace {

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  std::string Normalize(std::string text) const override {
    for (const auto& part : parts_) text = part->Normalize(std::move(text));
    return text;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

// Prepends to non-empty text only (Llama 2's "▁" dummy prefix).
class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string Normalize(std::string text) const override { return text.empty() ? text : prefix_ + text; }

 private:
  std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  explicit ReplaceNormalizer(Replacement replacement) : replacement_(std::move(replacement)) {}
  std::string Normalize(std::string text) const override { return replacement_.Apply(text); }

 private:
  Replacement replacement_;
};

// Unicode normalisation forms through utf8proc (the text is valid UTF-8).
class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  std::string Normalize(std::string text) const override {
    if (text.empty()) return text;
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                            static_cast<utf8proc_ssize_t>(text.size()), &out,
                                            static_cast<utf8proc_option_t>(options_));
    if (n < 0) return text;  // not valid UTF-8: cannot happen, Encode repairs its input first
    std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
    return result;
  }

 private:
  int options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> Normalizer::FromJson(const nlohmann::json& json) {
  absl::StatusOr<std::string> type = GetType(json, "normalizer");
  if (!type.ok()) return type.status();
  const std::string what = absl::StrCat("normalizer \"", *type, "\"");
  if (*type == "Sequence") {
    if (absl::Status s = CheckKeys(json, what, {"type", "normalizers"}); !s.ok()) return s;
    absl::StatusOr<std::vector<std::unique_ptr<Normalizer>>> parts = GetComponents<Normalizer>(json, "normalizers", what);
    if (!parts.ok()) return parts.status();
    return std::make_unique<SequenceNormalizer>(*std::move(parts));
  }
  if (*type == "Prepend") {
    if (absl::Status s = CheckKeys(json, what, {"type", "prepend"}); !s.ok()) return s;
    absl::StatusOr<std::string> prepend = GetString(json, "prepend", what);
    if (!prepend.ok()) return prepend.status();
    return std::make_unique<PrependNormalizer>(*prepend);
  }
  if (*type == "Replace") {
    absl::StatusOr<Replacement> replacement = Replacement::FromJson(json, what);
    if (!replacement.ok()) return replacement.status();
    return std::make_unique<ReplaceNormalizer>(*std::move(replacement));
  }
  const int stable = UTF8PROC_STABLE;
  int options = -1;
  if (*type == "NFC") options = stable | UTF8PROC_COMPOSE;
  if (*type == "NFD") options = stable | UTF8PROC_DECOMPOSE;
  if (*type == "NFKC") options = stable | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  if (*type == "NFKD") options = stable | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  if (options >= 0) {
    if (absl::Status s = CheckKeys(json, what, {"type"}); !s.ok()) return s;
    return std::make_unique<UnicodeNormalizer>(options);
  }
  return Unsupported(absl::StrCat("normalizer type \"", *type, "\""));
}

}  // namespace djinn::tokenizer
