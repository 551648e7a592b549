#include "common/tokenizer/utf8.h"

#include <utf8proc.h>

namespace djinn::tokenizer {
namespace {

size_t AnnouncedLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 0;
}

// Length of the longest prefix of text[i..] that could start a valid
// character (at least 1): the "maximal subpart" that becomes one U+FFFD.
size_t MaximalInvalidPrefix(std::string_view text, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(text[i]);
  const size_t n = AnnouncedLength(lead);
  if (n < 2 || lead == 0xC0 || lead == 0xC1 || lead > 0xF4) return 1;
  size_t k = 1;
  for (; k < n && i + k < text.size(); ++k) {
    const unsigned char c = static_cast<unsigned char>(text[i + k]);
    // The second byte's range depends on the lead (no overlongs, surrogates
    // or code points beyond U+10FFFF), as in the Unicode table of well-formed
    // byte sequences.
    unsigned char low = 0x80, high = 0xBF;
    if (k == 1) {
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    }
    if (c < low || c > high) break;
  }
  return k;
}

}  // namespace

size_t ValidUtf8Length(std::string_view text, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80) return 1;
  const size_t n = AnnouncedLength(lead);
  if (n < 2 || i + n > text.size()) return 0;
  return MaximalInvalidPrefix(text, i) == n ? n : 0;
}

size_t Utf8CharLength(std::string_view text, size_t i) {
  const size_t n = ValidUtf8Length(text, i);
  return n == 0 ? 1 : n;
}

char32_t DecodeUtf8(std::string_view text, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(text[i]);
  const size_t n = ValidUtf8Length(text, i);
  if (n <= 1) return lead;
  char32_t code = lead & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) code = (code << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  return code;
}

void AppendUtf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string Utf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const size_t n = ValidUtf8Length(bytes, i);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      i += MaximalInvalidPrefix(bytes, i);
    }
  }
  return out;
}

bool IsUnicodeWhitespace(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool IsWordCharacter(char32_t c) {
  if (c == '_') return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

}  // namespace djinn::tokenizer
