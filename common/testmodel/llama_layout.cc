#include "common/testmodel/llama_layout.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace djinn::testmodel {

std::vector<LlamaTensor> LlamaTensors(const ModelPreset& p) {
  const int64_t hidden = p.hidden_size;
  const int64_t q_out = p.num_attention_heads * p.head_dim;
  const int64_t kv_out = p.num_key_value_heads * p.head_dim;
  const int64_t inter = p.intermediate_size;

  const WeightInit norm{.mean = 1.0, .stddev = 0.1};
  // std::sqrt is correctly rounded (IEEE), so this is the same everywhere.
  auto linear = [&](int64_t fan_in) {
    return WeightInit{.mean = 0.0,
                      .stddev = p.unit_scale_init ? 1.0 / std::sqrt(static_cast<double>(fan_in))
                                                  : p.initializer_range};
  };
  // A tied embedding is also the output head: at std 1 each position's own
  // token dominates its logits. At 0.3 the logits spread over a few units
  // (greedy decoding of a random tied model still tends to repeat a token).
  const double unit_embedding_std = p.tie_word_embeddings ? 0.3 : 1.0;
  const WeightInit embedding{.mean = 0.0,
                             .stddev = p.unit_scale_init ? unit_embedding_std : p.initializer_range};

  // Biases (HF initialises them to zero, which would leave the bias path
  // untested): small against unit-scale activations.
  const WeightInit bias{.mean = 0.0, .stddev = p.unit_scale_init ? 0.2 : p.initializer_range};

  std::vector<LlamaTensor> tensors;
  tensors.push_back({"model.embed_tokens.weight", {p.vocab_size, hidden}, embedding});
  for (int64_t i = 0; i < p.num_hidden_layers; ++i) {
    const std::string l = absl::StrCat("model.layers.", i, ".");
    tensors.push_back({l + "input_layernorm.weight", {hidden}, norm});
    tensors.push_back({l + "self_attn.q_proj.weight", {q_out, hidden}, linear(hidden)});
    tensors.push_back({l + "self_attn.k_proj.weight", {kv_out, hidden}, linear(hidden)});
    tensors.push_back({l + "self_attn.v_proj.weight", {kv_out, hidden}, linear(hidden)});
    if (HasQkvBias(p)) {
      tensors.push_back({l + "self_attn.q_proj.bias", {q_out}, bias});
      tensors.push_back({l + "self_attn.k_proj.bias", {kv_out}, bias});
      tensors.push_back({l + "self_attn.v_proj.bias", {kv_out}, bias});
    }
    if (HasQkNorm(p)) {
      tensors.push_back({l + "self_attn.q_norm.weight", {p.head_dim}, norm});
      tensors.push_back({l + "self_attn.k_norm.weight", {p.head_dim}, norm});
    }
    tensors.push_back({l + "self_attn.o_proj.weight", {hidden, q_out}, linear(q_out)});
    if (HasOBias(p)) tensors.push_back({l + "self_attn.o_proj.bias", {hidden}, bias});
    tensors.push_back({l + "post_attention_layernorm.weight", {hidden}, norm});
    tensors.push_back({l + "mlp.gate_proj.weight", {inter, hidden}, linear(hidden)});
    if (p.mlp_bias) tensors.push_back({l + "mlp.gate_proj.bias", {inter}, bias});
    tensors.push_back({l + "mlp.up_proj.weight", {inter, hidden}, linear(hidden)});
    if (p.mlp_bias) tensors.push_back({l + "mlp.up_proj.bias", {inter}, bias});
    tensors.push_back({l + "mlp.down_proj.weight", {hidden, inter}, linear(inter)});
    if (p.mlp_bias) tensors.push_back({l + "mlp.down_proj.bias", {hidden}, bias});
  }
  tensors.push_back({"model.norm.weight", {hidden}, norm});
  if (!p.tie_word_embeddings) {
    tensors.push_back({"lm_head.weight", {p.vocab_size, hidden}, linear(hidden)});
  }
  return tensors;
}

}  // namespace djinn::testmodel
