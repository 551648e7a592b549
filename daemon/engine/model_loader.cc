#include "daemon/engine/model_loader.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/byte_size.h"
#include "common/generation_config.h"
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
  int64_t cols;  // 1 for biases
  Tensor* target;
  int64_t row_offset = 0;
  int64_t layer = -1;  // the decoder layer it belongs to; -1: embedding, final norm, lm_head
  bool vector = false;  // stored 1-D: [rows * cols] (norm weights [1, n], biases [n, 1])
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
    specs->push_back({name, rows, cols, target, 0, layer, /*vector=*/rows == 1});
  };
  // A bias of a product with `rows` outputs: a column [rows, 1], so that
  // fused ones stack like their weights (row offsets).
  auto bias = [&](const std::string& name, int64_t rows, Tensor* target, int64_t row_offset) {
    specs->push_back({name, rows, 1, target, row_offset, layer, /*vector=*/true});
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
    if (c.qkv_bias) {
      buffers->push_back({&l.qkv_bias, q + 2 * kv, 1, i});
      bias(p + "self_attn.q_proj.bias", q, &l.qkv_bias, 0);
      bias(p + "self_attn.k_proj.bias", kv, &l.qkv_bias, q);
      bias(p + "self_attn.v_proj.bias", kv, &l.qkv_bias, q + kv);
    }
    if (c.qk_norm) {
      whole(p + "self_attn.q_norm.weight", 1, c.head_dim, &l.q_norm);
      whole(p + "self_attn.k_norm.weight", 1, c.head_dim, &l.k_norm);
    }
    whole(p + "self_attn.o_proj.weight", c.hidden_size, q, &l.o);
    if (c.o_bias) {
      buffers->push_back({&l.o_bias, c.hidden_size, 1, i});
      bias(p + "self_attn.o_proj.bias", c.hidden_size, &l.o_bias, 0);
    }
    whole(p + "post_attention_layernorm.weight", 1, c.hidden_size, &l.post_attention_norm);
    buffers->push_back({&l.gate_up, 2 * inter, c.hidden_size, i});
    specs->push_back({p + "mlp.gate_proj.weight", inter, c.hidden_size, &l.gate_up, 0, i});
    specs->push_back({p + "mlp.up_proj.weight", inter, c.hidden_size, &l.gate_up, inter, i});
    if (c.mlp_bias) {
      buffers->push_back({&l.gate_up_bias, 2 * inter, 1, i});
      bias(p + "mlp.gate_proj.bias", inter, &l.gate_up_bias, 0);
      bias(p + "mlp.up_proj.bias", inter, &l.gate_up_bias, inter);
    }
    whole(p + "mlp.down_proj.weight", c.hidden_size, inter, &l.down);
    if (c.mlp_bias) {
      buffers->push_back({&l.down_bias, c.hidden_size, 1, i});
      bias(p + "mlp.down_proj.bias", c.hidden_size, &l.down_bias, 0);
    }
  }
  layer = -1;
  whole("model.norm.weight", 1, c.hidden_size, &w->final_norm);
  if (!c.tie_word_embeddings) whole("lm_head.weight", c.vocab_size, c.hidden_size, &w->lm_head);
}

absl::Status CheckShape(const WeightSpec& spec, const TensorInfo& info) {
  const int64_t elements = spec.rows * spec.cols;
  const bool ok = spec.vector ? (info.shape.size() == 1 && info.shape[0] == elements)
                              : (info.shape.size() == 2 && info.shape[0] == spec.rows && info.shape[1] == spec.cols);
  if (ok) return absl::OkStatus();
  const std::string expected =
      spec.vector ? absl::StrCat("[", elements, "]") : absl::StrCat("[", spec.rows, ", ", spec.cols, "]");
  return absl::InvalidArgumentError(absl::StrCat("tensor \"", spec.name, "\" has shape [",
                                                 absl::StrJoin(info.shape, ", "), "], config.json implies ", expected));
}

// Fail closed: a tensor the config does not account for (a bias the config
// says the model lacks, a norm of another architecture) would otherwise be
// dropped without a word. Rotary inv_freq buffers (recomputed from the
// config) and a tied model's copy of the embedding as lm_head are the
// exceptions, as in transformers.
absl::Status CheckNoUnusedTensors(const SafetensorsModel& files, const std::vector<WeightSpec>& specs,
                                  const ModelConfig& c) {
  std::set<std::string_view> expected;
  for (const WeightSpec& spec : specs) expected.insert(spec.name);
  for (const std::unique_ptr<SafetensorsFile>& file : files.files()) {
    for (const auto& [name, info] : file->tensors()) {
      if (expected.contains(name) || absl::EndsWith(name, ".rotary_emb.inv_freq")) continue;
      if (c.tie_word_embeddings && name == "lm_head.weight") continue;
      return absl::InvalidArgumentError(absl::StrCat("tensor \"", name, "\" is not part of a ", c.architecture,
                                                     " as config.json describes it"));
    }
  }
  return absl::OkStatus();
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
  for (Queue queue : {Queue::kCompute, Queue::kCopy}) {  // Upload's copies, then layers' from their host copies
    backend->RecordEvent(uploaded.get(), queue);
    backend->Synchronize(uploaded.get());
  }
  return absl::OkStatus();
}

}  // namespace

LoadedWeights::~LoadedWeights() {
  model.reset();
  residency.reset();
  kv_cache.reset();
  for (const ArenaBlock& block : blocks) arena->Free(block);
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
  // A generation stops on config.json's EOS ids and generation_config.json's
  // (Llama 3.1 Instruct lists three there).
  absl::StatusOr<std::vector<int64_t>> generation_eos = LoadGenerationEosTokenIds(directory);
  if (!generation_eos.ok()) return generation_eos.status();
  for (int64_t id : *generation_eos) {
    if (id < 0 || id >= loaded->config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("generation_config.json: eos_token_id ", id,
                                                     " is outside the vocabulary [0, ", loaded->config.vocab_size, ")"));
    }
  }
  loaded->config.eos_token_ids = UnionOfTokenIds(loaded->config.eos_token_ids, *generation_eos);
  const ModelConfig& c = loaded->config;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load(directory);
  if (!tokenizer.ok()) return tokenizer.status();
  loaded->tokenizer = *std::move(tokenizer);
  // The chat template is parsed now, so that one Djinn cannot run fails the
  // load (naming the construct), not the first chat request. None is fine:
  // chat requests to the model are then FAILED_PRECONDITION.
  absl::StatusOr<std::unique_ptr<ChatTemplate>> chat_template = ChatTemplate::Load(directory);
  if (chat_template.ok()) {
    loaded->chat_template = *std::move(chat_template);
  } else if (!absl::IsNotFound(chat_template.status())) {
    return chat_template.status();
  }
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
  if (absl::Status s = CheckNoUnusedTensors(**files, specs, c); !s.ok()) return s;

  // 2. Plan (residency_plan.h): which layers stay resident and which stream
  //    through the ring, how many KV sequences fit.
  report(LoadPhase::kPlanning, 0, weight_bytes);
  int64_t context = settings.max_context_length > 0 ? settings.max_context_length : c.max_position_embeddings;
  if (settings.context_is_cap) context = std::min<int64_t>(context, c.max_position_embeddings);
  if (context > c.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrFormat("max_context_length %d exceeds the model's max_position_embeddings %d",
                                                      context, c.max_position_embeddings));
  }
  // Sliding-window attention (Mistral) is not implemented: within the
  // window it is full attention, so a context no longer than the window
  // is exact. A cap shortens the context to the window; an asked-for (or
  // default) longer context is refused.
  if (c.sliding_window > 0 && context > c.sliding_window) {
    if (!settings.context_is_cap) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "config.json: \"sliding_window\" %d is shorter than the context %d (sliding-window attention is not "
          "supported; load with max_context_length <= %d)",
          c.sliding_window, context, c.sliding_window));
    }
    context = c.sliding_window;
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
  // (layer_weight_bytes: the same without the alignment, for the timings.)
  uint64_t layer_bytes = 0, layer_weight_bytes = 0, fixed_bytes = 0;
  for (const WeightBuffer& buffer : buffers) {
    const uint64_t bytes = static_cast<uint64_t>(buffer.rows * buffer.cols) * DTypeSize(dtype);
    if (buffer.layer == 0) {
      layer_bytes += Aligned(bytes);
      layer_weight_bytes += bytes;
    }
    if (buffer.layer < 0) fixed_bytes += Aligned(bytes);
  }
  PlanInputs plan_inputs;
  const uint64_t arena_free = arena->Usage().free();
  const uint64_t reclaimable = settings.reclaimable_bytes ? settings.reclaimable_bytes() : 0;
  plan_inputs.budget_free_bytes = arena_free + reclaimable;
  plan_inputs.layers = c.num_hidden_layers;
  plan_inputs.layer_bytes = layer_bytes;
  plan_inputs.fixed_weight_bytes = fixed_bytes;
  plan_inputs.workspace_bytes = workspace_bytes;
  plan_inputs.kv_bytes_per_sequence = kv_shape.BytesPerSequence();
  plan_inputs.wanted_sequences = wanted;
  plan_inputs.allow_streaming = settings.allow_streaming;
  if (reclaimable > 0 && settings.largest_reclaimable_range) {
    // The workspace, KV cache and fixed weights each need a whole free
    // range: the largest one reclaiming everything would leave.
    const uint64_t range = settings.largest_reclaimable_range();
    const uint64_t whole = workspace_bytes + fixed_bytes;
    const uint64_t per_sequence = std::max<uint64_t>(1, kv_shape.BytesPerSequence());
    plan_inputs.contiguous_sequences =
        static_cast<int>(std::clamp<uint64_t>(range > whole ? (range - whole) / per_sequence : 1, 1, wanted));
  }
  absl::StatusOr<ResidencyPlan> plan = PlanResidency(plan_inputs);
  if (!plan.ok()) return plan.status();
  loaded->plan = *plan;
  auto take = [&](uint64_t bytes, MemoryCategory category) -> absl::StatusOr<ArenaBlock> {
    absl::StatusOr<ArenaBlock> block = arena->Allocate(bytes, category);
    if (block.ok()) loaded->blocks.push_back(*block);
    return block;
  };

  // 3. The workspace, the KV cache and the fixed weights first: each needs
  //    a whole free range. When the largest is short, idle models give
  //    back every layer they can (the plan counted on that range: the
  //    holes join up); the registry lets them promote into what is left
  //    once the load is done. Then what the layers and ring lack is
  //    reclaimed, in holes the size of the other models' layers, which
  //    this model's layer blocks and ring slots fill.
  const uint64_t whole = workspace_bytes + plan->kv_bytes + fixed_bytes;
  if (settings.reclaim && arena->LargestFreeRange() < whole) settings.reclaim(arena->Usage().capacity);
  absl::StatusOr<ArenaBlock> workspace = take(workspace_bytes, MemoryCategory::kWorkspace);
  if (!workspace.ok()) return workspace.status();
  absl::StatusOr<ArenaBlock> kv_block = take(kv_shape.BytesPerSequence() * plan->kv_sequences, MemoryCategory::kKvCache);
  if (!kv_block.ok()) return kv_block.status();
  for (const WeightBuffer& buffer : buffers) {
    if (buffer.layer >= 0) continue;
    absl::StatusOr<ArenaBlock> block =
        take(static_cast<uint64_t>(buffer.rows * buffer.cols) * DTypeSize(dtype), MemoryCategory::kWeights);
    if (!block.ok()) return block.status();
    *buffer.tensor = Tensor{block->data, dtype, buffer.rows, buffer.cols};
  }
  const uint64_t layer_blocks = plan->resident_layers + plan->ring_slots;
  if (const uint64_t fit = arena->BlocksThatFit(layer_bytes); layer_blocks > fit && settings.reclaim) {
    settings.reclaim((layer_blocks - fit) * layer_bytes);
  }

  // 4. Weights, in the compute dtype: every layer into its host copy (and
  //    on to backend memory when resident), the rest into the arena.
  report(LoadPhase::kLoadingWeights, 0, weight_bytes);
  // Layers go through their host copies; the rest (and layers whose host
  // memory runs short) straight to backend memory.
  auto keeps_host_copy = [&](int64_t layer) {
    return settings.allow_streaming &&
           (settings.resident_host_copies || plan->layers[layer] == LayerPlacement::kStreamed);
  };
  auto via_host = [&](const WeightSpec& spec) { return spec.layer >= 0 && keeps_host_copy(spec.layer); };
  // Declared after `loaded`, so destroyed first on every return: the
  // uploader waits for its copies before the arena blocks they write go back.
  ParallelReader reader;
  std::unique_ptr<WeightUploader> uploader;
  uint64_t direct_resident_bytes = 0;
  for (const WeightSpec& spec : specs) {
    const TensorInfo* info = (*files)->Find(spec.name);
    if (!via_host(spec) && info->dtype == dtype) direct_resident_bytes += info->bytes();
  }
  if (direct_resident_bytes > 0) {
    absl::StatusOr<std::unique_ptr<WeightUploader>> created = WeightUploader::Create(
        backend, &reader, std::min(WeightUploader::kDefaultBufferBytes, direct_resident_bytes));
    if (!created.ok()) return created.status();
    uploader = *std::move(created);
  }
  // Every layer that may stream or give way keeps a host copy; a resident
  // layer whose copy the host cannot pin stays resident for good.
  loaded->residency = std::make_unique<ModelResidency>(backend, arena, c.num_hidden_layers, layer_bytes,
                                                       ResidencyPlan::kRingSlots);
  ModelResidency& residency = *loaded->residency;
  std::vector<const std::byte*> layer_layout(c.num_hidden_layers, nullptr);
  std::vector<std::byte*> host_copy(c.num_hidden_layers, nullptr), device_block(c.num_hidden_layers, nullptr);
  // Set when a planned resident layer found no block (the free memory was
  // in pieces the plan's byte count did not see): it and the layers after
  // it stream instead, from their host copies.
  bool out_of_blocks = false;
  auto place_layer = [&](int64_t layer) -> absl::Status {
    const bool resident = plan->layers[layer] == LayerPlacement::kResident && !out_of_blocks;
    if (keeps_host_copy(layer)) {
      const absl::Time allocating = absl::Now();
      absl::StatusOr<std::byte*> host = residency.AllocateHostCopy(layer);
      loaded->timings.host_alloc_seconds += absl::ToDoubleSeconds(absl::Now() - allocating);
      if (!host.ok() && !resident) return host.status();
      if (host.ok()) host_copy[layer] = *host;
    }
    if (resident) {
      absl::StatusOr<std::byte*> device = residency.AllocateDeviceBlock(layer);
      if (!device.ok() && host_copy[layer] == nullptr) return device.status();
      if (device.ok()) {
        device_block[layer] = *device;
      } else {
        out_of_blocks = true;
      }
    }
    std::byte* base = host_copy[layer] != nullptr ? host_copy[layer] : device_block[layer];
    layer_layout[layer] = base;
    for (const WeightBuffer& buffer : buffers) {
      if (buffer.layer != layer) continue;
      *buffer.tensor = Tensor{base, dtype, buffer.rows, buffer.cols};
      base += Aligned(buffer.tensor->bytes());
    }
    return absl::OkStatus();
  };
  // A resident layer with a host copy is read into it whole, then copied to
  // its device block on the copy queue while the next layer is read.
  auto finish_layer = [&](int64_t layer) {
    if (layer < 0 || host_copy[layer] == nullptr || device_block[layer] == nullptr) return;
    backend->CopyToDevice(host_copy[layer], device_block[layer], layer_bytes);
    loaded->timings.resident_bytes += layer_weight_bytes;
  };
  int64_t open_layer = -1;
  uint64_t done = 0;
  for (const WeightSpec& spec : specs) {
    if (settings.cancelled && settings.cancelled()) return absl::CancelledError("load cancelled");
    if (spec.layer != open_layer) {
      finish_layer(open_layer);
      open_layer = spec.layer;
    }
    if (spec.layer >= 0 && layer_layout[spec.layer] == nullptr) {
      if (absl::Status placed = place_layer(spec.layer); !placed.ok()) return placed;
    }
    const TensorInfo* info = (*files)->Find(spec.name);
    const Tensor part = spec.target->Rows(spec.row_offset, spec.rows);
    const absl::Time copy_began = absl::Now();
    if (spec.layer >= 0 && host_copy[spec.layer] != nullptr) {
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
  finish_layer(open_layer);
  const absl::Time finishing = absl::Now();
  if (absl::Status finished = WaitForResidentWeights(backend, uploader.get()); !finished.ok()) return finished;
  loaded->timings.resident_seconds += absl::ToDoubleSeconds(absl::Now() - finishing);
  uploader.reset();  // the bounce buffers are pinned memory: give them back now
  if (c.tie_word_embeddings) weights.lm_head = weights.embed;
  loaded->weight_bytes = weight_bytes;

  // 5. The KV cache's pages, the model, and the ring.
  report(LoadPhase::kAllocatingKvCache, done, weight_bytes);
  const int slots = plan->kv_sequences;
  loaded->kv_cache = std::make_unique<KvCache>(kv_shape, slots, *kv_block);
  workspace_shape.max_batch = slots;  // never more rows than sequences can be live
  loaded->model = std::make_unique<LlamaModel>(
      c, backend, std::move(weights), LlamaModel::MakeWorkspace(c, workspace_shape, dtype, *workspace, backend),
      loaded->kv_cache->layout(), std::move(layer_layout));
  // The ring's slots last: every layer is in place by now.
  if (absl::Status attached = residency.Attach(loaded->model.get()); !attached.ok()) return attached;
  loaded->timings.total_seconds = absl::ToDoubleSeconds(absl::Now() - began);
  report(LoadPhase::kReady, done, weight_bytes);
  return loaded;
}

}  // namespace djinn
