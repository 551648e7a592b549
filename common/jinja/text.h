// Python's str operations that chat templates call (strip, split, replace,
// len, indexing and slicing), on UTF-8 text, counting code points as Python
// does. Whitespace is Python's str.isspace() set.
#ifndef DJINN_COMMON_JINJA_TEXT_H_
#define DJINN_COMMON_JINJA_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace djinn::jinja {

// Code points of UTF-8 text; an invalid byte is read as U+FFFD.
std::vector<char32_t> DecodeUtf8(absl::string_view text);
std::string EncodeUtf8(const std::vector<char32_t>& code_points);
void AppendUtf8(char32_t c, std::string* out);

bool IsPythonSpace(char32_t c);

// str.strip / lstrip / rstrip: `chars` (nullopt: whitespace) removed from
// the chosen ends.
std::string PyStrip(absl::string_view text, const std::optional<std::string>& chars, bool left, bool right);

// str.split(sep, maxsplit): sep nullopt splits on runs of whitespace.
absl::StatusOr<std::vector<std::string>> PySplit(absl::string_view text, const std::optional<std::string>& sep,
                                                 int64_t maxsplit);

// str.replace(old, new, count); count < 0: all.
std::string PyReplace(absl::string_view text, absl::string_view old, absl::string_view replacement, int64_t count);

// str.upper() / str.lower(), for ASCII letters. INVALID_ARGUMENT when the
// text has a non-ASCII letter-like byte, rather than get Unicode case
// mapping wrong.
absl::StatusOr<std::string> AsciiUpper(absl::string_view text);
absl::StatusOr<std::string> AsciiLower(absl::string_view text);

// Python's slice semantics over n items: the indices selected by
// [start:stop:step] (nullopt: omitted). INVALID_ARGUMENT for step 0.
absl::StatusOr<std::vector<int64_t>> SliceIndices(int64_t n, std::optional<int64_t> start,
                                                  std::optional<int64_t> stop, std::optional<int64_t> step);

}  // namespace djinn::jinja

#endif  // DJINN_COMMON_JINJA_TEXT_H_
