#include "common/testmodel/presets.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/testmodel/test_model.h"

namespace djinn::testmodel {
namespace {

// One of the presets for the other architectures (and Llama with biases),
// made from the tiny preset `base`: each has 6 layers (enough to stream some
// through the ring in CI) and its config.json in the transformers 5 layout.
ModelPreset TinyArchitecture(const ModelPreset& base, std::string name, std::string architecture) {
  ModelPreset preset = base;
  preset.name = std::move(name);
  preset.architecture = std::move(architecture);
  preset.num_hidden_layers = 6;
  preset.transformers5_layout = true;
  return preset;
}

std::vector<ModelPreset> AllPresets() {
  std::vector<ModelPreset> presets;

  // Llama-2 style: multi-head attention, separate lm_head, plain rope.
  ModelPreset tiny;
  tiny.name = "tiny";
  tiny.hidden_size = 64;
  tiny.intermediate_size = 172;
  tiny.num_hidden_layers = 2;
  tiny.num_attention_heads = 4;
  tiny.num_key_value_heads = 4;
  tiny.head_dim = 16;
  tiny.vocab_size = 512;
  tiny.max_position_embeddings = 256;
  tiny.rope_theta = 10000.0;
  tiny.default_dtype = TensorDType::kF32;
  tiny.unit_scale_init = true;
  presets.push_back(tiny);

  // Llama-3.1 style: grouped-query attention, llama3 rope scaling (with a
  // short original context so that all three frequency bands occur at
  // head_dim 16), separate output head.
  ModelPreset gqa;
  gqa.name = "tiny-gqa";
  gqa.hidden_size = 128;
  gqa.intermediate_size = 256;
  gqa.num_hidden_layers = 2;
  gqa.num_attention_heads = 8;
  gqa.num_key_value_heads = 2;
  gqa.head_dim = 16;
  gqa.vocab_size = 512;
  gqa.max_position_embeddings = 512;
  gqa.rope_theta = 500000.0;
  gqa.has_rope_scaling = true;
  gqa.rope_scaling = {.factor = 8.0,
                      .low_freq_factor = 1.0,
                      .high_freq_factor = 4.0,
                      .original_max_position_embeddings = 64};
  gqa.tie_word_embeddings = false;
  gqa.default_dtype = TensorDType::kF32;
  gqa.unit_scale_init = true;
  presets.push_back(gqa);

  // Llama-3.2 style: tiny-gqa with the output head tied to the embedding.
  // Random tied models fall into repeating one token under greedy decoding
  // (the chosen token's embedding is also its output direction), so this
  // preset is mainly a check of the tied path's logits.
  ModelPreset tied = gqa;
  tied.name = "tiny-tied";
  tied.tie_word_embeddings = true;
  presets.push_back(tied);

  // "tiny" (same weights for the same seed) split over three files, so that
  // the loader's sharded path is tested in CI. The tiny model holds 658,688
  // bytes of float32 tensors; 256 KiB shards give 3 files in float32.
  ModelPreset sharded = tiny;
  sharded.name = "tiny-sharded";
  sharded.max_shard_bytes = 256 * 1024;
  presets.push_back(sharded);

  // "tiny" with 12 layers (2.6 MB in float32): enough layers for a budget to
  // keep some resident and stream the rest through the ring buffer in CI.
  ModelPreset deep = tiny;
  deep.name = "tiny-deep";
  deep.num_hidden_layers = 12;
  presets.push_back(deep);

  // "tiny" with 50 layers (10.2 MB in float32): exactly 10%, 50% and 90% of
  // them can stream (5, 25 and 45; the planner never streams fewer than
  // ring slots + 1, see residency_plan.h): the CPU streaming tests.
  ModelPreset deep50 = tiny;
  deep50.name = "tiny-deep-50";
  deep50.num_hidden_layers = 50;
  presets.push_back(deep50);

  // Llama-shaped and deep but small (bfloat16, 367 MB; 50 layers of 6.0 MB):
  // 10%, 50% and 90% streamed layers on a GPU in seconds
  // (tests/gpu/check_streaming.sh), and a load that takes a while on the CPU.
  ModelPreset small_deep;
  small_deep.name = "small-deep-50";
  small_deep.hidden_size = 512;
  small_deep.intermediate_size = 1536;
  small_deep.num_hidden_layers = 50;
  small_deep.num_attention_heads = 8;
  small_deep.num_key_value_heads = 2;
  small_deep.head_dim = 64;
  small_deep.vocab_size = 32000;
  small_deep.max_position_embeddings = 2048;
  small_deep.rope_theta = 500000.0;
  small_deep.default_dtype = TensorDType::kBF16;
  small_deep.unit_scale_init = true;  // clear greedy winners (see ModelPreset)
  presets.push_back(small_deep);

  // Llama-3.2-1B shape (bfloat16, 2.1 GB) with a 32000 vocabulary.
  ModelPreset l1b;
  l1b.name = "llama-1b";
  l1b.hidden_size = 2048;
  l1b.intermediate_size = 8192;
  l1b.num_hidden_layers = 16;
  l1b.num_attention_heads = 32;
  l1b.num_key_value_heads = 8;
  l1b.head_dim = 64;
  l1b.vocab_size = 32000;
  l1b.max_position_embeddings = 4096;
  l1b.rope_theta = 500000.0;
  l1b.has_rope_scaling = true;
  l1b.rope_scaling = {.factor = 32.0,
                      .low_freq_factor = 1.0,
                      .high_freq_factor = 4.0,
                      .original_max_position_embeddings = 8192};
  l1b.tie_word_embeddings = true;
  l1b.default_dtype = TensorDType::kBF16;
  presets.push_back(l1b);

  // Llama-2-13B shape: 26.0 GB in float16, more than one GPU holds with room
  // to spare: the benchmark model for offloading.
  ModelPreset l13b;
  l13b.name = "llama2-13b";
  l13b.hidden_size = 5120;
  l13b.intermediate_size = 13824;
  l13b.num_hidden_layers = 40;
  l13b.num_attention_heads = 40;
  l13b.num_key_value_heads = 40;
  l13b.head_dim = 128;
  l13b.vocab_size = 32000;
  l13b.max_position_embeddings = 4096;
  l13b.rope_theta = 10000.0;
  l13b.default_dtype = TensorDType::kF16;
  l13b.max_shard_bytes = uint64_t{5'000'000'000};
  presets.push_back(l13b);

  // The other architectures (see TinyArchitecture).
  ModelPreset mistral = TinyArchitecture(tiny, "tiny-mistral", "MistralForCausalLM");
  mistral.num_key_value_heads = 2;
  mistral.rope_theta = 1000000.0;
  mistral.sliding_window = 4096;  // Mistral-7B-v0.1's, longer than the context: exact
  presets.push_back(mistral);

  // Qwen2.5-0.5B style: q/k/v biases, tied embeddings, three query heads
  // per KV head (not a power of two).
  ModelPreset qwen2 = TinyArchitecture(tiny, "tiny-qwen2", "Qwen2ForCausalLM");
  qwen2.hidden_size = 96;
  qwen2.intermediate_size = 160;
  qwen2.num_attention_heads = 6;
  qwen2.num_key_value_heads = 2;
  qwen2.head_dim = 16;
  qwen2.rope_theta = 1000000.0;
  qwen2.rms_norm_eps = 1e-6;
  qwen2.tie_word_embeddings = true;
  presets.push_back(qwen2);

  // Qwen3 style: per-head q/k RMSNorm, head_dim (32) given explicitly and
  // not hidden_size / heads (16).
  ModelPreset qwen3 = TinyArchitecture(tiny, "tiny-qwen3", "Qwen3ForCausalLM");
  qwen3.intermediate_size = 160;
  qwen3.num_key_value_heads = 2;
  qwen3.head_dim = 32;
  qwen3.rope_theta = 1000000.0;
  qwen3.rms_norm_eps = 1e-6;
  presets.push_back(qwen3);

  // Llama with attention_bias and mlp_bias, GQA groups of 3 and llama3
  // rope scaling in rope_parameters.
  ModelPreset bias = TinyArchitecture(gqa, "tiny-llama-bias", "LlamaForCausalLM");
  bias.hidden_size = 96;
  bias.intermediate_size = 192;
  bias.num_attention_heads = 6;
  bias.num_key_value_heads = 2;
  bias.head_dim = 16;
  bias.attention_bias = true;
  bias.mlp_bias = true;
  presets.push_back(bias);

  return presets;
}

}  // namespace

bool HasQkvBias(const ModelPreset& p) { return p.architecture == "Qwen2ForCausalLM" || p.attention_bias; }
bool HasOBias(const ModelPreset& p) { return p.attention_bias; }
bool HasQkNorm(const ModelPreset& p) { return p.architecture == "Qwen3ForCausalLM"; }

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const ModelPreset& p : AllPresets()) names.push_back(p.name);
  return names;
}

absl::StatusOr<ModelPreset> FindPreset(std::string_view name) {
  for (ModelPreset& p : AllPresets()) {
    if (p.name == name) return std::move(p);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown test model preset \"",
                                                 std::string(name), "\" (known: ",
                                                 absl::StrJoin(PresetNames(), ", "), ")"));
}

namespace {

std::string ModelType(const std::string& architecture) {
  if (architecture == "MistralForCausalLM") return "mistral";
  if (architecture == "Qwen2ForCausalLM") return "qwen2";
  if (architecture == "Qwen3ForCausalLM") return "qwen3";
  return "llama";
}

}  // namespace

nlohmann::json HfConfigJson(const ModelPreset& p, TensorDType dtype) {
  const std::string& arch = p.architecture;
  const bool llama = arch == "LlamaForCausalLM", mistral = arch == "MistralForCausalLM";
  const bool qwen = arch == "Qwen2ForCausalLM" || arch == "Qwen3ForCausalLM";
  nlohmann::json rope_scaling = nullptr;
  if (p.has_rope_scaling) {
    rope_scaling = {
        {"rope_type", "llama3"},
        {"factor", p.rope_scaling.factor},
        {"low_freq_factor", p.rope_scaling.low_freq_factor},
        {"high_freq_factor", p.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", p.rope_scaling.original_max_position_embeddings},
    };
  }
  nlohmann::json config = {
      {"architectures", {arch}},
      {"model_type", ModelType(arch)},
      {"hidden_size", p.hidden_size},
      {"intermediate_size", p.intermediate_size},
      {"num_hidden_layers", p.num_hidden_layers},
      {"num_attention_heads", p.num_attention_heads},
      {"num_key_value_heads", p.num_key_value_heads},
      {"max_position_embeddings", p.max_position_embeddings},
      {"rms_norm_eps", p.rms_norm_eps},
      {"vocab_size", p.vocab_size},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"tie_word_embeddings", p.tie_word_embeddings},
      {"hidden_act", "silu"},
      {"initializer_range", p.initializer_range},
      {"use_cache", true},
  };
  // Qwen2's config has no head_dim (it is hidden_size / heads there).
  if (arch != "Qwen2ForCausalLM") config["head_dim"] = p.head_dim;
  if (llama) {
    config["attention_bias"] = p.attention_bias;
    config["mlp_bias"] = p.mlp_bias;
  }
  if (arch == "Qwen3ForCausalLM") config["attention_bias"] = p.attention_bias;
  if (mistral) config["sliding_window"] = p.sliding_window > 0 ? nlohmann::json(p.sliding_window) : nullptr;
  if (qwen) {
    // Sliding windows off, as in every released Qwen2.5 / Qwen3 dense model:
    // 5.x writes the window as null and spells the layers out.
    config["use_sliding_window"] = false;
    config["max_window_layers"] = p.num_hidden_layers;
    config["sliding_window"] = p.transformers5_layout ? nlohmann::json(nullptr) : nlohmann::json(4096);
    if (p.transformers5_layout) {
      config["layer_types"] = std::vector<std::string>(p.num_hidden_layers, "full_attention");
    }
  }
  const std::string dtype_name(TorchDTypeName(dtype));
  if (p.transformers5_layout) {
    nlohmann::json rope = rope_scaling.is_null() ? nlohmann::json{{"rope_type", "default"}} : rope_scaling;
    rope["rope_theta"] = p.rope_theta;
    config["rope_parameters"] = rope;
    config["dtype"] = dtype_name;
    config["pad_token_id"] = nullptr;
    config["attention_dropout"] = 0.0;
    if (llama) config["pretraining_tp"] = 1;
    config["transformers_version"] = "5.0.0";
  } else {
    config["rope_theta"] = p.rope_theta;
    config["rope_scaling"] = rope_scaling;
    config["torch_dtype"] = dtype_name;
  }
  return config;
}

}  // namespace djinn::testmodel
