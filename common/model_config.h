// The parts of a HuggingFace config.json that define a Llama-family model.
// Unknown keys are ignored; missing required keys, wrong types, inconsistent
// shapes and unsupported architectures are INVALID_ARGUMENT naming the field.
#ifndef DJINN_COMMON_MODEL_CONFIG_H_
#define DJINN_COMMON_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

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
  std::string architecture;  // "LlamaForCausalLM"
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
  int64_t bos_token_id = 1;
  std::vector<int64_t> eos_token_ids;  // config may give one id or a list
  std::string torch_dtype;             // informational

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  // Parameter count, as HF's num_parameters() reports it.
  uint64_t ParameterCount() const;
};

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text);
// Reads <directory>/config.json.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& directory);

}  // namespace djinn

#endif  // DJINN_COMMON_MODEL_CONFIG_H_
