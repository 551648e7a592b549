// The CUDA backend's own kernels: simple, correct, fp32 arithmetic on fp16 /
// bf16 storage. Elementwise kernels use 16-byte loads when the sizes and
// pointers allow it; attention is a plain online-softmax kernel for now.
#include "daemon/backend/cuda/kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

namespace djinn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;  // grid-stride loops cover the rest

template <typename T>
__device__ __forceinline__ float ToFloat(T v);
template <>
__device__ __forceinline__ float ToFloat<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ float ToFloat<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float ToFloat<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ float FromFloat<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half FromFloat<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// 16 bytes of elements, loaded and stored as one vector access.
template <typename T>
struct alignas(16) Pack {
  static constexpr int kSize = 16 / sizeof(T);
  T v[kSize];
};

template <typename T>
__device__ __forceinline__ Pack<T> LoadPack(const T* p) {
  return *reinterpret_cast<const Pack<T>*>(p);
}
template <typename T>
__device__ __forceinline__ void StorePack(T* p, const Pack<T>& pack) {
  *reinterpret_cast<Pack<T>*>(p) = pack;
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

int Blocks(int64_t units) { return static_cast<int>(std::clamp<int64_t>((units + kThreads - 1) / kThreads, 1, kMaxBlocks)); }

// Token ids or positions passed by value: no device buffer, no copy, no race
// with the host reusing its span.
struct TokenList {
  int32_t v[kMaxTokensPerLaunch];
};

// Calls f(ElementType-specific C++ type) once: the one place dtypes dispatch.
template <typename F>
void Dispatch(ElementType type, F&& f) {
  switch (type) {
    case ElementType::kFloat32:
      f(float{});
      return;
    case ElementType::kFloat16:
      f(__half{});
      return;
    case ElementType::kBFloat16:
      f(__nv_bfloat16{});
      return;
  }
}

// ---------------------------------------------------------------- Embedding

template <typename Word>
__global__ void GatherRowsKernel(const Word* table, int64_t row_words, TokenList ids, Word* out) {
  const int64_t t = blockIdx.y;
  const Word* src = table + static_cast<int64_t>(ids.v[t]) * row_words;
  Word* dst = out + t * row_words;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < row_words;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dst[i] = src[i];
  }
}

template <typename Word>
void GatherRows(const void* table, int64_t row_bytes, const int32_t* ids, int64_t count, void* out,
                cudaStream_t stream) {
  const int64_t row_words = row_bytes / static_cast<int64_t>(sizeof(Word));
  for (int64_t first = 0; first < count; first += kMaxTokensPerLaunch) {
    const int64_t n = std::min<int64_t>(kMaxTokensPerLaunch, count - first);
    TokenList list{};
    std::copy_n(ids + first, n, list.v);
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>((row_words + kThreads - 1) / kThreads, 1024)),
                    static_cast<unsigned>(n));
    GatherRowsKernel<Word><<<grid, kThreads, 0, stream>>>(
        static_cast<const Word*>(table), row_words, list, static_cast<Word*>(out) + first * row_words);
    DJINN_CUDA_CHECK_LAUNCH();
  }
}

// ---------------------------------------------------------------- RmsNorm

template <typename T, bool kVector>
__global__ void RmsNormKernel(const T* x, const T* weight, float eps, int64_t cols, T* out) {
  constexpr int P = kVector ? Pack<T>::kSize : 1;
  const T* in = x + blockIdx.x * cols;
  T* o = out + blockIdx.x * cols;
  const int64_t units = cols / P;

  float sum = 0;
  for (int64_t u = threadIdx.x; u < units; u += blockDim.x) {
    if constexpr (kVector) {
      const Pack<T> a = LoadPack(in + u * P);
#pragma unroll
      for (int i = 0; i < P; ++i) sum += ToFloat(a.v[i]) * ToFloat(a.v[i]);
    } else {
      const float a = ToFloat(in[u]);
      sum += a * a;
    }
  }
  // Block reduction: warps by shuffle, then the warp sums through shared memory.
  __shared__ float warp_sums[kThreads / 32];
  __shared__ float scale_shared;
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0;
    for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
    scale_shared = rsqrtf(total / static_cast<float>(cols) + eps);
  }
  __syncthreads();
  const float scale = scale_shared;

  for (int64_t u = threadIdx.x; u < units; u += blockDim.x) {
    if constexpr (kVector) {
      const Pack<T> a = LoadPack(in + u * P);
      const Pack<T> w = LoadPack(weight + u * P);
      Pack<T> r;
#pragma unroll
      for (int i = 0; i < P; ++i) r.v[i] = FromFloat<T>(ToFloat(w.v[i]) * (ToFloat(a.v[i]) * scale));
      StorePack(o + u * P, r);
    } else {
      o[u] = FromFloat<T>(ToFloat(weight[u]) * (ToFloat(in[u]) * scale));
    }
  }
}

// ---------------------------------------------------------------- Add, SiluMul

template <typename T, bool kVector>
__global__ void AddKernel(T* x, const T* y, int64_t count) {
  constexpr int P = kVector ? Pack<T>::kSize : 1;
  const int64_t units = count / P;
  for (int64_t u = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; u < units;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if constexpr (kVector) {
      Pack<T> a = LoadPack(x + u * P);
      const Pack<T> b = LoadPack(y + u * P);
#pragma unroll
      for (int i = 0; i < P; ++i) a.v[i] = FromFloat<T>(ToFloat(a.v[i]) + ToFloat(b.v[i]));
      StorePack(x + u * P, a);
    } else {
      x[u] = FromFloat<T>(ToFloat(x[u]) + ToFloat(y[u]));
    }
  }
}

__device__ __forceinline__ float SiluTimes(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// No __restrict__: the engine calls SiluMul(gate, up, gate).
template <typename T, bool kVector>
__global__ void SiluMulKernel(const T* gate, const T* up, T* out, int64_t count) {
  constexpr int P = kVector ? Pack<T>::kSize : 1;
  const int64_t units = count / P;
  for (int64_t u = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; u < units;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if constexpr (kVector) {
      const Pack<T> g = LoadPack(gate + u * P);
      const Pack<T> v = LoadPack(up + u * P);
      Pack<T> r;
#pragma unroll
      for (int i = 0; i < P; ++i) r.v[i] = FromFloat<T>(SiluTimes(ToFloat(g.v[i]), ToFloat(v.v[i])));
      StorePack(out + u * P, r);
    } else {
      out[u] = FromFloat<T>(SiluTimes(ToFloat(gate[u]), ToFloat(up[u])));
    }
  }
}

// ---------------------------------------------------------------- Rope

// One thread per (token, head, i < half): rotates the pair (i, i + half).
template <typename T>
__global__ void RopeKernel(T* x, int64_t cols, int64_t head_dim, TokenList positions, const float* cos,
                           const float* sin) {
  const int64_t t = blockIdx.y;
  const int64_t half = head_dim / 2;
  const int64_t pairs = (cols / head_dim) * half;
  const int64_t pair = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (pair >= pairs) return;
  const int64_t h = pair / half, i = pair % half;
  const int64_t table = static_cast<int64_t>(positions.v[t]) * half + i;
  const float c = cos[table], s = sin[table];
  T* v = x + t * cols + h * head_dim;
  const float a = ToFloat(v[i]), b = ToFloat(v[i + half]);
  v[i] = FromFloat<T>(a * c - b * s);
  v[i + half] = FromFloat<T>(b * c + a * s);
}

// ---------------------------------------------------------------- Attention

constexpr int kAttentionWarps = 4;
constexpr int kMaxPerLane = static_cast<int>(kMaxHeadDim / 32);

// One block per (head, query row). Each warp walks every kAttentionWarps-th
// visible key with an online softmax (running max m, running sum l, fp32
// accumulators for the lane's dims lane, lane+32, ...); the warps' partial
// states are then merged through shared memory. Keys j <= start + t only
// (causal); head h reads kv head h / group (GQA).
//
// Next step (decode speed): a split-K flash-decoding kernel — for n == 1 and
// long contexts, split the keys over many blocks per head (each writes its
// (m, l, acc) partial into the `scratch` tensor the engine provides), then a
// second small kernel merges the partials; and for prefill, tile several
// query rows per block so each K/V tile is read once per block.
template <typename T>
__global__ __launch_bounds__(kAttentionWarps * 32) void AttentionKernel(const T* q, const T* keys, const T* values,
                                                                        int64_t kv_cols, int64_t start, int64_t q_cols,
                                                                        int group, int head_dim, float scale, T* out) {
  const int h = blockIdx.x;
  const int64_t t = blockIdx.y;
  const int kv = h / group;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t visible = start + t + 1;

  const T* qh = q + t * q_cols + static_cast<int64_t>(h) * head_dim;
  float qr[kMaxPerLane], acc[kMaxPerLane];
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int d = lane + 32 * i;
    qr[i] = d < head_dim ? ToFloat(qh[d]) : 0.0f;
    acc[i] = 0.0f;
  }

  float m = -INFINITY, l = 0.0f;
  for (int64_t j = warp; j < visible; j += kAttentionWarps) {
    const T* kj = keys + j * kv_cols + static_cast<int64_t>(kv) * head_dim;
    const T* vj = values + j * kv_cols + static_cast<int64_t>(kv) * head_dim;
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < head_dim) dot += qr[i] * ToFloat(kj[d]);
    }
    for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
    const float s = dot * scale;
    const float m_new = fmaxf(m, s);
    const float correction = expf(m - m_new);  // 0 on the first key (m = -inf)
    const float p = expf(s - m_new);
    l = l * correction + p;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < head_dim) acc[i] = acc[i] * correction + p * ToFloat(vj[d]);
    }
    m = m_new;
  }

  __shared__ float warp_m[kAttentionWarps], warp_l[kAttentionWarps];
  __shared__ float warp_acc[kAttentionWarps][kMaxHeadDim];
  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int d = lane + 32 * i;
    if (d < head_dim) warp_acc[warp][d] = acc[i];
  }
  __syncthreads();

  // Warps that saw no key have m = -inf and weigh 0; at least one saw key 0.
  float max_m = -INFINITY;
  for (int w = 0; w < kAttentionWarps; ++w) max_m = fmaxf(max_m, warp_m[w]);
  float weight[kAttentionWarps];
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kAttentionWarps; ++w) {
    weight[w] = expf(warp_m[w] - max_m);
    total += warp_l[w] * weight[w];
  }
  T* o = out + t * q_cols + static_cast<int64_t>(h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kAttentionWarps; ++w) sum += warp_acc[w][d] * weight[w];
    o[d] = FromFloat<T>(sum / total);
  }
}

}  // namespace

void LaunchEmbedding(ElementType type, const void* table, int64_t cols, const int32_t* ids, int64_t count, void* out,
                     cudaStream_t stream) {
  if (count == 0) return;
  const int64_t element = type == ElementType::kFloat32 ? 4 : 2;
  const int64_t row_bytes = cols * element;
  if (row_bytes % 16 == 0 && Aligned16(table) && Aligned16(out)) {
    GatherRows<uint4>(table, row_bytes, ids, count, out, stream);
  } else if (element == 4) {
    GatherRows<uint32_t>(table, row_bytes, ids, count, out, stream);
  } else {
    GatherRows<uint16_t>(table, row_bytes, ids, count, out, stream);
  }
}

void LaunchRmsNorm(ElementType type, const void* x, const void* weight, float eps, int64_t rows, int64_t cols,
                   void* out, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const bool vector = cols % Pack<T>::kSize == 0 && Aligned16(x) && Aligned16(weight) && Aligned16(out);
    auto kernel = vector ? RmsNormKernel<T, true> : RmsNormKernel<T, false>;
    kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(static_cast<const T*>(x),
                                                                 static_cast<const T*>(weight), eps, cols,
                                                                 static_cast<T*>(out));
    DJINN_CUDA_CHECK_LAUNCH();
  });
}

void LaunchAdd(ElementType type, void* x, const void* y, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const bool vector = count % Pack<T>::kSize == 0 && Aligned16(x) && Aligned16(y);
    const int64_t units = vector ? count / Pack<T>::kSize : count;
    auto kernel = vector ? AddKernel<T, true> : AddKernel<T, false>;
    kernel<<<Blocks(units), kThreads, 0, stream>>>(static_cast<T*>(x), static_cast<const T*>(y), count);
    DJINN_CUDA_CHECK_LAUNCH();
  });
}

void LaunchSiluMul(ElementType type, const void* gate, const void* up, void* out, int64_t count,
                   cudaStream_t stream) {
  if (count == 0) return;
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const bool vector = count % Pack<T>::kSize == 0 && Aligned16(gate) && Aligned16(up) && Aligned16(out);
    const int64_t units = vector ? count / Pack<T>::kSize : count;
    auto kernel = vector ? SiluMulKernel<T, true> : SiluMulKernel<T, false>;
    kernel<<<Blocks(units), kThreads, 0, stream>>>(static_cast<const T*>(gate), static_cast<const T*>(up),
                                                   static_cast<T*>(out), count);
    DJINN_CUDA_CHECK_LAUNCH();
  });
}

void LaunchRope(ElementType type, void* x, int64_t rows, int64_t cols, int64_t head_dim, const int32_t* positions,
                const float* cos, const float* sin, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const int64_t pairs = (cols / head_dim) * (head_dim / 2);
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    for (int64_t first = 0; first < rows; first += kMaxTokensPerLaunch) {
      const int64_t n = std::min<int64_t>(kMaxTokensPerLaunch, rows - first);
      TokenList list{};
      std::copy_n(positions + first, n, list.v);
      const dim3 grid(static_cast<unsigned>((pairs + kThreads - 1) / kThreads), static_cast<unsigned>(n));
      RopeKernel<T><<<grid, kThreads, 0, stream>>>(static_cast<T*>(x) + first * cols, cols, head_dim, list, cos, sin);
      DJINN_CUDA_CHECK_LAUNCH();
    }
  });
}

void LaunchAttention(ElementType type, const void* q, const void* keys, const void* values, int64_t kv_cols,
                     int64_t n, int64_t start, int64_t heads, int64_t kv_heads, int64_t head_dim, void* out,
                     cudaStream_t stream) {
  if (n == 0) return;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>(n));
    AttentionKernel<T><<<grid, kAttentionWarps * 32, 0, stream>>>(
        static_cast<const T*>(q), static_cast<const T*>(keys), static_cast<const T*>(values), kv_cols, start,
        heads * head_dim, static_cast<int>(heads / kv_heads), static_cast<int>(head_dim), scale,
        static_cast<T*>(out));
    DJINN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace djinn::cuda
