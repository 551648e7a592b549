// Device-side helpers shared by the kernel files: element conversions,
// 16-byte packs, warp reductions, cp.async, and the one dtype dispatch.
// Included only from .cu files.
#ifndef DJINN_DAEMON_BACKEND_CUDA_DEVICE_UTIL_CUH_
#define DJINN_DAEMON_BACKEND_CUDA_DEVICE_UTIL_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "daemon/backend/cuda/kernels.h"

namespace djinn::cuda {

// ------------------------------------------------------------ host side

inline bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Calls f(zero of the element's C++ type) once: the one place dtypes dispatch.
template <typename F>
void Dispatch(DType type, F&& f) {
  switch (type) {
    case DType::kFloat32:
      f(float{});
      return;
    case DType::kFloat16:
      f(__half{});
      return;
    case DType::kBFloat16:
      f(__nv_bfloat16{});
      return;
    case DType::kInt32:
      break;  // the backend checks its float inputs before it launches (Element)
  }
}

// Sets a kernel's dynamic shared-memory ceiling to the device's opt-in
// maximum less its static shared memory; the launch still asks only for
// what it uses.
template <typename Kernel>
void AllowLargeSharedMemory(Kernel kernel) {
  int device = 0, optin = 0;
  DJINN_CUDA_CHECK(cudaGetDevice(&device));
  DJINN_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  cudaFuncAttributes attributes{};
  DJINN_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
  DJINN_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        optin - static_cast<int>(attributes.sharedSizeBytes)));
}

// ------------------------------------------------------------ elements

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

// Two adjacent elements as floats (one 4- or 8-byte access; p even-aligned).
template <typename T>
__device__ __forceinline__ float2 LoadPair(const T* p);
template <>
__device__ __forceinline__ float2 LoadPair<float>(const float* p) {
  return *reinterpret_cast<const float2*>(p);
}
template <>
__device__ __forceinline__ float2 LoadPair<__half>(const __half* p) {
  return __half22float2(*reinterpret_cast<const __half2*>(p));
}
template <>
__device__ __forceinline__ float2 LoadPair<__nv_bfloat16>(const __nv_bfloat16* p) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
}

// ------------------------------------------------------------ warps

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
__device__ __forceinline__ float WarpMax(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// ------------------------------------------------------------ cp.async (sm_80+)

// Copies 16 bytes global -> shared without a register round trip; with
// `fill` false it writes 16 zero bytes instead (nothing is read).
__device__ __forceinline__ void CpAsync16(void* shared, const void* global, bool fill) {
  const uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(shared));
  const int source_bytes = fill ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(global), "r"(source_bytes)
               : "memory");
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most `kPending` committed groups are still in flight.
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// ------------------------------------------------------------ paged KV

// Element offset of token t's key row (kv head 0) in a sequence's pages.
// 32-bit division: positions fit in int32, and 64-bit division is slow.
__device__ __forceinline__ int64_t KvRowOffset(const KvPages& cache, const int32_t* table, int t) {
  const int page_index = t / cache.page_tokens;
  const int row = t - page_index * cache.page_tokens;
  return static_cast<int64_t>(table[page_index]) * cache.page_stride + cache.layer_offset +
         static_cast<int64_t>(row) * cache.kv_dim;
}

}  // namespace djinn::cuda

#endif  // DJINN_DAEMON_BACKEND_CUDA_DEVICE_UTIL_CUH_
