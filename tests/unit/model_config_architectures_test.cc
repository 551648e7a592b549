// config.json of the released Llama 3.1, Llama 2, Mistral 7B v0.1 / v0.3,
// Qwen2.5 and Qwen3 checkpoints, as transformers 4.x wrote them (the files on
// the Hub) and as transformers 5 writes them (save_pretrained after loading:
// rope_parameters, dtype, layer_types, sliding_window null when unused): both
// give the same model, with the published parameter counts, and what the
// architectures need Djinn to refuse is refused by name.
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/model_config.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/unit/support/model_config_parse.h"

namespace djinn {
namespace {

using nlohmann::json;
using testing::ExpectInvalid;
using testing::MustParse;

// ---------------------------------------------------------------- 4.x (the Hub's files)

constexpr char kLlama31_8B_4[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256
})";

constexpr char kLlama2_7B_4[] = R"({
  "_name_or_path": "meta-llama/Llama-2-7b-hf", "architectures": ["LlamaForCausalLM"], "bos_token_id": 1,
  "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 11008, "max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "tie_word_embeddings": false, "torch_dtype": "float16",
  "transformers_version": "4.32.0.dev0", "use_cache": true, "vocab_size": 32000
})";

constexpr char kMistral7B_v01_4[] = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
  "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000
})";

constexpr char kMistral7B_v03_4[] = R"({
  "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": null,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.42.0.dev0",
  "use_cache": true, "vocab_size": 32768
})";

constexpr char kQwen25_05B_4[] = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21, "model_type": "qwen2",
  "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
})";

constexpr char kQwen25_7B_4[] = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02,
  "intermediate_size": 18944, "max_position_embeddings": 32768, "max_window_layers": 28, "model_type": "qwen2",
  "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1", "use_cache": true, "use_sliding_window": false, "vocab_size": 152064
})";

constexpr char kQwen3_06B_4[] = R"({
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024,
  "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 40960,
  "max_window_layers": 28, "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000,
  "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
})";

constexpr char kQwen3_8B_4[] = R"({
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 12288, "max_position_embeddings": 40960,
  "max_window_layers": 36, "model_type": "qwen3", "num_attention_heads": 32, "num_hidden_layers": 36,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000,
  "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
})";

// ---------------------------------------------------------------- 5.x (save_pretrained)

constexpr char kLlama31_8B_5[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "dtype": "bfloat16", "eos_token_id": [128001, 128008, 128009], "head_dim": 128,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "pad_token_id": null, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"},
  "tie_word_embeddings": false, "transformers_version": "5.0.0", "use_cache": true, "vocab_size": 128256
})";

constexpr char kLlama2_7B_5[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 1,
  "dtype": "float16", "eos_token_id": 2, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
  "pad_token_id": null, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}, "tie_word_embeddings": false,
  "transformers_version": "5.0.0", "use_cache": true, "vocab_size": 32000
})";

constexpr char kMistral7B_v01_5[] = R"({
  "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "dtype": "bfloat16",
  "eos_token_id": 2, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pad_token_id": null,
  "rms_norm_eps": 1e-05, "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
  "sliding_window": 4096, "tie_word_embeddings": false, "transformers_version": "5.0.0", "use_cache": true,
  "vocab_size": 32000
})";

constexpr char kMistral7B_v03_5[] = R"({
  "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "dtype": "bfloat16",
  "eos_token_id": 2, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pad_token_id": null,
  "rms_norm_eps": 1e-05, "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"},
  "sliding_window": null, "tie_word_embeddings": false, "transformers_version": "5.0.0", "use_cache": true,
  "vocab_size": 32768
})";

constexpr char kQwen25_05B_5[] = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "dtype": "bfloat16",
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864,
  "layer_types": ["full_attention", "full_attention", "full_attention", "full_attention", "full_attention",
                  "full_attention", "full_attention", "full_attention", "full_attention", "full_attention",
                  "full_attention", "full_attention", "full_attention", "full_attention", "full_attention",
                  "full_attention", "full_attention", "full_attention", "full_attention", "full_attention",
                  "full_attention", "full_attention", "full_attention", "full_attention"],
  "max_position_embeddings": 32768, "max_window_layers": 21, "model_type": "qwen2", "num_attention_heads": 14,
  "num_hidden_layers": 24, "num_key_value_heads": 2, "pad_token_id": null, "rms_norm_eps": 1e-06,
  "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "sliding_window": null,
  "tie_word_embeddings": true, "transformers_version": "5.0.0", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936
})";

// Qwen3-8B: its 36 layer_types are filled in by Layers36().
constexpr char kQwen3_8B_5[] = R"({
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "dtype": "bfloat16", "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 12288, "layer_types": [],
  "max_position_embeddings": 40960, "max_window_layers": 36, "model_type": "qwen3", "num_attention_heads": 32,
  "num_hidden_layers": 36, "num_key_value_heads": 8, "pad_token_id": null, "rms_norm_eps": 1e-06,
  "rope_parameters": {"rope_theta": 1000000, "rope_type": "default"}, "sliding_window": null,
  "tie_word_embeddings": false, "transformers_version": "5.0.0", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936
})";

std::string Qwen3_8B_5() {
  json config = json::parse(kQwen3_8B_5);
  config["layer_types"] = std::vector<std::string>(36, "full_attention");
  return config.dump();
}

std::string Edited(const char* base, const std::function<void(json&)>& edit) {
  json config = json::parse(base);
  edit(config);
  return config.dump();
}

// Everything the forward pass reads is the same from both layouts.
void ExpectSameModel(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, b.rope_scaling.original_max_position_embeddings);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.torch_dtype, b.torch_dtype);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.o_bias, b.o_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.qk_norm, b.qk_norm);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.ParameterCount(), b.ParameterCount());
}

TEST(ModelConfigLayoutsTest, BothLayoutsGiveTheSameModel) {
  const std::vector<std::pair<const char*, std::string>> pairs = {
      {kLlama31_8B_4, kLlama31_8B_5}, {kLlama2_7B_4, kLlama2_7B_5},   {kMistral7B_v01_4, kMistral7B_v01_5},
      {kMistral7B_v03_4, kMistral7B_v03_5}, {kQwen25_05B_4, kQwen25_05B_5}, {kQwen3_8B_4, Qwen3_8B_5()}};
  for (const auto& [four, five] : pairs) {
    SCOPED_TRACE(json::parse(four)["architectures"][0].get<std::string>());
    ExpectSameModel(MustParse(four), MustParse(five));
  }
}

// The issue's bug: a 5.x config's rope_theta is in rope_parameters, and a
// reader of the top-level key alone ran Llama 3 with theta 10000.
TEST(ModelConfigLayoutsTest, RopeThetaAndScalingComeFromRopeParameters) {
  const ModelConfig c = MustParse(kLlama31_8B_5);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(MustParse(kQwen3_8B_4).rope_theta, 1000000.0);  // an integer in the Hub's file
  // Both layouts at once must agree.
  EXPECT_EQ(MustParse(Edited(kLlama31_8B_5, [](json& j) { j["rope_theta"] = 500000.0; })).rope_theta, 500000.0);
  ExpectInvalid(Edited(kLlama31_8B_5, [](json& j) { j["rope_theta"] = 10000.0; }), {"rope_theta", "differ"});
  ExpectInvalid(Edited(kLlama31_8B_5, [](json& j) { j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2}}; }),
                {"rope_parameters", "rope_scaling"});
  // The top-level theta fills in a rope_parameters without one (as 5.x does).
  EXPECT_EQ(MustParse(Edited(kLlama2_7B_5,
                             [](json& j) {
                               j["rope_parameters"].erase("rope_theta");
                               j["rope_theta"] = 250000.0;
                             }))
                .rope_theta,
            250000.0);
}

TEST(ModelConfigLayoutsTest, RopeTypesDjinnDoesNotImplementAreRefusedByName) {
  for (const char* type : {"yarn", "dynamic", "longrope", "su", "proportional"}) {
    SCOPED_TRACE(type);
    ExpectInvalid(Edited(kLlama2_7B_5,
                         [&](json& j) {
                           j["rope_parameters"] = {{"rope_type", type}, {"rope_theta", 1e4}, {"factor", 2.0}};
                         }),
                  {"rope_parameters", type});
    ExpectInvalid(Edited(kLlama2_7B_4, [&](json& j) { j["rope_scaling"] = {{"type", type}, {"factor", 2.0}}; }),
                  {"rope_scaling", type});
  }
  // Parameters of other rope types, or ones that do not apply, are named.
  ExpectInvalid(Edited(kLlama31_8B_5, [](json& j) { j["rope_parameters"]["beta_fast"] = 32; }),
                {"rope_parameters.beta_fast"});
  ExpectInvalid(Edited(kLlama2_7B_5, [](json& j) { j["rope_parameters"]["factor"] = 4.0; }),
                {"rope_parameters.factor", "default"});
  ExpectInvalid(Edited(kLlama2_7B_5, [](json& j) { j["rope_parameters"]["partial_rotary_factor"] = 0.5; }),
                {"partial_rotary_factor"});
  ExpectInvalid(Edited(kLlama31_8B_5, [](json& j) { j["rope_parameters"].erase("original_max_position_embeddings"); }),
                {"original_max_position_embeddings"});
  ExpectInvalid(Edited(kLlama2_7B_5, [](json& j) { j["rope_parameters"]["something"] = 1; }),
                {"rope_parameters.something"});
  // linear in rope_parameters.
  const ModelConfig linear = MustParse(
      Edited(kLlama2_7B_5,
             [](json& j) { j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 1e4}}; }));
  EXPECT_EQ(linear.rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_EQ(linear.rope_scaling.factor, 4.0);
}

TEST(ModelConfigLayoutsTest, Llama) {
  const ModelConfig c = MustParse(kLlama31_8B_5);
  EXPECT_EQ(c.arch, Architecture::kLlama);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias || c.qk_norm);
  EXPECT_EQ(c.ParameterCount(), uint64_t{8'030'261'248});
  EXPECT_EQ(MustParse(kLlama2_7B_5).ParameterCount(), uint64_t{6'738'415'616});
}

TEST(ModelConfigLayoutsTest, Mistral) {
  const ModelConfig v01 = MustParse(kMistral7B_v01_4);
  EXPECT_EQ(v01.arch, Architecture::kMistral);
  EXPECT_EQ(v01.architecture, "MistralForCausalLM");
  EXPECT_EQ(v01.sliding_window, 4096);
  EXPECT_EQ(v01.head_dim, 128);
  EXPECT_EQ(v01.num_key_value_heads, 8);
  EXPECT_FALSE(v01.qkv_bias || v01.o_bias || v01.mlp_bias || v01.qk_norm);
  EXPECT_EQ(v01.ParameterCount(), uint64_t{7'241'732'096});
  const ModelConfig v03 = MustParse(kMistral7B_v03_5);
  EXPECT_EQ(v03.sliding_window, 0);
  EXPECT_EQ(v03.rope_theta, 1000000.0);
  EXPECT_EQ(v03.ParameterCount(), uint64_t{7'248'023'552});
  // Absent, transformers' MistralConfig default of 4096 applies.
  EXPECT_EQ(MustParse(Edited(kMistral7B_v03_4, [](json& j) { j.erase("sliding_window"); })).sliding_window, 4096);
  ExpectInvalid(Edited(kMistral7B_v03_4, [](json& j) { j["sliding_window"] = 0; }), {"sliding_window"});
  // Its class has no biases and defaults the KV heads to 8: Djinn wants them given.
  ExpectInvalid(Edited(kMistral7B_v03_4, [](json& j) { j["attention_bias"] = true; }), {"attention_bias"});
  ExpectInvalid(Edited(kMistral7B_v03_4, [](json& j) { j.erase("num_key_value_heads"); }), {"num_key_value_heads"});
  ExpectInvalid(Edited(kMistral7B_v03_4, [](json& j) { j["layer_types"] = {"full_attention"}; }), {"layer_types"});
}

TEST(ModelConfigLayoutsTest, Qwen2) {
  const ModelConfig small = MustParse(kQwen25_05B_5);
  EXPECT_EQ(small.arch, Architecture::kQwen2);
  EXPECT_TRUE(small.qkv_bias);
  EXPECT_FALSE(small.o_bias || small.mlp_bias || small.qk_norm);
  EXPECT_TRUE(small.tie_word_embeddings);
  EXPECT_EQ(small.head_dim, 64);
  EXPECT_EQ(small.sliding_window, 0);  // use_sliding_window false: none
  EXPECT_EQ(small.bos_token_id, 151643);
  EXPECT_EQ(small.ParameterCount(), uint64_t{494'032'768});
  const ModelConfig big = MustParse(kQwen25_7B_4);
  EXPECT_EQ(big.num_key_value_heads, 4);
  EXPECT_EQ(big.kv_dim(), 512);
  EXPECT_FALSE(big.tie_word_embeddings);
  // Sliding windows must be off, in every spelling.
  ExpectInvalid(Edited(kQwen25_05B_4, [](json& j) { j["use_sliding_window"] = true; }), {"use_sliding_window"});
  ExpectInvalid(Edited(kQwen25_05B_5, [](json& j) { j["layer_types"][3] = "sliding_attention"; }),
                {"layer_types", "sliding_attention"});
  ExpectInvalid(Edited(kQwen25_05B_5, [](json& j) { j["layer_types"].erase(0); }), {"layer_types"});
  ExpectInvalid(Edited(kQwen25_05B_4, [](json& j) { j["attention_bias"] = true; }), {"attention_bias"});
  ExpectInvalid(Edited(kQwen25_05B_4, [](json& j) { j.erase("num_key_value_heads"); }), {"num_key_value_heads"});
  // Absent bos_token_id: none, as Qwen2Config's default.
  EXPECT_EQ(MustParse(Edited(kQwen25_05B_4, [](json& j) { j.erase("bos_token_id"); })).bos_token_id, -1);
}

TEST(ModelConfigLayoutsTest, Qwen3) {
  const ModelConfig small = MustParse(kQwen3_06B_4);
  EXPECT_EQ(small.arch, Architecture::kQwen3);
  EXPECT_TRUE(small.qk_norm);
  EXPECT_FALSE(small.qkv_bias || small.o_bias || small.mlp_bias);
  EXPECT_EQ(small.head_dim, 128);  // given, and not hidden_size / heads (64)
  EXPECT_EQ(small.q_dim(), 2048);
  EXPECT_EQ(small.ParameterCount(), uint64_t{596'049'920});
  const ModelConfig big = MustParse(Qwen3_8B_5());
  EXPECT_EQ(big.ParameterCount(), uint64_t{8'190'735'360});
  // attention_bias: q, k, v and o biases.
  const ModelConfig biased = MustParse(Edited(kQwen3_06B_4, [](json& j) { j["attention_bias"] = true; }));
  EXPECT_TRUE(biased.qkv_bias && biased.o_bias);
  EXPECT_EQ(biased.ParameterCount(), uint64_t{596'049'920} + 28 * (2048 + 2 * 1024 + 1024));
  // Qwen3Config defaults head_dim to 128 whatever the shape: Djinn wants it given.
  ExpectInvalid(Edited(kQwen3_06B_4, [](json& j) { j.erase("head_dim"); }), {"head_dim"});
  ExpectInvalid(Edited(kQwen3_06B_4, [](json& j) { j["use_sliding_window"] = true; }), {"use_sliding_window"});
  ExpectInvalid(Edited(kQwen3_06B_4, [](json& j) { j["mlp_bias"] = true; }), {"mlp_bias"});
  ExpectInvalid(Edited(kQwen3_06B_4, [](json& j) { j["model_type"] = "qwen2"; }), {"model_type", "qwen2"});
}

}  // namespace
}  // namespace djinn
