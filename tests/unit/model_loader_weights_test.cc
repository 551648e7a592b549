// The weights LoadModel puts in memory are the checkpoint's, byte for byte,
// whichever way they got there: tensors stored in the compute dtype (float32
// on the CPU backend) are read with pread — resident ones through the
// WeightUploader's bounce buffers and the copy queue, streamed layers
// straight into their host blocks — and the rest are converted from the
// mapping. Identical weights give identical logits (the kernels are the
// same), so this is the bit-for-bit check of the no-conversion path;
// reference_logits_test checks the same loads against transformers.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/host_convert.h"
#include "common/safetensors.h"
#include "common/testmodel/test_model.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/engine/llama_model.h"
#include "daemon/engine/model_loader.h"
#include "daemon/memory/arena.h"
#include "gtest/gtest.h"
#include "tests/unit/support/arena_budget.h"

namespace djinn {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kArenaBytes = 64ull << 20;

// Test models written once per process, under a directory removed at exit.
fs::path ModelDir(const std::string& preset, const std::string& dtype) {
  static const fs::path root = [] {
    fs::path dir = fs::path(::testing::TempDir()) / ("model_loader_weights_test_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    std::atexit([] {
      fs::remove_all(fs::path(::testing::TempDir()) / ("model_loader_weights_test_" + std::to_string(::getpid())));
    });
    return dir;
  }();
  const fs::path dir = root / (preset + "-" + dtype);
  if (!fs::exists(dir / "config.json")) {
    testmodel::TestModelOptions options;
    options.preset = preset;
    options.out_dir = dir.string();
    options.seed = 3;
    options.dtype = dtype;
    const absl::Status written = testmodel::WriteTestModel(options);
    EXPECT_TRUE(written.ok()) << written;
  }
  return dir;
}

// The CPU backend, counting the host memory it hands out.
class CountingBackend : public CpuBackend {
 public:
  CountingBackend() : CpuBackend(2) {}
  absl::StatusOr<std::byte*> AllocateHostMemory(uint64_t bytes) override {
    absl::StatusOr<std::byte*> memory = CpuBackend::AllocateHostMemory(bytes);
    if (memory.ok()) ++host_blocks;
    return memory;
  }
  void FreeHostMemory(std::byte* memory, uint64_t bytes) override {
    --host_blocks;
    CpuBackend::FreeHostMemory(memory, bytes);
  }

  int host_blocks = 0;
};

// The counting backend and an arena over memory it reserved.
struct Budget : testing::ArenaBudget<CountingBackend> {
  explicit Budget(uint64_t bytes = kArenaBytes) : ArenaBudget(bytes) {}
  bool everything_given_back() const {
    return host_blocks() == 0 && arena->Usage().free() == arena->Usage().capacity;
  }
  int host_blocks() const { return backend.host_blocks; }
};

// Every checkpoint tensor and the rows of the loaded weight it filled.
struct Part {
  std::string name;
  Tensor tensor;
};

std::vector<Part> LoadedParts(const LoadedWeights& loaded) {
  const ModelConfig& c = loaded.config;
  const LlamaWeights& w = loaded.model->weights();
  const int64_t q = c.q_dim(), kv = c.kv_dim(), inter = c.intermediate_size;
  std::vector<Part> parts = {{"model.embed_tokens.weight", w.embed}};
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = absl::StrCat("model.layers.", i, ".");
    parts.push_back({p + "input_layernorm.weight", l.input_norm});
    parts.push_back({p + "self_attn.q_proj.weight", l.qkv.Rows(0, q)});
    parts.push_back({p + "self_attn.k_proj.weight", l.qkv.Rows(q, kv)});
    parts.push_back({p + "self_attn.v_proj.weight", l.qkv.Rows(q + kv, kv)});
    parts.push_back({p + "self_attn.o_proj.weight", l.o});
    parts.push_back({p + "post_attention_layernorm.weight", l.post_attention_norm});
    parts.push_back({p + "mlp.gate_proj.weight", l.gate_up.Rows(0, inter)});
    parts.push_back({p + "mlp.up_proj.weight", l.gate_up.Rows(inter, inter)});
    parts.push_back({p + "mlp.down_proj.weight", l.down});
  }
  parts.push_back({"model.norm.weight", w.final_norm});
  if (!c.tie_word_embeddings) parts.push_back({"lm_head.weight", w.lm_head});
  return parts;
}

// Each loaded tensor equals the file's, converted to the compute dtype.
void ExpectWeightsAreTheFiles(const fs::path& dir, const LoadedWeights& loaded, Backend& backend) {
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> files = SafetensorsModel::Open(dir.string());
  ASSERT_TRUE(files.ok()) << files.status();
  for (const Part& part : LoadedParts(loaded)) {
    SCOPED_TRACE(part.name);
    const TensorInfo* info = (*files)->Find(part.name);
    ASSERT_NE(info, nullptr);
    ASSERT_EQ(info->elements(), part.tensor.elements());
    std::vector<std::byte> expected(part.tensor.bytes()), actual(part.tensor.bytes());
    ConvertHost((*files)->Data(*info).data(), info->dtype, expected.data(), part.tensor.dtype, info->elements());
    backend.CopyToHost(part.tensor, actual);
    ASSERT_EQ(std::memcmp(actual.data(), expected.data(), expected.size()), 0);
  }
}

absl::StatusOr<std::unique_ptr<LoadedWeights>> Load(Budget& budget, const fs::path& dir,
                                                    const LoadSettings& settings = {}) {
  return LoadModel(dir.string(), settings, &budget.backend, budget.arena.get());
}

// Embedding, final norm and lm_head (unless tied), in float32.
uint64_t FixedWeightBytes(const ModelConfig& c) {
  const uint64_t table = static_cast<uint64_t>(c.vocab_size * c.hidden_size) * 4;
  return table + static_cast<uint64_t>(c.hidden_size) * 4 + (c.tie_word_embeddings ? 0 : table);
}

// The budget that streams some of tiny-deep's layers (a byte short of what
// the all-resident plan needs).
uint64_t StreamingBudget(const fs::path& dir, const LoadSettings& settings) {
  Budget everything;
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(everything, dir, settings);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? (*loaded)->plan.total_bytes() - 1 : 0;
}

TEST(ModelLoaderWeightsTest, Float32WeightsAreReadAsTheyAre) {
  for (const std::string preset : {"tiny", "tiny-gqa", "tiny-tied", "tiny-sharded"}) {
    SCOPED_TRACE(preset);
    const fs::path dir = ModelDir(preset, "float32");
    Budget budget;
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const LoadedWeights& w = **loaded;
    ASSERT_EQ(w.plan.streamed_layers, 0);
    // Every byte went through the no-conversion path into backend memory;
    // the layers went through their host copies, which they keep.
    EXPECT_EQ(w.timings.direct_bytes, w.weight_bytes);
    EXPECT_EQ(w.timings.resident_bytes, w.weight_bytes);
    EXPECT_EQ(w.timings.host_bytes, w.weight_bytes - FixedWeightBytes(w.config));
    EXPECT_EQ(w.residency->Snapshot().host_copy_bytes, w.config.num_hidden_layers * w.plan.layer_bytes);
    EXPECT_GT(w.timings.resident_seconds, 0.0);
    ExpectWeightsAreTheFiles(dir, w, budget.backend);
  }
}

TEST(ModelLoaderWeightsTest, StreamedLayersAreReadIntoTheirHostBlocks) {
  const fs::path dir = ModelDir("tiny-deep", "float32");
  LoadSettings settings;
  settings.max_context_length = 128;
  settings.max_sequences = 2;
  Budget short_one(StreamingBudget(dir, settings));
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(short_one, dir, settings);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const LoadedWeights& w = **loaded;
  ASSERT_GT(w.plan.streamed_layers, 0);
  ASSERT_GT(w.plan.resident_layers, 0);
  // Every layer is read into its host copy; the resident ones are copied on
  // into backend memory, after the fixed weights.
  const uint64_t fixed = FixedWeightBytes(w.config);
  const uint64_t layer = (w.weight_bytes - fixed) / w.config.num_hidden_layers;
  EXPECT_EQ(w.timings.host_bytes, w.weight_bytes - fixed);
  EXPECT_EQ(w.timings.resident_bytes, fixed + w.plan.resident_layers * layer);
  EXPECT_EQ(w.timings.direct_bytes, w.weight_bytes);
  ExpectWeightsAreTheFiles(dir, w, short_one.backend);
}

TEST(ModelLoaderWeightsTest, HalfPrecisionWeightsAreConverted) {
  for (const std::string dtype : {"bfloat16", "float16"}) {
    SCOPED_TRACE(dtype);
    const fs::path dir = ModelDir("tiny", dtype);
    Budget budget;
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const LoadedWeights& w = **loaded;
    EXPECT_EQ(w.timings.direct_bytes, 0u);  // the CPU computes in float32
    EXPECT_EQ(w.timings.resident_bytes, w.weight_bytes);
    ExpectWeightsAreTheFiles(dir, w, budget.backend);
  }
}

TEST(ModelLoaderWeightsTest, FileTruncatedWhileLoadingFailsNamingIt) {
  // The header is valid when the file is opened; the data is cut short
  // before the weights are read (at the planning report), so the reads fail.
  const fs::path source = ModelDir("tiny", "float32");
  const fs::path dir = source.parent_path() / "tiny-truncated";
  fs::remove_all(dir);
  fs::copy(source, dir, fs::copy_options::recursive);
  const fs::path weights = dir / "model.safetensors";
  const uint64_t size = fs::file_size(weights);
  Budget budget;
  LoadSettings settings;
  settings.on_progress = [&](const LoadProgress& p) {
    if (p.phase == LoadPhase::kPlanning) fs::resize_file(weights, size / 2);
  };
  absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, dir, settings);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << loaded.status();
  EXPECT_NE(loaded.status().message().find(weights.string()), std::string::npos) << loaded.status();
  EXPECT_TRUE(budget.everything_given_back());
}

TEST(ModelLoaderWeightsTest, CancelledLoadsGiveBackHostMemory) {
  // Streamed layers' host blocks and the bounce buffers, at every point of
  // the load: before any tensor, mid-way, and at the last tensor.
  const fs::path dir = ModelDir("tiny-deep", "float32");
  LoadSettings settings;
  settings.max_context_length = 128;
  settings.max_sequences = 2;
  const uint64_t budget_bytes = StreamingBudget(dir, settings);
  const int tensors = 12 * 9 + 3;
  for (int cancel_at : {1, 2, 40, 100, tensors}) {
    SCOPED_TRACE(::testing::Message() << "cancelled at poll " << cancel_at);
    Budget budget(budget_bytes);
    int polls = 0;
    settings.cancelled = [&] { return ++polls >= cancel_at; };
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = Load(budget, dir, settings);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kCancelled) << loaded.status();
    EXPECT_TRUE(budget.everything_given_back()) << budget.host_blocks() << " host blocks left";
  }
}

}  // namespace
}  // namespace djinn
