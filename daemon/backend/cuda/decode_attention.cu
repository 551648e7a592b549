// Decode attention (one query row per sequence) as split-K flash decoding.
//
// A decode step reads every cached key and value of every sequence once, so
// it is bound by memory bandwidth, and with few sequences there are too few
// (sequence, kv head) pairs to occupy 132 SMs. So the keys are split too:
//
//   DecodeSplitKernel   grid (splits, kv_heads, batch), 128 threads.
//     Block (s, kvh, b) takes keys [s * keys_per_split, (s+1) * keys_per_split)
//     of sequence b, clipped to seq_lens[b] (a block starting at or past the
//     end exits at once), for ALL query heads of kv head kvh's GQA group, so
//     each K/V row is fetched from memory once per group. Keys arrive in
//     tiles through a two-stage cp.async pipeline (16-byte copies; the next
//     tile streams in while this one is used); per tile:
//       1. scores: a few lanes share a key row (16 bytes each), dot it with
//          every group head's query (fp32, in shared memory), shuffle-reduce;
//       2. softmax: one warp per head updates the running max and sum;
//       3. values: each thread owns (head, two dims) accumulators and sums
//          p * v over the tile.
//     It writes the split's unnormalised output and (max, sum) in fp32 to
//     scratch, or with a single split the normalised output directly.
//   DecodeCombineKernel grid (heads, batch), 128 threads: merges the splits
//     that cover [0, seq_lens[b]) with the usual rescaling by exp(m_s - M).
//
// splits = ceil(2 * SMs / (batch * kv_heads)), at most one per tile of keys,
// then keys_per_split rounds ceil(max_seq_len / splits) up to whole tiles.
// All from shapes: the launch is the same whatever the tensors hold, so a
// recorded graph stays valid when seq_lens change.
#include <algorithm>
#include <cmath>

#include "daemon/backend/cuda/device_util.cuh"
#include "daemon/backend/cuda/kernels.h"

namespace djinn::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kCombineThreads = 128;
constexpr int64_t kBlocksPerSm = 2;   // target occupancy for small batches
constexpr int64_t kMaxSplits = 1024;  // DecodeCombineKernel's shared array
constexpr int64_t kMinTile = 16;
constexpr int64_t kMaxTile = 128;
constexpr int64_t kStageBytes = 32 << 10;  // keys + values of one tile

int g_shared_limit = 48 << 10;  // raised by PrepareDecodeAttention
constexpr double kLog2E = 1.4426950408889634;

// Keys per pipeline stage: as many as fit kStageBytes (a power of two).
int64_t TileKeys(int64_t head_dim, int64_t element) {
  int64_t tile = kMaxTile;
  while (tile > kMinTile && tile * 2 * head_dim * element > kStageBytes) tile /= 2;
  return tile;
}

// Upper bound of PlanDecode(...).splits, independent of the dtype.
int64_t MaxSplits(int64_t batch, int64_t kv_heads, int64_t max_seq_len, int sm_count) {
  const int64_t wanted = CeilDiv(kBlocksPerSm * std::max(sm_count, 1), batch * kv_heads);
  return std::clamp<int64_t>(std::min(wanted, CeilDiv(max_seq_len, kMinTile)), 1, kMaxSplits);
}

struct DecodeArgs {
  const void* q;
  int64_t q_stride;
  KvPages cache;
  const int32_t* page_tables;
  int64_t table_stride;
  const int32_t* seq_lens;
  int64_t len_stride;
  int max_seq_len, heads, group, head_dim;
  int splits, keys_per_split, tile;
  float scale_log2;  // log2(e) / sqrt(head_dim): scores in log2 units, exp2 is one instruction
  float* part_acc;   // [batch][heads][splits][head_dim]
  float* part_ml;    // [batch][heads][splits][2]: running max (log2 units), sum
  void* out;
  int64_t out_stride;
};

// Shared memory of DecodeSplitKernel, as offsets in floats.
struct SharedLayout {
  int q, acc, scores, stats, kv;
  int bytes;
};
__host__ __device__ inline SharedLayout Layout(int group, int head_dim, int tile, int element) {
  SharedLayout s;
  s.q = 0;                                   // [group][head_dim] pre-scaled queries
  s.acc = group * head_dim;                  // [group][head_dim] output accumulators
  s.scores = 2 * group * head_dim;           // [group][tile] scores, then probabilities
  s.stats = s.scores + group * tile;         // max[group], sum[group], correction[group]
  s.kv = (s.stats + 3 * group + 3) / 4 * 4;  // 16-byte aligned: [2 stages][keys, values][tile][head_dim]
  s.bytes = s.kv * 4 + 2 * 2 * tile * head_dim * element;
  return s;
}

// A lane's share of one row of head_dim elements: kPer elements, contiguous
// (vector: d = sub * kPer + i, 16-byte loads) or strided (d = sub + 32 * i).
template <int kPer, int kLanes, bool kVector>
__device__ __forceinline__ int Dim(int sub, int i) {
  if constexpr (kVector) {
    return sub * kPer + i;
  } else {
    return sub + kLanes * i;
  }
}

template <typename T, int kPer, int kLanes, bool kVector>
__global__ void __launch_bounds__(kThreads) DecodeSplitKernel(const DecodeArgs a) {
  const int split = blockIdx.x, kv_head = blockIdx.y, b = blockIdx.z;
  const int hd = a.head_dim, group = a.group, tile = a.tile;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int len = min(a.seq_lens[b * a.len_stride], a.max_seq_len);
  const int key_begin = split * a.keys_per_split;
  if (key_begin >= len) {
    // Nothing to attend to. Only a lone split of an empty sequence owns
    // output rows (with several splits, the combine kernel writes them).
    if (a.splits == 1) {
      T* out = static_cast<T*>(a.out) + b * a.out_stride + static_cast<int64_t>(kv_head) * group * hd;
      for (int i = tid; i < group * hd; i += kThreads) out[i] = FromFloat<T>(0.0f);
    }
    return;
  }
  const int key_end = min(key_begin + a.keys_per_split, len);

  extern __shared__ float4 shared4[];
  float* shared = reinterpret_cast<float*>(shared4);
  const SharedLayout layout = Layout(group, hd, tile, sizeof(T));
  float* q_s = shared + layout.q;
  float* acc_s = shared + layout.acc;
  float* score_s = shared + layout.scores;
  float* max_s = shared + layout.stats;
  float* sum_s = max_s + group;
  float* corr_s = sum_s + group;
  T* kv_s = reinterpret_cast<T*>(shared + layout.kv);

  const T* q = static_cast<const T*>(a.q) + b * a.q_stride + static_cast<int64_t>(kv_head) * group * hd;
  for (int i = tid; i < group * hd; i += kThreads) {
    q_s[i] = ToFloat(q[i]) * a.scale_log2;
    acc_s[i] = 0.0f;
  }
  for (int g = tid; g < group; g += kThreads) {
    max_s[g] = -INFINITY;
    sum_s[g] = 0.0f;
  }

  const int32_t* table = a.page_tables + b * a.table_stride;
  const T* cache = static_cast<const T*>(a.cache.base);
  const int64_t head_offset = static_cast<int64_t>(kv_head) * hd;

  // Issues the copies of keys/values [first, first + rows) into `stage`.
  auto load_tile = [&](int first, int stage) {
    const int rows = min(tile, key_end - first);
    T* k_dst = kv_s + stage * 2 * tile * hd;
    T* v_dst = k_dst + tile * hd;
    if constexpr (kVector) {
      constexpr int kChunk = 16 / sizeof(T);
      const int chunks = hd / kChunk;
      for (int item = tid; item < rows * chunks; item += kThreads) {
        const int r = item / chunks, c = item - r * chunks;
        const int64_t offset = KvRowOffset(a.cache, table, first + r) + head_offset + c * kChunk;
        CpAsync16(k_dst + r * hd + c * kChunk, cache + offset, true);
        CpAsync16(v_dst + r * hd + c * kChunk, cache + offset + a.cache.value_offset, true);
      }
    } else {
      for (int item = tid; item < rows * hd; item += kThreads) {
        const int r = item / hd, d = item - r * hd;
        const int64_t offset = KvRowOffset(a.cache, table, first + r) + head_offset + d;
        k_dst[r * hd + d] = cache[offset];
        v_dst[r * hd + d] = cache[offset + a.cache.value_offset];
      }
    }
    CpAsyncCommit();  // an empty group in the scalar path
  };

  constexpr int kRowsPerWarp = 32 / kLanes;
  constexpr int kRowsPerPass = kWarps * kRowsPerWarp;
  const int sub = lane % kLanes;  // this lane's share of a row
  const int row_in_pass = warp * kRowsPerWarp + lane / kLanes;
  const int tiles = (key_end - key_begin + tile - 1) / tile;

  load_tile(key_begin, 0);
  for (int it = 0; it < tiles; ++it) {
    const int first = key_begin + it * tile;
    const int rows = min(tile, key_end - first);
    if (it + 1 < tiles) {
      load_tile(first + tile, (it + 1) & 1);
      CpAsyncWait<1>();
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();
    const T* k_s = kv_s + (it & 1) * 2 * tile * hd;
    const T* v_s = k_s + tile * hd;

    // 1. Scores of every group head against every key row of the tile.
    for (int r0 = 0; r0 < rows; r0 += kRowsPerPass) {  // uniform trip count: shuffles below
      const int r = r0 + row_in_pass;
      const bool live = r < rows;
      float k[kPer];
#pragma unroll
      for (int i = 0; i < kPer; ++i) k[i] = 0.0f;
      if (live) {
        if constexpr (kVector) {
          if (sub * kPer < hd) {
            constexpr int kPackSize = Pack<T>::kSize;
#pragma unroll
            for (int p = 0; p < kPer / kPackSize; ++p) {
              const Pack<T> pack = LoadPack(k_s + r * hd + sub * kPer + p * kPackSize);
#pragma unroll
              for (int i = 0; i < kPackSize; ++i) k[p * kPackSize + i] = ToFloat(pack.v[i]);
            }
          }
        } else {
#pragma unroll
          for (int i = 0; i < kPer; ++i) {
            const int d = Dim<kPer, kLanes, kVector>(sub, i);
            if (d < hd) k[i] = ToFloat(k_s[r * hd + d]);
          }
        }
      }
      for (int g = 0; g < group; ++g) {
        const float* qg = q_s + g * hd;
        float dot = 0.0f;
        if constexpr (kVector) {
          if (sub * kPer < hd) {
#pragma unroll
            for (int i = 0; i < kPer; i += 4) {
              const float4 qv = *reinterpret_cast<const float4*>(qg + sub * kPer + i);
              dot += qv.x * k[i] + qv.y * k[i + 1] + qv.z * k[i + 2] + qv.w * k[i + 3];
            }
          }
        } else {
#pragma unroll
          for (int i = 0; i < kPer; ++i) {
            const int d = Dim<kPer, kLanes, kVector>(sub, i);
            if (d < hd) dot += qg[d] * k[i];
          }
        }
#pragma unroll
        for (int offset = kLanes / 2; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
        if (live && sub == 0) score_s[g * tile + r] = dot;
      }
    }
    __syncthreads();

    // 2. Online softmax, one warp per head: new max, probabilities in place,
    // the correction for what was accumulated under the old max.
    for (int g = warp; g < group; g += kWarps) {
      float* s = score_s + g * tile;
      float tile_max = -INFINITY;
      for (int r = lane; r < rows; r += 32) tile_max = fmaxf(tile_max, s[r]);
      tile_max = WarpMax(tile_max);
      const float old_max = max_s[g];
      const float new_max = fmaxf(old_max, tile_max);
      float sum = 0.0f;
      for (int r = lane; r < rows; r += 32) {
        const float p = exp2f(s[r] - new_max);
        s[r] = p;
        sum += p;
      }
      sum = WarpSum(sum);
      if (lane == 0) {
        const float correction = exp2f(old_max - new_max);  // 0 on the first tile
        corr_s[g] = correction;
        sum_s[g] = sum_s[g] * correction + sum;
        max_s[g] = new_max;
      }
    }
    __syncthreads();

    // 3. acc = acc * correction + sum_r p_r * v_r; a thread owns two dims of one head.
    const int pairs = hd / 2;
    for (int slot = tid; slot < group * pairs; slot += kThreads) {
      const int g = slot / pairs, d = 2 * (slot - g * pairs);
      const float correction = corr_s[g];
      float a0 = acc_s[g * hd + d] * correction, a1 = acc_s[g * hd + d + 1] * correction;
      const float* p = score_s + g * tile;
      const T* v = v_s + d;
      int r = 0;
      for (; r + 4 <= rows; r += 4) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float2 x = LoadPair(v + (r + j) * hd);
          a0 += p[r + j] * x.x;
          a1 += p[r + j] * x.y;
        }
      }
      for (; r < rows; ++r) {
        const float2 x = LoadPair(v + r * hd);
        a0 += p[r] * x.x;
        a1 += p[r] * x.y;
      }
      acc_s[g * hd + d] = a0;
      acc_s[g * hd + d + 1] = a1;
    }
    __syncthreads();  // the stage and the scores are reused next tile
  }

  const int64_t row_heads = static_cast<int64_t>(b) * a.heads + static_cast<int64_t>(kv_head) * group;
  if (a.splits == 1) {
    T* out = static_cast<T*>(a.out) + b * a.out_stride + static_cast<int64_t>(kv_head) * group * hd;
    for (int i = tid; i < group * hd; i += kThreads) out[i] = FromFloat<T>(acc_s[i] / sum_s[i / hd]);
    return;
  }
  for (int i = tid; i < group * hd; i += kThreads) {
    const int g = i / hd, d = i - g * hd;
    a.part_acc[((row_heads + g) * a.splits + split) * hd + d] = acc_s[i];
  }
  for (int g = tid; g < group; g += kThreads) {
    float* ml = a.part_ml + ((row_heads + g) * a.splits + split) * 2;
    ml[0] = max_s[g];
    ml[1] = sum_s[g];
  }
}

// Merges the splits of one (head, sequence): out = Σ_s acc_s 2^(m_s - M) / Σ_s l_s 2^(m_s - M).
template <typename T>
__global__ void __launch_bounds__(kCombineThreads) DecodeCombineKernel(const DecodeArgs a) {
  const int h = blockIdx.x, b = blockIdx.y, hd = a.head_dim;
  const int tid = threadIdx.x, lane = tid % 32;
  const int len = min(a.seq_lens[b * a.len_stride], a.max_seq_len);
  T* out = static_cast<T*>(a.out) + b * a.out_stride + static_cast<int64_t>(h) * hd;
  // Only the splits whose key range starts before the end were written.
  const int used = len > 0 ? (len + a.keys_per_split - 1) / a.keys_per_split : 0;
  if (used == 0) {
    for (int d = tid; d < hd; d += kCombineThreads) out[d] = FromFloat<T>(0.0f);
    return;
  }
  const int64_t first = (static_cast<int64_t>(b) * a.heads + h) * a.splits;
  const float* ml = a.part_ml + first * 2;
  const float* acc = a.part_acc + first * hd;

  __shared__ float weight_s[kMaxSplits];
  __shared__ float max_shared, inv_total_shared;
  if (tid < 32) {
    float m = -INFINITY;
    for (int s = lane; s < used; s += 32) m = fmaxf(m, ml[2 * s]);
    m = WarpMax(m);
    float total = 0.0f;
    for (int s = lane; s < used; s += 32) total += ml[2 * s + 1] * exp2f(ml[2 * s] - m);
    total = WarpSum(total);
    if (lane == 0) {
      max_shared = m;
      inv_total_shared = 1.0f / total;
    }
  }
  __syncthreads();
  for (int s = tid; s < used; s += kCombineThreads) weight_s[s] = exp2f(ml[2 * s] - max_shared);
  __syncthreads();
  const float inv_total = inv_total_shared;
  for (int d = tid; d < hd; d += kCombineThreads) {
    float o = 0.0f;
    for (int s = 0; s < used; ++s) o += weight_s[s] * acc[s * hd + d];
    out[d] = FromFloat<T>(o * inv_total);
  }
}

using DecodeKernel = void (*)(DecodeArgs);

// The kernel for this dtype and head_dim: lanes per key row and elements
// per lane chosen so a row is one 16-byte (or 32-byte) access per lane;
// the scalar kernel when the rows are not 16-byte multiples or aligned.
template <typename T>
DecodeKernel PickKernel(int64_t head_dim, bool vector) {
  if (vector) {
    if constexpr (sizeof(T) == 2) {
      if (head_dim <= 64) return DecodeSplitKernel<T, 8, 8, true>;
      if (head_dim <= 128) return DecodeSplitKernel<T, 8, 16, true>;
      return DecodeSplitKernel<T, 8, 32, true>;
    } else {
      if (head_dim <= 64) return DecodeSplitKernel<T, 4, 16, true>;
      if (head_dim <= 128) return DecodeSplitKernel<T, 4, 32, true>;
      if (head_dim % 8 == 0) return DecodeSplitKernel<T, 8, 32, true>;
    }
  }
  return DecodeSplitKernel<T, 8, 32, false>;
}

}  // namespace

DecodePlan PlanDecode(DType type, int64_t batch, const AttentionDims& dims, int64_t max_seq_len, int sm_count) {
  DecodePlan plan;
  plan.tile = TileKeys(dims.head_dim, DTypeSize(type));
  const int64_t wanted = MaxSplits(batch, dims.kv_heads, max_seq_len, sm_count);
  const int64_t splits = std::min(wanted, CeilDiv(max_seq_len, plan.tile));  // at least a tile each
  plan.keys_per_split = CeilDiv(CeilDiv(max_seq_len, splits), plan.tile) * plan.tile;
  plan.splits = CeilDiv(max_seq_len, plan.keys_per_split);
  return plan;
}

uint64_t DecodeScratchBytes(const AttentionDims& dims, int64_t rows, int64_t max_seq_len, int sm_count) {
  // The most any batch <= rows can use: partials exist only with > 1 split,
  // which needs batch * kv_heads < 2 * SMs, so the loop is short.
  uint64_t most = 0;
  for (int64_t batch = 1; batch <= rows; ++batch) {
    const int64_t splits = MaxSplits(batch, dims.kv_heads, max_seq_len, sm_count);
    if (splits <= 1) break;  // non-increasing in batch
    const uint64_t bytes = static_cast<uint64_t>(batch * dims.heads * splits * (dims.head_dim + 2)) * sizeof(float);
    most = std::max(most, bytes);
  }
  return most;
}

void PrepareDecodeAttention() {
  int device = 0;
  DJINN_CUDA_CHECK(cudaGetDevice(&device));
  DJINN_CUDA_CHECK(cudaDeviceGetAttribute(&g_shared_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  auto allow = [](auto zero) {
    using T = decltype(zero);
    for (int64_t head_dim : {64, 128, 256}) AllowLargeSharedMemory(PickKernel<T>(head_dim, true));
    AllowLargeSharedMemory(PickKernel<T>(kMaxHeadDim, false));
  };
  allow(float{});
  allow(__half{});
  allow(__nv_bfloat16{});
}

void LaunchDecodeAttention(DType type, const void* q, int64_t q_stride, const KvPages& cache,
                           const int32_t* page_tables, int64_t page_tables_stride, const int32_t* seq_lens,
                           int64_t seq_lens_stride, int64_t batch, int64_t max_seq_len, const AttentionDims& dims,
                           void* scratch, uint64_t scratch_bytes, void* out, int64_t out_stride, int sm_count,
                           cudaStream_t stream) {
  if (batch == 0 || max_seq_len <= 0) return;
  const DecodePlan plan = PlanDecode(type, batch, dims, max_seq_len, sm_count);
  const int64_t group = dims.heads / dims.kv_heads;
  const int64_t partials = plan.splits > 1 ? batch * dims.heads * plan.splits : 0;
  const uint64_t needed = static_cast<uint64_t>(partials * (dims.head_dim + 2)) * sizeof(float);
  if (needed > scratch_bytes) {
    std::fprintf(stderr, "djinn cuda: DecodeAttention scratch of %llu bytes is smaller than the %llu it needs\n",
                 static_cast<unsigned long long>(scratch_bytes), static_cast<unsigned long long>(needed));
    std::abort();
  }
  DecodeArgs args{};
  args.q = q;
  args.q_stride = q_stride;
  args.cache = cache;
  args.page_tables = page_tables;
  args.table_stride = page_tables_stride;
  args.seq_lens = seq_lens;
  args.len_stride = seq_lens_stride;
  args.max_seq_len = static_cast<int>(max_seq_len);
  args.heads = static_cast<int>(dims.heads);
  args.group = static_cast<int>(group);
  args.head_dim = static_cast<int>(dims.head_dim);
  args.splits = static_cast<int>(plan.splits);
  args.keys_per_split = static_cast<int>(plan.keys_per_split);
  args.tile = static_cast<int>(plan.tile);
  args.scale_log2 = static_cast<float>(kLog2E / std::sqrt(static_cast<double>(dims.head_dim)));
  args.part_acc = static_cast<float*>(scratch);
  args.part_ml = args.part_acc + partials * dims.head_dim;
  args.out = out;
  args.out_stride = out_stride;

  const int64_t element = DTypeSize(type);
  const bool vector = (dims.head_dim * element) % 16 == 0 && Aligned16(cache.base);
  const SharedLayout layout = Layout(args.group, args.head_dim, args.tile, static_cast<int>(element));
  if (layout.bytes > g_shared_limit) {
    std::fprintf(stderr,
                 "djinn cuda: DecodeAttention needs %d bytes of shared memory (group %lld, head_dim %lld); "
                 "the device allows %d\n",
                 layout.bytes, static_cast<long long>(group), static_cast<long long>(dims.head_dim), g_shared_limit);
    std::abort();
  }
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const dim3 grid(static_cast<unsigned>(plan.splits), static_cast<unsigned>(dims.kv_heads),
                    static_cast<unsigned>(batch));
    PickKernel<T>(dims.head_dim, vector)<<<grid, kThreads, layout.bytes, stream>>>(args);
    DJINN_CUDA_CHECK_LAUNCH();
    if (plan.splits > 1) {
      DecodeCombineKernel<T>
          <<<dim3(static_cast<unsigned>(dims.heads), static_cast<unsigned>(batch)), kCombineThreads, 0, stream>>>(args);
      DJINN_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace djinn::cuda
