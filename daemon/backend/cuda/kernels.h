// Launchers for the CUDA backend's own kernels, callable from host C++
// (cuda_backend.cc) with plain types. Every launcher enqueues on `stream`,
// checks the launch and returns at once; none allocates, synchronises or
// reads device memory on the host, so each can be captured into a CUDA graph
// and replayed after the engine has rewritten the index tensors it reads.
// Launch configurations depend only on the shapes passed here, never on
// tensor contents.
//
// Element types: activations, weights and the KV cache are fp32, fp16 or
// bf16; RoPE tables and logits are fp32; ids, positions, destinations, page
// tables and sequence lengths are int32 in device memory. All arithmetic is
// fp32, each output rounded once to its element type. Row strides are in
// elements. Index tensors are [rows, 1] (or [B, pages]) with a row stride.
//
// Where a kernel is the one place the grid comes from:
//   elementwise_kernels.cu    Embedding, RmsNorm, HeadRmsNorm, Add, AddBias, SiluMul, Rope, WriteKv
//   decode_attention.cu       split-K (flash-decoding) attention + combine
//   prefill_attention.cu      tensor-core flash attention (fp16/bf16, d 64/128)
//   prefill_attention_simple.cu  the general fallback (any dtype, d <= 256)
//   sample_kernel.cu          greedy / top-k / top-p sampling, one block a row
//   top_logprobs_kernel.cu    log-probabilities and the top alternatives, one block a row
#ifndef DJINN_DAEMON_BACKEND_CUDA_KERNELS_H_
#define DJINN_DAEMON_BACKEND_CUDA_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "common/dtype.h"  // the launchers take float32, float16 or bfloat16

namespace djinn::cuda {

// CUDA errors here are programming errors or device faults: report where and
// abort rather than carry on with a broken stream.
[[noreturn]] inline void CudaFailure(cudaError_t error, const char* what, const char* file, int line) {
  std::fprintf(stderr, "djinn cuda: %s failed at %s:%d: %s (%s)\n", what, file, line, cudaGetErrorString(error),
               cudaGetErrorName(error));
  std::abort();
}

#define DJINN_CUDA_CHECK(expr)                                                  \
  do {                                                                          \
    const cudaError_t djinn_cuda_error_ = (expr);                               \
    if (djinn_cuda_error_ != cudaSuccess) {                                     \
      ::djinn::cuda::CudaFailure(djinn_cuda_error_, #expr, __FILE__, __LINE__); \
    }                                                                           \
  } while (0)

// After a kernel launch: configuration errors show up here. (Legal during
// stream capture: it reads the thread's error state, not the stream.)
#define DJINN_CUDA_CHECK_LAUNCH() DJINN_CUDA_CHECK(cudaGetLastError())

// Largest head_dim the attention kernels support.
constexpr int64_t kMaxHeadDim = 256;

// Raise the dynamic shared-memory limits of the kernels that need more than
// 48 KiB. The backend calls each once at start-up, before any launch (and so
// before any graph capture).
void PrepareDecodeAttention();
void PreparePrefillAttention();
void PrepareSample();

// ------------------------------------------------------------ row ops

// out[t, :] = table[ids[t], :] for t < n. An id outside [0, table_rows)
// gives a row of zeros rather than a read out of bounds (the engine checks
// ids before uploading them).
void LaunchEmbedding(DType type, const void* table, int64_t table_rows, int64_t cols, const int32_t* ids,
                     int64_t ids_stride, int64_t n, void* out, int64_t out_stride, cudaStream_t stream);

// out[r, :] = weight * (x[r, :] * rsqrt(mean(x[r, :]²) + eps)); fp32 statistics.
void LaunchRmsNorm(DType type, const void* x, int64_t x_stride, const void* weight, float eps, int64_t rows,
                   int64_t cols, void* out, int64_t out_stride, cudaStream_t stream);

// x += y over `count` dense elements.
void LaunchAdd(DType type, void* x, const void* y, int64_t count, cudaStream_t stream);

// x[r] += bias over [rows, cols] (x strided, bias dense [cols]).
void LaunchAddBias(DType type, void* x, int64_t x_stride, const void* bias, int64_t rows, int64_t cols,
                   cudaStream_t stream);

// RmsNorm in place over every head_dim slice of x [rows, cols] (strided),
// each scaled by weight [head_dim]: one block per (row, head).
void LaunchHeadRmsNorm(DType type, void* x, int64_t x_stride, int64_t rows, int64_t cols, int64_t head_dim,
                       const void* weight, float eps, cudaStream_t stream);

// out = silu(gate) * up over [rows, cols]; out may alias gate or up element
// for element.
void LaunchSiluMul(DType type, const void* gate, int64_t gate_stride, const void* up, int64_t up_stride,
                   void* out, int64_t out_stride, int64_t rows, int64_t cols, cudaStream_t stream);

// Rotates x ([rows, cols], in place) by positions[t], HF rotate_half pairing
// (i, i + head_dim/2) in every head; cos/sin fp32 [max_positions,
// head_dim/2]. A position outside [0, max_positions) leaves its row as is.
void LaunchRope(DType type, void* x, int64_t x_stride, int64_t rows, int64_t cols, int64_t head_dim,
                const int32_t* positions, int64_t positions_stride, const float* cos, const float* sin,
                int64_t max_positions, cudaStream_t stream);

// The paged KV cache of one layer as the kernels address it (see
// KvCacheLayout in backend.h). Offsets in elements:
//   keys of token row r in page p:   p * page_stride + layer_offset + r * kv_dim
//   its values:                      the same + value_offset
struct KvPages {
  void* base = nullptr;
  int64_t page_stride = 0;   // layers * 2 * page_tokens * kv_dim
  int64_t layer_offset = 0;  // layer * 2 * page_tokens * kv_dim
  int64_t value_offset = 0;  // page_tokens * kv_dim
  int32_t page_tokens = 0;
  int32_t kv_dim = 0;
};

// Writes row t of k and v ([rows, kv_dim]) to cache row destinations[t]
// (page * page_tokens + row in page). A negative destination is skipped.
void LaunchWriteKv(DType type, const void* k, int64_t k_stride, const void* v, int64_t v_stride, int64_t rows,
                   const KvPages& cache, const int32_t* destinations, int64_t destinations_stride, cudaStream_t stream);

// ------------------------------------------------------------ attention

struct AttentionDims {
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
};

// How DecodeAttention splits the keys: `splits` blocks per (sequence, kv
// head), each over `keys_per_split` keys (a multiple of `tile`, the keys one
// shared-memory stage holds). A function of shapes only.
struct DecodePlan {
  int64_t splits = 1;
  int64_t keys_per_split = 0;
  int64_t tile = 0;
};
DecodePlan PlanDecode(DType type, int64_t batch, const AttentionDims& dims, int64_t max_seq_len, int sm_count);
// Scratch bytes DecodeAttention needs for any batch <= rows (the per-split
// partial results; none when one split suffices).
uint64_t DecodeScratchBytes(const AttentionDims& dims, int64_t rows, int64_t max_seq_len, int sm_count);

// Row b of q ([batch, heads * head_dim]) attends to keys [0, seq_lens[b])
// (clamped to max_seq_len) of the sequence whose page table is row b of
// page_tables; out dense-rowed [batch, heads * head_dim]. A sequence length
// <= 0 gives zeros. `scratch` holds DecodeScratchBytes(dims, batch, ...).
void LaunchDecodeAttention(DType type, const void* q, int64_t q_stride, const KvPages& cache,
                           const int32_t* page_tables, int64_t page_tables_stride, const int32_t* seq_lens,
                           int64_t seq_lens_stride, int64_t batch, int64_t max_seq_len, const AttentionDims& dims,
                           void* scratch, uint64_t scratch_bytes, void* out, int64_t out_stride, int sm_count,
                           cudaStream_t stream);

// Causal attention of q ([n, heads * head_dim]) at positions start..start+n-1
// over keys [0, start + n) of the sequence with `page_table`; out
// [n, heads * head_dim]. Tensor cores for fp16/bf16 with head_dim 64 or 128
// (and 16-byte aligned rows), the simple kernel otherwise.
void LaunchPrefillAttention(DType type, const void* q, int64_t q_stride, const KvPages& cache,
                            const int32_t* page_table, int64_t n, int64_t start, const AttentionDims& dims, void* out,
                            int64_t out_stride, cudaStream_t stream);
// The fallback on its own (also used by LaunchPrefillAttention): one block
// per (head, query row), online softmax in registers. Any dtype, head_dim
// even and <= kMaxHeadDim.
void LaunchPrefillAttentionSimple(DType type, const void* q, int64_t q_stride, const KvPages& cache,
                                  const int32_t* page_table, int64_t n, int64_t start, const AttentionDims& dims,
                                  void* out, int64_t out_stride, cudaStream_t stream);

// ------------------------------------------------------------ sampling

// One token per row of fp32 logits [rows, vocab] with that row's params
// (int32 [rows, 4]: SamplingRow, floats bit-cast) into ids (int32 [rows, 1]).
// -1 where no logit is a number above -inf.
void LaunchSample(const float* logits, int64_t logits_stride, int64_t rows, int64_t vocab, const int32_t* params,
                  int64_t params_stride, int32_t* ids, int64_t ids_stride, cudaStream_t stream);

// ------------------------------------------------------------ logprobs

// Backend::kMaxTopLogprobs (backend.h is not for nvcc): the top list's size.
constexpr int kMaxTopLogprobs = 20;

// Backend::TopLogprobs: row b of out (int32, TokenLogprob pairs, the float
// bit-cast) gets ids[b] and its log_softmax under logits row b, then the
// top_n (<= kMaxTopLogprobs, <= vocab) most likely tokens, ties by lower id.
// One block per row (top_logprobs_kernel.cu); no scratch.
void LaunchTopLogprobs(const float* logits, int64_t logits_stride, int64_t rows, int64_t vocab, const int32_t* ids,
                       int64_t ids_stride, int64_t top_n, int32_t* out, int64_t out_stride, cudaStream_t stream);

}  // namespace djinn::cuda

#endif  // DJINN_DAEMON_BACKEND_CUDA_KERNELS_H_
