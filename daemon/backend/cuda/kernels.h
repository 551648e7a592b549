// Launchers for the CUDA backend's own kernels (kernels.cu), callable from
// host C++ (cuda_backend.cc) with plain types. Every launcher enqueues on
// `stream`, checks the launch, and returns at once; none allocates.
//
// Element types: activations, weights and the KV cache are fp16 or bf16
// (fp32 also works, for tests); RoPE tables are always fp32. All arithmetic
// is fp32, each output rounded once to its element type.
#ifndef DJINN_DAEMON_BACKEND_CUDA_KERNELS_H_
#define DJINN_DAEMON_BACKEND_CUDA_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace djinn::cuda {

// CUDA errors here are programming errors or device faults: report where and
// abort rather than carry on with a broken stream.
[[noreturn]] inline void CudaFailure(cudaError_t error, const char* what, const char* file, int line) {
  std::fprintf(stderr, "djinn cuda: %s failed at %s:%d: %s (%s)\n", what, file, line, cudaGetErrorString(error),
               cudaGetErrorName(error));
  std::abort();
}

#define DJINN_CUDA_CHECK(expr)                                                           \
  do {                                                                                   \
    const cudaError_t djinn_cuda_error_ = (expr);                                        \
    if (djinn_cuda_error_ != cudaSuccess) {                                              \
      ::djinn::cuda::CudaFailure(djinn_cuda_error_, #expr, __FILE__, __LINE__);          \
    }                                                                                    \
  } while (0)

// After a kernel launch: configuration errors show up here.
#define DJINN_CUDA_CHECK_LAUNCH() DJINN_CUDA_CHECK(cudaGetLastError())

enum class ElementType { kFloat32, kFloat16, kBFloat16 };

// Largest number of token ids / positions one launch takes by value (the
// engine's chunk). Launchers split longer spans into several launches.
constexpr int kMaxTokensPerLaunch = 64;

// out[t, :] = table[ids[t], :] for t < count. `ids` is host memory: the ids
// travel as kernel arguments, so nothing is copied or allocated.
void LaunchEmbedding(ElementType type, const void* table, int64_t cols, const int32_t* ids, int64_t count, void* out,
                     cudaStream_t stream);

// out[r, :] = weight * (x[r, :] * rsqrt(mean(x[r, :]²) + eps)); fp32 statistics.
void LaunchRmsNorm(ElementType type, const void* x, const void* weight, float eps, int64_t rows, int64_t cols,
                   void* out, cudaStream_t stream);

// x += y over `count` elements.
void LaunchAdd(ElementType type, void* x, const void* y, int64_t count, cudaStream_t stream);

// out = silu(gate) * up over `count` elements; out may alias gate or up.
void LaunchSiluMul(ElementType type, const void* gate, const void* up, void* out, int64_t count,
                   cudaStream_t stream);

// Rotates x ([rows, heads * head_dim], in place) by positions[t], HF
// rotate_half pairing (i, i + head_dim/2); cos/sin fp32 [*, head_dim/2].
// `positions` is host memory (passed by value as kernel arguments).
void LaunchRope(ElementType type, void* x, int64_t rows, int64_t cols, int64_t head_dim, const int32_t* positions,
                const float* cos, const float* sin, cudaStream_t stream);

// Causal GQA attention: q [n, heads * head_dim] at positions start..start+n-1
// over keys/values [start + n, kv_heads * head_dim] (row stride kv_cols);
// out [n, heads * head_dim]. fp32 scores, softmax and accumulators.
void LaunchAttention(ElementType type, const void* q, const void* keys, const void* values, int64_t kv_cols,
                     int64_t n, int64_t start, int64_t heads, int64_t kv_heads, int64_t head_dim, void* out,
                     cudaStream_t stream);

// Largest head_dim LaunchAttention supports.
constexpr int64_t kMaxHeadDim = 256;

}  // namespace djinn::cuda

#endif  // DJINN_DAEMON_BACKEND_CUDA_KERNELS_H_
