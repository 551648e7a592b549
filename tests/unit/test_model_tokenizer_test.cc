// The test models' tokenizer.model: a valid SentencePiece BPE model with the
// Llama special ids and 512 pieces, which encodes and decodes text (checked
// with a small reference encoder here, and with SentencePiece's own spm_encode
// / spm_decode tools in a subprocess: libsentencepiece cannot be linked into a
// process that also uses the system protobuf), and trains reproducibly.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/testmodel/test_model.h"
#include "common/testmodel/tokenizer_trainer.h"
#include "gtest/gtest.h"
#include "sentencepiece/sentencepiece_model.pb.h"

namespace djinn::testmodel {
namespace {

namespace fs = std::filesystem;
using Piece = sentencepiece::ModelProto::SentencePiece;

constexpr char kSpace[] = "\xE2\x96\x81";  // "▁"

size_t Utf8Length(unsigned char lead) {
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

// SentencePiece's BPE encoding, written from its documented behaviour:
// "▁"-escape spaces (plus the dummy prefix), split into characters, then
// repeatedly merge the adjacent pair whose concatenation is the
// highest-scoring normal piece (leftmost on ties). Characters that are not
// pieces become <0xNN> byte pieces.
std::vector<std::string> Encode(const sentencepiece::ModelProto& model, const std::string& text) {
  std::map<std::string, float> scores;
  for (const Piece& p : model.pieces()) {
    if (p.type() == Piece::NORMAL) scores[p.piece()] = p.score();
  }
  std::string normalized = kSpace;
  for (char c : text) normalized += c == ' ' ? std::string(kSpace) : std::string(1, c);
  std::vector<std::string> symbols;
  for (size_t i = 0; i < normalized.size();) {
    const size_t n = std::min(Utf8Length(normalized[i]), normalized.size() - i);
    symbols.push_back(normalized.substr(i, n));
    i += n;
  }
  while (true) {
    int best = -1;
    float best_score = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = scores.find(symbols[i] + symbols[i + 1]);
      if (it != scores.end() && (best < 0 || it->second > best_score)) {
        best = static_cast<int>(i);
        best_score = it->second;
      }
    }
    if (best < 0) break;
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + best + 1);
  }
  std::vector<std::string> pieces;
  for (const std::string& s : symbols) {
    if (scores.count(s) > 0) {
      pieces.push_back(s);
    } else {
      for (unsigned char c : s) {
        char byte[8];
        std::snprintf(byte, sizeof byte, "<0x%02X>", c);
        pieces.push_back(byte);
      }
    }
  }
  return pieces;
}

// Inverse of Encode: join, bytes back to bytes, "▁" to spaces, drop the
// dummy prefix.
std::string Decode(const std::vector<std::string>& pieces) {
  std::string joined;
  for (const std::string& p : pieces) {
    if (p.size() == 6 && p.rfind("<0x", 0) == 0) {
      joined += static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16));
    } else {
      joined += p;
    }
  }
  std::string text;
  for (size_t i = 0; i < joined.size();) {
    if (joined.compare(i, 3, kSpace) == 0) {
      text += ' ';
      i += 3;
    } else {
      text += joined[i++];
    }
  }
  return text.rfind(' ', 0) == 0 ? text.substr(1) : text;
}

std::string Join(const std::vector<std::string>& pieces) {
  std::string s;
  for (const std::string& p : pieces) s += (s.empty() ? "" : " ") + p;
  return s;
}

// Runs `command` and returns its standard output.
std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One directory per process: ctest runs each test in its own process, in parallel.
    dir_ = new fs::path(fs::path(::testing::TempDir()) / ("test_model_tokenizer-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    TestModelOptions options;
    options.preset = "tiny";
    options.out_dir = dir_->string();
    const absl::Status status = WriteTestModel(options);
    ASSERT_TRUE(status.ok()) << status;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    std::ifstream in(*dir_ / "tokenizer.model", std::ios::binary);
    ASSERT_TRUE(model_.ParseFromIstream(&in));
  }

  static fs::path* dir_;
  sentencepiece::ModelProto model_;
};

fs::path* TokenizerTest::dir_ = nullptr;

TEST_F(TokenizerTest, HasLlamaSpecialIdsAnd512Pieces) {
  ASSERT_EQ(model_.pieces_size(), 512);
  EXPECT_EQ(model_.pieces_size(), kTokenizerVocabSize);
  EXPECT_EQ(model_.pieces(0).piece(), "<unk>");
  EXPECT_EQ(model_.pieces(0).type(), Piece::UNKNOWN);
  EXPECT_EQ(model_.pieces(1).piece(), "<s>");
  EXPECT_EQ(model_.pieces(1).type(), Piece::CONTROL);
  EXPECT_EQ(model_.pieces(2).piece(), "</s>");
  EXPECT_EQ(model_.pieces(2).type(), Piece::CONTROL);
  // Byte fallback pieces follow the specials, as in Llama's tokenizer.
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    EXPECT_EQ(model_.pieces(3 + b).piece(), name);
    EXPECT_EQ(model_.pieces(3 + b).type(), Piece::BYTE);
  }
  std::set<std::string> unique;
  for (const Piece& p : model_.pieces()) EXPECT_TRUE(unique.insert(p.piece()).second) << p.piece();

  const sentencepiece::TrainerSpec& trainer = model_.trainer_spec();
  EXPECT_EQ(trainer.model_type(), sentencepiece::TrainerSpec::BPE);
  EXPECT_TRUE(trainer.byte_fallback());
  EXPECT_TRUE(trainer.split_digits());
  EXPECT_EQ(trainer.unk_id(), 0);
  EXPECT_EQ(trainer.bos_id(), 1);
  EXPECT_EQ(trainer.eos_id(), 2);
  EXPECT_EQ(trainer.pad_id(), -1);
  EXPECT_TRUE(model_.normalizer_spec().add_dummy_prefix());
}

TEST_F(TokenizerTest, RoundTripsText) {
  for (const std::string text :
       {"Hello world", "The quick brown fox jumps over the lazy dog.", "Room 2024, 7 children!",
        "naïve café, 日本, ü"}) {
    const std::vector<std::string> pieces = Encode(model_, text);
    EXPECT_EQ(Decode(pieces), text) << Join(pieces);
  }
}

TEST_F(TokenizerTest, MergesCorpusTextAndSplitsDigits) {
  // 512 pieces leave room for only ~200 merges, so even common words may be
  // a few pieces; but corpus text never needs byte fallback.
  const std::string text = "The children were reading books together.";
  const std::vector<std::string> pieces = Encode(model_, text);
  EXPECT_LT(pieces.size(), text.size() / 2) << Join(pieces);
  for (const std::string& p : pieces) EXPECT_NE(p.rfind("<0x", 0), 0u) << Join(pieces);
  const std::vector<std::string> digits = Encode(model_, "2024");
  EXPECT_EQ(digits, (std::vector<std::string>{kSpace, "2", "0", "2", "4"})) << Join(digits);
}

// The real SentencePiece reads the file and agrees with Encode above.
TEST_F(TokenizerTest, SentencePieceToolsAgree) {
  // scripts/install-deps.sh installs them (Debian package "sentencepiece").
  ASSERT_TRUE(fs::exists("/usr/bin/spm_encode") && fs::exists("/usr/bin/spm_decode"))
      << "SentencePiece command-line tools not installed";
  const std::vector<std::string> lines = {"Hello world",
                                          "The quick brown fox jumps over the lazy dog.",
                                          "Room 2024, 7 children!", "naïve café, ü"};
  const fs::path input = *dir_ / "input.txt";
  {
    std::ofstream out(input);
    for (const std::string& line : lines) out << line << "\n";
  }
  const std::string model = (*dir_ / "tokenizer.model").string();
  std::string expected_pieces, expected_ids;
  for (const std::string& line : lines) expected_pieces += Join(Encode(model_, line)) + "\n";
  EXPECT_EQ(RunCommand("/usr/bin/spm_encode --model=" + model + " --output_format=piece < " +
                input.string() + " 2>/dev/null"),
            expected_pieces);
  const std::string ids = RunCommand("/usr/bin/spm_encode --model=" + model + " --output_format=id < " +
                              input.string() + " 2>/dev/null");
  const fs::path id_file = *dir_ / "ids.txt";
  std::ofstream(id_file) << ids;
  std::string expected_text;
  for (const std::string& line : lines) expected_text += line + "\n";
  EXPECT_EQ(RunCommand("/usr/bin/spm_decode --model=" + model + " --input_format=id < " +
                id_file.string() + " 2>/dev/null"),
            expected_text);
}

TEST(TokenizerTrainerTest, TrainingIsReproducible) {
  const absl::StatusOr<std::string> a = TrainTokenizerModel();
  const absl::StatusOr<std::string> b = TrainTokenizerModel();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(*a == *b);
  const absl::StatusOr<std::string> cached = CachedTokenizerModel();
  ASSERT_TRUE(cached.ok());
  EXPECT_TRUE(*cached == *a);
}

}  // namespace
}  // namespace djinn::testmodel
