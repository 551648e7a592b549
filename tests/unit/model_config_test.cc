// config.json parsing: the published configs of Llama-2-7B and Llama-3.1-8B
// give the right fields and parameter counts, and every malformed or
// unsupported config is an INVALID_ARGUMENT naming the field.
#include "common/model_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/unit/support/model_config_parse.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ExpectInvalid;
using testing::MustParse;

// meta-llama/Llama-2-7b-hf config.json.
constexpr char kLlama2_7B[] = R"({
  "architectures": ["LlamaForCausalLM"],
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 11008,
  "max_position_embeddings": 4096,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 32,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "tie_word_embeddings": false,
  "torch_dtype": "float16",
  "transformers_version": "4.31.0.dev0",
  "use_cache": true,
  "vocab_size": 32000
})";

// meta-llama/Llama-3.1-8B-Instruct config.json.
constexpr char kLlama31_8B[] = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009],
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3"
  },
  "rope_theta": 500000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3",
  "use_cache": true,
  "vocab_size": 128256
})";

// meta-llama/Llama-3.2-1B config.json (tied embeddings, explicit head_dim).
constexpr char kLlama32_1B[] = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": 128001,
  "head_dim": 64,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 8192,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 16,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {
    "factor": 32.0,
    "high_freq_factor": 4.0,
    "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3"
  },
  "rope_theta": 500000.0,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0",
  "use_cache": true,
  "vocab_size": 128256
})";

// Llama-2-7B's config with `edit` applied.
std::string Edited(const std::function<void(json&)>& edit, const char* base = kLlama2_7B) {
  json config = json::parse(base);
  edit(config);
  return config.dump();
}

TEST(ModelConfigTest, Llama2_7B) {
  const ModelConfig c = MustParse(kLlama2_7B);
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 11008);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 32);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.q_dim(), 4096);
  EXPECT_EQ(c.kv_dim(), 4096);
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);  // absent: the default
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kNone);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{2}));
  EXPECT_EQ(c.torch_dtype, "float16");
}

TEST(ModelConfigTest, Llama31_8B) {
  const ModelConfig c = MustParse(kLlama31_8B);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 14336);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);  // absent: hidden_size / num_attention_heads
  EXPECT_EQ(c.q_dim(), 4096);
  EXPECT_EQ(c.kv_dim(), 1024);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(ModelConfigTest, Llama32_1B) {
  const ModelConfig c = MustParse(kLlama32_1B);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.kv_dim(), 512);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001}));
}

TEST(ModelConfigTest, ParameterCountsMatchPublishedOnes) {
  EXPECT_EQ(MustParse(kLlama2_7B).ParameterCount(), uint64_t{6'738'415'616});
  EXPECT_EQ(MustParse(kLlama31_8B).ParameterCount(), uint64_t{8'030'261'248});
  // Tied embeddings count once.
  EXPECT_EQ(MustParse(kLlama32_1B).ParameterCount(), uint64_t{1'235'814'400});
}

TEST(ModelConfigTest, ExplicitHeadDim) {
  // head_dim need not be hidden_size / heads (e.g. Mistral-Nemo-style shapes).
  const ModelConfig c = MustParse(Edited([](json& j) {
    j["hidden_size"] = 5120;
    j["num_attention_heads"] = 32;
    j["num_key_value_heads"] = 8;
    j["head_dim"] = 128;
  }));
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.q_dim(), 4096);
  EXPECT_EQ(c.kv_dim(), 1024);
  // With head_dim given, hidden_size need not divide by the head count.
  EXPECT_EQ(MustParse(Edited([](json& j) {
              j["hidden_size"] = 4100;
              j["head_dim"] = 128;
            })).head_dim,
            128);
}

TEST(ModelConfigTest, KvHeadsDefaultToHeads) {
  const ModelConfig c = MustParse(Edited([](json& j) { j.erase("num_key_value_heads"); }));
  EXPECT_EQ(c.num_key_value_heads, 32);
}

TEST(ModelConfigTest, LinearRopeScaling) {
  ModelConfig c = MustParse(Edited([](json& j) { j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 4.0}}; }));
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);
  // Older configs spell it "type".
  c = MustParse(Edited([](json& j) { j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}}; }));
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 2.0);
  c = MustParse(Edited([](json& j) { j["rope_scaling"] = {{"rope_type", "default"}}; }));
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kNone);
}

TEST(ModelConfigTest, EosTokenForms) {
  EXPECT_TRUE(MustParse(Edited([](json& j) { j.erase("eos_token_id"); })).eos_token_ids.empty());
  EXPECT_TRUE(MustParse(Edited([](json& j) { j["eos_token_id"] = nullptr; })).eos_token_ids.empty());
  ExpectInvalid(Edited([](json& j) { j["eos_token_id"] = "2"; }), {"eos_token_id"});
  ExpectInvalid(Edited([](json& j) { j["eos_token_id"] = {2, "x"}; }), {"eos_token_id"});
}

TEST(ModelConfigTest, NotJson) {
  ExpectInvalid("{\"architectures\": [", {"not valid JSON"});
  ExpectInvalid("", {"JSON"});
  ExpectInvalid("[1, 2, 3]", {"object"});
}

TEST(ModelConfigTest, MissingArchitectures) {
  ExpectInvalid(Edited([](json& j) { j.erase("architectures"); }), {"architectures"});
  ExpectInvalid(Edited([](json& j) { j["architectures"] = json::array(); }), {"architectures"});
  ExpectInvalid(Edited([](json& j) { j["architectures"] = "LlamaForCausalLM"; }), {"architectures"});
}

TEST(ModelConfigTest, UnsupportedArchitectureIsNamed) {
  ExpectInvalid(Edited([](json& j) { j["architectures"] = {"GemmaForCausalLM"}; }),
                {"unsupported architecture", "GemmaForCausalLM"});
  ExpectInvalid(Edited([](json& j) { j["architectures"] = {"MixtralForCausalLM"}; }), {"MixtralForCausalLM"});
  ExpectInvalid(Edited([](json& j) { j["architectures"] = {"LlamaForCausalLM", "MistralForCausalLM"}; }),
                {"architectures"});
  ExpectInvalid(Edited([](json& j) { j["model_type"] = "mistral"; }), {"model_type", "mistral"});
}

TEST(ModelConfigTest, MissingRequiredFieldIsNamed) {
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "vocab_size", "max_position_embeddings"}) {
    SCOPED_TRACE(key);
    ExpectInvalid(Edited([&](json& j) { j.erase(key); }), {"missing", key});
    ExpectInvalid(Edited([&](json& j) { j[key] = nullptr; }), {"missing", key});
  }
}

TEST(ModelConfigTest, NonPositiveOrNonIntegerValuesAreNamed) {
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads", "vocab_size", "max_position_embeddings"}) {
    SCOPED_TRACE(key);
    ExpectInvalid(Edited([&](json& j) { j[key] = 0; }), {key, "positive integer"});
    ExpectInvalid(Edited([&](json& j) { j[key] = -8; }), {key, "positive integer", "-8"});
    ExpectInvalid(Edited([&](json& j) { j[key] = 32.5; }), {key, "positive integer"});
    ExpectInvalid(Edited([&](json& j) { j[key] = "32"; }), {key, "positive integer"});
  }
  ExpectInvalid(Edited([](json& j) { j["head_dim"] = 0; }), {"head_dim", "positive integer"});
  ExpectInvalid(Edited([](json& j) { j["head_dim"] = -128; }), {"head_dim"});
}

TEST(ModelConfigTest, InconsistentShapes) {
  ExpectInvalid(Edited([](json& j) { j["num_key_value_heads"] = 5; }),
                {"num_attention_heads", "num_key_value_heads"});
  ExpectInvalid(Edited([](json& j) { j["num_key_value_heads"] = 64; }),
                {"num_attention_heads", "num_key_value_heads"});
  ExpectInvalid(Edited([](json& j) { j["hidden_size"] = 4100; }), {"hidden_size", "num_attention_heads"});
  ExpectInvalid(Edited([](json& j) { j["head_dim"] = 127; }), {"head_dim", "even"});
}

TEST(ModelConfigTest, BadNumbers) {
  ExpectInvalid(Edited([](json& j) { j["rope_theta"] = 0; }), {"rope_theta"});
  ExpectInvalid(Edited([](json& j) { j["rope_theta"] = -10000.0; }), {"rope_theta"});
  ExpectInvalid(Edited([](json& j) { j["rope_theta"] = "10000"; }), {"rope_theta"});
  ExpectInvalid(Edited([](json& j) { j["rms_norm_eps"] = "1e-5"; }), {"rms_norm_eps"});
  ExpectInvalid(Edited([](json& j) { j["tie_word_embeddings"] = 1; }), {"tie_word_embeddings"});
}

TEST(ModelConfigTest, UnsupportedRopeScalingTypeIsNamed) {
  ExpectInvalid(Edited([](json& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; }),
                {"rope_scaling", "yarn"});
  ExpectInvalid(Edited([](json& j) { j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}}; }),
                {"rope_scaling", "dynamic"});
  ExpectInvalid(Edited([](json& j) { j["rope_scaling"] = 8; }), {"rope_scaling"});
}

TEST(ModelConfigTest, BadRopeScalingValues) {
  ExpectInvalid(Edited([](json& j) { j["rope_scaling"]["factor"] = "8"; }, kLlama31_8B),
                {"rope_scaling.factor"});
  ExpectInvalid(Edited([](json& j) { j["rope_scaling"]["factor"] = 0; }, kLlama31_8B), {"factor"});
  ExpectInvalid(Edited([](json& j) { j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", -2.0}}; }),
                {"factor"});
  ExpectInvalid(Edited([](json& j) { j["rope_scaling"]["low_freq_factor"] = 4.0; }, kLlama31_8B),
                {"low_freq_factor", "high_freq_factor"});
}

TEST(ModelConfigTest, HiddenActOtherThanSilu) {
  ExpectInvalid(Edited([](json& j) { j["hidden_act"] = "gelu"; }), {"hidden_act", "gelu"});
  ExpectInvalid(Edited([](json& j) { j["hidden_act"] = "relu"; }), {"hidden_act", "relu"});
}

TEST(ModelConfigTest, LlamaBiases) {
  ModelConfig c = MustParse(Edited([](json& j) { j["attention_bias"] = true; }));
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_FALSE(c.qk_norm);
  // HF's num_parameters(): q, k, v, o biases of 4096 each per layer.
  EXPECT_EQ(c.ParameterCount(), uint64_t{6'738'415'616} + 32 * 4 * 4096);
  c = MustParse(Edited([](json& j) { j["mlp_bias"] = true; }));
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_TRUE(c.mlp_bias);
  EXPECT_EQ(c.ParameterCount(), uint64_t{6'738'415'616} + 32 * (2 * 11008 + 4096));
  ExpectInvalid(Edited([](json& j) { j["attention_bias"] = "yes"; }), {"attention_bias"});
}

// Fail closed: a key Djinn does not know is refused by name, and so is a
// known one it does not implement; harmless ones are accepted.
TEST(ModelConfigTest, UnknownKeysAreRefusedByName) {
  ExpectInvalid(Edited([](json& j) { j["some_future_key"] = {1, 2, 3}; }), {"unknown key", "some_future_key"});
  ExpectInvalid(Edited([](json& j) { j["embedding_multiplier"] = 12.0; }), {"embedding_multiplier"});
  ExpectInvalid(Edited([](json& j) { j["quantization_config"] = {{"bits", 4}}; }), {"quantization_config"});
  ExpectInvalid(Edited([](json& j) { j["partial_rotary_factor"] = 0.5; }), {"partial_rotary_factor"});
  ExpectInvalid(Edited([](json& j) { j["is_encoder_decoder"] = true; }), {"is_encoder_decoder"});
  // Llama has no sliding window: HF would ignore it, Djinn refuses it.
  ExpectInvalid(Edited([](json& j) { j["sliding_window"] = 4096; }), {"sliding_window"});
  // Refused keys in their "off" form are fine.
  EXPECT_EQ(MustParse(Edited([](json& j) {
              j["quantization_config"] = nullptr;
              j["is_encoder_decoder"] = false;
            })).hidden_size,
            4096);
}

TEST(ModelConfigTest, HarmlessKeysAreIgnored) {
  const ModelConfig c = MustParse(Edited([](json& j) {
    j["_name_or_path"] = "meta-llama/Llama-2-7b-hf";
    j["pad_token_id"] = 0;
    j["output_attentions"] = false;
    j["attention_dropout"] = 0.1;
    j["temperature"] = 0.6;
    j["top_p"] = 0.9;
    j["max_length"] = 4096;
    j["id2label"] = {{"0", "LABEL_0"}};
  }));
  EXPECT_EQ(c.hidden_size, 4096);
}

TEST(ModelConfigTest, LoadFromDirectory) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("model_config_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  absl::StatusOr<ModelConfig> missing = LoadModelConfig(dir.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("config.json"), std::string::npos) << missing.status();

  std::ofstream(dir / "config.json") << kLlama31_8B;
  absl::StatusOr<ModelConfig> config = LoadModelConfig(dir.string());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->vocab_size, 128256);
  EXPECT_EQ(config->ParameterCount(), uint64_t{8'030'261'248});

  std::ofstream(dir / "config.json", std::ios::trunc) << "{ not json";
  config = LoadModelConfig(dir.string());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace djinn
