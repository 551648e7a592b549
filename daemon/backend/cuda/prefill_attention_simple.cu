// The general prefill attention kernel: correct for every dtype and every
// even head_dim <= 256, simple rather than fast. It serves fp32 models and
// head dims the tensor-core kernel (prefill_attention.cu) does not cover.
//
// One block per (head, query row), 4 warps. Each warp walks every 4th
// visible key with an online softmax (running max m, running sum l, fp32
// accumulators for the lane's dims lane, lane + 32, ...); the warps' states
// are merged through shared memory at the end. Query t (position start + t)
// sees keys [0, start + t]; head h reads kv head h / (heads / kv_heads).
#include <algorithm>
#include <cmath>

#include "daemon/backend/cuda/device_util.cuh"
#include "daemon/backend/cuda/kernels.h"

namespace djinn::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kPerLane = static_cast<int>(kMaxHeadDim / 32);
constexpr int64_t kMaxGridY = 65535;

struct SimpleArgs {
  const void* q;
  int64_t q_stride;
  KvPages cache;
  const int32_t* page_table;
  int64_t n;
  int start, group, head_dim;
  float scale;
  void* out;
  int64_t out_stride;
};

template <typename T>
__global__ void __launch_bounds__(kWarps * 32) SimpleAttentionKernel(const SimpleArgs a) {
  const int h = blockIdx.x;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int hd = a.head_dim;
  const T* cache = static_cast<const T*>(a.cache.base);
  const int64_t head_offset = static_cast<int64_t>(h / a.group) * hd;
  __shared__ float warp_m[kWarps], warp_l[kWarps];
  __shared__ float warp_acc[kWarps][kMaxHeadDim];

  for (int64_t t = blockIdx.y; t < a.n; t += gridDim.y) {
    const int visible = a.start + static_cast<int>(t) + 1;
    const T* qh = static_cast<const T*>(a.q) + t * a.q_stride + static_cast<int64_t>(h) * hd;
    float qr[kPerLane], acc[kPerLane];
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      qr[i] = d < hd ? ToFloat(qh[d]) : 0.0f;
      acc[i] = 0.0f;
    }

    float m = -INFINITY, l = 0.0f;
    for (int j = warp; j < visible; j += kWarps) {
      const int64_t row = KvRowOffset(a.cache, a.page_table, j) + head_offset;
      const T* kj = cache + row;
      const T* vj = cache + row + a.cache.value_offset;
      float dot = 0.0f;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        const int d = lane + 32 * i;
        if (d < hd) dot += qr[i] * ToFloat(kj[d]);
      }
      const float s = WarpSum(dot) * a.scale;
      const float m_new = fmaxf(m, s);
      const float correction = expf(m - m_new);  // 0 on the first key (m = -inf)
      const float p = expf(s - m_new);
      l = l * correction + p;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        const int d = lane + 32 * i;
        if (d < hd) acc[i] = acc[i] * correction + p * ToFloat(vj[d]);
      }
      m = m_new;
    }

    if (lane == 0) {
      warp_m[warp] = m;
      warp_l[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) warp_acc[warp][d] = acc[i];
    }
    __syncthreads();

    // Warps that saw no key have m = -inf and weigh 0; warp 0 saw key 0.
    float max_m = -INFINITY;
    for (int w = 0; w < kWarps; ++w) max_m = fmaxf(max_m, warp_m[w]);
    float weight[kWarps];
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      weight[w] = expf(warp_m[w] - max_m);
      total += warp_l[w] * weight[w];
    }
    T* o = static_cast<T*>(a.out) + t * a.out_stride + static_cast<int64_t>(h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
      float sum = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) sum += warp_acc[w][d] * weight[w];
      o[d] = FromFloat<T>(sum / total);
    }
    __syncthreads();  // the shared state is reused by the next row
  }
}

}  // namespace

void LaunchPrefillAttentionSimple(DType type, const void* q, int64_t q_stride, const KvPages& cache,
                                  const int32_t* page_table, int64_t n, int64_t start, const AttentionDims& dims,
                                  void* out, int64_t out_stride, cudaStream_t stream) {
  if (n == 0) return;
  SimpleArgs args{};
  args.q = q;
  args.q_stride = q_stride;
  args.cache = cache;
  args.page_table = page_table;
  args.n = n;
  args.start = static_cast<int>(start);
  args.group = static_cast<int>(dims.heads / dims.kv_heads);
  args.head_dim = static_cast<int>(dims.head_dim);
  args.scale = 1.0f / std::sqrt(static_cast<float>(dims.head_dim));
  args.out = out;
  args.out_stride = out_stride;
  Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const dim3 grid(static_cast<unsigned>(dims.heads), static_cast<unsigned>(std::min(n, kMaxGridY)));
    SimpleAttentionKernel<T><<<grid, kWarps * 32, 0, stream>>>(args);
    DJINN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace djinn::cuda
