// The pieces of the tokenizer.json tokenizer (common/tokenizer/), each
// against hand-derived expectations: UTF-8 repair, GPT-2's byte table, the
// split regexes under PCRE2 with Oniguruma's \s, BPE merge order, added-token
// matching and its flags, the Llama 2 / Metaspace forms, tokenizer_config.json
// rules, and the refusal of what is not implemented. The whole pipeline is
// checked against HF tokenizers itself on real tokenizer files by
// tests/conformance/tokenizer (ctest conformance.tokenizer).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/tokenizer.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/hf_tokenizer.h"
#include "common/tokenizer/regex.h"
#include "common/tokenizer/utf8.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace djinn {
namespace {

using nlohmann::json;
using tokenizer::ByteLevelToBytes;
using tokenizer::BytesToByteLevel;
using tokenizer::Regex;

constexpr char kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::vector<std::string> Pieces(const Regex& regex, const std::string& text) {
  std::vector<std::string> pieces;
  for (const auto& [begin, end] : regex.FindAll(text)) pieces.push_back(text.substr(begin, end - begin));
  return pieces;
}

// A BPE tokenizer.json over `vocab` (token -> id) and `merges`, with the
// given components (null where absent).
json TokenizerJson(json vocab, json merges, json pre_tokenizer = nullptr, json decoder = nullptr,
                   json added_tokens = json::array(), json normalizer = nullptr, json post_processor = nullptr) {
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added_tokens},
          {"normalizer", normalizer},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", post_processor},
          {"decoder", decoder},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
            {"vocab", vocab}, {"merges", merges}}}};
}

// Every byte's character as its own token (ids 0..255 in byte order), as a
// byte-level vocabulary has them, plus `extra` tokens after.
json ByteLevelVocab(const std::vector<std::string>& extra) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[BytesToByteLevel(std::string(1, static_cast<char>(b)))] = b;
  int id = 256;
  for (const std::string& token : extra) vocab[token] = id++;
  return vocab;
}

json AddedToken(int id, const std::string& content, bool special, bool lstrip = false, bool rstrip = false,
                bool single_word = false, bool normalized = false) {
  return {{"id", id}, {"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip}, {"normalized", normalized}, {"special", special}};
}

std::unique_ptr<HfTokenizer> Make(const json& tokenizer_json, const std::string& config = "") {
  absl::StatusOr<std::unique_ptr<HfTokenizer>> t = HfTokenizer::FromJson(tokenizer_json.dump(), config);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

void ExpectRefused(const json& tokenizer_json, const std::string& message, const std::string& config = "") {
  absl::StatusOr<std::unique_ptr<HfTokenizer>> t = HfTokenizer::FromJson(tokenizer_json.dump(), config);
  ASSERT_FALSE(t.ok()) << "accepted; expected: " << message;
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find(message), std::string::npos) << t.status() << "\nexpected: " << message;
}

TEST(Utf8Test, LossyReplacesMaximalSubpartsAsTheUnicodeStandard) {
  // The Unicode Standard's example (chapter 3, "U+FFFD Substitution of
  // Maximal Subparts"): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
  const std::string bytes = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(tokenizer::Utf8Lossy(bytes), "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d");
  EXPECT_EQ(tokenizer::Utf8Lossy("\xED\xA0\x80"), fffd + fffd + fffd);  // a surrogate: ED then two strays
  EXPECT_EQ(tokenizer::Utf8Lossy("\xE2\x82"), fffd);                    // a cut-off euro sign
  EXPECT_EQ(tokenizer::Utf8Lossy("\xC0\xAF"), fffd + fffd);             // overlong
  EXPECT_EQ(tokenizer::Utf8Lossy("ok \xE2\x82\xAC \xF0\x9F\x99\x82"), "ok \xE2\x82\xAC \xF0\x9F\x99\x82");
}

TEST(ByteLevelTest, Gpt2TableAndRoundTrip) {
  // Entries of GPT-2's bytes_to_unicode() as published.
  EXPECT_EQ(BytesToByteLevel(" "), "\xC4\xA0");      // U+0120 Ġ
  EXPECT_EQ(BytesToByteLevel("\n"), "\xC4\x8A");     // U+010A Ċ
  EXPECT_EQ(BytesToByteLevel(std::string(1, '\0')), "\xC4\x80");  // U+0100 Ā
  EXPECT_EQ(BytesToByteLevel("\x7F"), "\xC4\xA1");   // U+0121 ġ
  EXPECT_EQ(BytesToByteLevel("\xAD"), "\xC5\x83");   // U+0143 Ń
  EXPECT_EQ(BytesToByteLevel("A~!"), "A~!");
  EXPECT_EQ(BytesToByteLevel("\xC3\xA9"), "\xC3\x83\xC2\xA9");  // é's bytes C3 A9 are Ã ©
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(ByteLevelToBytes(BytesToByteLevel(all)), all);
  EXPECT_EQ(ByteLevelToBytes("<|eot_id|>"), "<|eot_id|>");  // printable ASCII stands for itself
  EXPECT_EQ(ByteLevelToBytes("\xE2\x82\xAC"), std::nullopt);  // € is not in the table
}

TEST(RegexTest, Llama3SplitAsOnigurumaSplitsIt) {
  absl::StatusOr<Regex> regex = Regex::Compile(kLlama3Pattern);
  ASSERT_TRUE(regex.ok()) << regex.status();
  // Derived by hand from the alternatives, in order: contractions, letters
  // with one leading non-letter, 1-3 digits, punctuation with trailing
  // newlines, newlines, spaces not followed by non-space, spaces.
  EXPECT_EQ(Pieces(*regex, "Hello world's  2024!\n\n  x"),
            (std::vector<std::string>{"Hello", " world", "'s", " ", " ", "202", "4", "!\n\n", " ", " x"}));
  EXPECT_EQ(Pieces(*regex, "IT'S I'LL"), (std::vector<std::string>{"IT", "'S", " I", "'LL"}));
  EXPECT_EQ(Pieces(*regex, "中文 naïve"), (std::vector<std::string>{"中文", " naïve"}));
  EXPECT_EQ(Pieces(*regex, "a\r\n\tb"), (std::vector<std::string>{"a", "\r\n", "\tb"}));
  EXPECT_TRUE(Pieces(*regex, "").empty());
}

TEST(RegexTest, WhitespaceIsOnigurumasNotPcre2s) {
  absl::StatusOr<Regex> spaces = Regex::Compile(R"(\s+)");
  ASSERT_TRUE(spaces.ok()) << spaces.status();
  // NEL (U+0085), NBSP, U+2028 and U+3000 are spaces to Oniguruma; U+180E
  // (a format character since Unicode 6.3) is not, though PCRE2 lists it.
  EXPECT_EQ(Pieces(*spaces, "a\u0085\u00A0\u2028\u3000b"), (std::vector<std::string>{"\u0085\u00A0\u2028\u3000"}));
  EXPECT_TRUE(Pieces(*spaces, "a\u180Eb").empty());
  absl::StatusOr<Regex> not_spaces = Regex::Compile(R"(\S+)");
  ASSERT_TRUE(not_spaces.ok());
  EXPECT_EQ(Pieces(*not_spaces, "a\u180Eb c"), (std::vector<std::string>{"a\u180Eb", "c"}));
  absl::StatusOr<Regex> in_class = Regex::Compile(R"([^\s\p{L}]+)");
  ASSERT_TRUE(in_class.ok());
  EXPECT_EQ(Pieces(*in_class, "x!\u180E?\u0085y"), (std::vector<std::string>{"!\u180E?"}));
  // What PCRE2 cannot compile is refused with its message.
  absl::StatusOr<Regex> bad = Regex::Compile("(unclosed");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RegexTest, GeneralCategoriesIncludeUnicode15) {
  // Kawi (Unicode 15.0, after PCRE2 10.42's Unicode 14): U+11F04 KAWI
  // LETTER A is a letter (Lo), U+11F50 KAWI DIGIT ZERO a digit (Nd), as
  // Oniguruma in HF tokenizers has them.
  absl::StatusOr<Regex> letters = Regex::Compile(R"(\p{L}+|\p{N}+)");
  ASSERT_TRUE(letters.ok()) << letters.status();
  EXPECT_EQ(Pieces(*letters, "a\U00011F04b \U00011F50"), (std::vector<std::string>{"a\U00011F04b", "\U00011F50"}));
  absl::StatusOr<Regex> others = Regex::Compile(R"([^\p{L}\p{N}\s]+)");
  ASSERT_TRUE(others.ok()) << others.status();
  EXPECT_TRUE(Pieces(*others, "\U00011F04\U00011F50").empty());
}

TEST(BpeTest, MergesByRankLeftmostOnTies) {
  const json pre = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Removed"}, {"invert", false}};
  // "b c" outranks "a b": abc -> a bc -> abc. With the ranks swapped, ab c
  // needs a merge "ab c" that does not exist: [ab, c].
  json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"aa", 6}};
  auto t = Make(TokenizerJson(vocab, {"b c", "a b", "a bc", "a a"}, pre));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("abc"), (std::vector<int32_t>{5}));
  EXPECT_EQ(t->Encode("aaa"), (std::vector<int32_t>{6, 0}));  // leftmost pair first
  EXPECT_EQ(t->Encode("aaaa"), (std::vector<int32_t>{6, 6}));
  EXPECT_EQ(t->Encode("ab ab"), (std::vector<int32_t>{3, 3}));
  auto swapped = Make(TokenizerJson(vocab, json::array({json::array({"a", "b"}), json::array({"b", "c"})}), pre));
  ASSERT_NE(swapped, nullptr);  // merges as [a, b] pairs
  EXPECT_EQ(swapped->Encode("abc"), (std::vector<int32_t>{3, 2}));
  // ignore_merges takes a word that is in the vocabulary whole, whatever
  // the merges would make of it.
  json ignoring = TokenizerJson(vocab, json::array({"a b"}), pre);
  ignoring["model"]["ignore_merges"] = true;
  auto whole = Make(ignoring);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(whole->Encode("abc"), (std::vector<int32_t>{5}));
  EXPECT_EQ(whole->Encode("abcc"), (std::vector<int32_t>{3, 2, 2}));
}

TEST(BpeTest, ByteFallbackAndUnknownTokens) {
  json vocab = {{"<unk>", 0}, {"a", 1}, {"<0xE2>", 2}, {"<0x82>", 3}, {"<0xAC>", 4}};
  json model_json = TokenizerJson(vocab, json::array());
  model_json["model"]["unk_token"] = "<unk>";
  model_json["model"]["byte_fallback"] = true;
  auto fallback = Make(model_json);
  ASSERT_NE(fallback, nullptr);
  EXPECT_EQ(fallback->Encode("a€a"), (std::vector<int32_t>{1, 2, 3, 4, 1}));
  EXPECT_EQ(fallback->Encode("aéa"), (std::vector<int32_t>{1, 0, 1}));  // é has no byte tokens: unk
  model_json["model"]["byte_fallback"] = false;
  model_json["model"]["fuse_unk"] = true;
  auto fused = Make(model_json);
  ASSERT_NE(fused, nullptr);
  EXPECT_EQ(fused->Encode("a€éa"), (std::vector<int32_t>{1, 0, 1}));
  model_json["model"]["fuse_unk"] = false;
  auto unfused = Make(model_json);
  ASSERT_NE(unfused, nullptr);
  EXPECT_EQ(unfused->Encode("a€éa"), (std::vector<int32_t>{1, 0, 0, 1}));
}

// A byte-level tokenizer as Llama 3 / Qwen build theirs: Split by the Llama 3
// regex, ByteLevel without its own regex, ByteLevel decoder.
json ByteLevelTokenizer(json added_tokens = json::array()) {
  const json pre = {{"type", "Sequence"},
                    {"pretokenizers",
                     {{{"type", "Split"}, {"pattern", {{"Regex", kLlama3Pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  const json decoder = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  const std::string space = BytesToByteLevel(" ");
  return TokenizerJson(ByteLevelVocab({"he", "ll", "hell", "hello", space + "w", space + "wo"}),
                       {"h e", "l l", "he ll", "hell o", space + " w", space + "w o"}, pre, decoder, added_tokens);
}

TEST(HfTokenizerTest, ByteLevelEncodeAndDecode) {
  auto t = Make(ByteLevelTokenizer());
  ASSERT_NE(t, nullptr);
  // 256.. are he, ll, hell, hello, Ġw, Ġwo.
  EXPECT_EQ(t->Encode("hello wo"), (std::vector<int32_t>{259, 261}));
  EXPECT_EQ(t->Encode("€"), (std::vector<int32_t>{0xE2, 0x82, 0xAC}));  // bytes, one token each
  EXPECT_EQ(t->Decode(std::vector<int32_t>{259, 261, 0xE2, 0x82, 0xAC}), "hello wo€");
  // A character cut short decodes to U+FFFD, as Rust's from_utf8_lossy does.
  EXPECT_EQ(t->Decode(std::vector<int32_t>{0xE2, 0x82}), "\xEF\xBF\xBD");
  EXPECT_EQ(t->Decode(std::vector<int32_t>{259, 100000, -1}), "hello");  // unknown ids decode to nothing
  EXPECT_EQ(t->vocab_size(), 262);
  EXPECT_EQ(t->TokenToId("hello"), 259);
  EXPECT_EQ(t->TokenToId("nope"), std::nullopt);
}

TEST(HfTokenizerTest, AddedTokensAreMatchedInTheText) {
  auto t = Make(ByteLevelTokenizer({AddedToken(300, "<|eot_id|>", true), AddedToken(301, "<|eot_id|><|x|>", true),
                                    AddedToken(302, "<tool>", false)}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("hello<|eot_id|>"), (std::vector<int32_t>{259, 300}));
  // Longest match wins; a look-alike is plain text.
  EXPECT_EQ(t->Encode("<|eot_id|><|x|>he"), (std::vector<int32_t>{301, 256}));
  EXPECT_EQ(t->Encode("<|eot_id|"), t->Encode("<|eot_id|", false));
  EXPECT_EQ(t->Encode("<|eot_id|").size(), 9u);
  // Decode skips special tokens and keeps the others.
  EXPECT_EQ(t->Decode(std::vector<int32_t>{259, 300, 302, 259}), "hello<tool>hello");
  EXPECT_EQ(t->vocab_size(), 303);
  EXPECT_EQ(t->TokenToId("<|eot_id|>"), 300);
}

TEST(HfTokenizerTest, AddedTokenFlags) {
  const int mask = 300, word = 301;
  auto t = Make(ByteLevelTokenizer({AddedToken(mask, "<mask>", true, /*lstrip=*/true, /*rstrip=*/true),
                                    AddedToken(word, "wo", false, false, false, /*single_word=*/true)}));
  ASSERT_NE(t, nullptr);
  const std::vector<int32_t> he = t->Encode("he");
  // lstrip/rstrip: the spaces around <mask> belong to it.
  std::vector<int32_t> expected = he;
  expected.push_back(mask);
  expected.insert(expected.end(), he.begin(), he.end());
  EXPECT_EQ(t->Encode("he  <mask>  he"), expected);
  // single_word: "wo" is the token only where it is not inside a word.
  const std::vector<int32_t> alone = t->Encode("wo");
  EXPECT_EQ(alone, (std::vector<int32_t>{word}));
  EXPECT_EQ(t->Encode("xwo").size(), 3u);  // x w o, no added token
  EXPECT_EQ(t->Encode("wo!"), (std::vector<int32_t>{word, '!'}));
  // split_special_tokens in tokenizer_config.json makes special tokens text.
  auto split = Make(ByteLevelTokenizer({AddedToken(300, "<|eot_id|>", true)}), R"({"split_special_tokens": true})");
  ASSERT_NE(split, nullptr);
  EXPECT_EQ(split->Encode("<|eot_id|>").size(), 10u);  // its ten bytes: no merge applies
}

// The Llama 2 tokenizer.json form: Prepend + Replace normalizer, byte
// fallback, Replace/ByteFallback/Fuse/Strip decoder, a BOS template.
json Llama2Tokenizer() {
  const json normalizer = {{"type", "Sequence"},
                           {"normalizers",
                            {{{"type", "Prepend"}, {"prepend", "▁"}},
                             {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}}}};
  const json decoder = {{"type", "Sequence"},
                        {"decoders",
                         {{{"type", "Replace"}, {"pattern", {{"String", "▁"}}}, {"content", " "}},
                          {{"type", "ByteFallback"}},
                          {{"type", "Fuse"}},
                          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  const json post = {{"type", "TemplateProcessing"},
                     {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                     {"pair", json::array()},
                     {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<0xE2>", 3}, {"<0x82>", 4}, {"<0xAC>", 5},
                {"▁", 6}, {"h", 7}, {"i", 8}, {"▁h", 9}, {"▁hi", 10}};
  json j = TokenizerJson(vocab, {"▁ h", "▁h i"}, nullptr, decoder,
                         {AddedToken(0, "<unk>", true), AddedToken(1, "<s>", true), AddedToken(2, "</s>", true)},
                         normalizer, post);
  j["model"]["unk_token"] = "<unk>";
  j["model"]["byte_fallback"] = true;
  j["model"]["fuse_unk"] = true;
  return j;
}

TEST(HfTokenizerTest, Llama2Form) {
  auto t = Make(Llama2Tokenizer(), R"({"bos_token": "<s>", "eos_token": {"content": "</s>", "special": true}})");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("hi hi", true), (std::vector<int32_t>{1, 10, 10}));
  EXPECT_EQ(t->Encode("hi hi", false), (std::vector<int32_t>{10, 10}));
  EXPECT_EQ(t->Encode("€", false), (std::vector<int32_t>{6, 3, 4, 5}));  // ▁ then the euro's bytes
  // Each piece around an added token gets its own "▁" prefix.
  EXPECT_EQ(t->Encode("hi<s>hi", false), (std::vector<int32_t>{10, 1, 10}));
  EXPECT_EQ(t->Encode("", true), (std::vector<int32_t>{1}));
  EXPECT_EQ(t->Decode(std::vector<int32_t>{1, 10, 10, 6, 3, 4, 5, 2}), "hi hi €");
  EXPECT_EQ(t->Decode(std::vector<int32_t>{3, 4, 10}), "\xEF\xBF\xBD\xEF\xBF\xBD hi");  // unfinished bytes: one U+FFFD each
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_EQ(t->bos_token(), "<s>");
  EXPECT_EQ(t->eos_token(), "</s>");
  // For Llama-class tokenizers transformers builds the template from
  // add_bos_token/add_eos_token.
  auto eos = Make(Llama2Tokenizer(), R"({"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>",
                                          "add_bos_token": false, "add_eos_token": true})");
  ASSERT_NE(eos, nullptr);
  EXPECT_EQ(eos->Encode("hi", true), (std::vector<int32_t>{10, 2}));
  // A non-special added token goes through the decoder with the others:
  // Replace, Fuse, then Strip takes only the first space of the whole.
  json with_added = Llama2Tokenizer();
  with_added["added_tokens"].push_back(AddedToken(11, "<x>", /*special=*/false));
  auto added = Make(with_added);
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(added->Encode("hi<x> hi"), (std::vector<int32_t>{10, 11, 6, 10}));  // " hi" is ▁ then ▁hi
  EXPECT_EQ(added->Decode(std::vector<int32_t>{10, 11, 6, 10}), "hi<x>  hi");
  // Other classes keep tokenizer.json's post-processor.
  auto other = Make(Llama2Tokenizer(), R"({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>",
                                            "add_bos_token": false})");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->Encode("hi", true), (std::vector<int32_t>{1, 10}));
}

TEST(HfTokenizerTest, MetaspacePreTokenizerAndDecoder) {
  json j = Llama2Tokenizer();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", true}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", true}};
  auto t = Make(j);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("hi hi"), (std::vector<int32_t>{10, 10}));
  // "first": only the piece at the start of the input gets a "▁".
  EXPECT_EQ(t->Encode("<s>hi"), (std::vector<int32_t>{1, 7, 8}));
  EXPECT_EQ(t->Decode(std::vector<int32_t>{10, 10}), "hi hi");
}

TEST(HfTokenizerTest, NfcNormalizer) {
  json j = ByteLevelTokenizer();
  j["normalizer"] = {{"type", "NFC"}};
  auto t = Make(j);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("e\xCC\x81"), t->Encode("\xC3\xA9"));  // e + U+0301 composes to é
  EXPECT_EQ(t->Encode("\xC3\xA9"), (std::vector<int32_t>{0xC3, 0xA9}));
}

TEST(HfTokenizerTest, RefusesWhatItDoesNotImplement) {
  json j = ByteLevelTokenizer();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  ExpectRefused(j, "tokenizer.json: pre_tokenizer type \"Whitespace\" is not supported");
  j = ByteLevelTokenizer();
  j["normalizer"] = {{"type", "Lowercase"}};
  ExpectRefused(j, "normalizer type \"Lowercase\" is not supported");
  j = ByteLevelTokenizer();
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}};
  ExpectRefused(j, "decoder type \"WordPiece\" is not supported");
  j = ByteLevelTokenizer();
  j["model"]["type"] = "Unigram";
  ExpectRefused(j, "model type \"Unigram\" is not supported");
  j = ByteLevelTokenizer();
  j["model"]["dropout"] = 0.1;
  ExpectRefused(j, "dropout");
  j = ByteLevelTokenizer();
  j["post_processor"] = {{"type", "SomethingNew"}};
  ExpectRefused(j, "post_processor type \"SomethingNew\" is not supported");
  j = ByteLevelTokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["behaviour_typo"] = 1;
  ExpectRefused(j, "pre_tokenizer \"Split\" key \"behaviour_typo\" is not supported");
  j = ByteLevelTokenizer();
  j["truncation"] = {{"max_length", 8}};
  ExpectRefused(j, "\"truncation\" (not null) is not supported");
  j = ByteLevelTokenizer();
  j["model"]["merges"] = {"h nope"};
  ExpectRefused(j, "merge \"h nope\" uses a token outside the vocab");
  ExpectRefused(ByteLevelTokenizer(), "bos_token \"<nope>\" is not a token", R"({"bos_token": "<nope>"})");
  j = ByteLevelTokenizer();
  j["post_processor"] = {{"type", "TemplateProcessing"}, {"single", {{{"SpecialToken", {{"id", 7}}}}}}};
  ExpectRefused(j, "a value of the wrong type");  // an id that is not a string: refused, not a crash
  ExpectRefused(ByteLevelTokenizer(), "bos_token", R"({"bos_token": 5})");
  absl::StatusOr<std::unique_ptr<HfTokenizer>> garbage = HfTokenizer::FromJson("{not json", "");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HfTokenizerTest, LoadPrefersTokenizerJsonAndReadsTheConfig) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("tokenizer_json_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << Llama2Tokenizer().dump();
  std::ofstream(dir / "tokenizer_config.json") << R"({"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>",
                                                     "eos_token": "</s>", "add_eos_token": true})";
  std::ofstream(dir / "tokenizer.model") << "not read: tokenizer.json wins, as in transformers";
  absl::StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::Load(dir.string());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->Encode("hi", true), (std::vector<int32_t>{1, 10, 2}));
  EXPECT_EQ((*t)->eos_id(), 2);
  // A refusal names the directory and what it refuses.
  std::ofstream(dir / "tokenizer_config.json") << R"({"tokenizer_class": "LlamaTokenizer", "add_prefix_space": true})";
  absl::StatusOr<std::unique_ptr<Tokenizer>> refused = Tokenizer::Load(dir.string());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find(dir.string()), std::string::npos) << refused.status();
  EXPECT_NE(refused.status().message().find("add_prefix_space"), std::string::npos) << refused.status();
  fs::remove_all(dir);
}

TEST(HfTokenizerTest, EncodeFromManyThreads) {
  auto t = Make(ByteLevelTokenizer({AddedToken(300, "<|eot_id|>", true)}));
  ASSERT_NE(t, nullptr);
  const std::vector<std::string> texts = {"hello wo", "hell o<|eot_id|>", "€ hello", "wo wo wo", "h e l l o"};
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& text : texts) expected.push_back(t->Encode(text, true));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 500; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) mismatches[k] += t->Encode(texts[i], true) != expected[i];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(mismatches[k], 0) << "thread " << k;
}

}  // namespace
}  // namespace djinn
