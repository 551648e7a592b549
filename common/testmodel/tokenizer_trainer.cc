// A small byte-pair-encoding trainer that writes a SentencePiece BPE model.
//
// Why not SentencePiece's own trainer: Debian's libsentencepiece embeds
// protobuf 3.14 and aborts (or crashes at start-up) in any process that also
// links the system protobuf, which every gRPC program does. The model file
// format is plain protobuf, so we write it ourselves; the Python sentencepiece
// library reads the result, which the reference fixtures check.
//
// Training follows SentencePiece's BPE conventions: text is normalised with a
// dummy-prefix "▁" and spaces as "▁"; pieces never cross word starts; digits
// stay single; each step merges the most frequent adjacent pair (ties: the
// lexicographically smaller result, so training is deterministic) and adds it
// with score -(its position), so earlier merges win at encoding time.
#include "common/testmodel/tokenizer_trainer.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/testmodel/corpus.h"
#include "sentencepiece/sentencepiece_model.pb.h"

namespace djinn::testmodel {
namespace {

constexpr char kSpace[] = "\xE2\x96\x81";  // "▁"

size_t Utf8Length(unsigned char lead) {
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

bool IsDigit(const std::string& symbol) {
  return symbol.size() == 1 && std::isdigit(static_cast<unsigned char>(symbol[0]));
}

// Words (each starting with "▁") as sequences of characters, with counts.
std::map<std::vector<std::string>, int64_t> CountWords(const std::vector<std::string>& corpus) {
  std::map<std::vector<std::string>, int64_t> words;
  for (const std::string& sentence : corpus) {
    std::vector<std::string> word;
    auto flush = [&] {
      if (!word.empty()) ++words[word];
      word.clear();
    };
    std::string text = " " + sentence;  // the dummy prefix
    for (size_t i = 0; i < text.size();) {
      if (text[i] == ' ') {
        flush();
        word.push_back(kSpace);
        ++i;
        continue;
      }
      const size_t n = std::min(Utf8Length(static_cast<unsigned char>(text[i])), text.size() - i);
      word.push_back(text.substr(i, n));
      i += n;
    }
    flush();
  }
  return words;
}

}  // namespace

absl::StatusOr<std::string> TrainTokenizerModel() {
  const std::vector<std::string> corpus = MakeTokenizerCorpus();
  std::map<std::vector<std::string>, int64_t> words = CountWords(corpus);

  sentencepiece::ModelProto model;
  auto add = [&](const std::string& piece, float score, sentencepiece::ModelProto::SentencePiece::Type type) {
    auto* p = model.add_pieces();
    p->set_piece(piece);
    p->set_score(score);
    p->set_type(type);
  };
  add("<unk>", 0, sentencepiece::ModelProto::SentencePiece::UNKNOWN);
  add("<s>", 0, sentencepiece::ModelProto::SentencePiece::CONTROL);
  add("</s>", 0, sentencepiece::ModelProto::SentencePiece::CONTROL);
  for (int b = 0; b < 256; ++b) add(absl::StrFormat("<0x%02X>", b), 0, sentencepiece::ModelProto::SentencePiece::BYTE);

  // Every character of the corpus is a piece of its own.
  std::set<std::string> characters;
  for (const auto& [word, count] : words) characters.insert(word.begin(), word.end());
  std::set<std::string> known(characters.begin(), characters.end());
  const int reserved = model.pieces_size() + static_cast<int>(characters.size());
  if (reserved > kTokenizerVocabSize) return absl::InternalError("tokenizer corpus has too many distinct characters");

  int merges = 0;
  while (reserved + merges < kTokenizerVocabSize) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (const auto& [word, count] : words) {
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        if (IsDigit(word[i]) || IsDigit(word[i + 1]) || word[i + 1] == kSpace) continue;
        pairs[{word[i], word[i + 1]}] += count;
      }
    }
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_count = 0;
    std::string best_piece;
    for (const auto& [pair, count] : pairs) {
      const std::string piece = pair.first + pair.second;
      if (known.count(piece) > 0) continue;
      if (count > best_count || (count == best_count && piece < best_piece)) {
        best = &pair;
        best_count = count;
        best_piece = piece;
      }
    }
    if (best == nullptr) break;  // nothing left to merge
    const auto [left, right] = *best;
    std::map<std::vector<std::string>, int64_t> merged_words;
    for (const auto& [word, count] : words) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
          merged.push_back(best_piece);
          ++i;
        } else {
          merged.push_back(word[i]);
        }
      }
      merged_words[merged] += count;
    }
    words = std::move(merged_words);
    known.insert(best_piece);
    add(best_piece, -static_cast<float>(merges), sentencepiece::ModelProto::SentencePiece::NORMAL);
    ++merges;
  }
  // Characters last, scored below every merge (as SentencePiece does).
  for (const std::string& c : characters) {
    add(c, -static_cast<float>(merges++), sentencepiece::ModelProto::SentencePiece::NORMAL);
  }

  sentencepiece::TrainerSpec* trainer = model.mutable_trainer_spec();
  trainer->set_model_type(sentencepiece::TrainerSpec::BPE);
  trainer->set_vocab_size(model.pieces_size());
  trainer->set_split_digits(true);
  trainer->set_byte_fallback(true);
  trainer->set_unk_id(0);
  trainer->set_bos_id(1);
  trainer->set_eos_id(2);
  trainer->set_pad_id(-1);
  sentencepiece::NormalizerSpec* normalizer = model.mutable_normalizer_spec();
  normalizer->set_name("identity");
  normalizer->set_add_dummy_prefix(true);
  normalizer->set_remove_extra_whitespaces(false);
  normalizer->set_escape_whitespaces(true);

  std::string bytes;
  if (!model.SerializeToString(&bytes)) return absl::InternalError("cannot serialise the tokenizer model");
  return bytes;
}

absl::StatusOr<std::string> CachedTokenizerModel() {
  static const auto* model = new absl::StatusOr<std::string>(TrainTokenizerModel());
  return *model;
}

}  // namespace djinn::testmodel
