#include "daemon/engine/model_loader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/byte_size.h"
#include "common/host_convert.h"
#include "common/parallel_read.h"
#include "common/safetensors.h"
#include "daemon/engine/weight_upload.h"

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
  int64_t layer = -1;  // the decoder layer it belongs to; -1: embedding, final norm, lm_head
};

// A weight as the model holds it, and the checkpoint tensors that fill it.
struct WeightBuffer {
  Tensor* tensor;
  int64_t rows;
  int64_t cols;
  int64_t layer = -1;
};

constexpr auto Aligned = Arena::Aligned;

void ExpectedWeights(const ModelConfig& c, LlamaWeights* w, std::vector<WeightBuffer>* buffers,
                     std::vector<WeightSpec>* specs) {
  int64_t layer = -1;
  auto whole = [&](const std::string& name, int64_t rows, int64_t cols, Tensor* target) {
    buffers->push_back({target, rows, cols, layer});
    specs->push_back({name, rows, cols, target, 0, layer});
  };
  whole("model.embed_tokens.weight", c.vocab_size, c.hidden_size, &w->embed);
  w->layers.resize(c.num_hidden_layers);
  const int64_t q = c.q_dim(), kv = c.kv_dim(), inter = c.intermediate_size;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights& l = w->layers[i];
    layer = i;
    const std::string p = absl::StrCat("model.layers.", i, ".");
    whole(p + "input_layernorm.weight", 1, c.hidden_size, &l.input_norm);
    buffers->push_back({&l.qkv, q + 2 * kv, c.hidden_size, i});
    specs->push_back({p + "self_attn.q_proj.weight", q, c.hidden_size, &l.qkv, 0, i});
    specs->push_back({p + "self_attn.k_proj.weight", kv, c.hidden_size, &l.qkv, q, i});
    specs->push_back({p + "self_attn.v_proj.weight", kv, c.hidden_size, &l.qkv, q + kv, i});
    whole(p + "self_attn.o_proj.weight", c.hidden_size, q, &l.o);
    whole(p + "post_attention_layernorm.weight", 1, c.hidden_size, &l.post_attention_norm);
    buffers->push_back({&l.gate_up, 2 * inter, c.hidden_size, i});
    specs->push_back({p + "mlp.gate_proj.weight", inter, c.hidden_size, &l.gate_up, 0, i});
    specs->push_back({p + "mlp.up_proj.weight", inter, c.hidden_size, &l.gate_up, inter, i});
    whole(p + "mlp.down_proj.weight", c.hidden_size, inter, &l.down);
  }
  layer = -1;
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

// Weights stored in the compute dtype are copied byte for byte, read with
// pread() (parallel_read.h), which outruns copying out of the mapping; the
// rest are converted from the mapping.

// A tensor of a streamed layer into its host block.
absl::Status CopyToHostBlock(const SafetensorsModel& files, const TensorInfo& info, const Tensor& dst,
                             ParallelReader& reader) {
  auto* out = static_cast<std::byte*>(dst.data);
  if (info.dtype == dst.dtype) {
    const SafetensorsFile& file = files.FileOf(info);
    return reader.Read(ReadRange{&file.file(), file.FileOffset(info), info.bytes(), out});
  }
  ParallelConvertHost(files.Data(info).data(), info.dtype, out, dst.dtype, dst.elements());
  return absl::OkStatus();
}

// A resident tensor into backend memory: through the uploader's bounce
// buffers (the copy queue) when it needs no conversion, else Upload.
absl::Status CopyResident(const SafetensorsModel& files, const TensorInfo& info, const Tensor& dst, Backend* backend,
                          WeightUploader* uploader) {
  if (info.dtype == dst.dtype && uploader != nullptr) {
    const SafetensorsFile& file = files.FileOf(info);
    return uploader->Add(file.file(), file.FileOffset(info), info.bytes(), dst.data);
  }
  backend->Upload(files.Data(info), info.dtype, dst);
  return absl::OkStatus();
}

// Returns once every resident weight is in backend memory. The uploader's
// copies run on the copy queue, and the model's ops on the compute queue do
// not wait for it: this host-side wait is what keeps the first forward pass
// from reading weights still in flight. Upload's copies run on the compute
// queue and are ordered before the model's ops already; they are waited for
// too, so that the load's timings cover them.
absl::Status WaitForResidentWeights(Backend* backend, WeightUploader* uploader) {
  if (uploader != nullptr) {
    if (absl::Status finished = uploader->Finish(); !finished.ok()) return finished;
  }
  std::unique_ptr<QueueEvent> uploaded = backend->CreateEvent();
  backend->RecordEvent(uploaded.get(), Queue::kCompute);
  backend->Synchronize(uploaded.get());
  return absl::OkStatus();
}

}  // namespace

LoadedWeights::~LoadedWeights() {
  model.reset();
  ring.reset();
  kv_cache.reset();
  for (const ArenaBlock& block : blocks) arena->Free(block);
  for (const auto& [memory, bytes] : host_blocks) backend->FreeHostMemory(memory, bytes);
}

absl::StatusOr<std::unique_ptr<LoadedWeights>> LoadModel(const std::string& directory, const LoadSettings& settings,
                                                         Backend* backend, Arena* arena) {
  auto report = [&](LoadPhase phase, uint64_t loaded, uint64_t total) {
    if (settings.on_progress) settings.on_progress(LoadProgress{phase, loaded, total});
  };
  const absl::Time began = absl::Now();
  auto loaded = std::make_unique<LoadedWeights>();
  loaded->arena = arena;
  loaded->backend = backend;

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

  // 2. Plan (residency_plan.h): which layers stay resident and which stream
  //    through the ring, how many KV sequences fit.
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
  // As many prompt rows per pass as the backend likes, up to what the wanted
  // sequences could all bring at once: with streamed layers every pass
  // copies them again, so prompts that arrive together should share one.
  workspace_shape.prefill_chunk = std::min(backend->PreferredPrefillChunk(), context * wanted);
  workspace_shape.max_batch = wanted;
  workspace_shape.page_tokens = KvCache::kPageTokens;
  const uint64_t workspace_bytes = LlamaModel::WorkspaceBytes(c, workspace_shape, dtype, *backend);
  // Every layer's tensors share one block; every layer has the same shape.
  uint64_t layer_bytes = 0, fixed_bytes = 0;
  for (const WeightBuffer& buffer : buffers) {
    const uint64_t bytes = Aligned(static_cast<uint64_t>(buffer.rows * buffer.cols) * DTypeSize(dtype));
    if (buffer.layer == 0) layer_bytes += bytes;
    if (buffer.layer < 0) fixed_bytes += bytes;
  }
  PlanInputs plan_inputs;
  plan_inputs.budget_free_bytes = arena->Usage().free();
  plan_inputs.layers = c.num_hidden_layers;
  plan_inputs.layer_bytes = layer_bytes;
  plan_inputs.fixed_weight_bytes = fixed_bytes;
  plan_inputs.workspace_bytes = workspace_bytes;
  plan_inputs.kv_bytes_per_sequence = kv_shape.BytesPerSequence();
  plan_inputs.wanted_sequences = wanted;
  plan_inputs.allow_streaming = settings.allow_streaming;
  absl::StatusOr<ResidencyPlan> plan = PlanResidency(plan_inputs);
  if (!plan.ok()) return plan.status();
  loaded->plan = *plan;
  auto take = [&](uint64_t bytes, MemoryCategory category) -> absl::StatusOr<ArenaBlock> {
    absl::StatusOr<ArenaBlock> block = arena->Allocate(bytes, category);
    if (block.ok()) loaded->blocks.push_back(*block);
    return block;
  };

  // 3. Weights, in the compute dtype: resident ones into the arena, streamed
  //    layers into host memory.
  report(LoadPhase::kLoadingWeights, 0, weight_bytes);
  auto streamed = [&](const WeightSpec& spec) {
    return spec.layer >= 0 && plan->layers[spec.layer] == LayerPlacement::kStreamed;
  };
  // Declared after `loaded`, so destroyed first on every return: the
  // uploader waits for its copies before the arena blocks they write go back.
  ParallelReader reader;
  std::unique_ptr<WeightUploader> uploader;
  uint64_t direct_resident_bytes = 0;
  for (const WeightSpec& spec : specs) {
    const TensorInfo* info = (*files)->Find(spec.name);
    if (!streamed(spec) && info->dtype == dtype) direct_resident_bytes += info->bytes();
  }
  if (direct_resident_bytes > 0) {
    absl::StatusOr<std::unique_ptr<WeightUploader>> created = WeightUploader::Create(
        backend, &reader, std::min(WeightUploader::kDefaultBufferBytes, direct_resident_bytes));
    if (!created.ok()) return created.status();
    uploader = *std::move(created);
  }
  std::vector<std::byte*> layer_blocks(c.num_hidden_layers, nullptr);
  auto place_layer = [&](int64_t layer) -> absl::Status {
    std::byte* base;
    if (plan->layers[layer] == LayerPlacement::kResident) {
      absl::StatusOr<ArenaBlock> block = take(layer_bytes, MemoryCategory::kWeights);
      if (!block.ok()) return block.status();
      base = block->data;
    } else {
      const absl::Time allocating = absl::Now();
      absl::StatusOr<std::byte*> host = backend->AllocateHostMemory(layer_bytes);
      loaded->timings.host_alloc_seconds += absl::ToDoubleSeconds(absl::Now() - allocating);
      if (!host.ok()) return host.status();
      loaded->host_blocks.push_back({*host, layer_bytes});
      base = *host;
    }
    layer_blocks[layer] = base;
    for (const WeightBuffer& buffer : buffers) {
      if (buffer.layer != layer) continue;
      *buffer.tensor = Tensor{base, dtype, buffer.rows, buffer.cols};
      base += Aligned(buffer.tensor->bytes());
    }
    return absl::OkStatus();
  };
  uint64_t done = 0;
  size_t next_buffer = 0;  // buffers are taken in the order their first tensor loads
  for (const WeightSpec& spec : specs) {
    if (settings.cancelled && settings.cancelled()) return absl::CancelledError("load cancelled");
    if (spec.layer >= 0 && layer_blocks[spec.layer] == nullptr) {
      if (absl::Status placed = place_layer(spec.layer); !placed.ok()) return placed;
    } else if (spec.layer < 0 && spec.target->data == nullptr) {
      while (buffers[next_buffer].layer >= 0) ++next_buffer;
      const WeightBuffer& buffer = buffers[next_buffer++];
      absl::StatusOr<ArenaBlock> block =
          take(static_cast<uint64_t>(buffer.rows * buffer.cols) * DTypeSize(dtype), MemoryCategory::kWeights);
      if (!block.ok()) return block.status();
      *buffer.tensor = Tensor{block->data, dtype, buffer.rows, buffer.cols};
    }
    const TensorInfo* info = (*files)->Find(spec.name);
    const Tensor part = spec.target->Rows(spec.row_offset, spec.rows);
    const absl::Time copy_began = absl::Now();
    if (streamed(spec)) {
      if (absl::Status copied = CopyToHostBlock(**files, *info, part, reader); !copied.ok()) return copied;
      loaded->timings.host_bytes += part.bytes();
      loaded->timings.host_seconds += absl::ToDoubleSeconds(absl::Now() - copy_began);
    } else {
      if (absl::Status copied = CopyResident(**files, *info, part, backend, uploader.get()); !copied.ok()) {
        return copied;
      }
      loaded->timings.resident_bytes += part.bytes();
      loaded->timings.resident_seconds += absl::ToDoubleSeconds(absl::Now() - copy_began);
    }
    if (info->dtype == dtype) loaded->timings.direct_bytes += part.bytes();
    done += part.bytes();
    report(LoadPhase::kLoadingWeights, done, weight_bytes);
  }
  const absl::Time finishing = absl::Now();
  if (absl::Status finished = WaitForResidentWeights(backend, uploader.get()); !finished.ok()) return finished;
  loaded->timings.resident_seconds += absl::ToDoubleSeconds(absl::Now() - finishing);
  uploader.reset();  // the bounce buffers are pinned memory: give them back now
  if (c.tie_word_embeddings) weights.lm_head = weights.embed;
  loaded->weight_bytes = weight_bytes;

  // 4. Ring buffer, workspace and KV cache.
  report(LoadPhase::kAllocatingKvCache, done, weight_bytes);
  if (plan->streamed_layers > 0) {
    absl::StatusOr<ArenaBlock> ring = take(plan->ring_bytes, MemoryCategory::kRingBuffer);
    if (!ring.ok()) return ring.status();
    std::vector<const std::byte*> streamed;
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      if (plan->layers[l] == LayerPlacement::kStreamed) streamed.push_back(layer_blocks[l]);
    }
    loaded->ring = std::make_unique<WeightRing>(backend, ring->data, plan->ring_slots, layer_bytes, std::move(streamed));
  }
  absl::StatusOr<ArenaBlock> workspace = take(workspace_bytes, MemoryCategory::kWorkspace);
  if (!workspace.ok()) return workspace.status();
  const int slots = plan->kv_sequences;
  absl::StatusOr<ArenaBlock> kv_block = take(kv_shape.BytesPerSequence() * slots, MemoryCategory::kKvCache);
  if (!kv_block.ok()) return kv_block.status();
  loaded->kv_cache = std::make_unique<KvCache>(kv_shape, slots, *kv_block);
  workspace_shape.max_batch = slots;  // never more rows than sequences can be live
  loaded->model = std::make_unique<LlamaModel>(
      c, backend, std::move(weights), LlamaModel::MakeWorkspace(c, workspace_shape, dtype, *workspace, backend),
      loaded->kv_cache->layout(), loaded->ring.get(), std::move(layer_blocks));
  loaded->timings.total_seconds = absl::ToDoubleSeconds(absl::Now() - began);
  report(LoadPhase::kReady, done, weight_bytes);
  return loaded;
}

}  // namespace djinn
