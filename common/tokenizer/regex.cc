#include "common/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utf8proc.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/tokenizer/utf8.h"

namespace djinn::tokenizer {

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Oniguruma's \s: TAB, LF, VT, FF, CR, NEL and the separators (Z). PCRE2's
// (with UCP) also takes U+180E, a Cf since Unicode 6.3, from its own list.
constexpr char kOnigurumaSpaces[] = "\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}";

// Characters PCRE2 10.42 (Unicode 14) does not know but Oniguruma in
// `tokenizers` and utf8proc (Unicode 15) do, e.g. the Kawi script: their
// utf8proc general category, as ranges to add where a pattern says \p{..}.
using Ranges = std::vector<std::pair<char32_t, char32_t>>;

const std::vector<Ranges>& NewerCharactersByCategory() {
  static const auto* by_category = [] {
    auto* out = new std::vector<Ranges>(UTF8PROC_CATEGORY_CO + 1);
    int error = 0;
    PCRE2_SIZE offset = 0;
    const char unassigned[] = "^\\p{Cn}$";
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(unassigned), PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (code == nullptr) return out;
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    for (char32_t c = 0; c <= 0x10FFFF; ++c) {
      const int category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
      if (category == UTF8PROC_CATEGORY_CN || category == UTF8PROC_CATEGORY_CS || category == UTF8PROC_CATEGORY_CO) continue;
      std::string utf8;
      AppendUtf8(c, utf8);
      if (pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(utf8.data()), utf8.size(), 0, 0, data, nullptr) < 0) continue;
      Ranges& ranges = (*out)[category];
      if (!ranges.empty() && ranges.back().second + 1 == c) {
        ranges.back().second = c;
      } else {
        ranges.emplace_back(c, c);
      }
    }
    pcre2_match_data_free(data);
    pcre2_code_free(code);
    return out;
  }();
  return *by_category;
}

// The utf8proc categories of a general-category name (L, Lu, N, ...), or
// none for other property names (scripts), which need no addition.
std::vector<int> Categories(std::string_view name) {
  static const std::vector<std::pair<std::string_view, int>> kTwoLetter = {
      {"Lu", UTF8PROC_CATEGORY_LU}, {"Ll", UTF8PROC_CATEGORY_LL}, {"Lt", UTF8PROC_CATEGORY_LT},
      {"Lm", UTF8PROC_CATEGORY_LM}, {"Lo", UTF8PROC_CATEGORY_LO}, {"Mn", UTF8PROC_CATEGORY_MN},
      {"Mc", UTF8PROC_CATEGORY_MC}, {"Me", UTF8PROC_CATEGORY_ME}, {"Nd", UTF8PROC_CATEGORY_ND},
      {"Nl", UTF8PROC_CATEGORY_NL}, {"No", UTF8PROC_CATEGORY_NO}, {"Pc", UTF8PROC_CATEGORY_PC},
      {"Pd", UTF8PROC_CATEGORY_PD}, {"Ps", UTF8PROC_CATEGORY_PS}, {"Pe", UTF8PROC_CATEGORY_PE},
      {"Pi", UTF8PROC_CATEGORY_PI}, {"Pf", UTF8PROC_CATEGORY_PF}, {"Po", UTF8PROC_CATEGORY_PO},
      {"Sm", UTF8PROC_CATEGORY_SM}, {"Sc", UTF8PROC_CATEGORY_SC}, {"Sk", UTF8PROC_CATEGORY_SK},
      {"So", UTF8PROC_CATEGORY_SO}, {"Zs", UTF8PROC_CATEGORY_ZS}, {"Zl", UTF8PROC_CATEGORY_ZL},
      {"Zp", UTF8PROC_CATEGORY_ZP}, {"Cc", UTF8PROC_CATEGORY_CC}, {"Cf", UTF8PROC_CATEGORY_CF}};
  std::vector<int> out;
  for (const auto& [two, category] : kTwoLetter) {
    if (name == two || (name.size() == 1 && name[0] == two[0]) || (name == "L&" && (two == "Lu" || two == "Ll" || two == "Lt"))) {
      out.push_back(category);
    }
  }
  return out;
}

// `\p{name}` plus the newer characters of its categories, as class items.
std::string PropertyItems(std::string_view name) {
  std::string out = absl::StrCat("\\p{", std::string(name), "}");
  for (int category : Categories(name)) {
    for (const auto& [first, last] : NewerCharactersByCategory()[category]) {
      absl::StrAppend(&out, absl::StrFormat("\\x{%X}", static_cast<uint32_t>(first)));
      if (last != first) absl::StrAppend(&out, absl::StrFormat("-\\x{%X}", static_cast<uint32_t>(last)));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> OnigurumaToPcre2(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += in_class ? std::string(kOnigurumaSpaces) : absl::StrCat("[", kOnigurumaSpaces, "]");
      } else if (next == 'S') {
        if (in_class) return absl::InvalidArgumentError("\\S inside a character class is not supported");
        out += absl::StrCat("[^", kOnigurumaSpaces, "]");
      } else if (next == 'p' || next == 'P') {
        // \pL or \p{Name}: the name, then the class items it stands for.
        std::string_view name;
        if (i + 1 < pattern.size() && pattern[i + 1] == '{') {
          const size_t close = pattern.find('}', i + 2);
          if (close == std::string_view::npos) return absl::InvalidArgumentError("unterminated \\p{");
          name = pattern.substr(i + 2, close - i - 2);
          i = close;
        } else if (i + 1 < pattern.size()) {
          name = pattern.substr(++i, 1);
        } else {
          return absl::InvalidArgumentError("\\p without a property");
        }
        if (name.starts_with('^')) return absl::InvalidArgumentError("\\p{^...} is not supported");
        const std::string items = PropertyItems(name);
        if (next == 'p') {
          out += in_class ? items : absl::StrCat("[", items, "]");
        } else {
          if (in_class) return absl::InvalidArgumentError("\\P inside a character class is not supported");
          out += absl::StrCat("[^", items, "]");
        }
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      if (c == '[') return absl::InvalidArgumentError("nested character classes are not supported");
    } else if (c == '[') {
      in_class = true;
      out += c;
      // A ']' or '^]' right after '[' is a literal, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    out += c;
  }
  return out;
}

absl::StatusOr<Regex> Regex::Compile(std::string_view oniguruma_pattern) {
  absl::StatusOr<std::string> pattern = OnigurumaToPcre2(oniguruma_pattern);
  if (!pattern.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("regex \"", std::string(oniguruma_pattern), "\": ", pattern.status().message()));
  }
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern->data()), pattern->size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    return absl::InvalidArgumentError(absl::StrCat("regex \"", std::string(oniguruma_pattern), "\" does not compile at offset ",
                                                   offset, ": ", reinterpret_cast<const char*>(message)));
  }
  auto compiled = std::make_shared<Code>();
  compiled->code = code;
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // where JIT is unavailable, pcre2_match interprets
  return Regex(*std::move(pattern), std::move(compiled));
}

namespace {

// One match-data block and one JIT stack per thread, reused by every pattern:
// creating them per call costs more than matching a short text.
struct ThreadMatchState {
  pcre2_match_data* data = pcre2_match_data_create(16, nullptr);  // group 0 is all FindAll reads
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
  ThreadMatchState() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~ThreadMatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

}  // namespace

std::vector<std::pair<size_t, size_t>> Regex::FindAll(std::string_view text) const {
  thread_local ThreadMatchState state;
  std::vector<std::pair<size_t, size_t>> matches;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start <= text.size()) {
    // rc 0 only says the ovector is too small for every group; group 0 is set.
    const int rc = pcre2_match(code_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, state.data, state.context);
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH (or a resource limit: the rest is one gap)
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    const size_t begin = ovector[0], end = ovector[1];
    if (end == begin) {
      // Empty matches split nothing; step over one character.
      if (begin >= text.size()) break;
      start = begin + Utf8CharLength(text, begin);
      continue;
    }
    matches.emplace_back(begin, end);
    start = end;
  }
  return matches;
}

}  // namespace djinn::tokenizer
