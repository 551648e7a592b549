// The row-wise and elementwise ops: Embedding, RmsNorm (and HeadRmsNorm),
// Add, AddBias, SiluMul, Rope, WriteKv. Memory-bound and simple: 16-byte accesses when sizes, strides and
// pointers allow it, scalar ones otherwise. Index tensors (ids, positions,
// destinations) are read on the device, so the grids depend on shapes only.
#include <algorithm>

#include "daemon/backend/cuda/device_util.cuh"
#include "daemon/backend/cuda/kernels.h"

namespace djinn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;  // grid-stride loops cover the rest
constexpr int64_t kMaxGridY = 65535;  // rows beyond this loop inside the kernel

int Blocks(int64_t units) { return static_cast<int>(std::clamp<int64_t>(CeilDiv(units, kThreads), 1, kMaxBlocks)); }
unsigned GridRows(int64_t rows) { return static_cast<unsigned>(std::min(rows, kMaxGridY)); }

// ---------------------------------------------------------------- Embedding

// Rows copied as machine words (16, 4 or 2 bytes); strides in words.
template <typename Word>
__global__ void EmbeddingKernel(const Word* table, int64_t table_rows, int64_t row_words, const int32_t* ids,
                                int64_t ids_stride, int64_t n, Word* out, int64_t out_stride_words) {
  for (int64_t t = blockIdx.y; t < n; t += gridDim.y) {
    const int32_t id = ids[t * ids_stride];
    const bool valid = id >= 0 && id < table_rows;
    const Word* src = table + (valid ? static_cast<int64_t>(id) : 0) * row_words;
    Word* dst = out + t * out_stride_words;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < row_words;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      dst[i] = valid ? src[i] : Word{};
    }
  }
}

template <typename Word>
void Embed(const void* table, int64_t table_rows, int64_t row_bytes, const int32_t* ids, int64_t ids_stride, int64_t n,
           void* out, int64_t out_stride_bytes, cudaStream_t stream) {
  const int64_t row_words = row_bytes / static_cast<int64_t>(sizeof(Word));
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(CeilDiv(row_words, kThreads), 1024)), GridRows(n));
  EmbeddingKernel<Word><<<grid, kThreads, 0, stream>>>(static_cast<const Word*>(table), table_rows, row_words, ids,
                                                       ids_stride, n, static_cast<Word*>(out),
                                                       out_stride_bytes / static_cast<int64_t>(sizeof(Word)));
  DJINN_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------- RmsNorm

// One block per (row, head): a row is `heads` slices of `cols` values each
// (heads 1: RmsNorm over whole rows; more: HeadRmsNorm, in place).
template <typename T, bool kVector>
__global__ void RmsNormKernel(const T* x, int64_t x_stride, const T* weight, float eps, int64_t cols, int64_t heads,
                              T* out, int64_t out_stride) {
  constexpr int P = kVector ? Pack<T>::kSize : 1;
  const int64_t row = blockIdx.x / heads, head = blockIdx.x % heads;
  const T* in = x + row * x_stride + head * cols;
  T* o = out + row * out_stride + head * cols;
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
  sum = WarpSum(sum);
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

// ---------------------------------------------------------------- Add

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

// ---------------------------------------------------------------- AddBias

template <typename T, bool kVector>
__global__ void AddBiasKernel(T* x, int64_t x_stride, const T* bias, int64_t rows, int64_t cols) {
  constexpr int P = kVector ? Pack<T>::kSize : 1;
  const int64_t units = cols / P;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    T* row = x + r * x_stride;
    for (int64_t u = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; u < units;
         u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      if constexpr (kVector) {
        Pack<T> a = LoadPack(row + u * P);
        const Pack<T> b = LoadPack(bias + u * P);
#pragma unroll
        for (int i = 0; i < P; ++i) a.v[i] = FromFloat<T>(ToFloat(a.v[i]) + ToFloat(b.v[i]));
        StorePack(row + u * P, a);
      } else {
        row[u] = FromFloat<T>(ToFloat(row[u]) + ToFloat(bias[u]));
      }
    }
  }
}

// ---------------------------------------------------------------- SiluMul

__device__ __forceinline__ float SiluTimes(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// No __restrict__: the engine may call SiluMul(gate, up, gate). Each element
// is read before the same thread writes it, so that aliasing is safe.
template <typename T, bool kVector>
__global__ void SiluMulKernel(const T* gate, int64_t gate_stride, const T* up, int64_t up_stride, T* out,
                              int64_t out_stride, int64_t rows, int64_t cols) {
  constexpr int P = kVector ? Pack<T>::kSize : 1;
  const int64_t units = cols / P;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const T* g = gate + r * gate_stride;
    const T* v = up + r * up_stride;
    T* o = out + r * out_stride;
    for (int64_t u = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; u < units;
         u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      if constexpr (kVector) {
        const Pack<T> a = LoadPack(g + u * P);
        const Pack<T> b = LoadPack(v + u * P);
        Pack<T> c;
#pragma unroll
        for (int i = 0; i < P; ++i) c.v[i] = FromFloat<T>(SiluTimes(ToFloat(a.v[i]), ToFloat(b.v[i])));
        StorePack(o + u * P, c);
      } else {
        o[u] = FromFloat<T>(SiluTimes(ToFloat(g[u]), ToFloat(v[u])));
      }
    }
  }
}

// ---------------------------------------------------------------- Rope

// One thread per (token, head, i < half): rotates the pair (i, i + half).
template <typename T>
__global__ void RopeKernel(T* x, int64_t x_stride, int64_t rows, int64_t cols, int64_t head_dim,
                           const int32_t* positions, int64_t positions_stride, const float* cos, const float* sin,
                           int64_t max_positions) {
  const int64_t half = head_dim / 2;
  const int64_t pairs = (cols / head_dim) * half;
  const int64_t pair = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (pair >= pairs) return;
  const int64_t h = pair / half, i = pair % half;
  for (int64_t t = blockIdx.y; t < rows; t += gridDim.y) {
    const int32_t position = positions[t * positions_stride];
    if (position < 0 || position >= max_positions) continue;
    const int64_t table = static_cast<int64_t>(position) * half + i;
    const float c = cos[table], s = sin[table];
    T* v = x + t * x_stride + h * head_dim;
    const float a = ToFloat(v[i]), b = ToFloat(v[i + half]);
    v[i] = FromFloat<T>(a * c - b * s);
    v[i + half] = FromFloat<T>(b * c + a * s);
  }
}

// ---------------------------------------------------------------- WriteKv

// blockIdx.z = 0 copies the key rows, 1 the value rows. Everything in words.
template <typename Word>
__global__ void WriteKvKernel(const Word* k, int64_t k_stride, const Word* v, int64_t v_stride, int64_t rows,
                              int64_t row_words, Word* base, int64_t page_stride, int64_t layer_offset,
                              int64_t value_offset, int32_t page_tokens, int64_t kv_dim, const int32_t* destinations,
                              int64_t destinations_stride) {
  const bool values = blockIdx.z == 1;
  const Word* src_base = values ? v : k;
  const int64_t src_stride = values ? v_stride : k_stride;
  for (int64_t t = blockIdx.y; t < rows; t += gridDim.y) {
    const int32_t destination = destinations[t * destinations_stride];
    if (destination < 0) continue;
    const int32_t page = destination / page_tokens, row = destination % page_tokens;
    Word* dst = base + page * page_stride + layer_offset + (values ? value_offset : 0) + row * kv_dim;
    const Word* src = src_base + t * src_stride;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < row_words;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      dst[i] = src[i];
    }
  }
}

template <typename Word>
void WriteKvWords(const void* k, int64_t k_stride, const void* v, int64_t v_stride, int64_t rows, int64_t element,
                  const KvPages& cache, const int32_t* destinations, int64_t destinations_stride, cudaStream_t stream) {
  // Element counts -> word counts (exact: the caller checked divisibility).
  const int64_t per_word = static_cast<int64_t>(sizeof(Word)) / element;
  auto words = [&](int64_t elements) { return elements / per_word; };
  const int64_t row_words = words(cache.kv_dim);
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(CeilDiv(row_words, kThreads), 64)), GridRows(rows), 2);
  WriteKvKernel<Word><<<grid, kThreads, 0, stream>>>(
      static_cast<const Word*>(k), words(k_stride), static_cast<const Word*>(v), words(v_stride), rows, row_words,
      static_cast<Word*>(cache.base), words(cache.page_stride), words(cache.layer_offset), words(cache.value_offset),
      cache.page_tokens, row_words, destinations, destinations_stride);
  DJINN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void LaunchEmbedding(DType type, const void* table, int64_t table_rows, int64_t cols, const int32_t* ids,
                     int64_t ids_stride, int64_t n, void* out, int64_t out_stride, cudaStream_t stream) {
  if (n == 0 || cols == 0) return;
  const int64_t element = DTypeSize(type);
  const int64_t row_bytes = cols * element, out_stride_bytes = out_stride * element;
  if (row_bytes % 16 == 0 && out_stride_bytes % 16 == 0 && Aligned16(table) && Aligned16(out)) {
    Embed<uint4>(table, table_rows, row_bytes, ids, ids_stride, n, out, out_stride_bytes, stream);
  } else if (element == 4) {
    Embed<uint32_t>(table, table_rows, row_bytes, ids, ids_stride, n, out, out_stride_bytes, stream);
  } else {
    Embed<uint16_t>(table, table_rows, row_bytes, ids, ids_stride, n, out, out_stride_bytes, stream);
  }
}

namespace {

// RmsNorm over `heads` slices of `cols` values in each of `rows` rows.
void RmsNormSlices(DType type, const void* x, int64_t x_stride, const void* weight, float eps, int64_t rows,
                   int64_t cols, int64_t heads, void* out, int64_t out_stride, cudaStream_t stream) {
  if (rows == 0 || cols == 0 || heads == 0) return;
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    constexpr int P = Pack<T>::kSize;
    const bool vector = cols % P == 0 && x_stride % P == 0 && out_stride % P == 0 && Aligned16(x) &&
                        Aligned16(weight) && Aligned16(out);
    auto kernel = vector ? RmsNormKernel<T, true> : RmsNormKernel<T, false>;
    // One block per slice; more than 2^31 - 1 of them is not a thing.
    kernel<<<static_cast<unsigned>(rows * heads), kThreads, 0, stream>>>(
        static_cast<const T*>(x), x_stride, static_cast<const T*>(weight), eps, cols, heads, static_cast<T*>(out),
        out_stride);
    DJINN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void LaunchRmsNorm(DType type, const void* x, int64_t x_stride, const void* weight, float eps, int64_t rows,
                   int64_t cols, void* out, int64_t out_stride, cudaStream_t stream) {
  RmsNormSlices(type, x, x_stride, weight, eps, rows, cols, 1, out, out_stride, stream);
}

void LaunchHeadRmsNorm(DType type, void* x, int64_t x_stride, int64_t rows, int64_t cols, int64_t head_dim,
                       const void* weight, float eps, cudaStream_t stream) {
  if (head_dim == 0) return;
  RmsNormSlices(type, x, x_stride, weight, eps, rows, head_dim, cols / head_dim, x, x_stride, stream);
}

void LaunchAddBias(DType type, void* x, int64_t x_stride, const void* bias, int64_t rows, int64_t cols,
                   cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    constexpr int P = Pack<T>::kSize;
    const bool vector = cols % P == 0 && x_stride % P == 0 && Aligned16(x) && Aligned16(bias);
    const int64_t units = vector ? cols / P : cols;
    auto kernel = vector ? AddBiasKernel<T, true> : AddBiasKernel<T, false>;
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>(CeilDiv(units, kThreads), 1024)), GridRows(rows));
    kernel<<<grid, kThreads, 0, stream>>>(static_cast<T*>(x), x_stride, static_cast<const T*>(bias), rows, cols);
    DJINN_CUDA_CHECK_LAUNCH();
  });
}

void LaunchAdd(DType type, void* x, const void* y, int64_t count, cudaStream_t stream) {
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

void LaunchSiluMul(DType type, const void* gate, int64_t gate_stride, const void* up, int64_t up_stride,
                   void* out, int64_t out_stride, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    constexpr int P = Pack<T>::kSize;
    const bool vector = cols % P == 0 && gate_stride % P == 0 && up_stride % P == 0 && out_stride % P == 0 &&
                        Aligned16(gate) && Aligned16(up) && Aligned16(out);
    const int64_t units = vector ? cols / P : cols;
    auto kernel = vector ? SiluMulKernel<T, true> : SiluMulKernel<T, false>;
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>(CeilDiv(units, kThreads), 1024)), GridRows(rows));
    kernel<<<grid, kThreads, 0, stream>>>(static_cast<const T*>(gate), gate_stride, static_cast<const T*>(up),
                                          up_stride, static_cast<T*>(out), out_stride, rows, cols);
    DJINN_CUDA_CHECK_LAUNCH();
  });
}

void LaunchRope(DType type, void* x, int64_t x_stride, int64_t rows, int64_t cols, int64_t head_dim,
                const int32_t* positions, int64_t positions_stride, const float* cos, const float* sin,
                int64_t max_positions, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const int64_t pairs = (cols / head_dim) * (head_dim / 2);
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const dim3 grid(static_cast<unsigned>(CeilDiv(pairs, kThreads)), GridRows(rows));
    RopeKernel<T><<<grid, kThreads, 0, stream>>>(static_cast<T*>(x), x_stride, rows, cols, head_dim, positions,
                                                 positions_stride, cos, sin, max_positions);
    DJINN_CUDA_CHECK_LAUNCH();
  });
}

void LaunchWriteKv(DType type, const void* k, int64_t k_stride, const void* v, int64_t v_stride, int64_t rows,
                   const KvPages& cache, const int32_t* destinations, int64_t destinations_stride,
                   cudaStream_t stream) {
  if (rows == 0 || cache.kv_dim == 0) return;
  const int64_t element = DTypeSize(type);
  // Every offset the kernel forms is a multiple of kv_dim or of a stride, so
  // 16-byte words work when those (and the pointers) are 16-byte multiples.
  const int64_t per16 = 16 / element;
  const bool vector = cache.kv_dim % per16 == 0 && k_stride % per16 == 0 && v_stride % per16 == 0 && Aligned16(k) &&
                      Aligned16(v) && Aligned16(cache.base);
  if (vector) {
    WriteKvWords<uint4>(k, k_stride, v, v_stride, rows, element, cache, destinations, destinations_stride, stream);
  } else if (element == 4) {
    WriteKvWords<uint32_t>(k, k_stride, v, v_stride, rows, element, cache, destinations, destinations_stride, stream);
  } else {
    WriteKvWords<uint16_t>(k, k_stride, v, v_stride, rows, element, cache, destinations, destinations_stride, stream);
  }
}

}  // namespace djinn::cuda
