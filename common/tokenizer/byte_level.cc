#include "common/tokenizer/byte_level.h"

#include <array>

#include "common/tokenizer/utf8.h"

namespace djinn::tokenizer {
namespace {

struct Tables {
  std::array<std::string, 256> byte_to_char;
  std::array<int, 512> char_to_byte;  // code points below 512, -1 if none
};

// bytes_to_unicode() of GPT-2 / `tokenizers`: bytes '!'..'~', '¡'..'¬' and
// '®'..'ÿ' map to themselves, the remaining 68 to U+0100.. in byte order.
const Tables& GetTables() {
  static const Tables* tables = [] {
    auto* t = new Tables();
    t->char_to_byte.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? b : next++;
      AppendUtf8(c, t->byte_to_char[b]);
      t->char_to_byte[c] = b;
    }
    return t;
  }();
  return *tables;
}

}  // namespace

std::string BytesToByteLevel(std::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += t.byte_to_char[b];
  return out;
}

std::optional<std::string> ByteLevelToBytes(std::string_view text) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (ValidUtf8Length(text, i) == 0) return std::nullopt;
    const char32_t c = DecodeUtf8(text, i);
    if (c >= t.char_to_byte.size() || t.char_to_byte[c] < 0) return std::nullopt;
    out.push_back(static_cast<char>(t.char_to_byte[c]));
    i += Utf8CharLength(text, i);
  }
  return out;
}

}  // namespace djinn::tokenizer
