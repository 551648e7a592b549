// Preset shapes, their tensor lists and how the big ones shard.
#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "common/testmodel/llama_layout.h"
#include "common/testmodel/presets.h"
#include "common/testmodel/shard_plan.h"
#include "common/testmodel/test_model.h"
#include "gtest/gtest.h"

namespace djinn::testmodel {
namespace {

uint64_t Elements(const LlamaTensor& t) {
  uint64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
}

std::vector<uint64_t> TensorBytes(const ModelPreset& p, TensorDType dtype) {
  std::vector<uint64_t> bytes;
  for (const LlamaTensor& t : LlamaTensors(p)) bytes.push_back(Elements(t) * DTypeSize(dtype));
  return bytes;
}

uint64_t Sum(const std::vector<uint64_t>& v) { return std::accumulate(v.begin(), v.end(), 0ull); }

TEST(PresetsTest, NamesAreFindable) {
  const std::vector<std::string> names = PresetNames();
  for (const char* expected : {"tiny", "tiny-gqa", "tiny-tied", "tiny-sharded", "tiny-deep", "tiny-deep-50",
                               "small-deep-50", "llama-1b", "llama2-13b"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  for (const std::string& name : names) {
    const absl::StatusOr<ModelPreset> p = FindPreset(name);
    ASSERT_TRUE(p.ok()) << name;
    EXPECT_EQ(p->name, name);
    EXPECT_EQ(p->num_attention_heads % p->num_key_value_heads, 0) << name;
    // Qwen3 gives head_dim explicitly, and the tiny one differs on purpose.
    if (p->architecture != "Qwen3ForCausalLM") EXPECT_EQ(p->num_attention_heads * p->head_dim, p->hidden_size) << name;
  }
  EXPECT_EQ(FindPreset("nope").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PresetsTest, BigPresetSizes) {
  const ModelPreset l1b = *FindPreset("llama-1b");
  EXPECT_EQ(l1b.default_dtype, TensorDType::kBF16);
  const uint64_t params_1b = Sum(TensorBytes(l1b, TensorDType::kBF16)) / 2;
  EXPECT_NEAR(params_1b / 1e9, 1.04, 0.01);
  EXPECT_EQ(PlanShards(TensorBytes(l1b, TensorDType::kBF16), l1b.max_shard_bytes).file_names,
            std::vector<std::string>{"model.safetensors"});

  const ModelPreset l13b = *FindPreset("llama2-13b");
  EXPECT_EQ(l13b.default_dtype, TensorDType::kF16);
  const std::vector<uint64_t> bytes = TensorBytes(l13b, TensorDType::kF16);
  EXPECT_NEAR(Sum(bytes) / 1e9, 26.03, 0.01);  // 13.016 B parameters
  const ShardPlan plan = PlanShards(bytes, l13b.max_shard_bytes);
  ASSERT_EQ(plan.file_names.size(), 6u);
  EXPECT_EQ(plan.file_names[0], "model-00001-of-00006.safetensors");
  std::vector<uint64_t> per_shard(6, 0);
  for (size_t i = 0; i < bytes.size(); ++i) per_shard[plan.shard_of[i]] += bytes[i];
  for (uint64_t b : per_shard) EXPECT_LE(b, l13b.max_shard_bytes);
}

// 50 layers: the fewest at which 10% of them (5) is more than the ring's 4
// slots, so that a plan can stream exactly 10%, 50% and 90% of the layers.
TEST(PresetsTest, DeepPresetSizes) {
  const ModelPreset tiny = *FindPreset("tiny-deep-50");
  EXPECT_EQ(tiny.num_hidden_layers, 50);
  EXPECT_EQ(tiny.default_dtype, TensorDType::kF32);
  EXPECT_EQ(Sum(TensorBytes(tiny, TensorDType::kF32)), 10'169'600u);

  const ModelPreset small = *FindPreset("small-deep-50");
  EXPECT_EQ(small.num_hidden_layers, 50);
  EXPECT_EQ(small.default_dtype, TensorDType::kBF16);
  const std::vector<uint64_t> bytes = TensorBytes(small, TensorDType::kBF16);
  EXPECT_NEAR(Sum(bytes) / 1e6, 367.1, 0.1);
  uint64_t layer0 = 0;
  for (const LlamaTensor& t : LlamaTensors(small)) {
    if (t.name.rfind("model.layers.0.", 0) == 0) layer0 += Elements(t) * 2;
  }
  EXPECT_NEAR(layer0 / 1e6, 6.03, 0.01);
  EXPECT_EQ(PlanShards(bytes, small.max_shard_bytes).file_names, std::vector<std::string>{"model.safetensors"});
}

TEST(PresetsTest, TiedPresetsHaveNoLmHead) {
  for (const std::string& name : PresetNames()) {
    const ModelPreset p = *FindPreset(name);
    const std::vector<LlamaTensor> tensors = LlamaTensors(p);
    const bool has_lm_head =
        std::any_of(tensors.begin(), tensors.end(),
                    [](const LlamaTensor& t) { return t.name == "lm_head.weight"; });
    EXPECT_EQ(has_lm_head, !p.tie_word_embeddings) << name;
    const size_t per_layer = 9 + (HasQkvBias(p) ? 3 : 0) + (HasOBias(p) ? 1 : 0) + (HasQkNorm(p) ? 2 : 0) +
                             (p.mlp_bias ? 3 : 0);
    EXPECT_EQ(tensors.size(), 2 + per_layer * p.num_hidden_layers + (has_lm_head ? 1 : 0)) << name;
  }
}

// The architecture presets: the extra tensors each has, by name and shape.
TEST(PresetsTest, ArchitecturePresetsHaveTheirExtraTensors) {
  auto shape_of = [](const std::vector<LlamaTensor>& tensors, const std::string& name) {
    for (const LlamaTensor& t : tensors) {
      if (t.name == name) return t.shape;
    }
    return std::vector<int64_t>{};
  };
  const std::string l = "model.layers.5.";
  const std::vector<LlamaTensor> qwen2 = LlamaTensors(*FindPreset("tiny-qwen2"));
  EXPECT_EQ(shape_of(qwen2, l + "self_attn.q_proj.bias"), std::vector<int64_t>{96});
  EXPECT_EQ(shape_of(qwen2, l + "self_attn.k_proj.bias"), std::vector<int64_t>{32});
  EXPECT_EQ(shape_of(qwen2, l + "self_attn.v_proj.bias"), std::vector<int64_t>{32});
  EXPECT_TRUE(shape_of(qwen2, l + "self_attn.o_proj.bias").empty());  // Qwen2's o_proj has none
  const std::vector<LlamaTensor> qwen3 = LlamaTensors(*FindPreset("tiny-qwen3"));
  EXPECT_EQ(shape_of(qwen3, l + "self_attn.q_norm.weight"), std::vector<int64_t>{32});
  EXPECT_EQ(shape_of(qwen3, l + "self_attn.k_norm.weight"), std::vector<int64_t>{32});
  EXPECT_EQ(shape_of(qwen3, l + "self_attn.q_proj.weight"), (std::vector<int64_t>{128, 64}));
  EXPECT_TRUE(shape_of(qwen3, l + "self_attn.q_proj.bias").empty());
  const std::vector<LlamaTensor> bias = LlamaTensors(*FindPreset("tiny-llama-bias"));
  EXPECT_EQ(shape_of(bias, l + "self_attn.o_proj.bias"), std::vector<int64_t>{96});
  EXPECT_EQ(shape_of(bias, l + "mlp.gate_proj.bias"), std::vector<int64_t>{192});
  EXPECT_EQ(shape_of(bias, l + "mlp.down_proj.bias"), std::vector<int64_t>{96});
  const std::vector<LlamaTensor> mistral = LlamaTensors(*FindPreset("tiny-mistral"));
  EXPECT_EQ(mistral.size(), 3 + 9 * 6u);  // Llama's tensors exactly
}

// Their config.json is in the transformers 5 layout.
TEST(PresetsTest, ArchitecturePresetsWriteTheTransformers5Layout) {
  for (const char* name : {"tiny-mistral", "tiny-qwen2", "tiny-qwen3", "tiny-llama-bias"}) {
    SCOPED_TRACE(name);
    const ModelPreset p = *FindPreset(name);
    const nlohmann::json config = HfConfigJson(p, TensorDType::kF32);
    EXPECT_EQ(config["architectures"][0], p.architecture);
    EXPECT_FALSE(config.contains("rope_theta"));
    EXPECT_FALSE(config.contains("rope_scaling"));
    EXPECT_FALSE(config.contains("torch_dtype"));
    EXPECT_EQ(config["dtype"], "float32");
    EXPECT_EQ(config["rope_parameters"]["rope_theta"], p.rope_theta);
  }
  EXPECT_EQ(HfConfigJson(*FindPreset("tiny-llama-bias"), TensorDType::kF32)["rope_parameters"]["rope_type"], "llama3");
  EXPECT_EQ(HfConfigJson(*FindPreset("tiny-qwen3"), TensorDType::kF32)["layer_types"].size(), 6u);
  // The Llama presets keep the 4.x layout.
  EXPECT_EQ(HfConfigJson(*FindPreset("tiny-gqa"), TensorDType::kF32)["rope_theta"], 500000.0);
}

TEST(PresetsTest, TinyInitKeepsUnitScale) {
  const ModelPreset tiny = *FindPreset("tiny");
  for (const LlamaTensor& t : LlamaTensors(tiny)) {
    if (t.shape.size() == 1) {
      EXPECT_EQ(t.init.mean, 1.0) << t.name;  // norms: 1 + 0.1 N(0, 1)
      EXPECT_EQ(t.init.stddev, 0.1) << t.name;
    } else if (t.name == "model.embed_tokens.weight") {
      EXPECT_EQ(t.init.stddev, 1.0);
    } else {
      EXPECT_DOUBLE_EQ(t.init.stddev * t.init.stddev * t.shape[1], 1.0) << t.name;
    }
  }
  const ModelPreset big = *FindPreset("llama2-13b");
  for (const LlamaTensor& t : LlamaTensors(big)) {
    if (t.shape.size() == 2) {
      EXPECT_EQ(t.init.stddev, 0.02) << t.name;
    }
  }
}

TEST(ShardPlanTest, GreedyInModuleOrder) {
  const ShardPlan plan = PlanShards({4, 4, 4, 10, 1, 1}, 8);
  EXPECT_EQ(plan.shard_of, (std::vector<size_t>{0, 0, 1, 2, 3, 3}));
  EXPECT_EQ(plan.file_names,
            (std::vector<std::string>{
                "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"}));
}

TEST(ShardPlanTest, UnlimitedOrLargeEnoughIsOneFile) {
  EXPECT_EQ(PlanShards({4, 4}, 0).file_names, std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(PlanShards({4, 4}, 8).file_names, std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(PlanShards({4, 4}, 8).shard_of, (std::vector<size_t>{0, 0}));
}

TEST(ShardPlanTest, IndexJson) {
  const ShardPlan plan = PlanShards({4, 4, 4}, 8);
  const nlohmann::json index = ShardIndexJson({"a", "b", "c"}, {4, 4, 4}, plan);
  EXPECT_EQ(index["metadata"]["total_size"], 12);
  EXPECT_EQ(index["weight_map"]["a"], "model-00001-of-00002.safetensors");
  EXPECT_EQ(index["weight_map"]["c"], "model-00002-of-00002.safetensors");
}

TEST(DTypeTest, ParsesTorchNamesOnly) {
  EXPECT_EQ(*ParseTorchDType("float32"), TensorDType::kF32);
  EXPECT_EQ(*ParseTorchDType("float16"), TensorDType::kF16);
  EXPECT_EQ(*ParseTorchDType("bfloat16"), TensorDType::kBF16);
  EXPECT_EQ(ParseTorchDType("bf16").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTorchDType("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace djinn::testmodel
