#include "daemon/engine/model_loader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/byte_size.h"
#include "common/safetensors.h"

namespace djinn {
namespace {

struct WeightSpec {
  std::string name;
  int64_t rows;
  int64_t cols;  // 1 for vectors (norm weights)
  Tensor* target;
};

std::vector<WeightSpec> ExpectedWeights(const ModelConfig& c, LlamaWeights* w) {
  std::vector<WeightSpec> specs;
  specs.push_back({"model.embed_tokens.weight", c.vocab_size, c.hidden_size, &w->embed});
  w->layers.resize(c.num_hidden_layers);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights& l = w->layers[i];
    const std::string p = absl::StrCat("model.layers.", i, ".");
    specs.push_back({p + "input_layernorm.weight", 1, c.hidden_size, &l.input_norm});
    specs.push_back({p + "self_attn.q_proj.weight", c.q_dim(), c.hidden_size, &l.q});
    specs.push_back({p + "self_attn.k_proj.weight", c.kv_dim(), c.hidden_size, &l.k});
    specs.push_back({p + "self_attn.v_proj.weight", c.kv_dim(), c.hidden_size, &l.v});
    specs.push_back({p + "self_attn.o_proj.weight", c.hidden_size, c.q_dim(), &l.o});
    specs.push_back({p + "post_attention_layernorm.weight", 1, c.hidden_size, &l.post_attention_norm});
    specs.push_back({p + "mlp.gate_proj.weight", c.intermediate_size, c.hidden_size, &l.gate});
    specs.push_back({p + "mlp.up_proj.weight", c.intermediate_size, c.hidden_size, &l.up});
    specs.push_back({p + "mlp.down_proj.weight", c.hidden_size, c.intermediate_size, &l.down});
  }
  specs.push_back({"model.norm.weight", 1, c.hidden_size, &w->final_norm});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", c.vocab_size, c.hidden_size, &w->lm_head});
  return specs;
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
  const std::vector<WeightSpec> specs = ExpectedWeights(c, &weights);
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
  const uint64_t workspace_bytes = LlamaModel::WorkspaceBytes(c, context, dtype);
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
  for (const WeightSpec& spec : specs) {
    if (settings.cancelled && settings.cancelled()) return absl::CancelledError("load cancelled");
    const TensorInfo* info = (*files)->Find(spec.name);
    *spec.target = Tensor{nullptr, dtype, spec.rows, spec.cols};
    absl::StatusOr<ArenaBlock> block = take(spec.target->bytes(), MemoryCategory::kWeights);
    if (!block.ok()) return block.status();
    spec.target->data = block->data;
    backend->Upload((*files)->Data(*info), info->dtype, *spec.target);
    done += spec.target->bytes();
    report(LoadPhase::kLoadingWeights, done, weight_bytes);
  }
  if (c.tie_word_embeddings) weights.lm_head = weights.embed;
  loaded->weight_bytes = weight_bytes;

  // 4. Workspace and KV cache.
  report(LoadPhase::kAllocatingKvCache, done, weight_bytes);
  absl::StatusOr<ArenaBlock> workspace = take(workspace_bytes, MemoryCategory::kWorkspace);
  if (!workspace.ok()) return workspace.status();
  const int wanted = settings.max_sequences > 0 ? settings.max_sequences : kDefaultMaxSequences;
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
  loaded->model = std::make_unique<LlamaModel>(c, context, backend, std::move(weights),
                                               LlamaModel::MakeWorkspace(c, context, dtype, *workspace, backend));
  report(LoadPhase::kReady, done, weight_bytes);
  return loaded;
}

}  // namespace djinn
