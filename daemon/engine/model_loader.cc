#include "daemon/engine/model_loader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/byte_size.h"
#include "common/safetensors.h"

namespace djinn {
namespace {

// One tensor of the checkpoint and where it goes: `row_offset` rows into the
// weight it is part of (q, k and v stack into qkv; gate and up into gate_up).
struct WeightSpec {
  std::string name;
  int64_t rows;
  int64_t cols;  // 1 for vectors (norm weights)
  Tensor* target;
  int64_t row_offset = 0;
};

// A weight as the model holds it, and the checkpoint tensors that fill it.
struct WeightBuffer {
  Tensor* tensor;
  int64_t rows;
  int64_t cols;
};

void ExpectedWeights(const ModelConfig& c, LlamaWeights* w, std::vector<WeightBuffer>* buffers,
                     std::vector<WeightSpec>* specs) {
  auto whole = [&](const std::string& name, int64_t rows, int64_t cols, Tensor* target) {
    buffers->push_back({target, rows, cols});
    specs->push_back({name, rows, cols, target});
  };
  whole("model.embed_tokens.weight", c.vocab_size, c.hidden_size, &w->embed);
  w->layers.resize(c.num_hidden_layers);
  const int64_t q = c.q_dim(), kv = c.kv_dim(), inter = c.intermediate_size;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights& l = w->layers[i];
    const std::string p = absl::StrCat("model.layers.", i, ".");
    whole(p + "input_layernorm.weight", 1, c.hidden_size, &l.input_norm);
    buffers->push_back({&l.qkv, q + 2 * kv, c.hidden_size});
    specs->push_back({p + "self_attn.q_proj.weight", q, c.hidden_size, &l.qkv, 0});
    specs->push_back({p + "self_attn.k_proj.weight", kv, c.hidden_size, &l.qkv, q});
    specs->push_back({p + "self_attn.v_proj.weight", kv, c.hidden_size, &l.qkv, q + kv});
    whole(p + "self_attn.o_proj.weight", c.hidden_size, q, &l.o);
    whole(p + "post_attention_layernorm.weight", 1, c.hidden_size, &l.post_attention_norm);
    buffers->push_back({&l.gate_up, 2 * inter, c.hidden_size});
    specs->push_back({p + "mlp.gate_proj.weight", inter, c.hidden_size, &l.gate_up, 0});
    specs->push_back({p + "mlp.up_proj.weight", inter, c.hidden_size, &l.gate_up, inter});
    whole(p + "mlp.down_proj.weight", c.hidden_size, inter, &l.down);
  }
  whole("model.norm.weight", 1, c.hidden_size, &w->final_norm);
  if (!c.tie_word_embeddings) whole("lm_head.weight", c.vocab_size, c.hidden_size, &w->lm_head);
}

absl::Status CheckShape(const WeightSpec& spec, const TensorInfo& info) {
  const bool vector = spec.rows == 1;
  const bool ok = vector ? (info.shape.size() == 1 && info.shape[0] == spec.cols)
                         : (info.shape.size() == 2 && info.shape[0] == spec.rows && info.shape[1] == spec.cols);
  if (ok) return absl::OkStatus();
  const std::string expected = vector ? absl::StrCat("[", spec.cols, "]") : absl::StrCat("[", spec.rows, ", ", spec.cols, "]");
  return absl::InvalidArgumentError(absl::StrCat("tensor \"", spec.name, "\" has shape [",
                                                 absl::StrJoin(info.shape, ", "), "], config.json implies ", expected));
}

}  // namespace

LoadedWeights::~LoadedWeights() {
  model.reset();
  kv_cache.reset();
  for (const ArenaBlock& block : blocks) arena->Free(block);
}

absl::StatusOr<std::unique_ptr<LoadedWeights>> LoadModel(const std::string& directory, const LoadSettings& settings,
                                                         Backend* backend, Arena* arena) {
  auto report = [&](LoadPhase phase, uint64_t loaded, uint64_t total) {
    if (settings.on_progress) settings.on_progress(LoadProgress{phase, loaded, total});
  };
  auto loaded = std::make_unique<LoadedWeights>();
  loaded->arena = arena;

  // 1. Config, tokenizer, tensor headers: everything is validated before any
  //    memory is taken.
  report(LoadPhase::kReadingConfig, 0, 0);
  absl::StatusOr<ModelConfig> config = LoadModelConfig(directory);
  if (!config.ok()) return config.status();
  loaded->config = *config;
  const ModelConfig& c = loaded->config;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load(directory);
  if (!tokenizer.ok()) return tokenizer.status();
  loaded->tokenizer = *std::move(tokenizer);
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> files = SafetensorsModel::Open(directory);
  if (!files.ok()) return files.status();
  loaded->stored_dtype = (*files)->predominant_dtype();

  LlamaWeights weights;
  std::vector<WeightBuffer> buffers;
  std::vector<WeightSpec> specs;
  ExpectedWeights(c, &weights, &buffers, &specs);
  const DType dtype = backend->ComputeDType(loaded->stored_dtype);
  uint64_t weight_bytes = 0;
  for (const WeightSpec& spec : specs) {
    const TensorInfo* info = (*files)->Find(spec.name);
    if (info == nullptr) return absl::InvalidArgumentError(absl::StrCat("missing tensor \"", spec.name, "\""));
    if (absl::Status s = CheckShape(spec, *info); !s.ok()) return s;
    weight_bytes += static_cast<uint64_t>(spec.rows * spec.cols) * DTypeSize(dtype);
  }

  // 2. Plan: context length, workspace, weights, then as many KV slots as
  //    were asked for and fit.
  report(LoadPhase::kPlanning, 0, weight_bytes);
  int64_t context = settings.max_context_length > 0 ? settings.max_context_length : c.max_position_embeddings;
  if (context > c.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrFormat("max_context_length %d exceeds the model's max_position_embeddings %d",
                                                      context, c.max_position_embeddings));
  }
  const KvCache::Shape kv_shape{c.num_hidden_layers, context, c.kv_dim(), dtype};
  const int wanted = settings.max_sequences > 0 ? settings.max_sequences : kDefaultMaxSequences;
  WorkspaceShape workspace_shape;
  workspace_shape.context_length = context;
  workspace_shape.prefill_chunk = std::min(backend->PreferredPrefillChunk(), context);
  workspace_shape.max_batch = wanted;
  workspace_shape.page_tokens = context;  // one page per KV slot (kv_cache.h)
  const uint64_t workspace_bytes = LlamaModel::WorkspaceBytes(c, workspace_shape, dtype, *backend);
  const uint64_t minimum = weight_bytes + workspace_bytes + kv_shape.BytesPerSequence();
  const uint64_t available = arena->Usage().free();
  if (minimum > available) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "model needs at least ", FormatBytes(minimum), " (weights ", FormatBytes(weight_bytes), ", workspace ",
        FormatBytes(workspace_bytes), ", one KV-cache sequence ", FormatBytes(kv_shape.BytesPerSequence()),
        ") but only ", FormatBytes(available), " of the budget is free"));
  }
  auto take = [&](uint64_t bytes, MemoryCategory category) -> absl::StatusOr<ArenaBlock> {
    absl::StatusOr<ArenaBlock> block = arena->Allocate(bytes, category);
    if (block.ok()) loaded->blocks.push_back(*block);
    return block;
  };

  // 3. Weights, converted to the compute dtype as they are copied in.
  report(LoadPhase::kLoadingWeights, 0, weight_bytes);
  uint64_t done = 0;
  size_t next_buffer = 0;  // buffers are taken in the order their first tensor loads
  for (const WeightSpec& spec : specs) {
    if (settings.cancelled && settings.cancelled()) return absl::CancelledError("load cancelled");
    if (spec.target->data == nullptr) {
      const WeightBuffer& buffer = buffers[next_buffer++];
      absl::StatusOr<ArenaBlock> block =
          take(static_cast<uint64_t>(buffer.rows * buffer.cols) * DTypeSize(dtype), MemoryCategory::kWeights);
      if (!block.ok()) return block.status();
      *buffer.tensor = Tensor{block->data, dtype, buffer.rows, buffer.cols};
    }
    const TensorInfo* info = (*files)->Find(spec.name);
    const Tensor part = spec.target->Rows(spec.row_offset, spec.rows);
    backend->Upload((*files)->Data(*info), info->dtype, part);
    done += part.bytes();
    report(LoadPhase::kLoadingWeights, done, weight_bytes);
  }
  if (c.tie_word_embeddings) weights.lm_head = weights.embed;
  loaded->weight_bytes = weight_bytes;

  // 4. Workspace and KV cache.
  report(LoadPhase::kAllocatingKvCache, done, weight_bytes);
  absl::StatusOr<ArenaBlock> workspace = take(workspace_bytes, MemoryCategory::kWorkspace);
  if (!workspace.ok()) return workspace.status();
  const uint64_t per_sequence = kv_shape.BytesPerSequence();
  const uint64_t room = arena->LargestFreeRange();
  const int slots = static_cast<int>(std::min<uint64_t>(wanted, room / per_sequence));
  if (slots == 0) {
    return absl::ResourceExhaustedError(absl::StrCat("no room for a KV cache: one sequence of ", context,
                                                     " tokens needs ", FormatBytes(per_sequence)));
  }
  absl::StatusOr<ArenaBlock> kv_block = take(per_sequence * slots, MemoryCategory::kKvCache);
  if (!kv_block.ok()) return kv_block.status();
  loaded->kv_cache = std::make_unique<KvCache>(kv_shape, slots, *kv_block);
  workspace_shape.max_batch = slots;  // never more rows than sequences can be live
  loaded->model = std::make_unique<LlamaModel>(
      c, backend, std::move(weights), LlamaModel::MakeWorkspace(c, workspace_shape, dtype, *workspace, backend),
      loaded->kv_cache->layout());
  report(LoadPhase::kReady, done, weight_bytes);
  return loaded;
}

}  // namespace djinn
