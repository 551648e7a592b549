#include "daemon/backend/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/float16.h"
#include "daemon/backend/cuda/kernels.h"

namespace djinn {
namespace {

#define DJINN_CUBLAS_CHECK(expr)                                                                             \
  do {                                                                                                       \
    const cublasStatus_t djinn_cublas_status_ = (expr);                                                      \
    if (djinn_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                                     \
      std::fprintf(stderr, "djinn cuda: %s failed at %s:%d: %s\n", #expr, __FILE__, __LINE__,                \
                   cublasGetStatusString(djinn_cublas_status_));                                             \
      std::abort();                                                                                          \
    }                                                                                                        \
  } while (0)

// Shape and dtype checks: a violation is a bug in the caller.
#define DJINN_REQUIRE(cond)                                                                         \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      std::fprintf(stderr, "djinn cuda backend: requirement failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                                 \
    }                                                                                               \
  } while (0)

cuda::ElementType Element(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return cuda::ElementType::kFloat32;
    case DType::kFloat16:
      return cuda::ElementType::kFloat16;
    case DType::kBFloat16:
      return cuda::ElementType::kBFloat16;
  }
  std::abort();
}

cudaDataType_t CublasType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return CUDA_R_32F;
    case DType::kFloat16:
      return CUDA_R_16F;
    case DType::kBFloat16:
      return CUDA_R_16BF;
  }
  std::abort();
}

// Host-side element conversion, typed so that the inner loop has no switch.
template <DType D>
struct HostElement;
template <>
struct HostElement<DType::kFloat32> {
  static float Read(const std::byte* p, int64_t i) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  static void Write(std::byte* p, int64_t i, float f) { std::memcpy(p + 4 * i, &f, 4); }
};
template <>
struct HostElement<DType::kFloat16> {
  static float Read(const std::byte* p, int64_t i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return Float16ToFloat(h);
  }
  static void Write(std::byte* p, int64_t i, float f) {
    const uint16_t h = FloatToFloat16(f);
    std::memcpy(p + 2 * i, &h, 2);
  }
};
template <>
struct HostElement<DType::kBFloat16> {
  static float Read(const std::byte* p, int64_t i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return BFloat16ToFloat(h);
  }
  static void Write(std::byte* p, int64_t i, float f) {
    const uint16_t h = FloatToBFloat16(f);
    std::memcpy(p + 2 * i, &h, 2);
  }
};

template <DType S, DType D>
void ConvertTyped(const std::byte* src, std::byte* dst, int64_t count) {
  if constexpr (S == D) {
    std::memcpy(dst, src, static_cast<size_t>(count) * DTypeSize(S));
  } else {
    for (int64_t i = 0; i < count; ++i) HostElement<D>::Write(dst, i, HostElement<S>::Read(src, i));
  }
}

template <DType S>
void ConvertFrom(const std::byte* src, std::byte* dst, DType to, int64_t count) {
  switch (to) {
    case DType::kFloat32:
      return ConvertTyped<S, DType::kFloat32>(src, dst, count);
    case DType::kFloat16:
      return ConvertTyped<S, DType::kFloat16>(src, dst, count);
    case DType::kBFloat16:
      return ConvertTyped<S, DType::kBFloat16>(src, dst, count);
  }
}

// Converts `count` values from `from` to `to` (fp16 <-> bf16 through fp32,
// rounding to nearest even like PyTorch).
void ConvertHost(const std::byte* src, DType from, std::byte* dst, DType to, int64_t count) {
  switch (from) {
    case DType::kFloat32:
      return ConvertFrom<DType::kFloat32>(src, dst, to, count);
    case DType::kFloat16:
      return ConvertFrom<DType::kFloat16>(src, dst, to, count);
    case DType::kBFloat16:
      return ConvertFrom<DType::kBFloat16>(src, dst, to, count);
  }
}

}  // namespace

int CudaBackend::DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return absl::FailedPreconditionError(absl::StrCat("no CUDA device: cudaGetDeviceCount: ",
                                                      cudaGetErrorName(error), ": ", cudaGetErrorString(error)));
  }
  if (count == 0) return absl::FailedPreconditionError("no CUDA device: cudaGetDeviceCount found 0 devices");
  if (const cudaError_t set = cudaSetDevice(0); set != cudaSuccess) {
    return absl::FailedPreconditionError(absl::StrCat("cannot use CUDA device 0: ", cudaGetErrorString(set)));
  }
  std::unique_ptr<CudaBackend> backend(new CudaBackend());
  backend->Init();
  return backend;
}

void CudaBackend::Init() {
  cudaDeviceProp props{};
  DJINN_CUDA_CHECK(cudaGetDeviceProperties(&props, 0));
  description_ = {"cuda", props.name, static_cast<uint64_t>(props.totalGlobalMem)};

  cudaStream_t stream;
  DJINN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  stream_ = stream;
  cublasHandle_t handle;
  DJINN_CUBLAS_CHECK(cublasCreate(&handle));
  cublas_ = handle;
  DJINN_CUBLAS_CHECK(cublasSetStream(handle, stream));
  DJINN_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
  DJINN_CUBLAS_CHECK(cublasSetWorkspace(handle, cublas_workspace_, kCublasWorkspaceBytes));
  DJINN_CUBLAS_CHECK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
  // fp32 accumulation all the way: no split-K partial sums rounded to half.
  DJINN_CUBLAS_CHECK(
      cublasSetMathMode(handle, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                                          CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
  for (size_t i = 0; i < staging_.size(); ++i) {
    void* pinned = nullptr;
    DJINN_CUDA_CHECK(cudaMallocHost(&pinned, kStagingBytes));
    staging_[i] = static_cast<std::byte*>(pinned);
    cudaEvent_t event;
    DJINN_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    staging_done_[i] = event;
  }
}

CudaBackend::~CudaBackend() {
  if (stream_ != nullptr) DJINN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (size_t i = 0; i < staging_.size(); ++i) {
    if (staging_done_[i] != nullptr) DJINN_CUDA_CHECK(cudaEventDestroy(staging_done_[i]));
    if (staging_[i] != nullptr) DJINN_CUDA_CHECK(cudaFreeHost(staging_[i]));
  }
  if (cublas_ != nullptr) DJINN_CUBLAS_CHECK(cublasDestroy(cublas_));
  if (cublas_workspace_ != nullptr) DJINN_CUDA_CHECK(cudaFree(cublas_workspace_));
  if (stream_ != nullptr) DJINN_CUDA_CHECK(cudaStreamDestroy(stream_));
}

uint64_t CudaBackend::FreeMemoryBytes() const {
  size_t free_bytes = 0, total_bytes = 0;
  DJINN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

DType CudaBackend::ComputeDType(DType stored) const {
  return stored == DType::kBFloat16 ? DType::kBFloat16 : DType::kFloat16;
}

absl::StatusOr<std::byte*> CudaBackend::ReserveArena(uint64_t bytes) {
  void* base = nullptr;
  const cudaError_t error = cudaMalloc(&base, bytes);
  if (error != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky; clear it
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot reserve ", bytes, " bytes of device memory: ", cudaGetErrorString(error)));
  }
  return static_cast<std::byte*>(base);
}

void CudaBackend::ReleaseArena(std::byte* base, uint64_t bytes) {
  DJINN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  DJINN_CUDA_CHECK(cudaFree(base));
}

void CudaBackend::Upload(std::span<const std::byte> source, DType source_dtype, const Tensor& dst) {
  const int64_t count = dst.elements();
  DJINN_REQUIRE(source.size() >= static_cast<size_t>(count) * DTypeSize(source_dtype));
  const int64_t chunk = static_cast<int64_t>(kStagingBytes / DTypeSize(dst.dtype));
  auto* out = static_cast<std::byte*>(dst.data);
  // Convert a chunk into one staging buffer while the other one's copy runs.
  int buffer = 0;
  for (int64_t first = 0; first < count; first += chunk, buffer ^= 1) {
    const int64_t n = std::min(chunk, count - first);
    DJINN_CUDA_CHECK(cudaEventSynchronize(staging_done_[buffer]));
    ConvertHost(source.data() + first * DTypeSize(source_dtype), source_dtype, staging_[buffer], dst.dtype, n);
    DJINN_CUDA_CHECK(cudaMemcpyAsync(out + first * DTypeSize(dst.dtype), staging_[buffer],
                                     static_cast<size_t>(n) * DTypeSize(dst.dtype), cudaMemcpyHostToDevice,
                                     stream_));
    DJINN_CUDA_CHECK(cudaEventRecord(staging_done_[buffer], stream_));
  }
}

void CudaBackend::Download(const Tensor& src, std::span<float> host) {
  const int64_t count = std::min<int64_t>(static_cast<int64_t>(host.size()), src.elements());
  const int64_t chunk = static_cast<int64_t>(kStagingBytes / DTypeSize(src.dtype));
  const auto* in = static_cast<const std::byte*>(src.data);
  for (int64_t first = 0; first < count; first += chunk) {
    const int64_t n = std::min(chunk, count - first);
    DJINN_CUDA_CHECK(cudaMemcpyAsync(staging_[0], in + first * DTypeSize(src.dtype),
                                     static_cast<size_t>(n) * DTypeSize(src.dtype), cudaMemcpyDeviceToHost,
                                     stream_));
    DJINN_CUDA_CHECK(cudaEventRecord(staging_done_[0], stream_));
    DJINN_CUDA_CHECK(cudaEventSynchronize(staging_done_[0]));
    ConvertHost(staging_[0], src.dtype, reinterpret_cast<std::byte*>(host.data() + first), DType::kFloat32, n);
  }
  // Waits for pending ops even when there was nothing to copy.
  DJINN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::Embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) {
  DJINN_REQUIRE(table.dtype == out.dtype && table.cols == out.cols);
  DJINN_REQUIRE(static_cast<int64_t>(ids.size()) <= out.rows);
  for (const int32_t id : ids) DJINN_REQUIRE(id >= 0 && id < table.rows);
  cuda::LaunchEmbedding(Element(table.dtype), table.data, table.cols, ids.data(), static_cast<int64_t>(ids.size()),
                        out.data, stream_);
}

void CudaBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) {
  DJINN_REQUIRE(x.dtype == weight.dtype && x.dtype == out.dtype);
  DJINN_REQUIRE(weight.elements() == x.cols && out.rows == x.rows && out.cols == x.cols);
  cuda::LaunchRmsNorm(Element(x.dtype), x.data, weight.data, eps, x.rows, x.cols, out.data, stream_);
}

void CudaBackend::MatMul(const Tensor& x, const Tensor& w, const Tensor& out) {
  DJINN_REQUIRE(x.dtype == w.dtype && x.dtype == out.dtype);
  DJINN_REQUIRE(x.cols == w.cols && out.rows == x.rows && out.cols == w.rows);
  const int64_t n = x.rows, k = x.cols, m = w.rows;
  if (n == 0 || m == 0) return;
  // cuBLAS is column-major. A row-major [r, c] array is the column-major
  // [c, r] array with leading dimension c, so x is X' (k×n, ld k), w is
  // W' (k×m, ld k) and out is O' (m×n, ld m). out = x·wᵀ row-major is
  // O' = W'ᵀ · X' column-major: op(A) = W'ᵀ (A = w, transposed), op(B) = X'.
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t type = CublasType(x.dtype);
  DJINN_CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n),
                                  static_cast<int>(k), &alpha, w.data, type, static_cast<int>(k), x.data, type,
                                  static_cast<int>(k), &beta, out.data, type, static_cast<int>(m),
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void CudaBackend::Add(const Tensor& x, const Tensor& y) {
  DJINN_REQUIRE(x.dtype == y.dtype && x.elements() == y.elements());
  cuda::LaunchAdd(Element(x.dtype), x.data, y.data, x.elements(), stream_);
}

void CudaBackend::SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) {
  DJINN_REQUIRE(gate.dtype == up.dtype && gate.dtype == out.dtype);
  DJINN_REQUIRE(gate.elements() == up.elements() && gate.elements() == out.elements());
  cuda::LaunchSiluMul(Element(gate.dtype), gate.data, up.data, out.data, gate.elements(), stream_);
}

void CudaBackend::Rope(const Tensor& x, int64_t head_dim, std::span<const int32_t> positions, const Tensor& cos,
                       const Tensor& sin) {
  DJINN_REQUIRE(cos.dtype == DType::kFloat32 && sin.dtype == DType::kFloat32);
  DJINN_REQUIRE(head_dim > 0 && head_dim % 2 == 0 && x.cols % head_dim == 0);
  DJINN_REQUIRE(cos.cols == head_dim / 2 && sin.cols == head_dim / 2);
  DJINN_REQUIRE(static_cast<int64_t>(positions.size()) >= x.rows);
  for (int64_t t = 0; t < x.rows; ++t) DJINN_REQUIRE(positions[t] >= 0 && positions[t] < cos.rows);
  cuda::LaunchRope(Element(x.dtype), x.data, x.rows, x.cols, head_dim, positions.data(), cos.f32(), sin.f32(),
                   stream_);
}

void CudaBackend::WriteKv(const Tensor& k, const Tensor& v, const KvView& cache, int64_t start) {
  DJINN_REQUIRE(k.dtype == cache.keys.dtype && v.dtype == cache.values.dtype);
  DJINN_REQUIRE(k.cols == cache.keys.cols && v.cols == cache.values.cols && k.rows == v.rows);
  DJINN_REQUIRE(start >= 0 && start + k.rows <= cache.keys.rows && start + v.rows <= cache.values.rows);
  DJINN_CUDA_CHECK(cudaMemcpyAsync(cache.keys.Rows(start, k.rows).data, k.data, k.bytes(), cudaMemcpyDeviceToDevice,
                                   stream_));
  DJINN_CUDA_CHECK(cudaMemcpyAsync(cache.values.Rows(start, v.rows).data, v.data, v.bytes(),
                                   cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::Attention(const Tensor& q, const KvView& cache, int64_t start, const AttentionShape& shape,
                            const Tensor& scratch, const Tensor& out) {
  // `scratch` is unused by this kernel (online softmax keeps scores in
  // registers); the split-K decode kernel will keep its partials there.
  DJINN_REQUIRE(q.dtype == cache.keys.dtype && q.dtype == cache.values.dtype && q.dtype == out.dtype);
  DJINN_REQUIRE(shape.head_dim > 0 && shape.head_dim <= cuda::kMaxHeadDim);
  DJINN_REQUIRE(shape.kv_heads > 0 && shape.heads % shape.kv_heads == 0);
  DJINN_REQUIRE(q.cols == shape.heads * shape.head_dim && out.cols == q.cols && out.rows == q.rows);
  DJINN_REQUIRE(cache.keys.cols == shape.kv_heads * shape.head_dim && cache.values.cols == cache.keys.cols);
  DJINN_REQUIRE(start >= 0 && start + q.rows <= cache.keys.rows && start + q.rows <= cache.values.rows);
  cuda::LaunchAttention(Element(q.dtype), q.data, cache.keys.data, cache.values.data, cache.keys.cols, q.rows, start,
                        shape.heads, shape.kv_heads, shape.head_dim, out.data, stream_);
}

}  // namespace djinn
