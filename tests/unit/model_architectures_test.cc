// The architectures beyond plain Llama on the CPU backend, each from a test
// model in the transformers 5 layout (tiny-mistral, tiny-qwen2 with q/k/v
// biases, tiny-qwen3 with per-head q/k norms, tiny-llama-bias with q/k/v/o and
// MLP biases):
//  - the logits equal, to fp32 rounding, a double-precision forward pass
//    written here from transformers' modeling files (biases after their
//    products, Qwen3's norms after the projection and before RoPE);
//  - streaming some layers through the ring gives the all-resident logits and
//    greedy tokens bit for bit;
//  - checkpoints that do not match their config (a bias too many or too few,
//    a tensor no architecture has) and Mistral windows shorter than the
//    context are refused by name.
// tests/unit/hf_models_test.cc checks the same against transformers itself,
// on checkpoints transformers wrote.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/host_convert.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "common/testmodel/safetensors_writer.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/engine/model_loader.h"
#include "daemon/engine/model_runner.h"
#include "daemon/engine/rope.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/unit/support/arena_budget.h"
#include "tests/unit/support/runner_output.h"
#include "tests/unit/support/test_model_dir.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kArenaBytes = 64ull << 20;
const std::vector<std::string> kPresets = {"tiny-mistral", "tiny-qwen2", "tiny-qwen3", "tiny-llama-bias"};
const std::vector<int32_t> kPrompt = {1, 17, 99, 5, 42, 7, 300, 12, 8, 250, 3, 77, 401, 64, 2, 511};

struct Budget : testing::ArenaBudget<CpuBackend> {
  explicit Budget(uint64_t bytes = kArenaBytes) : ArenaBudget(bytes, 2) {}
};

fs::path Root() {
  static const fs::path root = testing::ProcessTempDir("model_architectures_test");
  return root;
}

// The preset written once per process (seed 5, float32).
fs::path ModelDir(const std::string& preset) {
  const fs::path dir = Root() / preset;
  if (!fs::exists(dir / "config.json")) testing::WriteTestModelOrFail(preset, /*seed=*/5, dir);
  return dir;
}

// A copy of the preset's directory with config.json edited.
fs::path EditedCopy(const std::string& preset, const std::string& name, const std::function<void(json&)>& edit) {
  const fs::path source = ModelDir(preset), dir = Root() / name;
  fs::remove_all(dir);
  fs::copy(source, dir);
  json config = json::parse(std::ifstream(dir / "config.json"));
  edit(config);
  std::ofstream(dir / "config.json", std::ios::trunc) << config.dump(2);
  return dir;
}

absl::StatusOr<std::unique_ptr<LoadedWeights>> Load(Budget& budget, const fs::path& dir, LoadSettings settings = {}) {
  if (settings.max_sequences == 0) settings.max_sequences = 2;
  return LoadModel(dir.string(), settings, &budget.backend, budget.arena.get());
}

std::vector<float> Logits(ModelRunner& runner) { return testing::ScoredLogits(runner, kPrompt); }

std::vector<int32_t> Greedy(ModelRunner& runner, uint32_t tokens) {
  return testing::GreedyTokens(runner, kPrompt, tokens);
}

// ------------------------------------------------------------ the reference

// The checkpoint's tensors in double.
class Weights {
 public:
  explicit Weights(const fs::path& dir) {
    absl::StatusOr<std::unique_ptr<SafetensorsModel>> files = SafetensorsModel::Open(dir.string());
    EXPECT_TRUE(files.ok()) << files.status();
    files_ = *std::move(files);
  }
  bool Has(const std::string& name) const { return files_->Find(name) != nullptr; }
  const std::vector<double>& operator[](const std::string& name) {
    auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
    const TensorInfo* info = files_->Find(name);
    EXPECT_NE(info, nullptr) << name;
    std::vector<float> floats(info->elements());
    ConvertHost(files_->Data(*info).data(), info->dtype, reinterpret_cast<std::byte*>(floats.data()), DType::kFloat32,
                info->elements());
    return cache_[name] = std::vector<double>(floats.begin(), floats.end());
  }

 private:
  std::unique_ptr<SafetensorsModel> files_;
  std::map<std::string, std::vector<double>> cache_;
};

using Rows = std::vector<std::vector<double>>;

// y = W x (+ b): W [out, in] as HF stores it.
std::vector<double> Linear(const std::vector<double>& w, const std::vector<double>* b, const std::vector<double>& x) {
  const size_t in = x.size(), out = w.size() / in;
  std::vector<double> y(out);
  for (size_t o = 0; o < out; ++o) {
    double sum = 0;
    for (size_t i = 0; i < in; ++i) sum += w[o * in + i] * x[i];
    y[o] = sum + (b != nullptr ? (*b)[o] : 0.0);
  }
  return y;
}

// RMSNorm of x[first, first + n) in place.
void Norm(std::vector<double>& x, size_t first, size_t n, const std::vector<double>& w, double eps) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += x[first + i] * x[first + i];
  const double scale = 1.0 / std::sqrt(sum / n + eps);
  for (size_t i = 0; i < n; ++i) x[first + i] = w[i] * x[first + i] * scale;
}

// rotate_half RoPE of every head of x at `position`.
void Rotate(std::vector<double>& x, int64_t head_dim, int64_t position, const std::vector<float>& inv_freq) {
  const int64_t half = head_dim / 2;
  for (size_t h = 0; h < x.size() / head_dim; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(position) * inv_freq[i];
      double& a = x[h * head_dim + i];
      double& b = x[h * head_dim + i + half];
      const double a0 = a, b0 = b;
      a = a0 * std::cos(angle) - b0 * std::sin(angle);
      b = b0 * std::cos(angle) + a0 * std::sin(angle);
    }
  }
}

// Every position's logits, the way modeling_{llama,mistral,qwen2,qwen3}.py
// compute them.
Rows ReferenceLogits(const ModelConfig& c, Weights& w, const std::vector<int32_t>& tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size()), hidden = c.hidden_size, d = c.head_dim;
  const int64_t group = c.num_attention_heads / c.num_key_value_heads;
  const std::vector<float> inv_freq = RopeInverseFrequencies(c);
  auto bias = [&](const std::string& name) { return w.Has(name) ? &w[name] : nullptr; };
  Rows x(n);
  const std::vector<double>& embed = w["model.embed_tokens.weight"];
  for (int64_t t = 0; t < n; ++t) {
    x[t].assign(embed.begin() + tokens[t] * hidden, embed.begin() + (tokens[t] + 1) * hidden);
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    Rows q(n), k(n), v(n);
    for (int64_t t = 0; t < n; ++t) {
      std::vector<double> h = x[t];
      Norm(h, 0, hidden, w[p + "input_layernorm.weight"], c.rms_norm_eps);
      q[t] = Linear(w[p + "self_attn.q_proj.weight"], bias(p + "self_attn.q_proj.bias"), h);
      k[t] = Linear(w[p + "self_attn.k_proj.weight"], bias(p + "self_attn.k_proj.bias"), h);
      v[t] = Linear(w[p + "self_attn.v_proj.weight"], bias(p + "self_attn.v_proj.bias"), h);
      if (c.qk_norm) {  // Qwen3: per head, after the projection, before RoPE
        for (int64_t head = 0; head < c.num_attention_heads; ++head) {
          Norm(q[t], head * d, d, w[p + "self_attn.q_norm.weight"], c.rms_norm_eps);
        }
        for (int64_t head = 0; head < c.num_key_value_heads; ++head) {
          Norm(k[t], head * d, d, w[p + "self_attn.k_norm.weight"], c.rms_norm_eps);
        }
      }
      Rotate(q[t], d, t, inv_freq);
      Rotate(k[t], d, t, inv_freq);
    }
    for (int64_t t = 0; t < n; ++t) {
      std::vector<double> attention(c.q_dim(), 0.0);
      for (int64_t head = 0; head < c.num_attention_heads; ++head) {
        const int64_t kv_head = head / group;
        std::vector<double> scores(t + 1);
        double max = -INFINITY;
        for (int64_t s = 0; s <= t; ++s) {
          double dot = 0;
          for (int64_t i = 0; i < d; ++i) dot += q[t][head * d + i] * k[s][kv_head * d + i];
          scores[s] = dot / std::sqrt(static_cast<double>(d));
          max = std::max(max, scores[s]);
        }
        double total = 0;
        for (double& s : scores) total += (s = std::exp(s - max));
        for (int64_t s = 0; s <= t; ++s) {
          for (int64_t i = 0; i < d; ++i) attention[head * d + i] += scores[s] / total * v[s][kv_head * d + i];
        }
      }
      const std::vector<double> o =
          Linear(w[p + "self_attn.o_proj.weight"], bias(p + "self_attn.o_proj.bias"), attention);
      for (int64_t i = 0; i < hidden; ++i) x[t][i] += o[i];
      std::vector<double> h = x[t];
      Norm(h, 0, hidden, w[p + "post_attention_layernorm.weight"], c.rms_norm_eps);
      const std::vector<double> gate = Linear(w[p + "mlp.gate_proj.weight"], bias(p + "mlp.gate_proj.bias"), h);
      const std::vector<double> up = Linear(w[p + "mlp.up_proj.weight"], bias(p + "mlp.up_proj.bias"), h);
      std::vector<double> act(gate.size());
      for (size_t i = 0; i < act.size(); ++i) act[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      const std::vector<double> down = Linear(w[p + "mlp.down_proj.weight"], bias(p + "mlp.down_proj.bias"), act);
      for (int64_t i = 0; i < hidden; ++i) x[t][i] += down[i];
    }
  }
  const std::vector<double>& head = c.tie_word_embeddings ? embed : w["lm_head.weight"];
  Rows logits(n);
  for (int64_t t = 0; t < n; ++t) {
    Norm(x[t], 0, hidden, w["model.norm.weight"], c.rms_norm_eps);
    logits[t] = Linear(head, nullptr, x[t]);
  }
  return logits;
}

TEST(ModelArchitecturesTest, LogitsMatchADoublePrecisionForwardPass) {
  for (const std::string& preset : kPresets) {
    SCOPED_TRACE(preset);
    const fs::path dir = ModelDir(preset);
    Budget budget;
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ModelConfig config = (*loaded)->config;
    ModelRunner runner(*std::move(loaded));
    const std::vector<float> logits = Logits(runner);
    Weights weights(dir);
    const Rows reference = ReferenceLogits(config, weights, kPrompt);
    ASSERT_EQ(logits.size(), kPrompt.size() * config.vocab_size);
    double worst = 0;
    for (size_t t = 0; t < kPrompt.size(); ++t) {
      double scale = 0;
      for (double r : reference[t]) scale = std::max(scale, std::abs(r));
      for (int64_t i = 0; i < config.vocab_size; ++i) {
        worst = std::max(worst, std::abs(logits[t * config.vocab_size + i] - reference[t][i]) / scale);
      }
    }
    // fp32 against double, relative to the largest logit of the row.
    EXPECT_LT(worst, 1e-4);
  }
}

// What the reference checks depends on: Qwen3's norms move the logits, and
// the writer's biases are not HF's zeros (so a dropped bias would show).
TEST(ModelArchitecturesTest, EachArchitecturesExtraPartMatters) {
  Weights qwen3(ModelDir("tiny-qwen3"));
  absl::StatusOr<ModelConfig> config = LoadModelConfig(ModelDir("tiny-qwen3").string());
  ASSERT_TRUE(config.ok()) << config.status();
  const Rows normed = ReferenceLogits(*config, qwen3, kPrompt);
  ModelConfig plain = *config;
  plain.qk_norm = false;
  const Rows unnormed = ReferenceLogits(plain, qwen3, kPrompt);
  double moved = 0;
  for (size_t i = 0; i < normed.back().size(); ++i) {
    moved = std::max(moved, std::abs(normed.back()[i] - unnormed.back()[i]));
  }
  EXPECT_GT(moved, 0.1);
  for (const auto& [preset, name] : std::vector<std::pair<std::string, std::string>>{
           {"tiny-qwen2", "model.layers.0.self_attn.k_proj.bias"},
           {"tiny-llama-bias", "model.layers.3.self_attn.o_proj.bias"},
           {"tiny-llama-bias", "model.layers.5.mlp.down_proj.bias"}}) {
    Weights weights(ModelDir(preset));
    double largest = 0;
    for (double b : weights[name]) largest = std::max(largest, std::abs(b));
    EXPECT_GT(largest, 0.1) << preset << " " << name;
  }
}

// All resident vs some layers streamed through the ring: bit for bit.
TEST(ModelArchitecturesTest, StreamedLayersGiveTheResidentResults) {
  for (const std::string& preset : kPresets) {
    SCOPED_TRACE(preset);
    const fs::path dir = ModelDir(preset);
    std::vector<float> reference;
    std::vector<int32_t> reference_tokens;
    uint64_t all = 0;
    {
      Budget everything;
      absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(everything, dir);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      ASSERT_EQ((*loaded)->plan.streamed_layers, 0);
      all = (*loaded)->plan.total_bytes();
      ModelRunner runner(*std::move(loaded));
      reference = Logits(runner);
      reference_tokens = Greedy(runner, 12);
    }
    Budget short_one(all - 1);
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(short_one, dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ResidencyPlan plan = (*loaded)->plan;
    EXPECT_GT(plan.streamed_layers, 0);
    EXPECT_GT(plan.resident_layers, 0);
    ModelRunner runner(*std::move(loaded));
    EXPECT_EQ(Logits(runner), reference);  // bit for bit
    EXPECT_EQ(Greedy(runner, 12), reference_tokens);
    EXPECT_GT(runner.ring_counters().passes, 0u);
  }
}

TEST(ModelArchitecturesTest, ReportsTheRealArchitecture) {
  for (const std::string& preset : kPresets) {
    Budget budget;
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, ModelDir(preset));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const json config = json::parse(std::ifstream(ModelDir(preset) / "config.json"));
    EXPECT_EQ((*loaded)->config.architecture, config["architectures"][0]) << preset;
  }
}

void ExpectLoadRefused(const fs::path& dir, const std::vector<std::string>& words, LoadSettings settings = {}) {
  Budget budget;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, dir, settings);
  ASSERT_FALSE(loaded.ok()) << dir;
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << loaded.status();
  for (const std::string& word : words) {
    EXPECT_NE(loaded.status().message().find(word), std::string::npos) << loaded.status() << " lacks " << word;
  }
  EXPECT_EQ(budget.arena->Usage().free(), budget.arena->Usage().capacity);
}

TEST(ModelArchitecturesTest, CheckpointsThatDoNotMatchTheirConfigAreRefused) {
  // Biases the config does not mention would be dropped: refused, named.
  ExpectLoadRefused(EditedCopy("tiny-llama-bias", "no-mlp-bias", [](json& j) { j["mlp_bias"] = false; }),
                    {"_proj.bias", "is not part of"});
  // A Llama reading of a Qwen2 checkpoint.
  ExpectLoadRefused(EditedCopy("tiny-qwen2", "qwen2-as-llama",
                               [](json& j) {
                                 j["architectures"] = {"LlamaForCausalLM"};
                                 j["model_type"] = "llama";
                                 for (const char* key : {"use_sliding_window", "sliding_window", "max_window_layers",
                                                         "layer_types"}) {
                                   j.erase(key);
                                 }
                               }),
                    {"_proj.bias", "is not part of a LlamaForCausalLM"});
  // Biases the config promises but the checkpoint lacks.
  ExpectLoadRefused(EditedCopy("tiny-qwen3", "qwen3-bias", [](json& j) { j["attention_bias"] = true; }),
                    {"missing tensor", "q_proj.bias"});
}

// `preset`'s single model.safetensors rewritten with one more float32
// tensor `extra` of `elements` values (all 0.5).
fs::path WithExtraTensor(const std::string& preset, const std::string& name, const std::string& extra,
                         int64_t elements) {
  const fs::path source = ModelDir(preset), dir = Root() / name;
  fs::remove_all(dir);
  fs::copy(source, dir);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::Open((source / "model.safetensors").string());
  EXPECT_TRUE(file.ok()) << file.status();
  std::vector<testmodel::SafetensorsEntry> entries;
  std::vector<const TensorInfo*> infos;
  for (const auto& [tensor, info] : (*file)->tensors()) {
    EXPECT_EQ(info.dtype, DType::kFloat32) << tensor;
    entries.push_back({tensor, info.shape, testmodel::TensorDType::kF32});
    infos.push_back(&info);
  }
  entries.push_back({extra, {elements}, testmodel::TensorDType::kF32});
  auto fill = [&](size_t tensor, uint64_t first, uint64_t count, uint8_t* out) {
    if (tensor == infos.size()) {
      const std::vector<float> halves(count, 0.5f);
      std::memcpy(out, halves.data(), count * sizeof(float));
      return;
    }
    std::memcpy(out, (*file)->Data(*infos[tensor]).data() + first * sizeof(float), count * sizeof(float));
  };
  const absl::Status written = testmodel::WriteSafetensors((dir / "model.safetensors").string(), entries, fill);
  EXPECT_TRUE(written.ok()) << written;
  return dir;
}

TEST(ModelArchitecturesTest, TensorsTheConfigDoesNotDescribeAreRefused) {
  ExpectLoadRefused(WithExtraTensor("tiny", "extra-tensor", "model.layers.1.mlp.extra_proj.weight", 64),
                    {"model.layers.1.mlp.extra_proj.weight", "is not part of"});
  // Rotary inv_freq buffers are recomputed from the config, as transformers
  // does, and a tied model's stored lm_head is the embedding's copy.
  for (const auto& [preset, extra, elements] : std::vector<std::tuple<std::string, std::string, int64_t>>{
           {"tiny", "model.layers.0.self_attn.rotary_emb.inv_freq", 8}, {"tiny-tied", "lm_head.weight", 512 * 128}}) {
    Budget budget;
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded =
        Load(budget, WithExtraTensor(preset, preset + "-extra", extra, elements));
    EXPECT_TRUE(loaded.ok()) << extra << ": " << loaded.status();
  }
}

TEST(ModelArchitecturesTest, MistralWindowsShorterThanTheContextAreRefused) {
  const fs::path dir = EditedCopy("tiny-mistral", "mistral-window", [](json& j) { j["sliding_window"] = 64; });
  ExpectLoadRefused(dir, {"sliding_window", "64"});
  LoadSettings longer;
  longer.max_context_length = 128;
  ExpectLoadRefused(dir, {"sliding_window"}, longer);
  // Within the window attention is exact: served.
  Budget budget;
  LoadSettings within;
  within.max_context_length = 64;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, dir, within);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->model->context_length(), 64);
  loaded->reset();
  // A cap (djinnd's preloads) shortens the context to the window.
  LoadSettings cap;
  cap.max_context_length = 200;
  cap.context_is_cap = true;
  loaded = Load(budget, dir, cap);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->model->context_length(), 64);
}

}  // namespace
}  // namespace djinn
