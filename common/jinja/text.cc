#include "common/jinja/text.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace djinn::jinja {

std::vector<char32_t> DecodeUtf8(absl::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    int length = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      length = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      cp = c & 0x07;
    }
    bool valid = length > 0 && i + length <= text.size();
    for (int k = 1; valid && k < length; ++k) {
      unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) {
        valid = false;
      } else {
        cp = (cp << 6) | (cc & 0x3F);
      }
    }
    if (!valid) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += length;
  }
  return out;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string EncodeUtf8(const std::vector<char32_t>& code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t c : code_points) AppendUtf8(c, &out);
  return out;
}

bool IsPythonSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

std::string PyStrip(absl::string_view text, const std::optional<std::string>& chars, bool left, bool right) {
  std::vector<char32_t> cps = DecodeUtf8(text);
  std::vector<char32_t> set;
  if (chars) set = DecodeUtf8(*chars);
  auto strip_this = [&](char32_t c) {
    if (!chars) return IsPythonSpace(c);
    return std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t begin = 0;
  size_t end = cps.size();
  if (left) {
    while (begin < end && strip_this(cps[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip_this(cps[end - 1])) --end;
  }
  return EncodeUtf8(std::vector<char32_t>(cps.begin() + begin, cps.begin() + end));
}

absl::StatusOr<std::vector<std::string>> PySplit(absl::string_view text, const std::optional<std::string>& sep,
                                                 int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) return absl::InvalidArgumentError("empty separator");
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      size_t at = text.find(*sep, start);
      if (at == absl::string_view::npos) break;
      parts.emplace_back(text.substr(start, at - start));
      start = at + sep->size();
    }
    parts.emplace_back(text.substr(start));
    return parts;
  }
  std::vector<char32_t> cps = DecodeUtf8(text);
  size_t i = 0;
  while (i < cps.size()) {
    while (i < cps.size() && IsPythonSpace(cps[i])) ++i;
    if (i == cps.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      // The rest, trailing whitespace kept, is the last part.
      parts.push_back(EncodeUtf8(std::vector<char32_t>(cps.begin() + i, cps.end())));
      break;
    }
    size_t j = i;
    while (j < cps.size() && !IsPythonSpace(cps[j])) ++j;
    parts.push_back(EncodeUtf8(std::vector<char32_t>(cps.begin() + i, cps.begin() + j)));
    i = j;
  }
  return parts;
}

std::string PyReplace(absl::string_view text, absl::string_view old, absl::string_view replacement, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every character and at the end.
    std::vector<char32_t> cps = DecodeUtf8(text);
    int64_t done = 0;
    for (char32_t c : cps) {
      if (count < 0 || done < count) {
        out.append(replacement.data(), replacement.size());
        ++done;
      }
      AppendUtf8(c, &out);
    }
    if (count < 0 || done < count) out.append(replacement.data(), replacement.size());
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t at = text.find(old, start);
    if (at == absl::string_view::npos) break;
    out.append(text.data() + start, at - start);
    out.append(replacement.data(), replacement.size());
    start = at + old.size();
    ++done;
  }
  out.append(text.data() + start, text.size() - start);
  return out;
}

namespace {

absl::StatusOr<std::string> AsciiCase(absl::string_view text, bool upper, const char* name) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, "() of non-ASCII text is not supported (Unicode case mapping)"));
    }
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> AsciiUpper(absl::string_view text) { return AsciiCase(text, true, "upper"); }
absl::StatusOr<std::string> AsciiLower(absl::string_view text) { return AsciiCase(text, false, "lower"); }

absl::StatusOr<std::vector<int64_t>> SliceIndices(int64_t n, std::optional<int64_t> start,
                                                  std::optional<int64_t> stop, std::optional<int64_t> step) {
  int64_t s = step.value_or(1);
  if (s == 0) return absl::InvalidArgumentError("slice step cannot be zero");
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t default_value) {
    if (!v) return default_value;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = s < 0 ? -1 : 0;
    } else if (x >= n) {
      x = s < 0 ? n - 1 : n;
    }
    return x;
  };
  int64_t begin = adjust(start, s < 0 ? n - 1 : 0);
  int64_t end = adjust(stop, s < 0 ? -1 : n);
  std::vector<int64_t> indices;
  if (s > 0) {
    for (int64_t i = begin; i < end; i += s) indices.push_back(i);
  } else {
    for (int64_t i = begin; i > end; i += s) indices.push_back(i);
  }
  return indices;
}

}  // namespace djinn::jinja
