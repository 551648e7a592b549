// UTF-8 helpers the tokenizers share: walking code points, repairing invalid
// bytes the way Rust's String::from_utf8_lossy does (HF tokenizers decodes
// byte-level tokens with it), and the Unicode classes `tokenizers` asks of a
// character (whitespace, word character) outside its regexes.
#ifndef DJINN_COMMON_TOKENIZER_UTF8_H_
#define DJINN_COMMON_TOKENIZER_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace djinn::tokenizer {

// Length of the well-formed UTF-8 character at text[i], or 0 if the bytes
// there are not one (truncated, overlong, a surrogate, beyond U+10FFFF).
size_t ValidUtf8Length(std::string_view text, size_t i);

// Length of the character starting at text[i] for walking text that is known
// to be valid (1 for a stray byte, so that a walk always advances).
size_t Utf8CharLength(std::string_view text, size_t i);

// The code point of the valid character at text[i] (see ValidUtf8Length).
char32_t DecodeUtf8(std::string_view text, size_t i);
void AppendUtf8(char32_t code_point, std::string& out);

// `bytes` with every maximal invalid subsequence replaced by one U+FFFD, as
// Rust's String::from_utf8_lossy (and the Unicode standard's "substitution of
// maximal subparts") does.
std::string Utf8Lossy(std::string_view bytes);

// Rust's char::is_whitespace (the Unicode White_Space property).
bool IsUnicodeWhitespace(char32_t c);
// Rust's char::is_alphanumeric (letters and numbers) or '_': what
// `tokenizers` counts as part of a word for single_word added tokens.
bool IsWordCharacter(char32_t c);

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_UTF8_H_
