// A SentencePiece BPE tokenizer.model, as shipped with Llama 1/2-family
// checkpoints, read and run by Djinn itself (see
// proto/sentencepiece/sentencepiece_model.proto for why).
//
// Encoding follows SentencePiece's BPE: normalise (optional dummy-prefix
// space, spaces as U+2581), split into characters, repeatedly merge the
// adjacent pair whose concatenation is the highest-scoring piece (leftmost on
// ties), then map pieces to ids, spelling unknown pieces as UTF-8 byte pieces
// <0xNN> when the model has byte fallback. Decoding inverts that.
// add_special_tokens prepends the BOS (HF's LlamaTokenizer default).
#ifndef DJINN_COMMON_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
#define DJINN_COMMON_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer.h"

namespace djinn {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads <directory>/tokenizer.model. INVALID_ARGUMENT if missing, not a
  // SentencePiece model, or not a BPE model.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Load(const std::string& directory);
  // Parses the bytes of a tokenizer.model.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> FromSerialized(const std::string& bytes);

  using Tokenizer::Encode;
  std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens) const override;
  // Control tokens (BOS, EOS, ...) decode to nothing; so do ids the tokenizer
  // does not know (the model's vocabulary may be larger).
  std::string Decode(std::span<const int32_t> ids) const override;
  // Any piece, control pieces included.
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  // A piece that encoding can produce (normal, user-defined), or -1: control
  // pieces such as "<s>" are not text.
  int32_t PieceToId(const std::string& piece) const;

 private:
  enum class PieceType { kNormal, kUnknown, kControl, kUserDefined, kByte, kUnused };
  struct Piece {
    std::string text;
    float score = 0;
    PieceType type = PieceType::kNormal;
  };

  SentencePieceTokenizer() = default;
  std::string Normalize(const std::string& text) const;

  std::vector<Piece> pieces_;
  std::unordered_map<std::string, int32_t> ids_;  // mergeable pieces
  std::unordered_map<std::string, int32_t> all_ids_;  // every piece
  int32_t byte_ids_[256];                         // <0xNN> pieces, -1 if absent
  int32_t unk_id_ = 0;
  bool byte_fallback_ = false;
  bool add_dummy_prefix_ = true;
  bool remove_extra_whitespaces_ = false;
  bool escape_whitespaces_ = true;
  std::string unk_surface_;
};

}  // namespace djinn

#endif  // DJINN_COMMON_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
