#include "daemon/engine/llama_model.h"

#include <algorithm>
#include <cstring>

#include "daemon/engine/rope.h"

namespace djinn {
namespace {

constexpr int64_t kChunkTokens = 64;

}  // namespace

LlamaModel::LlamaModel(ModelConfig config, int64_t context_length, Backend* backend, LlamaWeights weights,
                       LlamaWorkspace workspace)
    : config_(std::move(config)),
      context_length_(context_length),
      backend_(backend),
      weights_(std::move(weights)),
      workspace_(workspace) {
  positions_.reserve(workspace_.chunk_tokens);
}

uint64_t LlamaModel::WorkspaceBytes(const ModelConfig& c, int64_t context_length, DType dtype) {
  const int64_t chunk = std::min(kChunkTokens, context_length);
  const int64_t per_token = 3 * c.hidden_size + 2 * c.q_dim() + 2 * c.kv_dim() + 2 * c.intermediate_size + c.vocab_size;
  const uint64_t activations = static_cast<uint64_t>(chunk * per_token) * DTypeSize(dtype);
  const uint64_t scores = static_cast<uint64_t>(c.num_attention_heads * context_length) * sizeof(float);
  const uint64_t rope = 2 * static_cast<uint64_t>(context_length * (c.head_dim / 2)) * sizeof(float);
  // Each of the 13 tensors is rounded up to the arena alignment.
  return activations + scores + rope + 13 * Arena::kAlignment;
}

LlamaWorkspace LlamaModel::MakeWorkspace(const ModelConfig& c, int64_t context_length, DType dtype,
                                         const ArenaBlock& block, Backend* backend) {
  LlamaWorkspace ws;
  ws.chunk_tokens = std::min(kChunkTokens, context_length);
  std::byte* next = block.data;
  auto take = [&](int64_t rows, int64_t cols, DType type) {
    Tensor t{next, type, rows, cols};
    next += (t.bytes() + Arena::kAlignment - 1) / Arena::kAlignment * Arena::kAlignment;
    return t;
  };
  const int64_t n = ws.chunk_tokens;
  ws.x = take(n, c.hidden_size, dtype);
  ws.normed = take(n, c.hidden_size, dtype);
  ws.projected = take(n, c.hidden_size, dtype);
  ws.q = take(n, c.q_dim(), dtype);
  ws.attention = take(n, c.q_dim(), dtype);
  ws.k = take(n, c.kv_dim(), dtype);
  ws.v = take(n, c.kv_dim(), dtype);
  ws.gate = take(n, c.intermediate_size, dtype);
  ws.up = take(n, c.intermediate_size, dtype);
  ws.logits = take(n, c.vocab_size, dtype);
  ws.scores = take(c.num_attention_heads, context_length, DType::kFloat32);
  ws.rope_cos = take(context_length, c.head_dim / 2, DType::kFloat32);
  ws.rope_sin = take(context_length, c.head_dim / 2, DType::kFloat32);
  // Computed on the host, then copied: the arena may be device memory.
  std::vector<float> cos(ws.rope_cos.elements()), sin(ws.rope_sin.elements());
  FillRopeTables(c, context_length, cos, sin);
  backend->Upload(std::as_bytes(std::span<const float>(cos)), DType::kFloat32, ws.rope_cos);
  backend->Upload(std::as_bytes(std::span<const float>(sin)), DType::kFloat32, ws.rope_sin);
  return ws;
}

void LlamaModel::Forward(std::span<const int32_t> tokens, int64_t start, const KvCache& cache, int slot,
                         std::span<float> last_logits, std::span<float> all_logits) {
  const int64_t vocab = config_.vocab_size;
  const Tensor& ws_logits = workspace_.logits;
  for (size_t done = 0; done < tokens.size();) {
    const int64_t n = std::min<int64_t>(workspace_.chunk_tokens, tokens.size() - done);
    ForwardChunk(tokens.subspan(done, n), start + done, cache, slot);
    const bool last_chunk = done + n == tokens.size();
    const Tensor normed = workspace_.normed.Rows(0, n);
    if (!all_logits.empty()) {
      backend_->RmsNorm(workspace_.x.Rows(0, n), weights_.final_norm, config_.rms_norm_eps, normed);
      backend_->MatMul(normed, weights_.lm_head, ws_logits.Rows(0, n));
      backend_->Download(ws_logits.Rows(0, n), all_logits.subspan(done * vocab, n * vocab));
      if (last_chunk) {
        std::copy_n(all_logits.begin() + (done + n - 1) * vocab, vocab, last_logits.begin());
      }
    } else if (last_chunk) {
      // Only the last token's logits are needed to pick the next token.
      const Tensor last_x = workspace_.x.Rows(n - 1, 1);
      backend_->RmsNorm(last_x, weights_.final_norm, config_.rms_norm_eps, normed.Rows(0, 1));
      backend_->MatMul(normed.Rows(0, 1), weights_.lm_head, ws_logits.Rows(0, 1));
      backend_->Download(ws_logits.Rows(0, 1), last_logits);
    }
    done += n;
  }
}

void LlamaModel::ForwardChunk(std::span<const int32_t> tokens, int64_t start, const KvCache& cache, int slot) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const float eps = static_cast<float>(config_.rms_norm_eps);
  positions_.resize(n);
  for (int64_t t = 0; t < n; ++t) positions_[t] = static_cast<int32_t>(start + t);
  const AttentionShape shape{config_.num_attention_heads, config_.num_key_value_heads, config_.head_dim};

  const Tensor x = workspace_.x.Rows(0, n), normed = workspace_.normed.Rows(0, n);
  const Tensor q = workspace_.q.Rows(0, n), k = workspace_.k.Rows(0, n), v = workspace_.v.Rows(0, n);
  const Tensor attention = workspace_.attention.Rows(0, n), projected = workspace_.projected.Rows(0, n);
  const Tensor gate = workspace_.gate.Rows(0, n), up = workspace_.up.Rows(0, n);

  backend_->Embedding(weights_.embed, tokens, x);
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    const KvView kv = cache.View(slot, l);
    backend_->RmsNorm(x, w.input_norm, eps, normed);
    backend_->MatMul(normed, w.q, q);
    backend_->MatMul(normed, w.k, k);
    backend_->MatMul(normed, w.v, v);
    backend_->Rope(q, config_.head_dim, positions_, workspace_.rope_cos, workspace_.rope_sin);
    backend_->Rope(k, config_.head_dim, positions_, workspace_.rope_cos, workspace_.rope_sin);
    backend_->WriteKv(k, v, kv, start);
    backend_->Attention(q, kv, start, shape, workspace_.scores, attention);
    backend_->MatMul(attention, w.o, projected);
    backend_->Add(x, projected);

    backend_->RmsNorm(x, w.post_attention_norm, eps, normed);
    backend_->MatMul(normed, w.gate, gate);
    backend_->MatMul(normed, w.up, up);
    backend_->SiluMul(gate, up, gate);
    backend_->MatMul(gate, w.down, projected);
    backend_->Add(x, projected);
  }
}

}  // namespace djinn
