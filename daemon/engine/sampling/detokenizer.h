// Turns a stream of generated token ids into a stream of text chunks.
//
// Tokenizers cannot be decoded one token at a time: a SentencePiece piece's
// leading space ("▁") is dropped when it starts the decoded string, and
// byte-fallback tokens (<0xE2><0x82><0xAC>) or byte-level BPE tokens (Llama 3,
// Qwen: one token per byte of a character the vocabulary lacks) only form a
// character together; until they do, the decode ends in U+FFFD or a cut-off
// sequence. This uses the prefix-offset / read-offset scheme of HF TGI and
// vLLM: decode a short window that ends with the new tokens, and emit only
// what the new tokens added, holding text back while it ends mid-character.
#ifndef DJINN_DAEMON_ENGINE_SAMPLING_DETOKENIZER_H_
#define DJINN_DAEMON_ENGINE_SAMPLING_DETOKENIZER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace djinn {

// True when `text` ends with U+FFFD or with a UTF-8 sequence cut short, i.e.
// a later token may still complete the last character.
bool EndsWithIncompleteUtf8(std::string_view text);

// One per request; not thread-safe.
class IncrementalDetokenizer {
 public:
  // Decodes ids to UTF-8 the way the tokenizer does for a whole sequence
  // (special tokens skipped, leading space of the result stripped).
  using DecodeFn = std::function<std::string(std::span<const int32_t>)>;

  // How many prompt tokens seed the window (vLLM uses 5): enough context
  // for the first generated token to decode with its leading space.
  static constexpr size_t kPromptWindow = 5;

  IncrementalDetokenizer(DecodeFn decode, std::vector<int32_t> prompt_ids);

  // Adds one generated token; returns the text it completes, possibly "".
  std::string Push(int32_t token);

  // At the end of generation: the text still held back (it may end with
  // U+FFFD if the model stopped mid-character). Later Pushes continue.
  std::string Flush();

 private:
  // Text of ids_[read_offset_:] beyond ids_[prefix_offset_:read_offset_],
  // or "" if none. Advances the offsets when it returns text, or when
  // `force` says the last character need not be complete.
  std::string Advance(bool force);

  DecodeFn decode_;
  // Only the window is kept: ids before prefix_offset_ are dropped as the
  // offsets advance, so memory does not grow with the generation length.
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;  // start of the context already emitted
  size_t read_offset_ = 0;    // end of what has been emitted
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_SAMPLING_DETOKENIZER_H_
