// Sampling on the device: one launch, one 512-thread block per row, no host
// decisions on the logits, so a recorded decode step samples too.
//
// The rule is the CPU's (SampleFromLogits, engine/sampling/sampler.h):
//   * NaN counts as -inf. A row with no logit above -inf gives -1.
//   * temperature <= 0 or NaN: greedy, the first maximum (lowest id on ties).
//   * otherwise the candidates are the logits above -inf (only the +inf ones,
//     each of weight 1, when the maximum is +inf), in descending order of
//     logit, ties by lower id, with weights exp((x - max) / temperature);
//     top-k keeps the first k; top-p keeps the shortest prefix of those whose
//     weight reaches top_p × their total; the draw u picks the first kept
//     token whose running weight exceeds u × the kept total (the last kept
//     one if rounding leaves the target unreached).
//
// Without sorting the vocabulary. Every step above finds one element of the
// descending order ("the first whose running count / weight meets a
// target"), and the kept set after top-k / top-p is a prefix of that order.
//
// Speed (H100, one row of 128k logits): greedy about 10 us; the top list
// about 100-120 us; the fallback about 0.7-0.85 ms. One block per row is the
// limit (a 512-thread block streams the row several times); splitting the
// row over several blocks per pass is the next step if sampling shows up.
//
// Fast path (TopList): nearly all the probability usually sits in a few
// hundred tokens. One pass counts, in registers, the candidates within each
// of 16 distances of the max (0.5 to 28 nats of scaled logit) and the
// weight beyond each; the first distance that surely holds the top-k cut or
// all but 1e-4 of the weight (with at most 4096 candidates) gives a prefix
// of the order, which a second pass compacts into shared memory; a bitonic
// sort orders it by (key, id), and the rule runs on its fp64 running weights
// with binary searches: exact order, exact ties.
//
// Exact fallback, when the top-k cut, the top-p threshold or the draw lies
// past that list (or no distance gives a short enough list): radix selects over
// the whole row. Logits map to order-preserving 32-bit keys (-0 joins +0, as
// they compare equal); four passes each histogram one byte of the key of the
// elements that match the bytes chosen so far (counts and, for weight
// targets, weight sums in fp64; per-warp histograms in shared memory: on the
// first, busy byte one leader per distinct byte updates them, later bytes
// use atomics), and a warp scans the 256 bins in descending order to pick the
// byte where the running total crosses the target. After four passes the key
// is exact: all elements with that key have the same weight, so the
// crossing's rank among them is arithmetic, and a block-wide ballot scan in
// id order finds that rank's id (skipped when the key is unique).
//
// Where rounding can differ from the CPU's: weights are exp in fp32 of
// (x - max) * (1 / temperature) computed in fp32 (the CPU: exp in double of
// x / T - max / T), relative error about 1e-6, and the running sums add them
// in fp64 in another order (the weight beyond the top list, which only
// enters the total, is summed with the faster __expf, in fp32 per thread).
// So a token can differ from the CPU's only when u × total, or top_p ×
// total, lies within about 1e-6 (relative) of a cumulative boundary; and a
// weight below fp32's range (exp(-104)) counts as 0, so such a token is
// never drawn (the CPU's probability for it is below 1e-45). Greedy and
// top-k choices are exact.
#include <climits>

#include "daemon/backend/cuda/device_util.cuh"
#include "daemon/backend/cuda/kernels.h"

namespace djinn::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 256;
constexpr int kNoId = INT_MAX;
// The top list: at most this many of the most likely candidates, sorted in
// shared memory (a power of two for the bitonic sort).
constexpr int kListCapacity = 4096;

struct Shared {
  int warp_count[kWarps][kBins];
  union {
    double warp_weight[kWarps][kBins];  // the radix select's
    struct {                            // the top list's (TopList)
      uint64_t item[kListCapacity];     // (key << 32) | ~id, sorted descending
      double prefix[kListCapacity];     // inclusive running weights in that order
    } list;
  };
  int count[kBins];
  double weight[kBins];
  int last_id[kBins];  // in the last pass: some id of each exact key
  // Block reductions and broadcasts.
  float best_value[kWarps];
  int best_id[kWarps], candidates[kWarps], posinf[kWarps];
  int tie_count[kWarps];
  int bin, fallback, above_count, tie_warp, tie_rank, found_id;
  double above_weight, target;
  float list_threshold;
  int list_size, list_result;
  double list_tail;
};

// One row and what pass 0 learnt about it.
struct Row {
  const float* x;
  int vocab;
  float max;              // the largest logit
  float inv_temperature;  // 1 / temperature
  bool posinf_only;       // max is +inf: only the +inf logits are candidates
  bool quads;             // 16-byte aligned and vocab % 4 == 0: float4 loads
};

// Calls f(id, logit) for every id of the row, and for some ids past its end
// with logit -inf; the count of calls is the same for every thread of the
// block (so f may vote across its warp), and each thread sees its ids in
// increasing order. Eight loads are in flight per thread before the first
// use: one block reads a whole row, so latency, not bandwidth, is the limit.
template <typename F>
__device__ __forceinline__ void ForRow(const Row& row, F&& f) {
  const int tid = threadIdx.x;
  if (row.quads) {
    const float4* q = reinterpret_cast<const float4*>(row.x);
    const int quads = row.vocab / 4;
    const float4 none = make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);
    for (int base = 0; base < quads; base += 2 * kThreads) {
      const int a = base + tid, b = a + kThreads;
      const float4 va = a < quads ? q[a] : none;
      const float4 vb = b < quads ? q[b] : none;
      f(4 * a, va.x);
      f(4 * a + 1, va.y);
      f(4 * a + 2, va.z);
      f(4 * a + 3, va.w);
      f(4 * b, vb.x);
      f(4 * b + 1, vb.y);
      f(4 * b + 2, vb.z);
      f(4 * b + 3, vb.w);
    }
  } else {
    for (int base = 0; base < row.vocab; base += 4 * kThreads) {
      float v[4];
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int i = base + k * kThreads + tid;
        v[k] = i < row.vocab ? row.x[i] : -INFINITY;
      }
#pragma unroll
      for (int k = 0; k < 4; ++k) f(base + k * kThreads + tid, v[k]);
    }
  }
}

// Order-preserving key of a candidate (larger logit, larger key); 0 for a
// non-candidate. Finite and +inf keys are >= 0x00800000.
__device__ __forceinline__ uint32_t Key(const Row& row, float x) {
  if (row.posinf_only) return x == INFINITY ? 0xFF800000u : 0u;
  if (!(x > -INFINITY)) return 0u;  // -inf and NaN
  if (x == 0.0f) x = 0.0f;          // -0 ties with +0
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float KeyValue(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) != 0 ? (key & 0x7FFFFFFFu) : ~key);
}

// How far a finite candidate's scaled logit lies below the maximum's, in
// nats: (max - x) / temperature >= 0 (0 for the maximum itself, also when
// 1 / temperature overflows or is 0).
__device__ __forceinline__ float Below(const Row& row, float x) {
  const float d = row.max - x;
  return d == 0.0f || row.inv_temperature == 0.0f ? 0.0f : d * row.inv_temperature;
}

__device__ __forceinline__ float Weight(const Row& row, float x) {
  return row.posinf_only ? 1.0f : expf(-Below(row, x));
}

// The kept set, a prefix of the order: everything up to and including
// (key, id). The initial {0, kNoId} keeps every candidate.
struct Cut {
  uint32_t key;
  int id;
};
__device__ __forceinline__ bool Kept(uint32_t key, int id, Cut cut) {
  return key != 0 && (key > cut.key || (key == cut.key && id <= cut.id));
}

enum Goal {
  kRank,    // running count >= value (top-k: value = k)
  kReach,   // running weight >= value × kept total (top-p)
  kExceed,  // running weight > value × kept total (the draw)
};

// Warp 0, after a pass's histogram: scans the bins in descending order from
// the running totals before them (`above_*`) and stores the chosen bin and
// the totals before it. With `fallback` (or no crossing) it takes the last
// nonempty bin, i.e. heads for the last kept element.
template <Goal kGoal>
__device__ void Walk(Shared& sm, int pass, double value, int above_count, double above_weight, double target,
                     bool fallback) {
  const int lane = threadIdx.x % 32;
  // Lane L covers bins 255 - 8L down to 248 - 8L.
  int lane_count = 0;
  double lane_weight = 0;
  for (int k = 0; k < 8; ++k) {
    const int bin = kBins - 1 - 8 * lane - k;
    lane_count += sm.count[bin];
    lane_weight += sm.weight[bin];
  }
  int count_incl = lane_count;
  double weight_incl = lane_weight;
  for (int offset = 1; offset < 32; offset *= 2) {
    const int c = __shfl_up_sync(0xffffffffu, count_incl, offset);
    const double w = __shfl_up_sync(0xffffffffu, weight_incl, offset);
    if (lane >= offset) {
      count_incl += c;
      weight_incl += w;
    }
  }
  // The first pass sees the whole kept set: its total fixes the target.
  if (kGoal != kRank && pass == 0) target = value * __shfl_sync(0xffffffffu, weight_incl, 31);
  const int count_before = above_count + count_incl - lane_count;
  const double weight_before = above_weight + (weight_incl - lane_weight);

  int found = -1, found_count = 0;
  double found_weight = 0;
  if (!fallback) {
    int c_acc = count_before;
    double w_acc = weight_before;
    for (int k = 0; k < 8; ++k) {
      const int bin = kBins - 1 - 8 * lane - k;
      const int c = sm.count[bin];
      if (c == 0) continue;
      const double w = sm.weight[bin];
      const bool cross = kGoal == kRank    ? c_acc + c >= target
                         : kGoal == kReach ? w_acc + w >= target
                                           : w_acc + w > target;
      if (cross) {
        found = bin;
        found_count = c_acc;
        found_weight = w_acc;
        break;
      }
      c_acc += c;
      w_acc += w;
    }
  }
  const unsigned crossed = __ballot_sync(0xffffffffu, found >= 0);
  int source;
  if (crossed != 0) {
    source = __ffs(crossed) - 1;
  } else {
    int c_acc = count_before;
    double w_acc = weight_before;
    for (int k = 0; k < 8; ++k) {
      const int bin = kBins - 1 - 8 * lane - k;
      const int c = sm.count[bin];
      if (c != 0) {
        found = bin;
        found_count = c_acc;
        found_weight = w_acc;
      }
      c_acc += c;
      w_acc += sm.weight[bin];
    }
    const unsigned nonempty = __ballot_sync(0xffffffffu, found >= 0);
    source = 31 - __clz(nonempty);  // the kept set is never empty
    fallback = true;
  }
  found = __shfl_sync(0xffffffffu, found, source);
  found_count = __shfl_sync(0xffffffffu, found_count, source);
  found_weight = __shfl_sync(0xffffffffu, found_weight, source);
  if (lane == 0) {
    sm.bin = found;
    sm.above_count = found_count;
    sm.above_weight = found_weight;
    sm.target = target;
    sm.fallback = fallback;
  }
}

// The rank-th (1-based) smallest id among the kept elements with this key.
// Warp w scans ids [w * span, (w + 1) * span) in order, 32 at a time.
__device__ int NthWithKey(const Row& row, Cut kept, uint32_t key, int rank, Shared& sm) {
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int span = ((row.vocab + kWarps - 1) / kWarps + 31) / 32 * 32;
  const int begin = warp * span, end = min(row.vocab, begin + span);
  auto match = [&](int i) { return i < end && Key(row, row.x[i]) == key && Kept(key, i, kept); };
  int count = 0;
  for (int base = begin; base < end; base += 32) count += __popc(__ballot_sync(0xffffffffu, match(base + lane)));
  if (lane == 0) sm.tie_count[warp] = count;
  if (tid == 0) sm.found_id = -1;
  __syncthreads();
  if (tid == 0) {
    sm.tie_warp = -1;
    int before = 0;
    for (int w = 0; w < kWarps; ++w) {
      if (before + sm.tie_count[w] >= rank) {
        sm.tie_warp = w;
        sm.tie_rank = rank - before;
        break;
      }
      before += sm.tie_count[w];
    }
  }
  __syncthreads();
  if (warp == sm.tie_warp) {
    const int target = sm.tie_rank;
    int seen = 0;
    for (int base = begin; base < end; base += 32) {
      const bool hit = match(base + lane);
      const unsigned hits = __ballot_sync(0xffffffffu, hit);
      if (seen + __popc(hits) >= target) {
        if (hit && seen + __popc(hits & ((1u << lane) - 1)) + 1 == target) sm.found_id = base + lane;
        break;
      }
      seen += __popc(hits);
    }
  }
  __syncthreads();
  return sm.found_id;
}

// The element of the kept set where the goal is first met (see Goal).
template <Goal kGoal>
__device__ Cut Select(const Row& row, Cut kept, double value, Shared& sm) {
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  uint32_t prefix = 0;
  int above_count = 0;
  double above_weight = 0;
  double target = value;  // weight goals: set from the total in pass 0
  bool fallback = false;
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    const uint32_t high_mask = pass == 0 ? 0u : ~0u << (shift + 8);
    // Each warp clears its own histogram (nobody else reads it until the merge).
    for (int b = lane; b < kBins; b += 32) {
      sm.warp_count[warp][b] = 0;
      sm.warp_weight[warp][b] = 0;
    }
    __syncwarp();
    if (pass == 0) {
      // The first byte (sign and exponent) of most logits takes a handful of
      // values: one update per distinct byte in the warp, by a leader that
      // adds its peers' count and (shuffle-summed) weight to the warp's own
      // histogram, instead of conflicting atomics. The trip count is
      // block-uniform, so that whole warps vote.
      ForRow(row, [&](int i, float x) {
        const uint32_t key = Key(row, x);
        const bool match = Kept(key, i, kept);
        unsigned pending = __ballot_sync(0xffffffffu, match);
        if (pending == 0) return;
        const int digit = key >> 24;
        const float w = kGoal != kRank && match ? Weight(row, x) : 0.0f;
        while (pending != 0) {
          const int leader = __ffs(pending) - 1;
          const int d = __shfl_sync(0xffffffffu, digit, leader);
          const bool peer = match && digit == d;
          const unsigned peers = __ballot_sync(0xffffffffu, peer);
          float sum = 0.0f;
          if (kGoal != kRank) sum = WarpSum(peer ? w : 0.0f);
          if (lane == leader) {
            sm.warp_count[warp][d] += __popc(peers);
            if (kGoal != kRank) sm.warp_weight[warp][d] += static_cast<double>(sum);
          }
          pending &= ~peers;
        }
      });
    } else {
      // Later bytes spread over the bins: plain shared atomics rarely collide.
      ForRow(row, [&](int i, float x) {
        const uint32_t key = Key(row, x);
        if (!Kept(key, i, kept) || (key & high_mask) != prefix) return;
        const int digit = (key >> shift) & 0xFF;
        atomicAdd(&sm.warp_count[warp][digit], 1);
        if (kGoal != kRank) atomicAdd(&sm.warp_weight[warp][digit], static_cast<double>(Weight(row, x)));
        if (pass == 3) sm.last_id[digit] = i;
      });
    }
    __syncthreads();
    if (tid < kBins) {
      int c = 0;
      double w = 0;
      for (int k = 0; k < kWarps; ++k) {
        c += sm.warp_count[k][tid];
        if (kGoal != kRank) w += sm.warp_weight[k][tid];
      }
      sm.count[tid] = c;
      sm.weight[tid] = w;
    }
    __syncthreads();
    if (warp == 0) Walk<kGoal>(sm, pass, value, above_count, above_weight, target, fallback);
    __syncthreads();
    prefix |= static_cast<uint32_t>(sm.bin) << shift;
    above_count = sm.above_count;
    above_weight = sm.above_weight;
    target = sm.target;
    fallback = sm.fallback != 0;
  }

  // The key is exact now; its elements share one weight, so where the goal
  // is met among them is arithmetic.
  const int with_key = sm.count[prefix & 0xFF];
  int rank = with_key;
  if (!fallback) {
    if (kGoal == kRank) {
      rank = static_cast<int>(target) - above_count;
    } else {
      const double w = Weight(row, KeyValue(prefix));
      const double r = w > 0 ? (target - above_weight) / w : 1.0;
      const double need = kGoal == kReach ? ceil(r) : floor(r) + 1.0;
      rank = static_cast<int>(fmin(fmax(need, 1.0), static_cast<double>(with_key)));
    }
    rank = max(1, min(rank, with_key));
  }
  const int unique_id = sm.last_id[prefix & 0xFF];
  const int id = with_key == 1 ? unique_id : NthWithKey(row, kept, prefix, rank, sm);
  return Cut{prefix, id};
}

// ------------------------------------------------------------ the top list

__device__ __forceinline__ int ListId(uint64_t item) { return static_cast<int>(~static_cast<uint32_t>(item)); }

// First index in [0, end) whose running weight meets `target` (>= when
// `reach`, > otherwise); `end` if none. The running weights never decrease.
__device__ int FirstAtLeast(const double* prefix, int end, double target, bool reach) {
  int low = 0, high = end;
  while (low < high) {
    const int mid = (low + high) / 2;
    const bool met = reach ? prefix[mid] >= target : prefix[mid] > target;
    if (met) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  return low;
}

// The fast path. Usually nearly all the probability sits in a few hundred
// tokens, so: one pass counts, per thread in registers, the candidates
// closer than each of a few thresholds to the maximum (in nats of scaled
// logit) and the weight beyond each; the first threshold whose candidates
// surely hold the top-k cut, or else all but kListMiss of the weight, and
// number at most kListCapacity, defines the list (a prefix of the order).
// A second pass compacts the list into shared memory, a bitonic sort orders
// it by (key, id), and the rule runs on its fp64 running weights (plus the
// weight beyond the list) with binary searches. Returns the chosen id, or -2
// when the rule needs an element past the list (the top-k cut, the top-p
// threshold or the draw lies beyond it, or no threshold gives a short enough
// list): the caller then runs the radix select over the whole row.
__device__ int TopList(const Row& row, int candidates, int top_k, float top_p, float uniform, Shared& sm) {
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  constexpr int kNoChoice = -2;
  constexpr int kThresholds = 16;
  constexpr float kNats[kThresholds] = {0.5f, 1.0f, 1.5f, 2.0f,  2.5f,  3.0f,  4.0f,  5.0f,
                                        6.0f, 7.0f, 8.0f, 10.0f, 12.0f, 16.0f, 20.0f, 28.0f};
  constexpr double kListMiss = 1e-4;  // a draw lands past the list at most this often

  // 1. Per threshold: candidates closer to the max, weight further away.
  // No atomics: registers, then shuffles, then one slot per warp.
  int near[kThresholds];
  float far[kThresholds];
  float total = 0.0f;
#pragma unroll
  for (int k = 0; k < kThresholds; ++k) {
    near[k] = 0;
    far[k] = 0.0f;
  }
  ForRow(row, [&](int, float x) {
    if (Key(row, x) == 0) return;
    const float below = row.posinf_only ? 0.0f : Below(row, x);
    const float w = row.posinf_only ? 1.0f : __expf(-below);  // only for the totals
    total += w;
#pragma unroll
    for (int k = 0; k < kThresholds; ++k) {
      if (below < kNats[k]) {
        ++near[k];
      } else {
        far[k] += w;
      }
    }
  });
#pragma unroll
  for (int k = 0; k < kThresholds; ++k) {
    for (int offset = 16; offset > 0; offset /= 2) {
      near[k] += __shfl_xor_sync(0xffffffffu, near[k], offset);
      far[k] += __shfl_xor_sync(0xffffffffu, far[k], offset);
    }
  }
  for (int offset = 16; offset > 0; offset /= 2) total += __shfl_xor_sync(0xffffffffu, total, offset);
  if (lane == 0) {
#pragma unroll
    for (int k = 0; k < kThresholds; ++k) {
      sm.warp_count[warp][k] = near[k];
      sm.warp_weight[warp][k] = far[k];
    }
    sm.warp_weight[warp][kThresholds] = total;
  }
  __syncthreads();
  if (tid == 0) {
    double all = 0;
    for (int w = 0; w < kWarps; ++w) all += sm.warp_weight[w][kThresholds];
    const bool cut = top_k > 0 && top_k < candidates;
    int chosen = -1;  // the threshold; kThresholds: the whole row
    double tail = 0;
    bool enough = false;
    for (int k = 0; k < kThresholds && !enough; ++k) {
      int count = 0;
      double beyond = 0;
      for (int w = 0; w < kWarps; ++w) {
        count += sm.warp_count[w][k];
        beyond += sm.warp_weight[w][k];
      }
      if (count > kListCapacity) break;
      chosen = k;
      tail = beyond;
      enough = cut ? count >= top_k : beyond <= kListMiss * all;
    }
    if (!enough && candidates <= kListCapacity) {
      chosen = kThresholds;  // a short row: list all of it
      tail = 0;
    }
    sm.list_threshold = chosen < 0 ? -1.0f : chosen < kThresholds ? kNats[chosen] : INFINITY;
    sm.list_tail = tail;
    sm.list_size = 0;
  }
  __syncthreads();
  const float threshold = sm.list_threshold;
  if (threshold < 0) return kNoChoice;

  // 2. Compact the list (warp-aggregated slots).
  ForRow(row, [&](int i, float x) {
    const uint32_t key = Key(row, x);
    const bool listed = key != 0 && (row.posinf_only ? 0.0f : Below(row, x)) < threshold;
    const unsigned listed_mask = __ballot_sync(0xffffffffu, listed);
    if (listed_mask == 0) return;
    int first = 0;
    if (lane == 0) first = atomicAdd(&sm.list_size, __popc(listed_mask));
    first = __shfl_sync(0xffffffffu, first, 0);
    if (listed) {
      sm.list.item[first + __popc(listed_mask & ((1u << lane) - 1))] =
          (static_cast<uint64_t>(key) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(i));
    }
  });
  __syncthreads();
  const int n = sm.list_size;

  // 3. Bitonic sort, descending, over a power of two padded with 0 (last).
  int size = 32;
  while (size < n) size *= 2;
  for (int i = n + tid; i < size; i += kThreads) sm.list.item[i] = 0;
  __syncthreads();
  for (int k = 2; k <= size; k *= 2) {
    for (int j = k / 2; j > 0; j /= 2) {
      for (int i = tid; i < size; i += kThreads) {
        const int partner = i ^ j;
        if (partner > i) {
          const uint64_t a = sm.list.item[i], b = sm.list.item[partner];
          const bool descending = (i & k) == 0;
          if (descending ? a < b : a > b) {
            sm.list.item[i] = b;
            sm.list.item[partner] = a;
          }
        }
      }
      __syncthreads();
    }
  }

  // 4. Running weights in order, fp64: each thread sums kPerThread
  // consecutive items, then a block scan over the threads' sums.
  constexpr int kPerThread = kListCapacity / kThreads;
  double local[kPerThread];
  double sum = 0;
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int i = tid * kPerThread + k;
    const double w = i < n ? Weight(row, KeyValue(static_cast<uint32_t>(sm.list.item[i] >> 32))) : 0.0;
    sum += w;
    local[k] = sum;
  }
  double inclusive = sum;
  for (int offset = 1; offset < 32; offset *= 2) {
    const double other = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += other;
  }
  __shared__ double warp_sums[kWarps];
  if (lane == 31) warp_sums[warp] = inclusive;
  __syncthreads();
  double before = inclusive - sum;
  for (int w = 0; w < warp; ++w) before += warp_sums[w];
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int i = tid * kPerThread + k;
    if (i < n) sm.list.prefix[i] = before + local[k];
  }
  __syncthreads();

  // 5. The rule (sampler.h) on the list; `extends`: the kept set goes on
  // past the list into the tail.
  if (tid == 0) {
    const double* prefix = sm.list.prefix;
    const double tail_weight = sm.list_tail;
    int kept = n;
    bool extends = n < candidates;
    double total = prefix[n - 1] + tail_weight;
    int result = kNoChoice;
    bool decided = false;
    if (top_k > 0 && top_k < candidates) {
      if (top_k > n) {
        decided = true;  // the cut lies in the tail
      } else {
        kept = top_k;
        extends = false;
        total = prefix[kept - 1];
      }
    }
    if (!decided && top_p > 0 && top_p < 1) {
      const int j = FirstAtLeast(prefix, kept, static_cast<double>(top_p) * total, true);
      if (j < kept) {
        kept = j + 1;
        extends = false;
        total = prefix[j];
      } else if (extends) {
        decided = true;
      }
    }
    if (!decided) {
      // The first kept token whose running weight exceeds the target; only
      // the last kept one is never tested (it takes what rounding leaves).
      const int end = extends ? n : kept - 1;
      const int j = FirstAtLeast(prefix, end, static_cast<double>(uniform) * total, false);
      if (j < end) {
        result = ListId(sm.list.item[j]);
      } else if (!extends) {
        result = ListId(sm.list.item[kept - 1]);
      }
    }
    sm.list_result = result;
  }
  __syncthreads();
  return sm.list_result;
}

__global__ void __launch_bounds__(kThreads, 1)
    SampleKernel(const float* logits, int64_t logits_stride, int vocab, const int32_t* params, int64_t params_stride,
                 int32_t* ids, int64_t ids_stride) {
  extern __shared__ float4 shared4[];
  Shared& sm = *reinterpret_cast<Shared*>(shared4);
  const int b = blockIdx.x;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  Row row{};
  row.x = logits + b * logits_stride;
  row.vocab = vocab;
  row.quads = vocab % 4 == 0 && reinterpret_cast<uintptr_t>(row.x) % 16 == 0;
  const int32_t* p = params + b * params_stride;
  const float temperature = __int_as_float(p[0]);
  const int top_k = p[1];
  const float top_p = __int_as_float(p[2]);
  const float uniform = __int_as_float(p[3]);

  // Pass 0: the first maximum and the candidate counts. A thread visits its
  // ids in increasing order, so `>` keeps its first maximum; NaN never wins.
  float best = -INFINITY;
  int best_id = kNoId, candidates = 0, posinf = 0;
  ForRow(row, [&](int i, float x) {
    if (x > best) {
      best = x;
      best_id = i;
    }
    candidates += x > -INFINITY;
    posinf += x == INFINITY;
  });
  auto better = [](float v, int i, float w, int j) { return w > v || (w == v && j < i); };
  for (int offset = 16; offset > 0; offset /= 2) {
    const float v = __shfl_xor_sync(0xffffffffu, best, offset);
    const int i = __shfl_xor_sync(0xffffffffu, best_id, offset);
    if (better(best, best_id, v, i)) {
      best = v;
      best_id = i;
    }
    candidates += __shfl_xor_sync(0xffffffffu, candidates, offset);
    posinf += __shfl_xor_sync(0xffffffffu, posinf, offset);
  }
  if (lane == 0) {
    sm.best_value[warp] = best;
    sm.best_id[warp] = best_id;
    sm.candidates[warp] = candidates;
    sm.posinf[warp] = posinf;
  }
  __syncthreads();
  best = sm.best_value[0];
  best_id = sm.best_id[0];
  candidates = 0;
  posinf = 0;
  for (int w = 0; w < kWarps; ++w) {  // every thread, same order: same result
    if (better(best, best_id, sm.best_value[w], sm.best_id[w])) {
      best = sm.best_value[w];
      best_id = sm.best_id[w];
    }
    candidates += sm.candidates[w];
    posinf += sm.posinf[w];
  }
  int32_t* out = ids + b * ids_stride;
  if (best_id == kNoId) {  // every logit -inf or NaN
    if (tid == 0) *out = -1;
    return;
  }
  if (!(temperature > 0)) {  // greedy, NaN temperature included
    if (tid == 0) *out = best_id;
    return;
  }
  row.max = best;
  row.inv_temperature = 1.0f / temperature;
  row.posinf_only = best == INFINITY;
  const int n = row.posinf_only ? posinf : candidates;

  const int listed = TopList(row, n, top_k, top_p, uniform, sm);
  if (listed != -2) {
    if (tid == 0) *out = listed;
    return;
  }

  // The exact fallback: radix selects over the whole row.
  Cut kept{0u, kNoId};
  if (top_k > 0 && top_k < n) kept = Select<kRank>(row, kept, static_cast<double>(top_k), sm);
  if (top_p > 0 && top_p < 1) kept = Select<kReach>(row, kept, static_cast<double>(top_p), sm);
  const Cut chosen = Select<kExceed>(row, kept, static_cast<double>(uniform), sm);
  if (tid == 0) *out = chosen.id;
}

}  // namespace

void PrepareSample() { AllowLargeSharedMemory(SampleKernel); }

void LaunchSample(const float* logits, int64_t logits_stride, int64_t rows, int64_t vocab, const int32_t* params,
                  int64_t params_stride, int32_t* ids, int64_t ids_stride, cudaStream_t stream) {
  if (rows == 0) return;
  SampleKernel<<<static_cast<unsigned>(rows), kThreads, sizeof(Shared), stream>>>(
      logits, logits_stride, static_cast<int>(vocab), params, params_stride, ids, ids_stride);
  DJINN_CUDA_CHECK_LAUNCH();
}

}  // namespace djinn::cuda
