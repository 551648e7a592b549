// GPT-2's byte-to-character table, as HF `tokenizers` ByteLevel uses it: every
// byte becomes a printable character (printable Latin-1 bytes stand for
// themselves, the others for U+0100 onwards), so that byte strings can be
// BPE vocabulary entries.
#ifndef DJINN_COMMON_TOKENIZER_BYTE_LEVEL_H_
#define DJINN_COMMON_TOKENIZER_BYTE_LEVEL_H_

#include <optional>
#include <string>
#include <string_view>

namespace djinn::tokenizer {

// Each byte of `bytes` as its character (UTF-8).
std::string BytesToByteLevel(std::string_view bytes);

// The bytes a byte-level string stands for, or nullopt when one of its
// characters is not in the table (e.g. an added token's own text).
std::optional<std::string> ByteLevelToBytes(std::string_view text);

}  // namespace djinn::tokenizer

#endif  // DJINN_COMMON_TOKENIZER_BYTE_LEVEL_H_
