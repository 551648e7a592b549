// The named model shapes WriteTestModel can produce, and their config.json.
#ifndef DJINN_COMMON_TESTMODEL_PRESETS_H_
#define DJINN_COMMON_TESTMODEL_PRESETS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/testmodel/tensor_dtype.h"
#include "nlohmann/json.hpp"

namespace djinn::testmodel {

// Llama-3 "llama3" rope scaling (HF rope_scaling with rope_type "llama3").
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelPreset {
  std::string name;
  // "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM" (q/k/v
  // biases) or "Qwen3ForCausalLM" (per-head q/k norms): the tensors and the
  // config.json written follow the architecture.
  std::string architecture = "LlamaForCausalLM";
  // Llama and Qwen3: q/k/v/o biases. Llama: gate/up/down biases.
  bool attention_bias = false;
  bool mlp_bias = false;
  // Mistral's sliding_window (0: null). Djinn accepts one no shorter than
  // the context it serves.
  int64_t sliding_window = 0;
  // config.json as transformers 5 writes it (rope_parameters, dtype,
  // layer_types) rather than as 4.x does (rope_theta, rope_scaling,
  // torch_dtype).
  bool transformers5_layout = false;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  bool has_rope_scaling = false;
  Llama3RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  TensorDType default_dtype = TensorDType::kF32;
  double initializer_range = 0.02;  // written to config.json
  // Initialisation. false: every linear and the embedding ~ N(0,
  // initializer_range^2), as HF initialises a fresh model. true (tiny
  // presets): projections ~ N(0, 1/fan_in) and embeddings ~ N(0, 1), so
  // activations keep unit scale through the layers and the logits are spread
  // out: greedy decoding then has clear winners rather than near-ties that
  // float32-vs-float64 rounding could flip.
  bool unit_scale_init = false;
  // 0: one model.safetensors. Otherwise tensors are packed, in module order,
  // into model-0000i-of-0000N.safetensors files of at most this many tensor
  // bytes each (a tensor larger than that gets a file of its own), plus
  // model.safetensors.index.json, as HF's save_pretrained does.
  uint64_t max_shard_bytes = 0;
};

// INVALID_ARGUMENT for a name not in PresetNames().
absl::StatusOr<ModelPreset> FindPreset(std::string_view name);

// The config.json transformers' save_pretrained writes for the preset's
// architecture in `dtype` (4.x or 5.x layout, as the preset says).
nlohmann::json HfConfigJson(const ModelPreset& preset, TensorDType dtype);

// Which extra tensors the architecture has.
bool HasQkvBias(const ModelPreset& preset);  // Qwen2, or attention_bias
bool HasOBias(const ModelPreset& preset);    // attention_bias (Llama, Qwen3)
bool HasQkNorm(const ModelPreset& preset);   // Qwen3

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_PRESETS_H_
