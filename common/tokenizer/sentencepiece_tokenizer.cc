#include "common/tokenizer/sentencepiece_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sentencepiece/sentencepiece_model.pb.h"

namespace djinn {
namespace {

constexpr char kSpaceSymbol[] = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's space

size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;  // stray continuation byte: its own symbol
}

// Length of the well-formed UTF-8 character at text[i], or 0 if the bytes
// there are not one (truncated, overlong, a surrogate, beyond U+10FFFF).
size_t ValidUtf8Length(const std::string& text, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80) return 1;
  const size_t n = Utf8Length(lead);
  if (n == 1 || i + n > text.size()) return 0;
  uint32_t code = lead & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    const unsigned char c = static_cast<unsigned char>(text[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    code = (code << 6) | (c & 0x3F);
  }
  static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kMinimum[n] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return n;
}

// `bytes` with every byte that is not part of a well-formed character
// replaced by U+FFFD, as SentencePiece does on both encode and decode.
std::string ReplaceInvalidUtf8(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const size_t n = ValidUtf8Length(bytes, i);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");
      i += 1;
    } else {
      out.append(bytes, i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::Load(const std::string& directory) {
  const std::filesystem::path path = std::filesystem::path(directory) / "tokenizer.model";
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("no tokenizer.model in ", directory));
  std::stringstream bytes;
  bytes << in.rdbuf();
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer = FromSerialized(bytes.str());
  if (!tokenizer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::FromSerialized(const std::string& bytes) {
  sentencepiece::ModelProto model;
  if (!model.ParseFromString(bytes) || model.pieces_size() == 0) {
    return absl::InvalidArgumentError("not a SentencePiece model");
  }
  const sentencepiece::TrainerSpec& trainer = model.trainer_spec();
  if (trainer.model_type() != sentencepiece::TrainerSpec::BPE) {
    return absl::InvalidArgumentError("only BPE SentencePiece models are supported (Llama 1/2 tokenizers are BPE)");
  }
  const sentencepiece::NormalizerSpec& normalizer = model.normalizer_spec();
  if (!normalizer.precompiled_charsmap().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("normalizer \"", normalizer.name(),
                                                   "\" needs a character map; only identity normalisation is supported"));
  }
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  t->byte_fallback_ = trainer.byte_fallback();
  t->unk_id_ = trainer.unk_id();
  t->unk_surface_ = trainer.unk_surface();
  t->add_dummy_prefix_ = normalizer.add_dummy_prefix();
  t->remove_extra_whitespaces_ = normalizer.remove_extra_whitespaces();
  t->escape_whitespaces_ = normalizer.escape_whitespaces();
  std::fill(std::begin(t->byte_ids_), std::end(t->byte_ids_), -1);
  for (int i = 0; i < model.pieces_size(); ++i) {
    const auto& p = model.pieces(i);
    Piece piece{p.piece(), p.score(), PieceType::kNormal};
    switch (p.type()) {
      case sentencepiece::ModelProto::SentencePiece::UNKNOWN: piece.type = PieceType::kUnknown; break;
      case sentencepiece::ModelProto::SentencePiece::CONTROL: piece.type = PieceType::kControl; break;
      case sentencepiece::ModelProto::SentencePiece::USER_DEFINED: piece.type = PieceType::kUserDefined; break;
      case sentencepiece::ModelProto::SentencePiece::BYTE: piece.type = PieceType::kByte; break;
      case sentencepiece::ModelProto::SentencePiece::UNUSED: piece.type = PieceType::kUnused; break;
      default: break;
    }
    if (piece.type == PieceType::kByte) {
      unsigned value = 0;
      if (piece.text.size() != 6 || std::sscanf(piece.text.c_str(), "<0x%02X>", &value) != 1) {
        return absl::InvalidArgumentError(absl::StrCat("malformed byte piece \"", piece.text, "\""));
      }
      t->byte_ids_[value] = i;
    } else if (piece.type == PieceType::kNormal || piece.type == PieceType::kUserDefined) {
      t->ids_.emplace(piece.text, i);
    }
    t->all_ids_.emplace(piece.text, i);
    t->pieces_.push_back(std::move(piece));
  }
  const int pieces = static_cast<int>(t->pieces_.size());
  if (trainer.bos_id() >= 0 && trainer.bos_id() < pieces) {
    t->bos_id_ = trainer.bos_id();
    t->bos_token_ = t->pieces_[trainer.bos_id()].text;
  }
  if (trainer.eos_id() >= 0 && trainer.eos_id() < pieces) {
    t->eos_id_ = trainer.eos_id();
    t->eos_token_ = t->pieces_[trainer.eos_id()].text;
  }
  if (t->unk_id_ < 0 || t->unk_id_ >= static_cast<int>(t->pieces_.size())) {
    return absl::InvalidArgumentError("unk_id is outside the vocabulary");
  }
  return t;
}

int32_t SentencePieceTokenizer::PieceToId(const std::string& piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

std::optional<int32_t> SentencePieceTokenizer::TokenToId(std::string_view token) const {
  auto it = all_ids_.find(std::string(token));
  if (it == all_ids_.end()) return std::nullopt;
  return it->second;
}

std::string SentencePieceTokenizer::Normalize(const std::string& text) const {
  std::string input = ReplaceInvalidUtf8(text);
  if (remove_extra_whitespaces_) {
    // Trim and collapse runs of spaces, as SentencePiece's default normaliser does.
    std::string collapsed;
    for (char c : text) {
      if (c == ' ' && (collapsed.empty() || collapsed.back() == ' ')) continue;
      collapsed.push_back(c);
    }
    while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
    input = collapsed;
  }
  if (input.empty()) return input;
  std::string out;
  const std::string space = escape_whitespaces_ ? kSpaceSymbol : " ";
  if (add_dummy_prefix_) out += space;
  for (char c : input) {
    if (c == ' ') {
      out += space;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<int32_t> SentencePieceTokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  if (add_special_tokens && bos_id_.has_value()) ids.push_back(*bos_id_);
  const std::string normalized = Normalize(std::string(text));
  // Symbols form a doubly linked list over the normalised string; merging
  // extends the left symbol and unlinks the right one.
  struct Symbol {
    int prev, next;
    size_t begin, length;
  };
  std::vector<Symbol> symbols;
  for (size_t i = 0; i < normalized.size();) {
    const size_t n = std::min(Utf8Length(static_cast<unsigned char>(normalized[i])), normalized.size() - i);
    symbols.push_back({static_cast<int>(symbols.size()) - 1, static_cast<int>(symbols.size()) + 1, i, n});
    i += n;
  }
  if (symbols.empty()) return ids;
  symbols.back().next = -1;

  struct Candidate {
    float score;
    int left, right;
    size_t length;  // of the merged piece, to detect stale entries
  };
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> agenda(worse);
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string merged = normalized.substr(symbols[left].begin, symbols[left].length + symbols[right].length);
    auto it = ids_.find(merged);
    if (it == ids_.end() || pieces_[it->second].type != PieceType::kNormal) return;
    agenda.push({pieces_[it->second].score, left, right, merged.size()});
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) consider(static_cast<int>(i), static_cast<int>(i + 1));

  while (!agenda.empty()) {
    const Candidate top = agenda.top();
    agenda.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    // Skip pairs invalidated by an earlier merge.
    if (left.length == 0 || right.length == 0 || left.next != top.right ||
        left.length + right.length != top.length) {
      continue;
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    consider(left.prev, top.left);
    consider(top.left, left.next);
  }

  for (int i = 0; i >= 0; i = symbols[i].next) {
    const std::string piece = normalized.substr(symbols[i].begin, symbols[i].length);
    auto it = ids_.find(piece);
    if (it != ids_.end()) {
      ids.push_back(it->second);
    } else if (byte_fallback_) {
      for (unsigned char byte : piece) ids.push_back(byte_ids_[byte] >= 0 ? byte_ids_[byte] : unk_id_);
    } else {
      ids.push_back(unk_id_);
    }
  }
  return ids;
}

std::string SentencePieceTokenizer::Decode(std::span<const int32_t> ids) const {
  // As SentencePiece decodes: normal pieces turn U+2581 back into spaces,
  // and the first piece of all loses the dummy-prefix space; the unknown
  // piece's surface and byte pieces' text are appended as they are.
  std::string text, pending_bytes;
  bool first = true;
  auto flush_bytes = [&] {
    if (pending_bytes.empty()) return;
    text += ReplaceInvalidUtf8(pending_bytes);
    pending_bytes.clear();
    first = false;
  };
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    const Piece& piece = pieces_[id];
    if (piece.type == PieceType::kByte) {
      unsigned value = 0;
      std::sscanf(piece.text.c_str(), "<0x%02X>", &value);
      pending_bytes.push_back(static_cast<char>(value));
      continue;
    }
    flush_bytes();
    if (piece.type == PieceType::kControl || piece.type == PieceType::kUnused) continue;
    if (piece.type == PieceType::kUnknown) {
      text += unk_surface_;
      first = false;
      continue;
    }
    size_t i = 0;
    if (first && add_dummy_prefix_ && piece.text.compare(0, 3, kSpaceSymbol) == 0) i = 3;
    first = false;
    while (i < piece.text.size()) {
      if (piece.text.compare(i, 3, kSpaceSymbol) == 0) {
        text.push_back(' ');
        i += 3;
      } else {
        text.push_back(piece.text[i++]);
      }
    }
  }
  flush_bytes();
  return text;
}

}  // namespace djinn
