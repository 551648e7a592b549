#include "daemon/engine/llama_model.h"

#include <algorithm>
#include <cstring>

#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "daemon/engine/rope.h"

namespace djinn {
namespace {

// Logit rows computed per lm_head product when every position's logits are
// wanted (scoring): bounds the float32 logits buffer, whatever the chunk.
constexpr int64_t kLogitRowsForScoring = 64;

int64_t LogitRows(const WorkspaceShape& shape) {
  return std::max(shape.max_batch, std::min(shape.rows(), kLogitRowsForScoring));
}

constexpr auto Aligned = Arena::Aligned;

// Int32 elements of the per-step inputs, in the order MakeWorkspace lays them out.
int64_t StepInputElements(const WorkspaceShape& s) {
  return 3 * s.rows() + s.max_batch * (s.pages_per_sequence() + 1 + 4);
}

// Walks `block`, handing out aligned tensors; with a null block it only
// counts the bytes (so sizing and layout cannot disagree).
class Carver {
 public:
  explicit Carver(std::byte* base) : next_(base) {}
  Tensor Take(int64_t rows, int64_t cols, DType type) {
    Tensor t{next_, type, rows, cols};
    Advance(t.bytes());
    return t;
  }
  Tensor TakeBytes(uint64_t bytes) {
    Tensor t{next_, DType::kInt32, 1, static_cast<int64_t>((bytes + 3) / 4)};
    Advance(bytes);
    return t;
  }
  uint64_t used() const { return used_; }

 private:
  void Advance(uint64_t bytes) {
    used_ += Aligned(bytes);
    if (next_ != nullptr) next_ += Aligned(bytes);
  }
  std::byte* next_;
  uint64_t used_ = 0;
};

LlamaWorkspace Carve(const ModelConfig& c, const WorkspaceShape& shape, DType dtype, const Backend& backend,
                     Carver& carve) {
  LlamaWorkspace ws;
  ws.shape = shape;
  const int64_t n = shape.rows();
  const AttentionShape attention{c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  ws.x = carve.Take(n, c.hidden_size, dtype);
  ws.normed = carve.Take(n, c.hidden_size, dtype);
  ws.projected = carve.Take(n, c.hidden_size, dtype);
  ws.qkv = carve.Take(n, c.q_dim() + 2 * c.kv_dim(), dtype);
  ws.attention = carve.Take(n, c.q_dim(), dtype);
  ws.gate_up = carve.Take(n, 2 * c.intermediate_size, dtype);
  ws.activated = carve.Take(n, c.intermediate_size, dtype);
  ws.logits = carve.Take(LogitRows(shape), c.vocab_size, DType::kFloat32);
  ws.attention_scratch = carve.TakeBytes(backend.AttentionScratchBytes(attention, n, shape.context_length));
  ws.sample_scratch = carve.TakeBytes(backend.SampleScratchBytes(shape.max_batch, c.vocab_size));
  ws.rope_cos = carve.Take(shape.context_length, c.head_dim / 2, DType::kFloat32);
  ws.rope_sin = carve.Take(shape.context_length, c.head_dim / 2, DType::kFloat32);
  // The step inputs: one int32 run, sliced.
  ws.step_inputs = carve.Take(1, StepInputElements(shape), DType::kInt32);
  auto* next = ws.step_inputs.i32();
  auto slice = [&](int64_t rows, int64_t cols) {
    Tensor t{next, DType::kInt32, rows, cols};
    if (next != nullptr) next += rows * cols;
    return t;
  };
  ws.ids = slice(n, 1);
  ws.positions = slice(n, 1);
  ws.destinations = slice(n, 1);
  ws.page_tables = slice(shape.max_batch, shape.pages_per_sequence());
  ws.seq_lens = slice(shape.max_batch, 1);
  ws.sampling = slice(shape.max_batch, 4);
  ws.sampled = carve.Take(shape.max_batch, 1, DType::kInt32);
  ws.logprobs = carve.Take(shape.max_batch, 2 * (1 + kMaxTopLogprobs), DType::kInt32);
  return ws;
}

// Offset of `part` inside the step inputs, in int32 elements.
int64_t OffsetIn(const Tensor& step_inputs, const Tensor& part) {
  return static_cast<const int32_t*>(part.data) - static_cast<const int32_t*>(step_inputs.data);
}

}  // namespace

LlamaModel::LlamaModel(ModelConfig config, Backend* backend, LlamaWeights weights, LlamaWorkspace workspace,
                       KvCacheLayout kv_layout, std::vector<const std::byte*> layer_layout)
    : config_(std::move(config)),
      backend_(backend),
      weights_(std::move(weights)),
      workspace_(workspace),
      kv_layout_(kv_layout),
      attention_shape_{config_.num_attention_heads, config_.num_key_value_heads, config_.head_dim},
      layer_layout_(std::move(layer_layout)),
      streamed_index_(config_.num_hidden_layers, -1),
      step_host_(workspace_.step_inputs.elements(), 0),
      sampled_host_(workspace_.shape.max_batch, 0),
      decode_graphs_(workspace_.shape.max_batch) {
  for (const std::byte* layout : layer_layout_) device_blocks_.push_back(const_cast<std::byte*>(layout));
}

void LlamaModel::SetPlacement(std::vector<std::byte*> device_blocks, WeightRing* ring) {
  device_blocks_ = std::move(device_blocks);
  ring_ = ring;
  int next = 0;
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) streamed_index_[l] = device_blocks_[l] == nullptr ? next++ : -1;
  // A recorded step reads the blocks it was recorded with.
  for (std::unique_ptr<OpGraph>& graph : decode_graphs_) graph.reset();
}

LayerWeights LlamaModel::LayerForCompute(int64_t l) {
  const int index = streamed_index_[l];
  std::byte* block = index < 0 ? device_blocks_[l] : ring_->Acquire(index);
  const std::byte* layout = layer_layout_[l];
  LayerWeights w = weights_.layers[l];
  if (block == layout) return w;
  for (Tensor* t : {&w.input_norm, &w.qkv, &w.qkv_bias, &w.q_norm, &w.k_norm, &w.o, &w.o_bias,
                    &w.post_attention_norm, &w.gate_up, &w.gate_up_bias, &w.down, &w.down_bias}) {
    if (t->data != nullptr) t->data = block + (static_cast<const std::byte*>(t->data) - layout);
  }
  return w;
}

void LlamaModel::PrefetchWeights() {
  if (ring_ != nullptr) ring_->Prefetch();
}

void LlamaModel::DoneWithLayer(int64_t l) {
  if (streamed_index_[l] >= 0) ring_->Release(streamed_index_[l]);
}

uint64_t LlamaModel::WorkspaceBytes(const ModelConfig& config, const WorkspaceShape& shape, DType dtype,
                                    const Backend& backend) {
  Carver counter(nullptr);
  Carve(config, shape, dtype, backend, counter);
  return counter.used();
}

LlamaWorkspace LlamaModel::MakeWorkspace(const ModelConfig& c, const WorkspaceShape& shape, DType dtype,
                                         const ArenaBlock& block, Backend* backend) {
  Carver carver(block.data);
  LlamaWorkspace ws = Carve(c, shape, dtype, *backend, carver);
  // Computed on the host, then copied: the arena may be device memory.
  std::vector<float> cos(ws.rope_cos.elements()), sin(ws.rope_sin.elements());
  FillRopeTables(c, shape.context_length, cos, sin);
  backend->Upload(std::as_bytes(std::span<const float>(cos)), DType::kFloat32, ws.rope_cos);
  backend->Upload(std::as_bytes(std::span<const float>(sin)), DType::kFloat32, ws.rope_sin);
  return ws;
}

LlamaModel::StepHost LlamaModel::HostStepInputs() {
  const LlamaWorkspace& ws = workspace_;
  auto at = [&](const Tensor& part) { return step_host_.data() + OffsetIn(ws.step_inputs, part); };
  return StepHost{at(ws.ids),      at(ws.positions), at(ws.destinations), at(ws.page_tables),
                  at(ws.seq_lens), reinterpret_cast<SamplingRow*>(at(ws.sampling))};
}

void LlamaModel::UploadStepInputs() {
  backend_->Upload(std::as_bytes(std::span<const int32_t>(step_host_)), DType::kInt32, workspace_.step_inputs);
}

void LlamaModel::IssueLayers(int64_t n, int64_t decode_rows, std::span<const Segment> prompts) {
  const LlamaWorkspace& ws = workspace_;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const int64_t q_dim = config_.q_dim(), kv_dim = config_.kv_dim(), inter = config_.intermediate_size;
  const Tensor x = ws.x.Rows(0, n), normed = ws.normed.Rows(0, n), qkv = ws.qkv.Rows(0, n);
  const Tensor q = qkv.Cols(0, q_dim), k = qkv.Cols(q_dim, kv_dim), v = qkv.Cols(q_dim + kv_dim, kv_dim);
  const Tensor attention = ws.attention.Rows(0, n), projected = ws.projected.Rows(0, n);
  const Tensor gate_up = ws.gate_up.Rows(0, n), activated = ws.activated.Rows(0, n);
  const Tensor positions = ws.positions.Rows(0, n), destinations = ws.destinations.Rows(0, n);

  // Passes with prompt rows are issued directly; pure decode steps are
  // recorded and replayed (Decode).
  if (ring_ != nullptr) ring_->BeginPass(/*direct=*/!prompts.empty());
  backend_->Embedding(weights_.embed, ws.ids.Rows(0, n), x);
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const LayerWeights w = LayerForCompute(l);
    backend_->RmsNorm(x, w.input_norm, eps, normed);
    backend_->MatMul(normed, w.qkv, qkv);
    if (config_.qkv_bias) backend_->AddBias(qkv, w.qkv_bias);
    if (config_.qk_norm) {
      backend_->HeadRmsNorm(q, config_.head_dim, w.q_norm, eps);
      backend_->HeadRmsNorm(k, config_.head_dim, w.k_norm, eps);
    }
    backend_->Rope(q, config_.head_dim, positions, ws.rope_cos, ws.rope_sin);
    backend_->Rope(k, config_.head_dim, positions, ws.rope_cos, ws.rope_sin);
    backend_->WriteKv(k, v, kv_layout_, l, destinations);
    if (decode_rows > 0) {
      backend_->DecodeAttention(q.Rows(0, decode_rows), kv_layout_, l, ws.page_tables.Rows(0, decode_rows),
                                ws.seq_lens.Rows(0, decode_rows), ws.shape.context_length, attention_shape_,
                                ws.attention_scratch, attention.Rows(0, decode_rows));
    }
    for (const Segment& segment : prompts) {
      backend_->PrefillAttention(q.Rows(segment.row, segment.n), kv_layout_, l, ws.page_tables.Rows(segment.table, 1),
                                 segment.start, attention_shape_, ws.attention_scratch,
                                 attention.Rows(segment.row, segment.n));
    }
    backend_->MatMul(attention, w.o, projected);
    if (config_.o_bias) backend_->AddBias(projected, w.o_bias);
    backend_->Add(x, projected);

    backend_->RmsNorm(x, w.post_attention_norm, eps, normed);
    backend_->MatMul(normed, w.gate_up, gate_up);
    if (config_.mlp_bias) backend_->AddBias(gate_up, w.gate_up_bias);
    backend_->SiluMul(gate_up.Cols(0, inter), gate_up.Cols(inter, inter), activated);
    backend_->MatMul(activated, w.down, projected);
    if (config_.mlp_bias) backend_->AddBias(projected, w.down_bias);
    DoneWithLayer(l);
    backend_->Add(x, projected);
  }
}

void LlamaModel::IssueLogits(int64_t first, int64_t n) {
  const Tensor normed = workspace_.normed.Rows(0, n);
  backend_->RmsNorm(workspace_.x.Rows(first, n), weights_.final_norm, static_cast<float>(config_.rms_norm_eps),
                    normed);
  backend_->MatMul(normed, weights_.lm_head, workspace_.logits.Rows(0, n));
}

int32_t LlamaModel::KvRow(std::span<const int32_t> pages, int64_t position) const {
  const int64_t page_tokens = kv_layout_.page_tokens;
  return static_cast<int32_t>(pages[position / page_tokens] * page_tokens + position % page_tokens);
}

void LlamaModel::StagePromptRows(const StepHost& host, std::span<const int32_t> tokens,
                                 std::span<const int32_t> pages, int64_t start, int64_t n, int64_t row) const {
  for (int64_t t = 0; t < n; ++t) {
    const int64_t position = start + t;
    host.ids[row + t] = tokens[position];
    host.positions[row + t] = static_cast<int32_t>(position);
    host.destinations[row + t] = KvRow(pages, position);
  }
}

void LlamaModel::Score(std::span<const int32_t> tokens, std::span<const int32_t> pages,
                       std::span<float> all_logits) {
  const absl::Time began = absl::Now();
  const LlamaWorkspace& ws = workspace_;
  const int64_t vocab = config_.vocab_size;
  const StepHost host = HostStepInputs();
  std::copy(pages.begin(), pages.end(), host.tables);
  for (int64_t done = 0; done < static_cast<int64_t>(tokens.size());) {
    const int64_t n = std::min<int64_t>(ws.shape.prefill_chunk, static_cast<int64_t>(tokens.size()) - done);
    StagePromptRows(host, tokens, pages, done, n, 0);
    UploadStepInputs();
    const Segment whole{0, n, done, 0};
    IssueLayers(n, 0, {&whole, 1});
    if (ring_ != nullptr) ring_->CountPass();
    // Logits in pieces as large as the logits buffer.
    const int64_t rows = ws.logits.rows;
    for (int64_t first = 0; first < n; first += rows) {
      const int64_t m = std::min(rows, n - first);
      IssueLogits(first, m);
      backend_->Download(ws.logits.Rows(0, m), all_logits.subspan((done + first) * vocab, m * vocab));
    }
    if (ring_ != nullptr) ring_->CollectTimings();
    done += n;
  }
  if (ring_ != nullptr) ring_->AddPassSeconds(absl::ToDoubleSeconds(absl::Now() - began));
}

std::span<const int32_t> LlamaModel::PrefillBatch(std::span<const PrefillSequence> sequences) {
  const int64_t chunk = workspace_.shape.prefill_chunk;
  prefill_chosen_.assign(sequences.size(), -1);
  prefill_logprobs_.assign(sequences.size(), {});
  size_t next = 0;           // the first sequence not fully prefilled
  int64_t done_in_next = 0;  // of its prompt, rows already in the cache
  std::vector<PromptChunk> chunks;
  std::vector<size_t> owners;  // chunks[i] is sequences[owners[i]]'s
  while (next < sequences.size()) {
    // Whole prompts while they fit, then a first part of the next one (it
    // continues in the next pass).
    chunks.clear();
    owners.clear();
    int64_t rows = 0;
    for (size_t s = next; s < sequences.size() && rows < chunk; ++s) {
      const PrefillSequence& sequence = sequences[s];
      const int64_t start = s == next ? done_in_next : 0;
      const int64_t n = std::min<int64_t>(chunk - rows, static_cast<int64_t>(sequence.tokens.size()) - start);
      chunks.push_back(PromptChunk{sequence.tokens, sequence.pages, start, n, sequence.sampling, sequence.top_logprobs});
      owners.push_back(s);
      rows += n;
    }
    const std::span<const int32_t> ids = Step({}, chunks);
    size_t k = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (!chunks[i].ends_prompt()) continue;
      const std::span<const TokenLogprob> logprobs = Logprobs(k);
      prefill_logprobs_[owners[i]].assign(logprobs.begin(), logprobs.end());
      prefill_chosen_[owners[i]] = ids[k++];
    }
    const PromptChunk& last = chunks.back();
    next = last.ends_prompt() ? owners.back() + 1 : owners.back();
    done_in_next = last.ends_prompt() ? 0 : last.start + last.n;
  }
  logprobs_.swap(prefill_logprobs_);
  return prefill_chosen_;
}

void LlamaModel::StageDecodeRows(const StepHost& host, std::span<const DecodeRow> rows) const {
  const int64_t pages_per_sequence = workspace_.page_tables.cols;
  for (size_t b = 0; b < rows.size(); ++b) {
    const DecodeRow& row = rows[b];
    host.ids[b] = row.token;
    host.positions[b] = static_cast<int32_t>(row.position);
    host.destinations[b] = KvRow(row.pages, row.position);
    std::copy(row.pages.begin(), row.pages.end(), host.tables + b * pages_per_sequence);
    host.seq_lens[b] = static_cast<int32_t>(row.position + 1);
    host.sampling[b] = row.sampling;
  }
}

std::span<const int32_t> LlamaModel::Step(std::span<const DecodeRow> rows, std::span<const PromptChunk> chunks) {
  if (chunks.empty()) return Decode(rows);
  const absl::Time began = absl::Now();
  const LlamaWorkspace& ws = workspace_;
  const int64_t decode = static_cast<int64_t>(rows.size());
  const int64_t pages_per_sequence = ws.page_tables.cols;
  const StepHost host = HostStepInputs();
  StageDecodeRows(host, rows);
  // Prompt rows after the decode rows; each chunk's page table after the
  // decode rows' tables.
  segments_.clear();
  row_top_logprobs_.clear();
  for (const DecodeRow& row : rows) row_top_logprobs_.push_back(row.top_logprobs);
  int64_t n = decode, finishing = 0;
  for (const PromptChunk& chunk : chunks) {
    const int64_t table = decode + static_cast<int64_t>(segments_.size());
    segments_.push_back(Segment{n, chunk.n, chunk.start, table});
    std::copy(chunk.pages.begin(), chunk.pages.end(), host.tables + table * pages_per_sequence);
    StagePromptRows(host, chunk.tokens, chunk.pages, chunk.start, chunk.n, n);
    if (chunk.ends_prompt()) {
      host.sampling[decode + finishing++] = chunk.sampling;
      row_top_logprobs_.push_back(chunk.top_logprobs);
    }
    n += chunk.n;
  }
  UploadStepInputs();
  IssueLayers(n, decode, segments_);
  if (ring_ != nullptr) ring_->CountPass();
  // Logits for the decode rows and the last row of each finished prompt, in
  // consecutive rows: one lm_head product and one Sample for all of them.
  const float eps = static_cast<float>(config_.rms_norm_eps);
  if (decode > 0) backend_->RmsNorm(ws.x.Rows(0, decode), weights_.final_norm, eps, ws.normed.Rows(0, decode));
  int64_t m = decode;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!chunks[i].ends_prompt()) continue;
    const Segment& segment = segments_[i];
    backend_->RmsNorm(ws.x.Rows(segment.row + segment.n - 1, 1), weights_.final_norm, eps, ws.normed.Rows(m++, 1));
  }
  if (m > 0) {
    backend_->MatMul(ws.normed.Rows(0, m), weights_.lm_head, ws.logits.Rows(0, m));
    backend_->Sample(ws.logits.Rows(0, m), ws.sampling.Rows(0, m), ws.sample_scratch, ws.sampled.Rows(0, m));
    backend_->CopyToHost(ws.sampled.Rows(0, m), std::as_writable_bytes(std::span<int32_t>(sampled_host_.data(), m)));
    if (ring_ != nullptr) ring_->CollectTimings();
  }
  FetchLogprobs(row_top_logprobs_);
  if (ring_ != nullptr) ring_->AddPassSeconds(absl::ToDoubleSeconds(absl::Now() - began));
  return std::span<const int32_t>(sampled_host_.data(), m);
}

void LlamaModel::IssueDecodeStep(int64_t batch) {
  IssueLayers(batch, batch, {});
  IssueLogits(0, batch);
  const LlamaWorkspace& ws = workspace_;
  backend_->Sample(ws.logits.Rows(0, batch), ws.sampling.Rows(0, batch), ws.sample_scratch, ws.sampled.Rows(0, batch));
}

std::span<const int32_t> LlamaModel::Decode(std::span<const DecodeRow> rows) {
  const absl::Time began = absl::Now();
  const LlamaWorkspace& ws = workspace_;
  const int64_t batch = static_cast<int64_t>(rows.size());
  StageDecodeRows(HostStepInputs(), rows);
  UploadStepInputs();
  std::unique_ptr<OpGraph>& graph = decode_graphs_[batch - 1];
  if (graph == nullptr) graph = backend_->Record([this, batch] { IssueDecodeStep(batch); });
  graph->Replay();
  if (ring_ != nullptr) ring_->CountPass();
  backend_->CopyToHost(ws.sampled.Rows(0, batch),
                       std::as_writable_bytes(std::span<int32_t>(sampled_host_.data(), batch)));
  if (ring_ != nullptr) ring_->CollectTimings();
  row_top_logprobs_.clear();
  for (const DecodeRow& row : rows) row_top_logprobs_.push_back(row.top_logprobs);
  FetchLogprobs(row_top_logprobs_);
  if (ring_ != nullptr) ring_->AddPassSeconds(absl::ToDoubleSeconds(absl::Now() - began));
  return std::span<const int32_t>(sampled_host_.data(), batch);
}

void LlamaModel::FetchLogprobs(std::span<const int32_t> top_logprobs) {
  const int64_t rows = static_cast<int64_t>(top_logprobs.size());
  logprobs_.resize(top_logprobs.size());
  for (std::vector<TokenLogprob>& row : logprobs_) row.clear();
  // The run of logits rows from the first that asked to the last, with the
  // largest top_n any of them wants (the others' extra entries are dropped).
  int64_t first = rows, last = -1, top_n = -1;
  for (int64_t r = 0; r < rows; ++r) {
    if (top_logprobs[r] < 0) continue;
    first = std::min(first, r);
    last = r;
    top_n = std::max<int64_t>(top_n, std::min<int64_t>(top_logprobs[r], kMaxTopLogprobs));
  }
  if (last < 0) return;
  top_n = std::min<int64_t>(top_n, config_.vocab_size);
  const LlamaWorkspace& ws = workspace_;
  const int64_t count = last - first + 1, cols = 2 * (1 + top_n);
  const Tensor out{ws.logprobs.data, DType::kInt32, count, cols};  // dense, at the buffer's start
  backend_->TopLogprobs(ws.logits.Rows(first, count), ws.sampled.Rows(first, count), top_n, out);
  logprobs_host_.resize(static_cast<size_t>(count * cols));
  backend_->CopyToHost(out, std::as_writable_bytes(std::span<int32_t>(logprobs_host_)));
  for (int64_t r = first; r <= last; ++r) {
    if (top_logprobs[r] < 0) continue;
    const auto* entries = reinterpret_cast<const TokenLogprob*>(logprobs_host_.data() + (r - first) * cols);
    logprobs_[r].assign(entries, entries + 1 + std::min<int64_t>(top_logprobs[r], top_n));
  }
}

}  // namespace djinn
