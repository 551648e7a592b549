#include "common/testmodel/presets.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/testmodel/test_model.h"

namespace djinn::testmodel {
namespace {

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

  return presets;
}

}  // namespace

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

nlohmann::json LlamaConfigJson(const ModelPreset& p, TensorDType dtype) {
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
  return {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", p.hidden_size},
      {"intermediate_size", p.intermediate_size},
      {"num_hidden_layers", p.num_hidden_layers},
      {"num_attention_heads", p.num_attention_heads},
      {"num_key_value_heads", p.num_key_value_heads},
      {"head_dim", p.head_dim},
      {"max_position_embeddings", p.max_position_embeddings},
      {"rms_norm_eps", p.rms_norm_eps},
      {"rope_theta", p.rope_theta},
      {"rope_scaling", rope_scaling},
      {"vocab_size", p.vocab_size},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"tie_word_embeddings", p.tie_word_embeddings},
      {"torch_dtype", std::string(TorchDTypeName(dtype))},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"initializer_range", p.initializer_range},
      {"use_cache", true},
  };
}

}  // namespace djinn::testmodel
