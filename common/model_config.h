// The parts of a HuggingFace config.json that define a Llama-family model
// (Llama, Mistral, Qwen2, Qwen3), read as transformers 4.x writes it
// (top-level rope_theta / rope_scaling, torch_dtype) and as 5.x does
// (rope_parameters, dtype). Fail closed: every key is classified
// (config_keys.h) and a key Djinn does not implement, or does not know, is
// INVALID_ARGUMENT naming it, as are missing required keys, wrong types,
// inconsistent shapes, unsupported rope types and architectures.
#ifndef DJINN_COMMON_MODEL_CONFIG_H_
#define DJINN_COMMON_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config_keys.h"

namespace djinn {

// rope_scaling as Llama 3 (rope_type "llama3") and linear position
// interpolation (rope_type "linear") define it. kNone: plain RoPE.
struct RopeScaling {
  enum class Type { kNone, kLinear, kLlama3 };
  Type type = Type::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // "LlamaForCausalLM", as config.json names it
  Architecture arch = Architecture::kLlama;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 1;            // -1: none (Qwen's default)
  std::vector<int64_t> eos_token_ids;  // config may give one id or a list
  std::string torch_dtype;             // torch_dtype or dtype; informational

  // What sets the architectures apart from plain Llama:
  bool qkv_bias = false;  // q_proj, k_proj, v_proj have biases (Qwen2; attention_bias)
  bool o_bias = false;    // o_proj has a bias (attention_bias on Llama and Qwen3)
  bool mlp_bias = false;  // gate_proj, up_proj, down_proj have biases (Llama mlp_bias)
  bool qk_norm = false;   // per-head RMSNorm of q and k before RoPE (Qwen3)
  // Mistral's attention window; 0: none. The loader refuses a context
  // longer than it (within the window, attention is exact).
  int64_t sliding_window = 0;

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  // Parameter count, as HF's num_parameters() reports it (biases and q/k
  // norms included, tied embeddings once).
  uint64_t ParameterCount() const;
};

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text);
// Reads <directory>/config.json.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& directory);

}  // namespace djinn

#endif  // DJINN_COMMON_MODEL_CONFIG_H_
