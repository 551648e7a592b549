// The seam between the engine and the hardware. The engine runs the Llama
// graph as calls to this small set of ops on Tensors in backend memory; a
// backend (cpu/, cuda/) implements them. Nothing above this interface knows
// which backend runs it.
//
// Ops are issued by one thread at a time and complete in issue order; a
// backend may run them asynchronously as long as Download() and CopyToHost()
// return finished results.
//
// Everything that changes from one decode step to the next (token ids,
// positions, KV destinations, sequence lengths, sampling parameters) is
// passed in int32 / float tensors in backend memory, never as host values, so
// that a recorded step (Record / OpGraph) can be replayed after the engine has
// rewritten those tensors with one Upload.
#ifndef DJINN_DAEMON_BACKEND_BACKEND_H_
#define DJINN_DAEMON_BACKEND_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/backend/tensor.h"

namespace djinn {

struct DeviceDescription {
  std::string kind;  // "cpu" or "cuda"
  std::string name;  // e.g. the CPU model or "NVIDIA H100 80GB HBM3"
  uint64_t total_memory_bytes = 0;
  // Which device, as metrics label it: "cpu", or "cuda:<ordinal>" ("cuda:0").
  std::string id;
};

// The whole device's memory as its driver or kernel reports it at the moment
// of asking: every process's use, not only this daemon's budget (which the
// arena accounts for). On the GPU, cudaMemGetInfo; on the CPU, the host's RAM
// from /proc/meminfo, "used" being MemTotal - MemAvailable.
struct DeviceMemoryUsage {
  uint64_t total_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t free_bytes() const { return total_bytes - used_bytes; }
};

// The KV cache of one model: a pool of pages, each holding `page_tokens`
// rows of keys and of values for every layer. Page p, layer l:
//   keys   at base + (((p * layers + l) * 2 + 0) * page_tokens) * kv_dim elements
//   values at base + (((p * layers + l) * 2 + 1) * page_tokens) * kv_dim elements
// each [page_tokens, kv_dim] row-major. A sequence's page table lists its
// pages in order; token t of the sequence lives in page table[t / page_tokens],
// row t % page_tokens.
struct KvCacheLayout {
  void* base = nullptr;
  DType dtype = DType::kFloat32;
  int64_t layers = 0;
  int64_t page_tokens = 0;
  int64_t kv_dim = 0;

  int64_t page_elements() const { return layers * 2 * page_tokens * kv_dim; }
};

struct AttentionShape {
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
};

// One row's sampling parameters as the Sample op reads them: a [rows, 4]
// int32 tensor whose columns are these four fields (floats bit-cast).
struct SamplingRow {
  float temperature = 0;  // <= 0: greedy (first maximum)
  int32_t top_k = 0;      // <= 0 or >= vocab: off
  float top_p = 1;        // <= 0 or >= 1: off
  float uniform = 0;      // the row's random draw in [0, 1); unused when greedy
};
static_assert(sizeof(SamplingRow) == 4 * sizeof(int32_t));

// A token and its log-probability, as the TopLogprobs op writes them: an
// int32 pair (the float bit-cast), so a row of them is an int32 tensor row.
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
};
static_assert(sizeof(TokenLogprob) == 2 * sizeof(int32_t));

// Most alternatives TopLogprobs reports per row (OpenAI's top_logprobs limit).
constexpr int64_t kMaxTopLogprobs = 20;

// The two queues a backend runs work on, in issue order within each: every
// op above runs on the compute queue; CopyToDevice runs on the copy queue, so
// that streamed weights arrive while the GPU computes.
enum class Queue { kCompute, kCopy };

// A point in one queue's work (RecordEvent) that work on the other queue, or
// the host, can wait for. Reusable: each RecordEvent moves the point.
class QueueEvent {
 public:
  virtual ~QueueEvent() = default;
};

// Ops recorded once and replayed many times (a CUDA graph on the GPU). Replay
// re-runs the recorded ops with the same arguments; the contents of the
// tensors they read may have changed in between.
class OpGraph {
 public:
  virtual ~OpGraph() = default;
  virtual void Replay() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual DeviceDescription Describe() const = 0;
  // The device's memory now (see DeviceMemoryUsage). Safe to call from any
  // thread, while another issues ops: /metrics asks at every scrape. An error
  // (the driver or /proc cannot tell) is returned, never fatal, so that a
  // scrape cannot take the daemon down.
  virtual absl::StatusOr<DeviceMemoryUsage> MemoryUsage() const = 0;
  // The dtype weights, activations and KV cache of a model stored in
  // `stored` are held in (the CPU computes in float32; the GPU keeps fp32
  // and bf16 models in their own type and fp16 in fp16).
  virtual DType ComputeDType(DType stored) const = 0;
  // Longest prompt chunk one forward pass should take: small on the CPU to
  // bound the workspace, large on a GPU so prefill GEMMs are compute-bound.
  virtual int64_t PreferredPrefillChunk() const = 0;

  // Memory. The daemon reserves its whole budget once at start-up and
  // sub-allocates it; backends never allocate on the hot path.
  virtual absl::StatusOr<std::byte*> ReserveArena(uint64_t bytes) = 0;
  virtual void ReleaseArena(std::byte* base, uint64_t bytes) = 0;

  // Copies `source` (host bytes, dst.elements() values in `source_dtype`)
  // into dense `dst` in backend memory, converting to dst.dtype (int32 only
  // from int32). Returns once `source` may be reused.
  virtual void Upload(std::span<const std::byte> source, DType source_dtype, const Tensor& dst) = 0;
  // Copies floating-point `src` into host floats; waits for pending ops.
  virtual void Download(const Tensor& src, std::span<float> host) = 0;
  // Copies dense `src` byte for byte (any dtype); waits for pending ops.
  virtual void CopyToHost(const Tensor& src, std::span<std::byte> host) = 0;

  // Records the ops `issue` makes, without running them, for replay. The ops
  // must not Upload, Download or CopyToHost. They may copy and use events;
  // then the first copy-queue work must wait for an event recorded on the
  // compute queue inside `issue`, and the compute queue must end by waiting
  // for the copy queue's last event (the recorded work forks and joins).
  virtual std::unique_ptr<OpGraph> Record(const std::function<void()>& issue) = 0;

  // Streaming. Host memory the copy queue reads at full speed (page-locked
  // on a GPU); RESOURCE_EXHAUSTED when the host cannot provide it.
  virtual absl::StatusOr<std::byte*> AllocateHostMemory(uint64_t bytes) = 0;
  virtual void FreeHostMemory(std::byte* memory, uint64_t bytes) = 0;
  // On the copy queue: `bytes` from host memory (AllocateHostMemory) to
  // backend memory.
  virtual void CopyToDevice(const std::byte* host, void* device, uint64_t bytes) = 0;
  virtual std::unique_ptr<QueueEvent> CreateEvent() = 0;
  // Places `event` after everything issued to `queue` so far.
  virtual void RecordEvent(QueueEvent* event, Queue queue) = 0;
  // Work issued to `queue` from now on starts only once `event` is reached.
  virtual void WaitForEvent(Queue queue, QueueEvent* event) = 0;
  // Blocks the calling thread until `event` is reached.
  virtual void Synchronize(QueueEvent* event) = 0;
  // A QueueEvent that also notes when its queue reached it, every time it is
  // recorded (inside Record too: each replay notes it again). For measuring
  // where the queues waited for each other; costs a little more than an
  // ordinary event.
  virtual std::unique_ptr<QueueEvent> CreateTimingEvent() = 0;
  // Seconds from `from` being reached to `to` being reached, both timing
  // events recorded and reached (the host read a result issued after them).
  // `from` must have been reached first; NaN where the backend cannot tell.
  virtual double SecondsBetween(QueueEvent* from, QueueEvent* to) = 0;

  // out[t] = table[ids[t]]; ids int32 [n, 1].
  virtual void Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) = 0;
  // out = x / rms(x) * weight, per row; statistics in fp32.
  virtual void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) = 0;
  // out = x · wᵀ   ([n, k] · [m, k]ᵀ = [n, m]). x and w dense and of one
  // dtype; out dense, of that dtype or float32 (logits).
  virtual void MatMul(const Tensor& x, const Tensor& w, const Tensor& out) = 0;
  // x += y (both dense)
  virtual void Add(const Tensor& x, const Tensor& y) = 0;
  // out = silu(gate) * up; gate and up may be strided; out dense.
  virtual void SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) = 0;
  // x[r] += bias for every row r, in place: a linear layer's bias after its
  // MatMul (x [n, m], may be strided; bias dense, m values of x's dtype:
  // [1, m] or the loader's [m, 1]).
  virtual void AddBias(const Tensor& x, const Tensor& bias) = 0;
  // RmsNorm of every head_dim-wide slice of every row of x ([n, heads *
  // head_dim], may be strided), in place, each slice scaled by weight
  // ([1, head_dim]): Qwen3's per-head q_norm / k_norm. Statistics in fp32,
  // each output rounded once, as RmsNorm.
  virtual void HeadRmsNorm(const Tensor& x, int64_t head_dim, const Tensor& weight, float eps) = 0;
  // Rotates each head of x ([n, heads * head_dim], may be strided) in place
  // by positions[t] (int32 [n, 1]), HF rotate_half layout. cos/sin are fp32
  // [max_positions, head_dim / 2].
  virtual void Rope(const Tensor& x, int64_t head_dim, const Tensor& positions, const Tensor& cos,
                    const Tensor& sin) = 0;
  // Writes row t of k and v ([n, kv_dim], may be strided) to cache row
  // destinations[t] (int32 [n, 1]: page * page_tokens + row in page) of
  // `layer`.
  virtual void WriteKv(const Tensor& k, const Tensor& v, const KvCacheLayout& cache, int64_t layer,
                       const Tensor& destinations) = 0;

  // Attention scratch: bytes PrefillAttention / DecodeAttention need for
  // `rows` query rows over at most `max_seq_len` keys.
  virtual uint64_t AttentionScratchBytes(const AttentionShape& shape, int64_t rows, int64_t max_seq_len) const = 0;
  // Causal attention of one sequence's queries q ([n, heads * head_dim], may
  // be strided) at positions start..start+n-1 over its cached keys and values
  // [0, start + n) (already written); page_table int32 [1, pages]. out dense
  // [n, heads * head_dim].
  virtual void PrefillAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_table,
                                int64_t start, const AttentionShape& shape, const Tensor& scratch,
                                const Tensor& out) = 0;
  // One query row per sequence: row b of q attends to keys [0, seq_lens[b])
  // of the sequence whose page table is row b of page_tables (int32
  // [B, pages]); seq_lens int32 [B, 1], each in [1, max_seq_len]. Work is
  // split along the keys so that one sequence still fills a GPU.
  virtual void DecodeAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_tables,
                               const Tensor& seq_lens, int64_t max_seq_len, const AttentionShape& shape,
                               const Tensor& scratch, const Tensor& out) = 0;

  // Sampling scratch for `rows` rows of `vocab` logits.
  virtual uint64_t SampleScratchBytes(int64_t rows, int64_t vocab) const = 0;
  // Chooses one token per row of float32 logits [B, vocab] with that row of
  // params ([B, 4] SamplingRow) and writes it to ids (int32 [B, 1]). The
  // rule is SampleFromLogits (engine/sampling/sampler.h): greedy takes the
  // first maximum; otherwise temperature, top-k, top-p, softmax, and the
  // uniform draw inverted over the kept tokens in descending order.
  virtual void Sample(const Tensor& logits, const Tensor& params, const Tensor& scratch, const Tensor& ids) = 0;

  // Log-probabilities under the raw distribution of each row of float32
  // logits [B, vocab] (log_softmax, before any temperature, top-k or top-p),
  // for the token chosen in that row (ids int32 [B, 1], Sample's output)
  // and the top_n (0..kMaxTopLogprobs, at most vocab) most likely tokens.
  // Row b of out (dense int32 [B, 2 * (1 + top_n)], TokenLogprob entries)
  // is the chosen token, then the top_n with the largest logits, largest
  // first, equal logits by lower id. NaN logits count as -inf; when some logits are +inf those
  // share the whole probability (log(1 / count) each, -inf the rest), as
  // Sample treats them. A chosen id outside [0, vocab) gets logprob NaN; a
  // row with no logit above -inf gives NaN logprobs throughout. Not part of
  // a recorded step: the engine issues it after Sample, only when some row
  // asks, and needs no scratch for it.
  virtual void TopLogprobs(const Tensor& logits, const Tensor& ids, int64_t top_n, const Tensor& out) = 0;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_BACKEND_H_
