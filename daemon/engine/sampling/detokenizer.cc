#include "daemon/engine/sampling/detokenizer.h"

#include <algorithm>
#include <utility>

namespace djinn {
namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

bool IsContinuationByte(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

bool EndsWithIncompleteUtf8(std::string_view text) {
  if (text.ends_with(kReplacementChar)) return true;
  // Find the lead byte of the last character (at most 3 continuation bytes
  // back) and check whether all the bytes it announces are there.
  size_t n = text.size();
  size_t continuation = 0;
  while (continuation < n && continuation < 4 &&
         IsContinuationByte(text[n - 1 - continuation])) {
    ++continuation;
  }
  // Only continuation bytes: invalid text, not a character in progress.
  if (continuation == n) return false;
  const unsigned char lead = text[n - 1 - continuation];
  size_t expected;
  if (lead < 0x80) {
    expected = 0;
  } else if ((lead & 0xE0) == 0xC0) {
    expected = 1;
  } else if ((lead & 0xF0) == 0xE0) {
    expected = 2;
  } else if ((lead & 0xF8) == 0xF0) {
    expected = 3;
  } else {
    return false;  // not a lead byte: invalid text that waiting will not fix
  }
  return continuation < expected;
}

IncrementalDetokenizer::IncrementalDetokenizer(DecodeFn decode,
                                               std::vector<int32_t> prompt_ids)
    : decode_(std::move(decode)) {
  // Keep the prompt's tail as already-emitted context: decoding it together
  // with the first generated token gives that token its leading space, and
  // its text is subtracted, not emitted.
  const size_t keep = std::min(prompt_ids.size(), kPromptWindow);
  ids_.assign(prompt_ids.end() - keep, prompt_ids.end());
  prefix_offset_ = 0;
  read_offset_ = ids_.size();
}

std::string IncrementalDetokenizer::Push(int32_t token) {
  ids_.push_back(token);
  return Advance(/*force=*/false);
}

std::string IncrementalDetokenizer::Flush() { return Advance(/*force=*/true); }

std::string IncrementalDetokenizer::Advance(bool force) {
  if (read_offset_ == ids_.size()) return "";
  std::span<const int32_t> ids(ids_);
  const std::string prefix_text =
      decode_(ids.subspan(prefix_offset_, read_offset_ - prefix_offset_));
  const std::string new_text = decode_(ids.subspan(prefix_offset_));
  if (new_text.size() <= prefix_text.size()) {
    // Nothing visible yet (e.g. a token that decodes to ""); keep waiting.
    // At Flush there is nothing to give either.
    return "";
  }
  if (!force && EndsWithIncompleteUtf8(new_text)) return "";

  // The window's text normally extends the prefix's. Should a tokenizer
  // rewrite earlier characters, cut at the same byte count, moved forward to
  // a character boundary so the chunk stays valid UTF-8.
  size_t cut = prefix_text.size();
  if (!std::string_view(new_text).starts_with(prefix_text)) {
    while (cut < new_text.size() && IsContinuationByte(new_text[cut])) ++cut;
  }
  std::string delta = new_text.substr(cut);

  // The chunk just emitted becomes the next window's context.
  ids_.erase(ids_.begin(), ids_.begin() + read_offset_);
  prefix_offset_ = 0;
  read_offset_ = ids_.size();
  return delta;
}

}  // namespace djinn
