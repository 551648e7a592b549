#include "daemon/engine/sampling/detokenizer.h"

#include <cstdint>
#include <string>
#include <vector>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/utf8.h"
#include "common/tokenizer/hf_tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace djinn {
namespace {

constexpr std::string_view kFFFD = "\xEF\xBF\xBD";

// A tiny SentencePiece look-alike: "▁" is a space, the leading space of the
// whole result is stripped, and runs of byte-fallback pieces "<0xNN>" are
// decoded as UTF-8 with each byte of an invalid or unfinished sequence
// replaced by U+FFFD (as sentencepiece does). With raw_bytes, the bytes are
// passed through unchecked instead, like a byte-level BPE decoder.
class FakeSentencePiece {
 public:
  enum Id : int32_t {
    kHello,
    kWorld,
    kThe,
    kPrice,
    kIs,
    kE2,
    k82,
    kAC,
    k5,
    kDot,
    kComma,
    kUn,
    kBelievable,
    kBos,
    kHi,
  };

  explicit FakeSentencePiece(bool raw_bytes = false) : raw_bytes_(raw_bytes) {}

  std::string Decode(std::span<const int32_t> ids) const {
    static const std::vector<std::string> kPieces = {
        "▁Hello", "▁world", "▁the",       "▁price", "▁is",
        "<0xE2>", "<0x82>", "<0xAC>",     "5",      ".",
        ",",      "▁un",    "believable", "<s>",    "▁Hi"};
    std::string out;
    std::string bytes;
    for (int32_t id : ids) {
      const std::string& piece = kPieces.at(id);
      if (id == kBos) continue;  // special tokens are skipped
      if (piece.starts_with("<0x")) {
        bytes.push_back(
            static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
        continue;
      }
      out += FlushBytes(bytes);
      for (size_t i = 0; i < piece.size();) {
        if (piece.compare(i, 3, "▁") == 0) {
          out += ' ';
          i += 3;
        } else {
          out += piece[i++];
        }
      }
    }
    out += FlushBytes(bytes);
    if (out.starts_with(' ')) out.erase(0, 1);
    return out;
  }

  IncrementalDetokenizer::DecodeFn Fn() const {
    return [this](std::span<const int32_t> ids) { return Decode(ids); };
  }

 private:
  std::string FlushBytes(std::string& bytes) const {
    std::string out;
    if (raw_bytes_) {
      out.swap(bytes);
      return out;
    }
    for (size_t i = 0; i < bytes.size();) {
      const unsigned char lead = bytes[i];
      size_t len = lead < 0x80             ? 1
                   : (lead & 0xE0) == 0xC0 ? 2
                   : (lead & 0xF0) == 0xE0 ? 3
                   : (lead & 0xF8) == 0xF0 ? 4
                                           : 0;
      bool ok = len > 0 && i + len <= bytes.size();
      for (size_t k = 1; ok && k < len; ++k) {
        ok = (static_cast<unsigned char>(bytes[i + k]) & 0xC0) == 0x80;
      }
      if (ok) {
        out.append(bytes, i, len);
        i += len;
      } else {
        out += kFFFD;
        ++i;
      }
    }
    bytes.clear();
    return out;
  }

  bool raw_bytes_;
};

using Id = FakeSentencePiece::Id;

struct Streamed {
  std::vector<std::string> chunks;  // one per Push, then the Flush
  std::string Joined() const {
    std::string s;
    for (const auto& c : chunks) s += c;
    return s;
  }
};

Streamed Stream(const FakeSentencePiece& sp, std::vector<int32_t> prompt,
                const std::vector<int32_t>& generated) {
  IncrementalDetokenizer detok(sp.Fn(), std::move(prompt));
  Streamed out;
  for (int32_t id : generated) out.chunks.push_back(detok.Push(id));
  out.chunks.push_back(detok.Flush());
  return out;
}

// The text the generated ids add to the prompt's text.
std::string Continuation(const FakeSentencePiece& sp,
                         const std::vector<int32_t>& prompt,
                         const std::vector<int32_t>& generated) {
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), generated.begin(), generated.end());
  const std::string full = sp.Decode(all);
  const std::string head = sp.Decode(prompt);
  EXPECT_TRUE(full.starts_with(head));
  return full.substr(head.size());
}

TEST(DetokenizerTest, StreamsLeadingSpacesAndMultiByteCharacters) {
  FakeSentencePiece sp;
  const std::vector<int32_t> prompt = {Id::kBos, Id::kHello, Id::kWorld};
  const std::vector<int32_t> generated = {Id::kThe, Id::kPrice, Id::kIs,
                                          Id::kE2,  Id::k82,    Id::kAC,
                                          Id::k5,   Id::kDot};
  const Streamed s = Stream(sp, prompt, generated);
  EXPECT_EQ(s.Joined(), " the price is€5.");
  EXPECT_EQ(s.Joined(), Continuation(sp, prompt, generated));
  // The first word keeps its space, though "▁the" alone decodes to "the".
  EXPECT_EQ(s.chunks[0], " the");
  // The euro sign is held back until its third byte, then sent whole.
  EXPECT_EQ(s.chunks[3], "");
  EXPECT_EQ(s.chunks[4], "");
  EXPECT_EQ(s.chunks[5], "€");
  for (const auto& chunk : s.chunks) {
    EXPECT_EQ(chunk.find(kFFFD), std::string::npos) << chunk;
  }
}

TEST(DetokenizerTest, PiecesWithoutSpaceJoinTheWord) {
  FakeSentencePiece sp;
  const std::vector<int32_t> prompt = {Id::kHello};
  const std::vector<int32_t> generated = {Id::kComma, Id::kUn, Id::kBelievable,
                                          Id::kDot};
  const Streamed s = Stream(sp, prompt, generated);
  EXPECT_EQ(s.chunks,
            (std::vector<std::string>{",", " un", "believable", ".", ""}));
}

TEST(DetokenizerTest, LongGenerationMatchesWholeDecode) {
  FakeSentencePiece sp;
  const std::vector<int32_t> prompt = {Id::kBos, Id::kHi};
  std::vector<int32_t> generated;
  for (int i = 0; i < 50; ++i) {
    generated.insert(generated.end(), {Id::kThe, Id::kE2, Id::k82, Id::kAC,
                                       Id::kUn, Id::kBelievable, Id::kComma});
  }
  const Streamed s = Stream(sp, prompt, generated);
  EXPECT_EQ(s.Joined(), Continuation(sp, prompt, generated));
  for (const auto& chunk : s.chunks) {
    EXPECT_EQ(chunk.find(kFFFD), std::string::npos);
  }
}

TEST(DetokenizerTest, EmptyPromptStripsLeadingSpaceLikeTheTokenizer) {
  FakeSentencePiece sp;
  const Streamed s = Stream(sp, {}, {Id::kHi, Id::kWorld});
  EXPECT_EQ(s.chunks, (std::vector<std::string>{"Hi", " world", ""}));
}

TEST(DetokenizerTest, BosOnlyPrompt) {
  FakeSentencePiece sp;
  const Streamed s = Stream(sp, {Id::kBos}, {Id::kHi, Id::kWorld});
  EXPECT_EQ(s.Joined(), "Hi world");
}

TEST(DetokenizerTest, PromptLongerThanWindow) {
  FakeSentencePiece sp;
  std::vector<int32_t> prompt(20, Id::kHello);
  const Streamed s = Stream(sp, prompt, {Id::kThe, Id::kDot});
  EXPECT_EQ(s.chunks, (std::vector<std::string>{" the", ".", ""}));
}

TEST(DetokenizerTest, FlushReleasesUnfinishedCharacter) {
  FakeSentencePiece sp;
  const std::vector<int32_t> prompt = {Id::kHello};
  const std::vector<int32_t> generated = {Id::kIs, Id::kE2, Id::k82};
  const Streamed s = Stream(sp, prompt, generated);
  EXPECT_EQ(s.chunks[0], " is");
  EXPECT_EQ(s.chunks[1], "");
  EXPECT_EQ(s.chunks[2], "");
  EXPECT_EQ(s.chunks[3], std::string(kFFFD) + std::string(kFFFD));
  EXPECT_EQ(s.Joined(), Continuation(sp, prompt, generated));
}

TEST(DetokenizerTest, InvalidByteFollowedByTextIsNotHeldForever) {
  // A stray continuation byte is not the start of anything; once a normal
  // piece follows, the replacement char is part of the text and goes out.
  FakeSentencePiece sp;
  const Streamed s = Stream(sp, {Id::kHello}, {Id::k82, Id::kIs});
  EXPECT_EQ(s.chunks[0], "");
  EXPECT_EQ(s.chunks[1], std::string(kFFFD) + " is");
  EXPECT_EQ(s.chunks[2], "");
}

TEST(DetokenizerTest, RawByteDecoderHoldsBackIncompleteSequences) {
  FakeSentencePiece sp(/*raw_bytes=*/true);
  const std::vector<int32_t> prompt = {Id::kHello};
  const std::vector<int32_t> generated = {Id::kIs, Id::kE2, Id::k82, Id::kAC,
                                          Id::k5};
  const Streamed s = Stream(sp, prompt, generated);
  EXPECT_EQ(s.chunks, (std::vector<std::string>{" is", "", "", "€", "5", ""}));
}

TEST(DetokenizerTest, FlushTwiceAndPushAfterFlush) {
  FakeSentencePiece sp;
  IncrementalDetokenizer detok(sp.Fn(), {Id::kHello});
  EXPECT_EQ(detok.Push(Id::kE2), "");
  EXPECT_EQ(detok.Flush(), kFFFD);
  EXPECT_EQ(detok.Flush(), "");
  EXPECT_EQ(detok.Push(Id::kIs), " is");
}

// A real byte-level BPE tokenizer (tokenizer.json form of Llama 3 / Qwen,
// built here with a small vocabulary): characters outside the vocabulary are
// one token per UTF-8 byte, and Decode of a cut-off character ends in U+FFFD.
std::unique_ptr<HfTokenizer> ByteLevelTokenizer() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[tokenizer::BytesToByteLevel(std::string(1, static_cast<char>(b)))] = b;
  const std::string space = tokenizer::BytesToByteLevel(" ");
  vocab["he"] = 256;
  vocab["hello"] = 257;
  vocab[space + "w"] = 258;
  vocab[space + "wo"] = 259;
  vocab["hel"] = 260;
  vocab["hell"] = 261;
  const nlohmann::json json = {
      {"added_tokens", nlohmann::json::array({{{"id", 262}, {"content", "<|eot_id|>"}, {"special", true},
                                               {"normalized", false}, {"lstrip", false}, {"rstrip", false},
                                               {"single_word", false}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"h e", "he l", "hel l", "hell o", space + " w", space + "w o"}},
        {"ignore_merges", true}}}};
  absl::StatusOr<std::unique_ptr<HfTokenizer>> t = HfTokenizer::FromJson(json.dump(), "");
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

TEST(DetokenizerTest, ByteLevelTokensSplittingCharactersStreamWholeCharacters) {
  const std::unique_ptr<HfTokenizer> t = ByteLevelTokenizer();
  ASSERT_NE(t, nullptr);
  const std::string text = " wo 🙂€ hello 👨‍👩‍👧 é<|eot_id|>!";
  const std::vector<int32_t> prompt = t->Encode("hello");
  const std::vector<int32_t> generated = t->Encode(text);
  ASSERT_GT(generated.size(), 20u);  // the emoji and € are several byte tokens each
  IncrementalDetokenizer detok([&t](std::span<const int32_t> ids) { return t->Decode(ids); }, prompt);
  std::string joined;
  for (int32_t id : generated) {
    const std::string chunk = detok.Push(id);
    // Never half a character, never a replacement character.
    EXPECT_FALSE(EndsWithIncompleteUtf8(chunk)) << chunk;
    EXPECT_EQ(chunk.find(kFFFD), std::string::npos) << chunk;
    EXPECT_EQ(tokenizer::Utf8Lossy(chunk), chunk);
    joined += chunk;
  }
  joined += detok.Flush();
  // The special token decodes to nothing, as in Decode of the whole.
  EXPECT_EQ(joined, " wo 🙂€ hello 👨‍👩‍👧 é!");
  EXPECT_EQ(t->Decode(generated), joined);
}

TEST(DetokenizerTest, ByteLevelFlushOfACutCharacter) {
  const std::unique_ptr<HfTokenizer> t = ByteLevelTokenizer();
  ASSERT_NE(t, nullptr);
  const std::vector<int32_t> euro = t->Encode("€");
  ASSERT_EQ(euro.size(), 3u);
  IncrementalDetokenizer detok([&t](std::span<const int32_t> ids) { return t->Decode(ids); }, t->Encode("he"));
  EXPECT_EQ(detok.Push(euro[0]), "");
  EXPECT_EQ(detok.Push(euro[1]), "");
  // The model stopped mid-character: the bytes so far are one U+FFFD, as
  // the whole decode gives them.
  EXPECT_EQ(detok.Flush(), kFFFD);
}

TEST(Utf8Test, EndsWithIncompleteUtf8) {
  EXPECT_FALSE(EndsWithIncompleteUtf8(""));
  EXPECT_FALSE(EndsWithIncompleteUtf8("abc"));
  EXPECT_FALSE(EndsWithIncompleteUtf8("a€"));
  EXPECT_FALSE(EndsWithIncompleteUtf8("😀"));
  EXPECT_TRUE(EndsWithIncompleteUtf8("a\xE2"));
  EXPECT_TRUE(EndsWithIncompleteUtf8("a\xE2\x82"));
  EXPECT_TRUE(EndsWithIncompleteUtf8("\xF0\x9F\x98"));
  EXPECT_TRUE(EndsWithIncompleteUtf8("x\xEF\xBF\xBD"));
  EXPECT_FALSE(EndsWithIncompleteUtf8("\x82"));  // stray: waiting won't help
  EXPECT_FALSE(EndsWithIncompleteUtf8("a\xFF"));
}

}  // namespace
}  // namespace djinn
