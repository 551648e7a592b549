// A loaded Llama-family model: its weights and scratch space in the arena, and
// the forward pass written once against the Backend ops.
//
//   x = embed(tokens)
//   per layer:  q|k|v = qkv(norm(x)) (+ bias: Qwen2, Llama attention_bias)
//               q, k = head_norm(q), head_norm(k)        (Qwen3)
//               h = x + o_proj(attention(rope(q), rope(k), v))
//               gate|up = gate_up(norm(h));  x = h + down(silu(gate) * up)
//               (o_proj, gate_up and down + bias where the config has them)
//   logits = lm_head(norm(x))          (lm_head = embed when tied)
//
// q/k/v and gate/up are fused into one weight matrix each (stacked rows), so
// a step reads each layer's weights in four matrix products instead of seven:
// with one token per sequence, decoding is a stream over the weights and
// fewer, larger products run closer to the memory bandwidth.
//
// Ways in:
//  - Step: one pass that advances every decoding sequence by a token and
//    writes chunks of new prompts to the cache in the same rows, so a
//    prompt never waits for the batch and the batch never waits for a
//    prompt (with streamed layers the pass copies them once for both).
//    Without prompt chunks it is Decode.
//  - Decode: one new token for each of B sequences, each at its own position
//    with its own KV pages. The step's ops are recorded once per B (an
//    OpGraph: a CUDA graph on the GPU) and replayed; per-step values reach
//    the device in one Upload of the step inputs.
//  - PrefillBatch: whole prompts, packed into Steps of at most
//    prefill_chunk rows.
//  All end by sampling on the backend; only the chosen ids come back, and,
//  for the rows that ask (top_logprobs >= 0), the chosen token's
//  log-probability and the top alternatives (Logprobs), computed by one more
//  op outside the recorded step, so rows that do not ask pay nothing.
//  - Score: every position's logits of one sequence (tests and tools).
#ifndef DJINN_DAEMON_ENGINE_LLAMA_MODEL_H_
#define DJINN_DAEMON_ENGINE_LLAMA_MODEL_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/model_config.h"
#include "daemon/backend/backend.h"
#include "daemon/engine/kv_cache.h"
#include "daemon/engine/weight_ring.h"
#include "daemon/memory/arena.h"

namespace djinn {

// Tensors the architecture lacks (ModelConfig's qkv_bias, o_bias,
// mlp_bias, qk_norm) have no data. Biases are [m, 1] (the column a product
// with m outputs adds), fused as their weights are.
struct LayerWeights {
  Tensor input_norm;
  Tensor qkv;  // [q_dim + 2 * kv_dim, hidden]: q_proj, k_proj, v_proj rows
  Tensor qkv_bias;  // [q_dim + 2 * kv_dim, 1]
  Tensor q_norm, k_norm;  // [1, head_dim]
  Tensor o;
  Tensor o_bias;  // [hidden, 1]
  Tensor post_attention_norm;
  Tensor gate_up;  // [2 * intermediate, hidden]: gate_proj, up_proj rows
  Tensor gate_up_bias;  // [2 * intermediate, 1]
  Tensor down;
  Tensor down_bias;  // [hidden, 1]
};

struct LlamaWeights {
  Tensor embed;
  std::vector<LayerWeights> layers;
  Tensor final_norm;
  Tensor lm_head;  // aliases embed when the model ties them
};

// How much work one forward pass may take; sizes the workspace.
struct WorkspaceShape {
  int64_t context_length = 0;
  int64_t prefill_chunk = 0;  // prompt rows per pass
  int64_t max_batch = 0;      // sequences per decode step
  int64_t page_tokens = 0;    // KV-cache page size (KvCacheLayout)

  int64_t rows() const { return prefill_chunk > max_batch ? prefill_chunk : max_batch; }
  int64_t pages_per_sequence() const { return (context_length + page_tokens - 1) / page_tokens; }
};

// Activation buffers, per-step inputs and scratch, laid out once in the arena.
struct LlamaWorkspace {
  WorkspaceShape shape;
  Tensor x, normed, qkv, attention, projected, gate_up, activated;  // [rows, *]
  Tensor logits;                                                    // float32 [logit_rows, vocab]
  Tensor attention_scratch, sample_scratch;                         // bytes, as the backend asked
  Tensor rope_cos, rope_sin;                                        // float32 [context, head_dim / 2]
  // Per-step inputs, all int32 and contiguous so that one Upload sends them:
  Tensor step_inputs;   // [1, everything below]
  Tensor ids;           // [rows, 1] token ids
  Tensor positions;     // [rows, 1]
  Tensor destinations;  // [rows, 1] KV row: page * page_tokens + row in page
  Tensor page_tables;   // [max_batch, pages_per_sequence]; prefill uses row 0
  Tensor seq_lens;      // [max_batch, 1]
  Tensor sampling;      // [max_batch, 4] SamplingRow
  Tensor sampled;       // [max_batch, 1] the step's output ids (not uploaded)
  Tensor logprobs;      // int32 [max_batch, 2 * (1 + kMaxTopLogprobs)]: TopLogprobs' output
};

// One sequence whose prompt is prefilled.
struct PrefillSequence {
  std::span<const int32_t> tokens;  // the whole prompt, from position 0
  std::span<const int32_t> pages;
  SamplingRow sampling;             // for its first generated token
  int32_t top_logprobs = -1;        // see DecodeRow
};

// Positions [start, start + n) of one sequence's prompt in a Step (the
// cache holds [0, start)).
struct PromptChunk {
  std::span<const int32_t> tokens;  // the whole prompt, from position 0
  std::span<const int32_t> pages;
  int64_t start = 0, n = 0;
  SamplingRow sampling;             // for its first generated token, if the chunk ends the prompt
  int32_t top_logprobs = -1;        // see DecodeRow; read if the chunk ends the prompt
  bool ends_prompt() const { return start + n == static_cast<int64_t>(tokens.size()); }
};

// One sequence in a decode step.
struct DecodeRow {
  int32_t token = 0;     // the token to feed (sampled last step)
  int64_t position = 0;  // its position; the cache holds [0, position)
  std::span<const int32_t> pages;
  SamplingRow sampling;
  // < 0: no log-probabilities for the sampled token; else its own and the
  // top_logprobs (<= kMaxTopLogprobs) most likely alternatives (Logprobs).
  int32_t top_logprobs = -1;
};

class LlamaModel {
 public:
  // weights.layers[l]'s tensors are laid out from layer_layout[l] (the
  // start of its input_norm): the layer's host copy, or its block in backend
  // memory when it has no host copy. Where each layer is read from is
  // SetPlacement's; until it is called every layer is read where it is
  // laid out (so layout in backend memory means all resident).
  LlamaModel(ModelConfig config, Backend* backend, LlamaWeights weights, LlamaWorkspace workspace,
             KvCacheLayout kv_layout, std::vector<const std::byte*> layer_layout);

  // Between passes: layer l is read from device_blocks[l] (backend memory)
  // when that is not null, else streamed through `ring`, whose blocks are
  // the streamed layers' host copies in layer order. Recorded decode steps
  // are dropped (they are recorded again on first use).
  void SetPlacement(std::vector<std::byte*> device_blocks, WeightRing* ring);

  // Runs `tokens` from position 0 through the model, writing their keys and
  // values to `pages`, and the logits of every token into `all_logits`
  // (tokens.size() * vocab_size floats).
  void Score(std::span<const int32_t> tokens, std::span<const int32_t> pages, std::span<float> all_logits);

  // Prefills several prompts together (at most max_batch): their rows are
  // packed into passes of at most prefill_chunk rows, so a pass reads the
  // weights once for all of them (with streamed weights, one copy of the
  // model instead of one per prompt). Returns each sequence's sampled first
  // token, in order (negative: sampling failed).
  std::span<const int32_t> PrefillBatch(std::span<const PrefillSequence> sequences);

  // One token for each row (at most max_batch rows); returns the sampled ids
  // in row order (negative: sampling failed for that row).
  std::span<const int32_t> Decode(std::span<const DecodeRow> rows);

  // Decode rows and prompt chunks in one pass: rows.size() + the chunks'
  // rows at most max(prefill_chunk, max_batch), rows.size() + chunks.size()
  // at most max_batch. Returns the decode rows' ids, then the first token of
  // each chunk that ends its prompt, in order.
  std::span<const int32_t> Step(std::span<const DecodeRow> rows, std::span<const PromptChunk> chunks);

  // After Decode, Step or PrefillBatch: for returned id i (same order), the
  // chosen token and its log-probability, then the row's top_logprobs most
  // likely tokens (Backend::TopLogprobs: the raw distribution, before
  // temperature, top-k and top-p); empty for a row that asked for none.
  // Valid until the next pass.
  std::span<const TokenLogprob> Logprobs(size_t i) const { return logprobs_[i]; }

  // While idle, with streamed layers: starts copying the blocks the next
  // pass begins with, so that a prompt arriving now need not wait for them.
  void PrefetchWeights();

  const ModelConfig& config() const { return config_; }
  int64_t context_length() const { return workspace_.shape.context_length; }
  int64_t max_batch() const { return workspace_.shape.max_batch; }
  int64_t prefill_chunk() const { return workspace_.shape.prefill_chunk; }
  const LlamaWeights& weights() const { return weights_; }

  // Bytes of workspace needed for `shape` on `backend`.
  static uint64_t WorkspaceBytes(const ModelConfig& config, const WorkspaceShape& shape, DType dtype,
                                 const Backend& backend);
  // Lays the workspace out over `block` and uploads the RoPE tables.
  static LlamaWorkspace MakeWorkspace(const ModelConfig& config, const WorkspaceShape& shape, DType dtype,
                                      const ArenaBlock& block, Backend* backend);

 private:
  // A run of rows of one sequence in a prefill pass: rows [row, row + n) of
  // the pass are its positions [start, start + n); its page table is row
  // `table` of page_tables.
  struct Segment {
    int64_t row = 0, n = 0, start = 0, table = 0;
  };
  // Issues the layers for `n` rows whose ids/positions/destinations are in
  // the workspace. Rows [0, decode_rows) attend as decode rows (page_tables / seq_lens rows
  // 0..decode_rows); each prompt segment by prefill attention.
  void IssueLayers(int64_t n, int64_t decode_rows, std::span<const Segment> prompts);

  // Final norm and lm_head for workspace rows [first, first + n) into
  // logits rows [0, n).
  void IssueLogits(int64_t first, int64_t n);
  void IssueDecodeStep(int64_t batch);
  // Layer l's weights where the ops can read them: resident, or in the ring
  // slot its block was copied to (Acquire) for streamed layers.
  LayerWeights LayerForCompute(int64_t l);
  void DoneWithLayer(int64_t l);
  // Where each per-step input lives in the host copy of the step inputs.
  struct StepHost {
    int32_t *ids, *positions, *destinations, *tables, *seq_lens;
    SamplingRow* sampling;
  };
  StepHost HostStepInputs();
  // Rows [0, rows.size()) of the step inputs from decode rows.
  void StageDecodeRows(const StepHost& host, std::span<const DecodeRow> rows) const;
  void UploadStepInputs();
  // After a pass's Sample: TopLogprobs over the logits rows that asked
  // (top_logprobs[r] >= 0, r in logits-row order) into logprobs_; clears
  // logprobs_ to top_logprobs.size() empty rows first.
  void FetchLogprobs(std::span<const int32_t> top_logprobs);
  // Writes rows [row, row + n) of the step inputs: tokens[start, start + n)
  // of a sequence with `pages`, at their positions.
  void StagePromptRows(const StepHost& host, std::span<const int32_t> tokens, std::span<const int32_t> pages,
                       int64_t start, int64_t n, int64_t row) const;
  // The KV-cache row (page * page_tokens + row in page) of `position`.
  int32_t KvRow(std::span<const int32_t> pages, int64_t position) const;

  const ModelConfig config_;
  Backend* const backend_;
  const LlamaWeights weights_;
  const LlamaWorkspace workspace_;
  const KvCacheLayout kv_layout_;
  const AttentionShape attention_shape_;
  const std::vector<const std::byte*> layer_layout_;
  // Placement (SetPlacement): per layer its block in backend memory, or
  // null and its index among the layers `ring_` streams.
  WeightRing* ring_ = nullptr;
  std::vector<std::byte*> device_blocks_;
  std::vector<int> streamed_index_;  // -1 for a layer in device_blocks_
  // Host copy of workspace_.step_inputs, rewritten every pass.
  std::vector<int32_t> step_host_;
  std::vector<int32_t> sampled_host_;
  std::vector<int32_t> prefill_chosen_;
  // Per logits row of the pass: what the row asked (DecodeRow::top_logprobs).
  std::vector<int32_t> row_top_logprobs_;
  std::vector<int32_t> logprobs_host_;                // TopLogprobs' output, copied back
  std::vector<std::vector<TokenLogprob>> logprobs_;   // Logprobs(i)
  std::vector<std::vector<TokenLogprob>> prefill_logprobs_;
  std::vector<Segment> segments_;
  // decode_graphs_[b - 1]: the recorded decode step for batch b, made on
  // first use.
  std::vector<std::unique_ptr<OpGraph>> decode_graphs_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_LLAMA_MODEL_H_
