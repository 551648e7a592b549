// TopLogprobs on the device: one 512-thread block per row of fp32 logits,
// the rule of Backend::TopLogprobs, which the CPU's TopLogprobsRow runs too
// (both are tested against a double-precision log_softmax,
// tests/backend/top_logprobs_ops_test.cc).
//
// Two reads of the row (up to ~152k logits; the second mostly from L2),
// each with eight loads in flight per thread (two float4 when the row is
// 16-byte aligned): one block reads a whole row, so latency is the limit.
//  1. The maximum, the +inf count, and each warp's top list: the warp's
//     kMaxTop best (logit, id) pairs in the list's order (larger logit, then
//     lower id), entry k in lane k's registers. Each batch of 8 x 32 logits
//     is checked against the list's last entry with one ballot; the few
//     that beat it are inserted one at a time (a ballot gives the position,
//     a shuffle shifts the tail). Per-thread lists would cost an unrolled
//     insertion nearly every step, since some lane of the warp nearly always
//     has one; the warp's list rejects almost everything after a few batches.
//  2. The sum of exp(x - max), per thread with Kahan compensation, then a
//     tree over the block: the log-sum-exp in fp32, with about 1e-7 relative
//     error in the sum (the CPU sums in double).
// Then one warp takes the top_n from the warps' lists (kWarps x kMaxTop
// candidates in shared memory, ten per lane): top_n rounds of a warp
// arg-best, no block barriers.
//
// Speed (H200, 151936 logits, top 20): about 68 us for one row and 72 us for
// 64 rows (28 us with top_n 0). One block per row, 16 warps on one SM, is
// the limit: splitting a row over several blocks is the next step if this
// ever shows beside a decode step.
//
// No scratch: the lists live in registers and shared memory, so the op
// needs nothing from the workspace but its output.
#include <climits>

#include "daemon/backend/cuda/device_util.cuh"
#include "daemon/backend/cuda/kernels.h"

namespace djinn::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kNoId = INT_MAX;  // an empty list slot: after every real entry

// The top list's order: larger logit first, then lower id.
__device__ __forceinline__ bool Before(float a, int a_id, float b, int b_id) {
  return a > b || (a == b && a_id < b_id);
}

// NaN ranks and weighs as -inf.
__device__ __forceinline__ float Clean(float x) { return isnan(x) ? -INFINITY : x; }

struct Best {
  float value;
  int id;
};

__device__ __forceinline__ Best WarpBest(Best b) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float v = __shfl_xor_sync(0xffffffffu, b.value, offset);
    const int id = __shfl_xor_sync(0xffffffffu, b.id, offset);
    if (Before(v, id, b.value, b.id)) b = Best{v, id};
  }
  return b;
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ int WarpSumInt(int v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Calls f(ids, logits) with eight (id, logit) pairs at a time until every
// id of the row was passed, ids past its end with logit -inf; the count of
// calls is the same for every thread of the block (so f may vote across its
// warp), and each thread sees its ids in increasing order. The eight loads
// are in flight before the first use (two float4 when the row is 16-byte
// aligned): one block reads a whole row, so latency is the limit.
template <typename F>
__device__ __forceinline__ void ForRow(const float* x, int vocab, F&& f) {
  const int tid = threadIdx.x;
  int id[8];
  float v[8];
  if (reinterpret_cast<uintptr_t>(x) % 16 == 0 && vocab % 4 == 0) {
    const float4* q = reinterpret_cast<const float4*>(x);
    const int quads = vocab / 4;
    const float4 none = make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);
    for (int base = 0; base < quads; base += 2 * kThreads) {
      const int a = base + tid, b = a + kThreads;
      const float4 va = a < quads ? q[a] : none;
      const float4 vb = b < quads ? q[b] : none;
      v[0] = va.x, v[1] = va.y, v[2] = va.z, v[3] = va.w;
      v[4] = vb.x, v[5] = vb.y, v[6] = vb.z, v[7] = vb.w;
#pragma unroll
      for (int k = 0; k < 8; ++k) id[k] = 4 * (k < 4 ? a : b) + k % 4;
      f(id, v);
    }
  } else {
    for (int base = 0; base < vocab; base += 8 * kThreads) {
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        id[k] = base + k * kThreads + tid;
        v[k] = id[k] < vocab ? x[id[k]] : -INFINITY;
      }
      f(id, v);
    }
  }
}

// The warps' lists, gathered for the final selection: kCandidates entries,
// kPerLane for each lane of the selecting warp.
constexpr int kCandidates = kWarps * kMaxTopLogprobs;
constexpr int kPerLane = kCandidates / 32;
static_assert(kCandidates % 32 == 0);

struct Shared {
  Best candidate[kCandidates];
  float warp_float[kWarps];
  int warp_int[kWarps];
  float max;
  int posinf;
  float log_sum;
};

__global__ void __launch_bounds__(kThreads)
    TopLogprobsKernel(const float* logits, int64_t logits_stride, int vocab, const int32_t* ids, int64_t ids_stride,
                      int top_n, int32_t* out, int64_t out_stride) {
  __shared__ Shared s;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const float* x = logits + blockIdx.x * logits_stride;
  int32_t* row_out = out + blockIdx.x * out_stride;

  // 1. The maximum, the +inf count and the warp's top list (lane k holds
  // entry k; `last` is entry kMaxTop - 1, the bar a new entry must beat).
  float max = -INFINITY;
  int posinf = 0;
  Best entry{-INFINITY, kNoId}, last{-INFINITY, kNoId};
  // Inserts `add` if it beats the bar (warp-uniform: every lane passes the
  // same `add`).
  auto insert = [&](Best add) {
    if (add.id >= vocab || !Before(add.value, add.id, last.value, last.id)) return;
    const int at = __popc(
        __ballot_sync(0xffffffffu, lane < kMaxTopLogprobs && Before(entry.value, entry.id, add.value, add.id)));
    const Best above{__shfl_up_sync(0xffffffffu, entry.value, 1), __shfl_up_sync(0xffffffffu, entry.id, 1)};
    if (lane >= kMaxTopLogprobs) {
      entry = Best{-INFINITY, kNoId};
    } else if (lane == at) {
      entry = add;
    } else if (lane > at) {
      entry = above;
    }
    last = Best{__shfl_sync(0xffffffffu, entry.value, kMaxTopLogprobs - 1),
                __shfl_sync(0xffffffffu, entry.id, kMaxTopLogprobs - 1)};
  };
  ForRow(x, vocab, [&](const int* id, const float* raw) {
    float v[8];
    bool beats = false;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      v[k] = Clean(raw[k]);
      max = fmaxf(max, v[k]);
      posinf += v[k] == INFINITY;
      beats |= id[k] < vocab && Before(v[k], id[k], last.value, last.id);
    }
    if (top_n == 0) return;  // the same for the whole block
    // One vote per eight logits, nearly always "none" once the bar has
    // risen; otherwise a vote per logit, and the lanes whose logit beats the
    // bar offer it one at a time (the bar rises as they go in).
    if (__ballot_sync(0xffffffffu, beats) == 0) return;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      unsigned lanes = __ballot_sync(0xffffffffu, id[k] < vocab && Before(v[k], id[k], last.value, last.id));
      for (; lanes != 0; lanes &= lanes - 1) {
        const int from = __ffs(lanes) - 1;
        insert(Best{__shfl_sync(0xffffffffu, v[k], from), __shfl_sync(0xffffffffu, id[k], from)});
      }
    }
  });
  max = WarpMax(max);
  posinf = WarpSumInt(posinf);
  if (lane == 0) {
    s.warp_float[warp] = max;
    s.warp_int[warp] = posinf;
  }
  __syncthreads();
  if (warp == 0) {
    float m = lane < kWarps ? s.warp_float[lane] : -INFINITY;
    int p = lane < kWarps ? s.warp_int[lane] : 0;
    m = WarpMax(m);
    p = WarpSumInt(p);
    if (lane == 0) {
      s.max = m;
      s.posinf = p;
    }
  }
  __syncthreads();
  max = s.max;

  // 2. The log-sum-exp (only for a finite maximum; the other cases need none).
  if (max > -INFINITY && max < INFINITY) {
    float sum = 0, compensation = 0;
    ForRow(x, vocab, [&](const int*, const float* raw) {
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        const float term = expf(Clean(raw[k]) - max) - compensation;
        const float next = sum + term;
        compensation = (next - sum) - term;
        sum = next;
      }
    });
    sum = WarpSum(sum);
    if (lane == 0) s.warp_float[warp] = sum;
    __syncthreads();
    if (warp == 0) {
      float total = lane < kWarps ? s.warp_float[lane] : 0.0f;
      total = WarpSum(total);
      if (lane == 0) s.log_sum = logf(total);
    }
    __syncthreads();
  }
  const float log_sum = s.log_sum;
  const int posinf_count = s.posinf;
  auto logprob = [&](float v) -> float {
    if (max == -INFINITY) return __int_as_float(0x7fc00000);  // NaN: no distribution
    if (max == INFINITY) return v == INFINITY ? -logf(static_cast<float>(posinf_count)) : -INFINITY;
    return (v - max) - log_sum;
  };

  if (tid == 0) {
    const int32_t chosen = ids[blockIdx.x * ids_stride];
    row_out[0] = chosen;
    const float lp = chosen >= 0 && chosen < vocab ? logprob(Clean(x[chosen])) : __int_as_float(0x7fc00000);
    row_out[1] = __float_as_int(lp);
  }

  // 3. The top_n from the warps' lists, by warp 0 alone.
  if (top_n == 0) return;
  if (lane < kMaxTopLogprobs) s.candidate[warp * kMaxTopLogprobs + lane] = entry;
  __syncthreads();
  if (warp != 0) return;
  Best mine[kPerLane];
#pragma unroll
  for (int k = 0; k < kPerLane; ++k) mine[k] = s.candidate[k * 32 + lane];
  for (int r = 0; r < top_n; ++r) {
    Best best{-INFINITY, kNoId};
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      if (Before(mine[k].value, mine[k].id, best.value, best.id)) best = mine[k];
    }
    const Best winner = WarpBest(best);
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      if (mine[k].id == winner.id) mine[k] = Best{-INFINITY, kNoId};  // ids are unique: taken once
    }
    if (lane == 0) {
      row_out[2 + 2 * r] = winner.id;
      row_out[3 + 2 * r] = __float_as_int(logprob(winner.value));
    }
  }
}

}  // namespace

void LaunchTopLogprobs(const float* logits, int64_t logits_stride, int64_t rows, int64_t vocab, const int32_t* ids,
                       int64_t ids_stride, int64_t top_n, int32_t* out, int64_t out_stride, cudaStream_t stream) {
  if (rows == 0) return;
  TopLogprobsKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      logits, logits_stride, static_cast<int>(vocab), ids, ids_stride, static_cast<int>(top_n), out, out_stride);
  DJINN_CUDA_CHECK_LAUNCH();
}

}  // namespace djinn::cuda
