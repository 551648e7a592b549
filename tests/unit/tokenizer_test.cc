// Djinn's SentencePiece-BPE tokenizer against the real SentencePiece: the test
// models' tokenizer.model is encoded and decoded by Djinn and by SentencePiece's
// own command-line tools (spm_encode / spm_decode, Debian's `sentencepiece`
// package; libsentencepiece cannot share a process with the system protobuf),
// and the ids and texts must be identical.
#include "common/tokenizer.h"
#include "common/tokenizer/sentencepiece_tokenizer.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/testmodel/test_model.h"
#include "gtest/gtest.h"
#include "sentencepiece/sentencepiece_model.pb.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

constexpr char kSpmEncode[] = "/usr/bin/spm_encode";
constexpr char kSpmDecode[] = "/usr/bin/spm_decode";

// Runs `command` through the shell; returns its standard output and fails the
// test if it does not exit 0.
std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return out;
  }
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  const int status = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << " exited with status " << status;
  return out;
}

// Texts without newlines (the tools read one per line).
const std::vector<std::string>& Texts() {
  static const auto* texts = new std::vector<std::string>{
      "",
      "Hello world",
      "The quick brown fox jumps over the lazy dog.",
      "The children were reading books together.",
      "once upon a time there was a little girl who loved the sea",
      "Room 2024, 7 children!",
      "3.14159 is pi; 1,000,000 is a million; 0042",
      "  two leading spaces",
      "trailing spaces   ",
      "multiple    spaces   between     words",
      " ",
      "    ",
      "a",
      "I",
      "naïve café",
      "日本語",
      "mixed 日本 and English 123",
      "emoji 🙂 and 🚀🚀",
      "thumbs 👍🏽 with a skin tone",
      "Ünïcödé ÀÉÎÕÜ ß",
      "Здравствуй, мир",
      "مرحبا بالعالم",
      "€100 and £50 and ¥",
      "punctuation!?.,;:'\"()[]{}<>-_=+*/\\|~`@#$%^&",
      "tab\tseparated\tvalues",
      "email: someone@example.com, url: https://example.org/a?b=c",
      "CamelCaseWords and snake_case_words",
      "UPPERCASE TEXT SHOUTS",
      "x=y+z*2/(3-1)",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "the the the the the the the the",
      "\xE2\x96\x81literal lower-eighth block",
      "control \x01 and \x7f characters",
  };
  return *texts;
}

std::vector<int32_t> ParseIds(const std::string& line) {
  std::vector<int32_t> ids;
  for (absl::string_view field : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    ids.push_back(static_cast<int32_t>(std::stol(std::string(field))));
  }
  return ids;
}

std::string IdsLine(const std::vector<int32_t>& ids) { return absl::StrJoin(ids, " "); }

class BpeTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) / ("tokenizer_test_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    testmodel::TestModelOptions options;
    options.preset = "tiny";
    options.out_dir = dir_->string();
    const absl::Status written = testmodel::WriteTestModel(options);
    ASSERT_TRUE(written.ok()) << written;
    absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer = SentencePieceTokenizer::Load(dir_->string());
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = tokenizer->release();
    std::ifstream in(*dir_ / "tokenizer.model", std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    model_bytes_ = new std::string(bytes.str());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete tokenizer_;
    delete model_bytes_;
  }

  void SetUp() override {
    ASSERT_NE(tokenizer_, nullptr);
    ASSERT_TRUE(fs::exists(kSpmEncode)) << kSpmEncode << " is missing: run scripts/install-deps.sh";
    ASSERT_TRUE(fs::exists(kSpmDecode)) << kSpmDecode << " is missing: run scripts/install-deps.sh";
  }

  static std::string ModelPath() { return (*dir_ / "tokenizer.model").string(); }

  // spm_encode's ids for each line.
  static std::vector<std::vector<int32_t>> SpmEncode(const std::vector<std::string>& lines) {
    const fs::path input = *dir_ / "encode_input.txt";
    {
      std::ofstream out(input, std::ios::binary | std::ios::trunc);
      for (const std::string& line : lines) out << line << "\n";
    }
    const std::string output =
        RunCommand(std::string(kSpmEncode) + " --model=" + ModelPath() + " --output_format=id < " + input.string());
    std::vector<std::string> out_lines = absl::StrSplit(output, '\n');
    EXPECT_FALSE(out_lines.empty());
    EXPECT_EQ(out_lines.back(), "");  // text ends with a newline
    out_lines.pop_back();
    EXPECT_EQ(out_lines.size(), lines.size()) << output;
    std::vector<std::vector<int32_t>> ids;
    for (const std::string& line : out_lines) ids.push_back(ParseIds(line));
    return ids;
  }

  // spm_decode's text for each id sequence.
  static std::vector<std::string> SpmDecode(const std::vector<std::vector<int32_t>>& sequences) {
    const fs::path input = *dir_ / "decode_input.txt";
    {
      std::ofstream out(input, std::ios::binary | std::ios::trunc);
      for (const std::vector<int32_t>& ids : sequences) out << IdsLine(ids) << "\n";
    }
    const std::string output =
        RunCommand(std::string(kSpmDecode) + " --model=" + ModelPath() + " --input_format=id < " + input.string());
    std::vector<std::string> out_lines = absl::StrSplit(output, '\n');
    EXPECT_FALSE(out_lines.empty());
    out_lines.pop_back();
    EXPECT_EQ(out_lines.size(), sequences.size()) << output;
    out_lines.resize(sequences.size());
    return out_lines;
  }

  // The id of the <0xNN> byte piece, found in the model file itself.
  static int32_t ByteId(unsigned byte) {
    sentencepiece::ModelProto model;
    EXPECT_TRUE(model.ParseFromString(*model_bytes_));
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    for (int i = 0; i < model.pieces_size(); ++i) {
      if (model.pieces(i).piece() == name) {
        EXPECT_EQ(model.pieces(i).type(), sentencepiece::ModelProto::SentencePiece::BYTE);
        return i;
      }
    }
    ADD_FAILURE() << "no piece " << name;
    return -1;
  }

  static fs::path* dir_;
  static SentencePieceTokenizer* tokenizer_;
  static std::string* model_bytes_;
};

fs::path* BpeTokenizerTest::dir_ = nullptr;
SentencePieceTokenizer* BpeTokenizerTest::tokenizer_ = nullptr;
std::string* BpeTokenizerTest::model_bytes_ = nullptr;

template <typename T>
void ExpectInvalid(const absl::StatusOr<std::unique_ptr<T>>& t, const std::string& mentioned) {
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << t.status();
  EXPECT_NE(t.status().message().find(mentioned), std::string::npos)
      << t.status() << " does not mention \"" << mentioned << "\"";
}

// Each test is one process under ctest, and each process trains the test
// tokenizer first: the checks are grouped so that the suite stays fast.
TEST_F(BpeTokenizerTest, MatchesSentencePiece) {
  {
    SCOPED_TRACE("EncodeMatchesSentencePiece");
    const std::vector<std::vector<int32_t>> expected = SpmEncode(Texts());
    ASSERT_EQ(expected.size(), Texts().size());
    for (size_t i = 0; i < Texts().size(); ++i) {
      const std::string& text = Texts()[i];
      EXPECT_EQ(IdsLine(tokenizer_->Encode(text)), IdsLine(expected[i])) << "text: \"" << text << "\"";
    }
  }
  {
    SCOPED_TRACE("DecodeMatchesSentencePiece");
    const std::vector<std::vector<int32_t>> encoded = SpmEncode(Texts());
    ASSERT_EQ(encoded.size(), Texts().size());
    const std::vector<std::string> expected = SpmDecode(encoded);
    for (size_t i = 0; i < encoded.size(); ++i) {
      EXPECT_EQ(tokenizer_->Decode(encoded[i]), expected[i]) << "ids: " << IdsLine(encoded[i]);
    }
  }
  {
    SCOPED_TRACE("RoundTrip");
    for (const std::string& text : Texts()) {
      if (text.find("\xE2\x96\x81") != std::string::npos) continue;  // "▁" is a space once encoded
      EXPECT_EQ(tokenizer_->Decode(tokenizer_->Encode(text)), text);
    }
  }
  {
    // Id sequences no encoder produces, but a model can generate.
    SCOPED_TRACE("DecodeOfArbitraryIdsMatchesSentencePiece");
    const int32_t hello = tokenizer_->Encode("Hello").front();
    const std::vector<int32_t> world = tokenizer_->Encode(" world");
    std::vector<std::vector<int32_t>> sequences = {
        {1},                                                       // BOS alone
        {1, hello, 2},                                             // wrapped in BOS/EOS
        {hello, 2, hello},                                         // EOS in the middle
        {ByteId(0xE2), ByteId(0x82), ByteId(0xAC)},                // "€"
        {hello, ByteId(0xE2), ByteId(0x82), ByteId(0xAC), hello},  // "€" between words
        {ByteId('A'), ByteId('b')},                                // ASCII as bytes
        {ByteId(0xE2), ByteId(0x82)},                              // truncated character
        {ByteId(0xFF), hello},                                     // a byte that is never UTF-8
        {ByteId(0xAC), ByteId(0xE2)},                              // continuation before lead
        {1, ByteId(0xF0), ByteId(0x9F), ByteId(0x99), ByteId(0x82)},  // "🙂"
        {3 + 256},                                                 // first merged piece
    };
    sequences.push_back(world);
    sequences.push_back(world);
    sequences.back().insert(sequences.back().begin(), 1);
    const std::vector<std::string> expected = SpmDecode(sequences);
    for (size_t i = 0; i < sequences.size(); ++i) {
      EXPECT_EQ(tokenizer_->Decode(sequences[i]), expected[i]) << "ids: " << IdsLine(sequences[i]);
    }
  }
  {
    SCOPED_TRACE("DecodeOfLeadingSpacePiecesMatchesSentencePiece");
    const int32_t hello = tokenizer_->Encode("Hello").front();
    const int32_t space = tokenizer_->PieceToId("\xE2\x96\x81");
    ASSERT_GE(space, 0);
    const std::vector<std::vector<int32_t>> sequences = {
        {space, hello}, {space, space, hello}, {1, space, hello}, {space}, {space, 2, space},
    };
    const std::vector<std::string> expected = SpmDecode(sequences);
    for (size_t i = 0; i < sequences.size(); ++i) {
      EXPECT_EQ(tokenizer_->Decode(sequences[i]), expected[i]) << "ids: " << IdsLine(sequences[i]);
    }
  }
}

TEST_F(BpeTokenizerTest, VocabularyByteFallbackAndSpecialIds) {
  {
    SCOPED_TRACE("SpecialIdsAndVocabulary");
    EXPECT_EQ(tokenizer_->vocab_size(), 512);
    EXPECT_EQ(tokenizer_->bos_id(), 1);
    EXPECT_EQ(tokenizer_->eos_id(), 2);
    // Every normal piece of the file maps back to its index.
    sentencepiece::ModelProto model;
    ASSERT_TRUE(model.ParseFromString(*model_bytes_));
    int normal = 0;
    for (int i = 0; i < model.pieces_size(); ++i) {
      if (model.pieces(i).type() != sentencepiece::ModelProto::SentencePiece::NORMAL) continue;
      EXPECT_EQ(tokenizer_->PieceToId(model.pieces(i).piece()), i) << model.pieces(i).piece();
      ++normal;
    }
    EXPECT_GT(normal, 200);
    EXPECT_EQ(tokenizer_->PieceToId("no such piece"), -1);
    EXPECT_EQ(tokenizer_->PieceToId("<s>"), -1);  // control pieces are not text
  }
  {
    SCOPED_TRACE("EncodeUsesMergesAndByteFallback");
    // Corpus words merge into far fewer pieces than characters...
    const std::string text = "The children were reading books together.";
    EXPECT_LT(tokenizer_->Encode(text).size(), text.size() / 2);
    // ...and a character the vocabulary lacks is spelled in UTF-8 byte pieces.
    const std::vector<int32_t> ids = tokenizer_->Encode("€");
    ASSERT_GE(ids.size(), 3u);
    EXPECT_EQ(std::vector<int32_t>(ids.end() - 3, ids.end()),
              (std::vector<int32_t>{ByteId(0xE2), ByteId(0x82), ByteId(0xAC)}));
    EXPECT_TRUE(tokenizer_->Encode("").empty());
  }
  {
    SCOPED_TRACE("BytePiecesFormingEuroDecodeToEuro");
    const std::vector<int32_t> euro = {ByteId(0xE2), ByteId(0x82), ByteId(0xAC)};
    EXPECT_EQ(tokenizer_->Decode(euro), "€");
    std::vector<int32_t> sentence = tokenizer_->Encode("costs");
    sentence.insert(sentence.end(), euro.begin(), euro.end());
    EXPECT_EQ(tokenizer_->Decode(sentence), "costs€");
  }
  {
    SCOPED_TRACE("DecodeSkipsControlAndUnknownIds");
    const std::vector<int32_t> ids = tokenizer_->Encode("Hello world");
    ASSERT_FALSE(ids.empty());
    std::vector<int32_t> noisy = {*tokenizer_->bos_id()};
    noisy.insert(noisy.end(), ids.begin(), ids.end());
    noisy.insert(noisy.begin() + 2, *tokenizer_->eos_id());
    noisy.push_back(tokenizer_->vocab_size());  // beyond the tokenizer (the model's vocabulary may be larger)
    noisy.push_back(100000);
    noisy.push_back(-1);
    noisy.push_back(*tokenizer_->eos_id());
    EXPECT_EQ(tokenizer_->Decode(noisy), "Hello world");
    EXPECT_EQ(tokenizer_->Decode(std::vector<int32_t>{tokenizer_->vocab_size(), *tokenizer_->bos_id()}), "");
    EXPECT_EQ(tokenizer_->Decode(std::vector<int32_t>{}), "");
  }
  {
    SCOPED_TRACE("FromSerializedOfTheFileMatchesLoad");
    absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> t = SentencePieceTokenizer::FromSerialized(*model_bytes_);
    ASSERT_TRUE(t.ok()) << t.status();
    for (const std::string& text : Texts()) EXPECT_EQ((*t)->Encode(text), tokenizer_->Encode(text));
  }
}

TEST_F(BpeTokenizerTest, TheInterfaceLoadsTokenizerModelAndAddsBos) {
  // A directory with only tokenizer.model gets the SentencePiece tokenizer.
  absl::StatusOr<std::unique_ptr<Tokenizer>> loaded = Tokenizer::Load(dir_->string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  for (const std::string& text : Texts()) {
    const std::vector<int32_t> plain = (*loaded)->Encode(text, /*add_special_tokens=*/false);
    EXPECT_EQ(plain, tokenizer_->Encode(text));
    // add_special_tokens prepends the BOS, as before this interface existed.
    std::vector<int32_t> with_bos = {1};
    with_bos.insert(with_bos.end(), plain.begin(), plain.end());
    EXPECT_EQ((*loaded)->Encode(text, /*add_special_tokens=*/true), with_bos) << text;
  }
  EXPECT_EQ((*loaded)->bos_token(), "<s>");
  EXPECT_EQ((*loaded)->eos_token(), "</s>");
  EXPECT_EQ((*loaded)->TokenToId("<s>"), 1);  // control pieces have ids, though encoding never makes them
  EXPECT_EQ((*loaded)->TokenToId("no such piece"), std::nullopt);
  ExpectInvalid(Tokenizer::Load((*dir_ / "no-such-directory").string()), "no tokenizer.json or tokenizer.model");
}

TEST_F(BpeTokenizerTest, RejectsModelsItCannotRun) {
  {
    SCOPED_TRACE("GarbageIsInvalidArgument");
    ExpectInvalid(SentencePieceTokenizer::FromSerialized("this is not a protobuf"), "SentencePiece");
    ExpectInvalid(SentencePieceTokenizer::FromSerialized(""), "SentencePiece");
    ExpectInvalid(SentencePieceTokenizer::FromSerialized(std::string("\xff\xff\xff\xff\xff\xff", 6)), "SentencePiece");
    // A truncated model file.
    ExpectInvalid(SentencePieceTokenizer::FromSerialized(model_bytes_->substr(0, model_bytes_->size() / 2)), "");
  }
  {
    SCOPED_TRACE("UnigramModelIsInvalidArgument");
    sentencepiece::ModelProto model;
    ASSERT_TRUE(model.ParseFromString(*model_bytes_));
    model.mutable_trainer_spec()->set_model_type(sentencepiece::TrainerSpec::UNIGRAM);
    ExpectInvalid(SentencePieceTokenizer::FromSerialized(model.SerializeAsString()), "BPE");

    // And one built from scratch.
    sentencepiece::ModelProto unigram;
    for (const auto& [text, type] : std::vector<std::pair<std::string, sentencepiece::ModelProto::SentencePiece::Type>>{
             {"<unk>", sentencepiece::ModelProto::SentencePiece::UNKNOWN},
             {"<s>", sentencepiece::ModelProto::SentencePiece::CONTROL},
             {"</s>", sentencepiece::ModelProto::SentencePiece::CONTROL},
             {"\xE2\x96\x81the", sentencepiece::ModelProto::SentencePiece::NORMAL}}) {
      auto* piece = unigram.add_pieces();
      piece->set_piece(text);
      piece->set_score(-1.0f);
      piece->set_type(type);
    }
    unigram.mutable_trainer_spec()->set_model_type(sentencepiece::TrainerSpec::UNIGRAM);
    ExpectInvalid(SentencePieceTokenizer::FromSerialized(unigram.SerializeAsString()), "BPE");
    // The same pieces as a BPE model are fine.
    unigram.mutable_trainer_spec()->set_model_type(sentencepiece::TrainerSpec::BPE);
    EXPECT_TRUE(SentencePieceTokenizer::FromSerialized(unigram.SerializeAsString()).ok());
  }
  {
    SCOPED_TRACE("NormalizerWithCharacterMapIsInvalidArgument");
    sentencepiece::ModelProto model;
    ASSERT_TRUE(model.ParseFromString(*model_bytes_));
    model.mutable_normalizer_spec()->set_name("nmt_nfkc");
    model.mutable_normalizer_spec()->set_precompiled_charsmap(std::string("\x01\x02\x03\x04", 4));
    ExpectInvalid(SentencePieceTokenizer::FromSerialized(model.SerializeAsString()), "nmt_nfkc");
  }
  {
    SCOPED_TRACE("MalformedBytePieceIsInvalidArgument");
    sentencepiece::ModelProto model;
    ASSERT_TRUE(model.ParseFromString(*model_bytes_));
    model.mutable_pieces(3)->set_piece("<0xZZ>");
    ExpectInvalid(SentencePieceTokenizer::FromSerialized(model.SerializeAsString()), "<0xZZ>");
  }
  {
    SCOPED_TRACE("LoadWithoutTokenizerModel");
    const fs::path empty = *dir_ / "empty";
    fs::create_directories(empty);
    ExpectInvalid(Tokenizer::Load(empty.string()), "tokenizer.model");
    std::ofstream(empty / "tokenizer.model") << "garbage";
    ExpectInvalid(Tokenizer::Load(empty.string()), "tokenizer.model");
  }
}

// SentencePiece appends the bytes of byte pieces and the <unk> surface
// (" \u2047 ") verbatim: no "\u2581" -> space, no dummy-prefix removal.
TEST_F(BpeTokenizerTest, DecodeOfUnknownAndBytePiecesMatchesSentencePiece) {
  {
    SCOPED_TRACE("DecodeOfUnknownMatchesSentencePiece");
    const int32_t hello = tokenizer_->Encode("Hello").front();
    const std::vector<std::vector<int32_t>> sequences = {
        {0},                  // <unk> alone
        {1, 0, hello},        // <unk> first after BOS
        {hello, 0, hello},    // <unk> in the middle
    };
    const std::vector<std::string> expected = SpmDecode(sequences);
    for (size_t i = 0; i < sequences.size(); ++i) {
      EXPECT_EQ(tokenizer_->Decode(sequences[i]), expected[i]) << "ids: " << IdsLine(sequences[i]);
    }
  }
  {
    SCOPED_TRACE("DecodeOfSpaceBytesMatchesSentencePiece");
    const int32_t hello = tokenizer_->Encode("Hello").front();
    const std::vector<std::vector<int32_t>> sequences = {
        {ByteId(' '), hello},                                  // a space spelled as a byte, first
        {hello, ByteId(' '), hello},                           // ... in the middle
        {ByteId(0xE2), ByteId(0x96), ByteId(0x81), hello},     // "\u2581" spelled as bytes, first
        {hello, ByteId(0xE2), ByteId(0x96), ByteId(0x81), hello},
    };
    const std::vector<std::string> expected = SpmDecode(sequences);
    for (size_t i = 0; i < sequences.size(); ++i) {
      EXPECT_EQ(tokenizer_->Decode(sequences[i]), expected[i]) << "ids: " << IdsLine(sequences[i]);
    }
  }
}

// SentencePiece's normaliser replaces each byte that is not part of a valid
// UTF-8 character with U+FFFD before encoding.
TEST_F(BpeTokenizerTest, EncodeOfInvalidUtf8MatchesSentencePiece) {
  const std::vector<std::string> texts = {"bad \xff byte", "truncated \xe6\x97", "\xc0\xaf overlong",
                                          "continuation \x80 alone"};
  const std::vector<std::vector<int32_t>> expected = SpmEncode(texts);
  ASSERT_EQ(expected.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(IdsLine(tokenizer_->Encode(texts[i])), IdsLine(expected[i])) << "text: \"" << texts[i] << "\"";
  }
}

}  // namespace
}  // namespace djinn
