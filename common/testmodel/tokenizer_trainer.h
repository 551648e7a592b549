// Trains the test models' tokenizer.model: a SentencePiece BPE model in the
// Llama layout (unk 0, bos 1, eos 2, byte fallback, split digits, dummy
// prefix), trained in-process on the built-in corpus by Djinn's own BPE
// trainer. Seed-independent and byte-identical from run to run.
#ifndef DJINN_COMMON_TESTMODEL_TOKENIZER_TRAINER_H_
#define DJINN_COMMON_TESTMODEL_TOKENIZER_TRAINER_H_

#include <string>

#include "absl/status/statusor.h"

namespace djinn::testmodel {

// Pieces in the tokenizer. Equal to the tiny presets' vocab_size. The
// 32000-vocabulary presets use the same tokenizer: a model vocabulary larger
// than the tokenizer's is legal (ids >= 512 are never produced by encoding,
// and decode as nothing), and training 32000 pieces on a toy corpus would be
// slow and meaningless.
inline constexpr int kTokenizerVocabSize = 512;

// Trains and returns the serialized ModelProto (the tokenizer.model bytes).
absl::StatusOr<std::string> TrainTokenizerModel();

// TrainTokenizerModel(), computed once per process and then reused.
absl::StatusOr<std::string> CachedTokenizerModel();

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_TOKENIZER_TRAINER_H_
