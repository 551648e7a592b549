// A loaded Llama-family model: its weights and scratch space in the arena, and
// the forward pass written once against the Backend ops.
//
//   x = embed(tokens)
//   per layer:  h = x + o_proj(attention(rope(q(norm(x))), rope(k(norm(x))), v(norm(x))))
//               x = h + down(silu(gate(norm(h))) * up(norm(h)))
//   logits = lm_head(norm(x))          (lm_head = embed when tied)
//
// Prompts are processed in chunks of at most chunk_tokens() rows so the
// workspace stays small whatever the context length.
#ifndef DJINN_DAEMON_ENGINE_LLAMA_MODEL_H_
#define DJINN_DAEMON_ENGINE_LLAMA_MODEL_H_

#include <cstdint>
#include <span>
#include <vector>

#include "common/model_config.h"
#include "daemon/backend/backend.h"
#include "daemon/engine/kv_cache.h"
#include "daemon/memory/arena.h"

namespace djinn {

struct LayerWeights {
  Tensor input_norm, q, k, v, o;
  Tensor post_attention_norm, gate, up, down;
};

struct LlamaWeights {
  Tensor embed;
  std::vector<LayerWeights> layers;
  Tensor final_norm;
  Tensor lm_head;  // aliases embed when the model ties them
};

// Activation buffers for one chunk of tokens, plus the RoPE tables.
struct LlamaWorkspace {
  int64_t chunk_tokens = 0;
  Tensor x, normed, q, k, v, attention, projected, gate, up, logits;
  Tensor scores;    // [heads, context_length]
  Tensor rope_cos;  // [context_length, head_dim / 2]
  Tensor rope_sin;
};

class LlamaModel {
 public:
  LlamaModel(ModelConfig config, int64_t context_length, Backend* backend, LlamaWeights weights,
             LlamaWorkspace workspace);

  // Runs `tokens` at positions start.. through the model, appending their
  // keys and values to the cache view of `slot`. Writes logits for the last
  // token into `last_logits` (vocab_size floats) and, when `all_logits` is
  // not empty, for every token into it (tokens.size() * vocab_size floats).
  void Forward(std::span<const int32_t> tokens, int64_t start, const KvCache& cache, int slot,
               std::span<float> last_logits, std::span<float> all_logits = {});

  const ModelConfig& config() const { return config_; }
  int64_t context_length() const { return context_length_; }
  const LlamaWeights& weights() const { return weights_; }

  // Bytes of workspace needed for a model with this config and context.
  static uint64_t WorkspaceBytes(const ModelConfig& config, int64_t context_length, DType dtype);
  // Lays the workspace out over `block` and uploads the RoPE tables.
  static LlamaWorkspace MakeWorkspace(const ModelConfig& config, int64_t context_length, DType dtype,
                                      const ArenaBlock& block, Backend* backend);

 private:
  void ForwardChunk(std::span<const int32_t> tokens, int64_t start, const KvCache& cache, int slot);

  const ModelConfig config_;
  const int64_t context_length_;
  Backend* const backend_;
  const LlamaWeights weights_;
  const LlamaWorkspace workspace_;
  std::vector<int32_t> positions_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_LLAMA_MODEL_H_
