// WriteTestModel end to end on the tiny presets: the files a HuggingFace
// loader expects, valid safetensors, determinism, dtypes and sharding.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/float16.h"
#include "common/testmodel/test_model.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace djinn::testmodel {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

nlohmann::json ReadJson(const fs::path& path) { return nlohmann::json::parse(ReadFile(path)); }

struct TensorBytes {
  std::string file;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Every tensor of a model directory (sharded or not), checking each
// safetensors file's framing on the way.
std::map<std::string, TensorBytes> ReadTensors(const fs::path& dir) {
  std::set<std::string> files;
  if (fs::exists(dir / "model.safetensors.index.json")) {
    const nlohmann::json index = ReadJson(dir / "model.safetensors.index.json");
    for (const auto& [name, file] : index["weight_map"].items()) files.insert(file);
  } else {
    files.insert("model.safetensors");
  }
  std::map<std::string, TensorBytes> tensors;
  for (const std::string& file : files) {
    const std::string content = ReadFile(dir / file);
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= uint64_t{static_cast<uint8_t>(content[i])} << (8 * i);
    EXPECT_EQ(n % 8, 0u) << file;
    const nlohmann::json header = nlohmann::json::parse(content.substr(8, n));
    const std::string data = content.substr(8 + n);
    uint64_t expected_begin = 0;
    std::vector<std::pair<uint64_t, std::string>> by_offset;
    for (const auto& [name, h] : header.items()) {
      if (name != "__metadata__") by_offset.push_back({h["data_offsets"][0], name});
    }
    std::sort(by_offset.begin(), by_offset.end());
    for (const auto& [begin, name] : by_offset) {
      const nlohmann::json& h = header[name];
      const uint64_t end = h["data_offsets"][1];
      EXPECT_EQ(begin, expected_begin) << name;  // contiguous
      uint64_t elements = 1;
      for (int64_t d : h["shape"]) elements *= d;
      const uint64_t element_size = h["dtype"] == "F32" ? 4 : 2;
      EXPECT_EQ(end - begin, elements * element_size) << name;
      EXPECT_TRUE(tensors.count(name) == 0) << name << " in two files";
      tensors[name] = {file, h["dtype"], h["shape"].get<std::vector<int64_t>>(),
                       data.substr(begin, end - begin)};
      expected_begin = end;
    }
    EXPECT_EQ(expected_begin, data.size()) << file;
  }
  return tensors;
}

std::vector<std::string> ListDir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class WriteTestModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            ("write_test_model_" + std::string(
                 ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path Write(const std::string& preset, uint64_t seed, const std::string& dtype = "",
                 const std::string& subdir = "") {
    TestModelOptions options;
    options.preset = preset;
    options.seed = seed;
    options.dtype = dtype;
    options.out_dir = (root_ / (subdir.empty() ? preset + "_" + std::to_string(seed) + dtype
                                               : subdir))
                          .string();
    const absl::Status status = WriteTestModel(options);
    EXPECT_TRUE(status.ok()) << status;
    return options.out_dir;
  }

  fs::path root_;
};

std::vector<std::string> ExpectedTensorNames(int layers, bool tied) {
  std::vector<std::string> names = {"model.embed_tokens.weight", "model.norm.weight"};
  if (!tied) names.push_back("lm_head.weight");
  for (int i = 0; i < layers; ++i) {
    for (const char* suffix :
         {"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
          "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
          "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"}) {
      names.push_back("model.layers." + std::to_string(i) + "." + suffix);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(WriteTestModelTest, TinyHasLlama2Layout) {
  const fs::path dir = Write("tiny", 1);
  EXPECT_EQ(ListDir(dir), (std::vector<std::string>{"config.json", "generation_config.json",
                                                     "model.safetensors", "tokenizer.model"}));
  const nlohmann::json config = ReadJson(dir / "config.json");
  EXPECT_EQ(config["architectures"], nlohmann::json({"LlamaForCausalLM"}));
  EXPECT_EQ(config["model_type"], "llama");
  EXPECT_EQ(config["hidden_size"], 64);
  EXPECT_EQ(config["intermediate_size"], 172);
  EXPECT_EQ(config["num_hidden_layers"], 2);
  EXPECT_EQ(config["num_attention_heads"], 4);
  EXPECT_EQ(config["num_key_value_heads"], 4);
  EXPECT_EQ(config["head_dim"], 16);
  EXPECT_EQ(config["vocab_size"], 512);
  EXPECT_EQ(config["max_position_embeddings"], 256);
  EXPECT_EQ(config["rope_theta"], 10000.0);
  EXPECT_EQ(config["rms_norm_eps"], 1e-5);
  EXPECT_TRUE(config["rope_scaling"].is_null());
  EXPECT_EQ(config["tie_word_embeddings"], false);
  EXPECT_EQ(config["torch_dtype"], "float32");
  EXPECT_EQ(config["hidden_act"], "silu");
  EXPECT_EQ(config["attention_bias"], false);
  EXPECT_EQ(config["mlp_bias"], false);
  EXPECT_EQ(config["bos_token_id"], 1);
  EXPECT_EQ(config["eos_token_id"], 2);
  EXPECT_EQ(config["initializer_range"], 0.02);

  const auto tensors = ReadTensors(dir);
  std::vector<std::string> names;
  for (const auto& [name, t] : tensors) names.push_back(name);
  EXPECT_EQ(names, ExpectedTensorNames(2, /*tied=*/false));
  EXPECT_EQ(tensors.at("model.embed_tokens.weight").shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(tensors.at("lm_head.weight").shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(tensors.at("model.layers.1.self_attn.q_proj.weight").shape,
            (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(tensors.at("model.layers.1.mlp.down_proj.weight").shape,
            (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(tensors.at("model.layers.0.mlp.up_proj.weight").shape,
            (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(tensors.at("model.norm.weight").shape, (std::vector<int64_t>{64}));
  for (const auto& [name, t] : tensors) EXPECT_EQ(t.dtype, "F32") << name;

  const nlohmann::json generation = ReadJson(dir / "generation_config.json");
  EXPECT_EQ(generation["bos_token_id"], 1);
  EXPECT_EQ(generation["eos_token_id"], 2);
}

TEST_F(WriteTestModelTest, TinyTiedHasNoOutputHead) {
  const fs::path dir = Write("tiny-tied", 1);
  EXPECT_EQ(ReadJson(dir / "config.json")["tie_word_embeddings"], true);
  const auto tensors = ReadTensors(dir);
  std::vector<std::string> names;
  for (const auto& [name, t] : tensors) names.push_back(name);
  EXPECT_EQ(names, ExpectedTensorNames(2, /*tied=*/true));
}

TEST_F(WriteTestModelTest, TinyGqaHasLlama3Layout) {
  const fs::path dir = Write("tiny-gqa", 1);
  const nlohmann::json config = ReadJson(dir / "config.json");
  EXPECT_EQ(config["hidden_size"], 128);
  EXPECT_EQ(config["num_attention_heads"], 8);
  EXPECT_EQ(config["num_key_value_heads"], 2);
  EXPECT_EQ(config["head_dim"], 16);
  EXPECT_EQ(config["max_position_embeddings"], 512);
  EXPECT_EQ(config["rope_theta"], 500000.0);
  EXPECT_EQ(config["tie_word_embeddings"], false);
  EXPECT_EQ(config["rope_scaling"],
            (nlohmann::json{{"rope_type", "llama3"},
                            {"factor", 8.0},
                            {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0},
                            {"original_max_position_embeddings", 64}}));

  const auto tensors = ReadTensors(dir);
  std::vector<std::string> names;
  for (const auto& [name, t] : tensors) names.push_back(name);
  EXPECT_EQ(names, ExpectedTensorNames(2, /*tied=*/false));
  EXPECT_EQ(tensors.at("model.layers.0.self_attn.q_proj.weight").shape,
            (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(tensors.at("model.layers.0.self_attn.k_proj.weight").shape,
            (std::vector<int64_t>{32, 128}));
  EXPECT_EQ(tensors.at("model.layers.0.self_attn.v_proj.weight").shape,
            (std::vector<int64_t>{32, 128}));
  EXPECT_EQ(tensors.at("model.layers.0.self_attn.o_proj.weight").shape,
            (std::vector<int64_t>{128, 128}));
}

TEST_F(WriteTestModelTest, SameSeedSameBytesOtherSeedOtherWeights) {
  const fs::path a = Write("tiny-gqa", 42, "", "a");
  const fs::path b = Write("tiny-gqa", 42, "", "b");
  const fs::path c = Write("tiny-gqa", 43, "", "c");
  for (const std::string& file : ListDir(a)) {
    EXPECT_TRUE(ReadFile(a / file) == ReadFile(b / file)) << file;
  }
  EXPECT_FALSE(ReadFile(a / "model.safetensors") == ReadFile(c / "model.safetensors"));
  // Only the weights depend on the seed.
  EXPECT_TRUE(ReadFile(a / "config.json") == ReadFile(c / "config.json"));
  EXPECT_TRUE(ReadFile(a / "tokenizer.model") == ReadFile(c / "tokenizer.model"));
  // Every tensor changes with the seed, not just some.
  const auto ta = ReadTensors(a);
  const auto tc = ReadTensors(c);
  for (const auto& [name, t] : ta) EXPECT_FALSE(t.bytes == tc.at(name).bytes) << name;
}

uint64_t Fnv1a(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// Pins the exact bytes of the model the reference fixture was computed from
// (tests/reference/README.md). A failure here means that fixture (and any
// other recorded from these models) is stale: regenerate it, then update
// this value.
TEST_F(WriteTestModelTest, TinySeed1IsPinned) {
  const fs::path dir = Write("tiny", 1);
  EXPECT_EQ(Fnv1a(ReadFile(dir / "model.safetensors")), 0x5f751fdbc0f7f520ull)
      << std::hex << Fnv1a(ReadFile(dir / "model.safetensors"));
}

TEST_F(WriteTestModelTest, HalfPrecisionDtypesRoundTheFloat32Weights) {
  const auto f32 = ReadTensors(Write("tiny", 5));
  const auto f16 = ReadTensors(Write("tiny", 5, "float16"));
  const auto bf16 = ReadTensors(Write("tiny", 5, "bfloat16"));
  EXPECT_EQ(ReadJson(root_ / "tiny_5float16" / "config.json")["torch_dtype"], "float16");
  EXPECT_EQ(ReadJson(root_ / "tiny_5bfloat16" / "config.json")["torch_dtype"], "bfloat16");
  for (const auto& [name, t] : f32) {
    const TensorBytes& h = f16.at(name);
    const TensorBytes& b = bf16.at(name);
    EXPECT_EQ(h.dtype, "F16");
    EXPECT_EQ(b.dtype, "BF16");
    EXPECT_EQ(h.shape, t.shape);
    const size_t n = t.bytes.size() / 4;
    ASSERT_EQ(h.bytes.size(), 2 * n);
    ASSERT_EQ(b.bytes.size(), 2 * n);
    for (size_t i = 0; i < n; ++i) {
      float v;
      uint16_t hv, bv;
      std::memcpy(&v, t.bytes.data() + 4 * i, 4);
      std::memcpy(&hv, h.bytes.data() + 2 * i, 2);
      std::memcpy(&bv, b.bytes.data() + 2 * i, 2);
      ASSERT_EQ(hv, FloatToFloat16(v)) << name << "[" << i << "]";
      ASSERT_EQ(bv, FloatToBFloat16(v)) << name << "[" << i << "]";
    }
  }
}

TEST_F(WriteTestModelTest, ShardedTinyIsTinySplitOverThreeFiles) {
  const fs::path dir = Write("tiny-sharded", 1);
  EXPECT_EQ(ListDir(dir),
            (std::vector<std::string>{"config.json", "generation_config.json",
                                      "model-00001-of-00003.safetensors",
                                      "model-00002-of-00003.safetensors",
                                      "model-00003-of-00003.safetensors",
                                      "model.safetensors.index.json", "tokenizer.model"}));
  const nlohmann::json index = ReadJson(dir / "model.safetensors.index.json");
  const auto sharded = ReadTensors(dir);
  const auto plain = ReadTensors(Write("tiny", 1));

  // The index names every tensor exactly once, with the file that holds it.
  ASSERT_EQ(index["weight_map"].size(), plain.size());
  uint64_t total = 0;
  std::set<std::string> files;
  for (const auto& [name, t] : plain) {
    ASSERT_TRUE(index["weight_map"].contains(name)) << name;
    EXPECT_EQ(index["weight_map"][name], sharded.at(name).file) << name;
    files.insert(sharded.at(name).file);
    EXPECT_TRUE(sharded.at(name).bytes == t.bytes) << name;  // same weights as "tiny"
    total += t.bytes.size();
  }
  EXPECT_EQ(files.size(), 3u);
  EXPECT_EQ(index["metadata"]["total_size"], total);
  // The config is tiny's.
  EXPECT_EQ(ReadFile(dir / "config.json"), ReadFile(root_ / "tiny_1" / "config.json"));
}

TEST_F(WriteTestModelTest, RewritingReplacesStaleShards) {
  Write("tiny-sharded", 1, "", "same");
  const fs::path dir = Write("tiny", 1, "", "same");
  EXPECT_EQ(ListDir(dir), (std::vector<std::string>{"config.json", "generation_config.json",
                                                     "model.safetensors", "tokenizer.model"}));
}

TEST_F(WriteTestModelTest, NormWeightsAreNotAllOnes) {
  const auto tensors = ReadTensors(Write("tiny", 1));
  const std::string& bytes = tensors.at("model.layers.0.input_layernorm.weight").bytes;
  std::vector<float> w(bytes.size() / 4);
  std::memcpy(w.data(), bytes.data(), bytes.size());
  double sum = 0;
  int ones = 0;
  for (float v : w) {
    sum += v;
    ones += v == 1.0f;
    EXPECT_GT(v, 0.5f);
    EXPECT_LT(v, 1.5f);
  }
  EXPECT_NEAR(sum / w.size(), 1.0, 0.05);
  EXPECT_EQ(ones, 0);
}

TEST_F(WriteTestModelTest, ProgressReachesTotal) {
  TestModelOptions options;
  options.preset = "tiny-sharded";
  options.out_dir = (root_ / "progress").string();
  uint64_t last_written = 0, last_total = 0;
  int calls = 0;
  options.on_progress = [&](uint64_t written, uint64_t total) {
    EXPECT_GE(written, last_written);
    last_written = written;
    last_total = total;
    ++calls;
  };
  ASSERT_TRUE(WriteTestModel(options).ok());
  uint64_t sizes = 0;
  for (const auto& e : fs::directory_iterator(options.out_dir)) {
    if (e.path().extension() == ".safetensors") sizes += e.file_size();
  }
  EXPECT_GT(calls, 0);
  EXPECT_EQ(last_written, last_total);
  EXPECT_EQ(last_total, sizes);
}

TEST_F(WriteTestModelTest, RejectsUnknownPresetDtypeAndEmptyDir) {
  TestModelOptions options;
  options.out_dir = (root_ / "bad").string();
  options.preset = "tiny-but-unknown";
  EXPECT_EQ(WriteTestModel(options).code(), absl::StatusCode::kInvalidArgument);
  options.preset = "tiny";
  options.dtype = "float8";
  EXPECT_EQ(WriteTestModel(options).code(), absl::StatusCode::kInvalidArgument);
  options.dtype = "fp16";  // only torch_dtype spellings
  EXPECT_EQ(WriteTestModel(options).code(), absl::StatusCode::kInvalidArgument);
  options.dtype = "";
  options.out_dir = "";
  EXPECT_EQ(WriteTestModel(options).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root_ / "bad"));
}

}  // namespace
}  // namespace djinn::testmodel
