// The tensors of a HuggingFace LlamaForCausalLM checkpoint (and of the
// Llama-shaped Mistral, Qwen2 and Qwen3 ones: biases and q/k norms where the
// preset's architecture has them): names, shapes ([out, in] for linears)
// and how each is initialised.
#ifndef DJINN_COMMON_TESTMODEL_LLAMA_LAYOUT_H_
#define DJINN_COMMON_TESTMODEL_LLAMA_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/testmodel/presets.h"
#include "common/testmodel/random_weights.h"

namespace djinn::testmodel {

struct LlamaTensor {
  std::string name;
  std::vector<int64_t> shape;
  WeightInit init;
};

// In module order (embeddings, layer 0, 1, ..., final norm, lm_head; in a
// layer, each module's weight then bias), the order HF shards in. lm_head.weight only when the embeddings are untied.
// Norm weights are 1 + 0.1 * N(0, 1) rather than HF's all-ones, so that a
// loader that drops a norm multiply (or applies the wrong one) fails tests.
std::vector<LlamaTensor> LlamaTensors(const ModelPreset& preset);

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_LLAMA_LAYOUT_H_
