// Prefill attention on tensor cores: a FlashAttention-2 style kernel for
// fp16 / bf16 with head_dim 64 or 128; everything else goes to the simple
// kernel (prefill_attention_simple.cu).
//
// FlashPrefillKernel: grid (ceil(n / 64), heads), 128 threads (4 warps).
//   Block (i, h) takes query rows [64 i, 64 i + 64) of head h; each warp owns
//   16 of them. It walks the key tiles of 64 keys up to its causal limit
//   (the keys its last row may see), two shared-memory stages deep through
//   cp.async (the next tile's K/V stream in while this one is used; rows of
//   a tile may come from different pages). Per tile and warp:
//     S = Q Kᵀ        mma.sync m16n8k16, fp16/bf16 in, fp32 accumulators;
//                     Q fragments loaded once, K through ldmatrix
//     mask            only on tiles that cross the diagonal or the end
//     online softmax  row max / sum in registers (a row lives in 4 lanes)
//     O += P V        P rounded to the input type as the A operand, V
//                     through ldmatrix.trans; O in fp32 registers
//   and at the end O / sum, rounded once to the output type.
// Shared memory rows are 16-byte chunks XOR-swizzled by (row % 8), so the
// 8 rows one ldmatrix reads fall in distinct banks.
//
// Numerics: as FlashAttention, the probabilities are rounded to fp16/bf16
// before the P·V product; scores, softmax statistics and accumulators are
// fp32.
#include <algorithm>
#include <cmath>

#include "daemon/backend/cuda/device_util.cuh"
#include "daemon/backend/cuda/kernels.h"

namespace djinn::cuda {
namespace {

constexpr int kThreads = 128;   // 4 warps × 16 query rows
constexpr int kBlockRows = 64;  // query rows per block
constexpr int kBlockKeys = 64;  // keys per tile
constexpr double kLog2E = 1.4426950408889634;

struct PrefillArgs {
  const void* q;
  int64_t q_stride;
  KvPages cache;
  const int32_t* page_table;
  int n, start, group;
  float scale_log2;  // log2(e) / sqrt(head_dim)
  void* out;
  int64_t out_stride;
};

template <int D>
constexpr int SharedBytes() {
  return (kBlockRows * D + 2 * 2 * kBlockKeys * D) * 2;  // Q + two stages of K and V, 2-byte elements
}

// Element index of 16-byte chunk `chunk` of row `row` in a [rows][D] tile.
template <int D>
__device__ __forceinline__ int Swizzle(int row, int chunk) {
  return row * D + ((chunk ^ (row & 7)) << 3);
}

__device__ __forceinline__ void LdMatrixX4(uint32_t (&r)[4], const void* p) {
  const uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void LdMatrixX4Trans(uint32_t (&r)[4], const void* p) {
  const uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// c += a · b for a 16×16 (row) by 16×8 (col) tile.
template <typename T>
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void Mma<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void Mma<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats rounded into one register, `low` in the lower half.
template <typename T>
__device__ __forceinline__ uint32_t PackTwo(float low, float high);
template <>
__device__ __forceinline__ uint32_t PackTwo<__half>(float low, float high) {
  const __half2 h = __floats2half2_rn(low, high);
  return *reinterpret_cast<const uint32_t*>(&h);
}
template <>
__device__ __forceinline__ uint32_t PackTwo<__nv_bfloat16>(float low, float high) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(low, high);
  return *reinterpret_cast<const uint32_t*>(&h);
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) FlashPrefillKernel(const PrefillArgs a) {
  constexpr int kChunks = D / 8;              // 16-byte chunks per row
  constexpr int kDimSteps = D / 16;           // k-steps of S = Q Kᵀ
  constexpr int kKeyGroups = kBlockKeys / 8;  // n-tiles of S
  constexpr int kDimGroups = D / 8;           // n-tiles of O
  extern __shared__ float4 shared4[];
  T* q_s = reinterpret_cast<T*>(shared4);
  T* k_s = q_s + kBlockRows * D;      // [2 stages][kBlockKeys][D]
  T* v_s = k_s + 2 * kBlockKeys * D;  // [2 stages][kBlockKeys][D]

  // The last query tiles see the most keys: start them first.
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kBlockRows;
  const int h = blockIdx.y;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int kv_len = a.start + a.n;
  const int key_end = min(a.start + q0 + kBlockRows, kv_len);  // one past the last key any row here sees
  const int tiles = (key_end + kBlockKeys - 1) / kBlockKeys;
  const T* cache = static_cast<const T*>(a.cache.base);
  const int64_t head_offset = static_cast<int64_t>(h / a.group) * D;

  // Query rows, zeros past n (their results are dropped).
  {
    const T* q = static_cast<const T*>(a.q) + static_cast<int64_t>(h) * D;
    for (int item = tid; item < kBlockRows * kChunks; item += kThreads) {
      const int r = item / kChunks, c = item % kChunks;
      const bool live = q0 + r < a.n;
      const T* src = live ? q + static_cast<int64_t>(q0 + r) * a.q_stride + c * 8 : q;
      CpAsync16(q_s + Swizzle<D>(r, c), src, live);
    }
  }
  // Keys/values of tile `tile` into `stage`; rows at or past key_end are
  // zero-filled so that masked probabilities (0) never meet NaN garbage.
  auto load_tile = [&](int tile, int stage) {
    T* k_dst = k_s + stage * kBlockKeys * D;
    T* v_dst = v_s + stage * kBlockKeys * D;
    for (int item = tid; item < kBlockKeys * kChunks; item += kThreads) {
      const int r = item / kChunks, c = item % kChunks;
      const int t = tile * kBlockKeys + r;
      const bool live = t < key_end;
      const int64_t offset = live ? KvRowOffset(a.cache, a.page_table, t) + head_offset + c * 8 : 0;
      CpAsync16(k_dst + Swizzle<D>(r, c), cache + offset, live);
      CpAsync16(v_dst + Swizzle<D>(r, c), cache + offset + (live ? a.cache.value_offset : 0), live);
    }
    CpAsyncCommit();
  };

  const int row0 = warp * 16;             // the warp's first row in the block
  const int g = lane / 4, t4 = lane % 4;  // mma fragment coordinates
  // Absolute positions of this lane's two rows (g and g + 8).
  const int position0 = a.start + q0 + row0 + g;
  uint32_t qa[kDimSteps][4];
  float o[kDimGroups][4];
#pragma unroll
  for (int i = 0; i < kDimGroups; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};

  load_tile(0, 0);  // commits the query copies with it
  for (int it = 0; it < tiles; ++it) {
    if (it + 1 < tiles) {
      load_tile(it + 1, (it + 1) & 1);
      CpAsyncWait<1>();
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();
    if (it == 0) {
#pragma unroll
      for (int ks = 0; ks < kDimSteps; ++ks) {
        LdMatrixX4(qa[ks], q_s + Swizzle<D>(row0 + lane % 16, ks * 2 + lane / 16));
      }
    }
    const T* kt = k_s + (it & 1) * kBlockKeys * D;
    const T* vt = v_s + (it & 1) * kBlockKeys * D;

    // S = Q Kᵀ for the warp's 16 rows × 64 keys.
    float s[kKeyGroups][4];
#pragma unroll
    for (int j = 0; j < kKeyGroups; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < kDimSteps; ++ks) {
#pragma unroll
      for (int jp = 0; jp < kKeyGroups / 2; ++jp) {
        uint32_t b[4];
        LdMatrixX4(b, kt + Swizzle<D>(jp * 16 + lane % 8 + (lane / 16) * 8, ks * 2 + (lane / 8) % 2));
        Mma<T>(s[2 * jp], qa[ks], b[0], b[1]);
        Mma<T>(s[2 * jp + 1], qa[ks], b[2], b[3]);
      }
    }

    // Scale to log2 units; mask keys past a row's position or past the end.
    const int key0 = it * kBlockKeys;
    const bool edge = key0 + kBlockKeys - 1 > a.start + q0 || key0 + kBlockKeys > kv_len;
#pragma unroll
    for (int j = 0; j < kKeyGroups; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[j][e] *= a.scale_log2;
        if (edge) {
          const int key = key0 + j * 8 + 2 * t4 + (e & 1);
          const int position = position0 + (e >= 2 ? 8 : 0);
          if (key > position || key >= kv_len) s[j][e] = -INFINITY;
        }
      }
    }

    // Online softmax; a row's 64 scores are spread over the 4 lanes of a quad.
    float correction[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int j = 0; j < kKeyGroups; ++j) tile_max = fmaxf(tile_max, fmaxf(s[j][2 * half], s[j][2 * half + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float new_max = fmaxf(row_max[half], tile_max);
      // A row with every key so far masked keeps max -inf; exponentiate
      // against 0 then, so that no -inf - -inf NaN appears.
      const float reference = new_max == -INFINITY ? 0.0f : new_max;
      correction[half] = exp2f(row_max[half] - reference);
      row_max[half] = new_max;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < kKeyGroups; ++j) {
        s[j][2 * half] = exp2f(s[j][2 * half] - reference);
        s[j][2 * half + 1] = exp2f(s[j][2 * half + 1] - reference);
        sum += s[j][2 * half] + s[j][2 * half + 1];
      }
      row_sum[half] = row_sum[half] * correction[half] + sum;  // this lane's columns; quad-summed at the end
    }
#pragma unroll
    for (int i = 0; i < kDimGroups; ++i) {
      o[i][0] *= correction[0];
      o[i][1] *= correction[0];
      o[i][2] *= correction[1];
      o[i][3] *= correction[1];
    }

    // O += P V: the S accumulators of two key groups form one A fragment.
#pragma unroll
    for (int kk = 0; kk < kBlockKeys / 16; ++kk) {
      const uint32_t pa[4] = {PackTwo<T>(s[2 * kk][0], s[2 * kk][1]), PackTwo<T>(s[2 * kk][2], s[2 * kk][3]),
                              PackTwo<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              PackTwo<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < kDimGroups / 2; ++dp) {
        uint32_t b[4];
        LdMatrixX4Trans(b, vt + Swizzle<D>(kk * 16 + lane % 8 + ((lane / 8) % 2) * 8, dp * 2 + lane / 16));
        Mma<T>(o[2 * dp], pa, b[0], b[1]);
        Mma<T>(o[2 * dp + 1], pa, b[2], b[3]);
      }
    }
    __syncthreads();  // this stage is refilled two tiles on
  }

  // Normalise and store; each lane holds two adjacent columns of two rows.
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    row_sum[half] += __shfl_xor_sync(0xffffffffu, row_sum[half], 1);
    row_sum[half] += __shfl_xor_sync(0xffffffffu, row_sum[half], 2);
  }
  const float inv0 = 1.0f / row_sum[0], inv1 = 1.0f / row_sum[1];
  const int r0 = q0 + row0 + g, r1 = r0 + 8;
  T* out = static_cast<T*>(a.out) + static_cast<int64_t>(h) * D + 2 * t4;
#pragma unroll
  for (int i = 0; i < kDimGroups; ++i) {
    if (r0 < a.n) {
      *reinterpret_cast<uint32_t*>(out + r0 * a.out_stride + i * 8) = PackTwo<T>(o[i][0] * inv0, o[i][1] * inv0);
    }
    if (r1 < a.n) {
      *reinterpret_cast<uint32_t*>(out + r1 * a.out_stride + i * 8) = PackTwo<T>(o[i][2] * inv1, o[i][3] * inv1);
    }
  }
}

template <typename T, int D>
void LaunchFlash(const PrefillArgs& args, int64_t n, int64_t heads, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(CeilDiv(n, kBlockRows)), static_cast<unsigned>(heads));
  FlashPrefillKernel<T, D><<<grid, kThreads, SharedBytes<D>(), stream>>>(args);
  DJINN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void PreparePrefillAttention() {
  AllowLargeSharedMemory(FlashPrefillKernel<__half, 64>);
  AllowLargeSharedMemory(FlashPrefillKernel<__half, 128>);
  AllowLargeSharedMemory(FlashPrefillKernel<__nv_bfloat16, 64>);
  AllowLargeSharedMemory(FlashPrefillKernel<__nv_bfloat16, 128>);
}

void LaunchPrefillAttention(DType type, const void* q, int64_t q_stride, const KvPages& cache,
                            const int32_t* page_table, int64_t n, int64_t start, const AttentionDims& dims, void* out,
                            int64_t out_stride, cudaStream_t stream) {
  if (n == 0) return;
  const int64_t d = dims.head_dim;
  // Tensor cores need 16-byte rows and aligned pointers for cp.async, and
  // 4-byte aligned output pairs.
  const bool tensor_cores = type != DType::kFloat32 && (d == 64 || d == 128) && Aligned16(q) &&
                            q_stride % 8 == 0 && Aligned16(cache.base) && reinterpret_cast<uintptr_t>(out) % 4 == 0 &&
                            out_stride % 2 == 0;
  if (!tensor_cores) {
    LaunchPrefillAttentionSimple(type, q, q_stride, cache, page_table, n, start, dims, out, out_stride, stream);
    return;
  }
  PrefillArgs args{};
  args.q = q;
  args.q_stride = q_stride;
  args.cache = cache;
  args.page_table = page_table;
  args.n = static_cast<int>(n);
  args.start = static_cast<int>(start);
  args.group = static_cast<int>(dims.heads / dims.kv_heads);
  args.scale_log2 = static_cast<float>(kLog2E / std::sqrt(static_cast<double>(d)));
  args.out = out;
  args.out_stride = out_stride;
  if (type == DType::kFloat16) {
    d == 64 ? LaunchFlash<__half, 64>(args, n, dims.heads, stream)
            : LaunchFlash<__half, 128>(args, n, dims.heads, stream);
  } else {
    d == 64 ? LaunchFlash<__nv_bfloat16, 64>(args, n, dims.heads, stream)
            : LaunchFlash<__nv_bfloat16, 128>(args, n, dims.heads, stream);
  }
}

}  // namespace djinn::cuda
