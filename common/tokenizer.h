// The model's tokenizer: a SentencePiece BPE model (tokenizer.model), as
// shipped with Llama 1/2-family checkpoints, read and run by Djinn itself
// (see proto/sentencepiece/sentencepiece_model.proto for why).
//
// Encoding follows SentencePiece's BPE: normalise (optional dummy-prefix
// space, spaces as U+2581), split into characters, repeatedly merge the
// adjacent pair whose concatenation is the highest-scoring piece (leftmost on
// ties), then map pieces to ids, spelling unknown pieces as UTF-8 byte pieces
// <0xNN> when the model has byte fallback. Decoding inverts that.
#ifndef DJINN_COMMON_TOKENIZER_H_
#define DJINN_COMMON_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn {

class Tokenizer {
 public:
  // Loads <directory>/tokenizer.model. INVALID_ARGUMENT if missing, not a
  // SentencePiece model, or not a BPE model.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& directory);
  // Parses the bytes of a tokenizer.model.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromSerialized(const std::string& bytes);

  // No BOS/EOS are added.
  std::vector<int32_t> Encode(const std::string& text) const;
  // Control tokens (BOS, EOS, ...) decode to nothing; so do ids the tokenizer
  // does not know (the model's vocabulary may be larger).
  std::string Decode(std::span<const int32_t> ids) const;
  int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t PieceToId(const std::string& piece) const;  // -1 if absent

 private:
  enum class PieceType { kNormal, kUnknown, kControl, kUserDefined, kByte, kUnused };
  struct Piece {
    std::string text;
    float score = 0;
    PieceType type = PieceType::kNormal;
  };

  Tokenizer() = default;
  std::string Normalize(const std::string& text) const;

  std::vector<Piece> pieces_;
  std::unordered_map<std::string, int32_t> ids_;  // mergeable pieces
  int32_t byte_ids_[256];                         // <0xNN> pieces, -1 if absent
  int32_t unk_id_ = 0, bos_id_ = 1, eos_id_ = 2;
  bool byte_fallback_ = false;
  bool add_dummy_prefix_ = true;
  bool remove_extra_whitespaces_ = false;
  bool escape_whitespaces_ = true;
  std::string unk_surface_;
};

}  // namespace djinn

#endif  // DJINN_COMMON_TOKENIZER_H_
