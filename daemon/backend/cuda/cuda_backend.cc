#include "daemon/backend/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "daemon/backend/cuda/cuda_graph.h"
#include "common/host_convert.h"
#include "daemon/backend/cuda/kernels.h"
#include "daemon/backend/cuda/pinned_memory.h"

namespace djinn {
namespace {

#define DJINN_CUBLAS_CHECK(expr)                                                              \
  do {                                                                                        \
    const cublasStatus_t djinn_cublas_status_ = (expr);                                       \
    if (djinn_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                      \
      std::fprintf(stderr, "djinn cuda: %s failed at %s:%d: %s\n", #expr, __FILE__, __LINE__, \
                   cublasGetStatusString(djinn_cublas_status_));                              \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

// Shape and dtype checks: a violation is a bug in the caller.
#define DJINN_REQUIRE(cond)                                                                                     \
  do {                                                                                                          \
    if (!(cond)) {                                                                                              \
      std::fprintf(stderr, "djinn cuda backend: requirement failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                                             \
    }                                                                                                           \
  } while (0)

bool IsFloat(DType dtype) { return dtype != DType::kInt32; }

// The dtype of a tensor the launchers compute on: never int32.
DType Element(DType dtype) {
  if (IsFloat(dtype)) return dtype;
  std::fprintf(stderr, "djinn cuda backend: int32 tensor where a floating-point one is needed\n");
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
    case DType::kInt32:
      break;
  }
  std::abort();
}

cudaStream_t Stream(CUstream_st* s) { return s; }

// A QueueEvent: one CUDA event, with timing only for a timing event (timing
// makes records slower), destroyed with it.
class CudaQueueEvent final : public QueueEvent {
 public:
  explicit CudaQueueEvent(bool timing) : timing_(timing) {
    DJINN_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  ~CudaQueueEvent() override { DJINN_CUDA_CHECK(cudaEventDestroy(event_)); }
  CudaQueueEvent(const CudaQueueEvent&) = delete;
  CudaQueueEvent& operator=(const CudaQueueEvent&) = delete;

  cudaEvent_t get() const { return event_; }
  bool timing() const { return timing_; }

 private:
  const bool timing_;
  cudaEvent_t event_ = nullptr;
};

CudaQueueEvent& AsCudaEvent(QueueEvent* event) {
  auto* cuda_event = dynamic_cast<CudaQueueEvent*>(event);
  DJINN_REQUIRE(cuda_event != nullptr);  // from this backend's CreateEvent
  return *cuda_event;
}

cudaEvent_t EventOf(QueueEvent* event) { return AsCudaEvent(event).get(); }

// An int32 index tensor with at least `rows` rows and `cols` columns.
void RequireIndex(const Tensor& t, int64_t rows, int64_t cols) {
  DJINN_REQUIRE(t.dtype == DType::kInt32);
  DJINN_REQUIRE(t.rows >= rows && t.cols >= cols);
}

// One layer of the paged cache, as the kernels address it.
cuda::KvPages Pages(const KvCacheLayout& cache, int64_t layer) {
  DJINN_REQUIRE(cache.base != nullptr && IsFloat(cache.dtype));
  DJINN_REQUIRE(cache.page_tokens >= 1 && cache.page_tokens <= INT_MAX);
  DJINN_REQUIRE(cache.kv_dim >= 1 && cache.kv_dim <= INT_MAX);
  DJINN_REQUIRE(layer >= 0 && layer < cache.layers);
  cuda::KvPages pages;
  pages.base = cache.base;
  pages.page_stride = cache.page_elements();
  pages.layer_offset = layer * 2 * cache.page_tokens * cache.kv_dim;
  pages.value_offset = cache.page_tokens * cache.kv_dim;
  pages.page_tokens = static_cast<int32_t>(cache.page_tokens);
  pages.kv_dim = static_cast<int32_t>(cache.kv_dim);
  return pages;
}

cuda::AttentionDims Dims(const AttentionShape& shape) { return {shape.heads, shape.kv_heads, shape.head_dim}; }

void RequireAttentionShape(const AttentionShape& shape, const KvCacheLayout& cache) {
  DJINN_REQUIRE(shape.head_dim > 0 && shape.head_dim <= cuda::kMaxHeadDim && shape.head_dim % 2 == 0);
  DJINN_REQUIRE(shape.kv_heads > 0 && shape.heads % shape.kv_heads == 0);
  DJINN_REQUIRE(cache.kv_dim == shape.kv_heads * shape.head_dim);
}

}  // namespace

int CudaBackend::DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the error so later calls start clean
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return absl::FailedPreconditionError(
        absl::StrCat("no CUDA device: cudaGetDeviceCount: ", cudaGetErrorName(error), ": ", cudaGetErrorString(error)));
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
  description_ = {"cuda", props.name, static_cast<uint64_t>(props.totalGlobalMem), "cuda:0"};
  sm_count_ = props.multiProcessorCount;

  cudaStream_t stream;
  DJINN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  stream_ = stream;
  cudaStream_t copy_stream;
  DJINN_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream, cudaStreamNonBlocking));
  copy_stream_ = copy_stream;
  cublasHandle_t handle;
  DJINN_CUBLAS_CHECK(cublasCreate(&handle));
  cublas_ = handle;
  DJINN_CUBLAS_CHECK(cublasSetStream(handle, stream));
  // A fixed workspace: cuBLAS then never allocates, which graph capture and
  // the no-allocation rule both need.
  DJINN_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
  DJINN_CUBLAS_CHECK(cublasSetWorkspace(handle, cublas_workspace_, kCublasWorkspaceBytes));
  DJINN_CUBLAS_CHECK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
  // fp32 accumulation all the way: no TF32 (default math) and no split-K
  // partial sums rounded to half.
  DJINN_CUBLAS_CHECK(cublasSetMathMode(
      handle, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
  for (size_t i = 0; i < staging_.size(); ++i) {
    void* pinned = nullptr;
    DJINN_CUDA_CHECK(cudaMallocHost(&pinned, kStagingBytes));
    staging_[i] = static_cast<std::byte*>(pinned);
    cudaEvent_t event;
    DJINN_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    staging_done_[i] = event;
  }
  cuda::PrepareDecodeAttention();
  cuda::PreparePrefillAttention();
  cuda::PrepareSample();
}

CudaBackend::~CudaBackend() {
  if (stream_ != nullptr) DJINN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (copy_stream_ != nullptr) DJINN_CUDA_CHECK(cudaStreamSynchronize(copy_stream_));
  for (size_t i = 0; i < staging_.size(); ++i) {
    if (staging_done_[i] != nullptr) DJINN_CUDA_CHECK(cudaEventDestroy(staging_done_[i]));
    if (staging_[i] != nullptr) DJINN_CUDA_CHECK(cudaFreeHost(staging_[i]));
  }
  if (cublas_ != nullptr) DJINN_CUBLAS_CHECK(cublasDestroy(cublas_));
  if (cublas_workspace_ != nullptr) DJINN_CUDA_CHECK(cudaFree(cublas_workspace_));
  if (stream_ != nullptr) DJINN_CUDA_CHECK(cudaStreamDestroy(stream_));
  if (copy_stream_ != nullptr) DJINN_CUDA_CHECK(cudaStreamDestroy(copy_stream_));
}

uint64_t CudaBackend::FreeMemoryBytes() const {
  size_t free_bytes = 0, total_bytes = 0;
  DJINN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

// Called from the metrics thread while the engine thread issues ops, so an
// error is returned rather than aborting. cudaMemGetInfo reports device 0
// (every thread's default device, the only one used) and is not one of the
// calls a capture forbids: Record captures in thread-local mode, which
// leaves other threads free anyway.
absl::StatusOr<DeviceMemoryUsage> CudaBackend::MemoryUsage() const {
  size_t free_bytes = 0, total_bytes = 0;
  if (const cudaError_t error = cudaMemGetInfo(&free_bytes, &total_bytes); error != cudaSuccess) {
    cudaGetLastError();  // leave this thread's last error clean, as DeviceCount does
    return absl::UnavailableError(absl::StrCat("cudaMemGetInfo: ", cudaGetErrorName(error), ": ",
                                               cudaGetErrorString(error)));
  }
  return DeviceMemoryUsage{total_bytes, total_bytes - std::min(free_bytes, total_bytes)};
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
  DJINN_CUDA_CHECK(cudaStreamSynchronize(copy_stream_));  // copies may still write to it
  DJINN_CUDA_CHECK(cudaFree(base));
}

// ------------------------------------------------------------ host <-> device

std::byte* CudaBackend::StagingSpace(uint64_t bytes) {
  DJINN_REQUIRE(bytes <= kStagingBytes);
  if (staging_used_ + bytes > kStagingBytes) {
    // Switch buffers; the other one is free once its last copy has finished.
    staging_current_ ^= 1;
    DJINN_CUDA_CHECK(cudaEventSynchronize(staging_done_[staging_current_]));
    staging_used_ = 0;
  }
  std::byte* space = staging_[staging_current_] + staging_used_;
  staging_used_ += (bytes + 255) / 256 * 256;  // keep every stretch 256-byte aligned
  return space;
}

void CudaBackend::StagingCopied() { DJINN_CUDA_CHECK(cudaEventRecord(staging_done_[staging_current_], stream_)); }

void CudaBackend::Upload(std::span<const std::byte> source, DType source_dtype, const Tensor& dst) {
  DJINN_REQUIRE(!recording_);
  DJINN_REQUIRE(dst.dense());
  DJINN_REQUIRE((dst.dtype == DType::kInt32) == (source_dtype == DType::kInt32));
  const int64_t count = dst.elements();
  const size_t from = DTypeSize(source_dtype), to = DTypeSize(dst.dtype);
  DJINN_REQUIRE(source.size() >= static_cast<size_t>(count) * from);
  const int64_t chunk = static_cast<int64_t>(kStagingBytes / to);
  auto* out = static_cast<std::byte*>(dst.data);
  // Small uploads (a step's ids and positions) share a buffer, so that they
  // do not wait for the GPU; large ones convert a chunk into one buffer
  // while the other one's copy runs. Either way `source` is free on return.
  for (int64_t first = 0; first < count; first += chunk) {
    const int64_t n = std::min(chunk, count - first);
    std::byte* staged = StagingSpace(static_cast<uint64_t>(n) * to);
    ParallelConvertHost(source.data() + first * from, source_dtype, staged, dst.dtype, n);
    DJINN_CUDA_CHECK(cudaMemcpyAsync(out + first * to, staged, static_cast<size_t>(n) * to, cudaMemcpyHostToDevice,
                                     Stream(stream_)));
    StagingCopied();
  }
}

template <typename Consume>
void CudaBackend::CopyOut(const void* device, uint64_t bytes, Consume&& consume) {
  DJINN_REQUIRE(!recording_);
  const auto* in = static_cast<const std::byte*>(device);
  for (uint64_t offset = 0; offset < bytes; offset += kStagingBytes) {
    const uint64_t n = std::min(kStagingBytes, bytes - offset);
    std::byte* staged = StagingSpace(n);
    DJINN_CUDA_CHECK(cudaMemcpyAsync(staged, in + offset, n, cudaMemcpyDeviceToHost, Stream(stream_)));
    StagingCopied();
    DJINN_CUDA_CHECK(cudaEventSynchronize(staging_done_[staging_current_]));
    consume(staged, offset, n);
  }
  // Waits for pending ops even when there was nothing to copy. Everything
  // issued has finished now: both staging buffers are free.
  DJINN_CUDA_CHECK(cudaStreamSynchronize(Stream(stream_)));
  staging_used_ = 0;
}

void CudaBackend::Download(const Tensor& src, std::span<float> host) {
  DJINN_REQUIRE(IsFloat(src.dtype) && src.dense());
  const int64_t count = std::min<int64_t>(static_cast<int64_t>(host.size()), src.elements());
  const size_t element = DTypeSize(src.dtype);
  // Chunks hold whole elements (kStagingBytes is a multiple of 4).
  CopyOut(src.data, static_cast<uint64_t>(count) * element, [&](const std::byte* staged, uint64_t offset, uint64_t n) {
    ConvertHost(staged, src.dtype, reinterpret_cast<std::byte*>(host.data() + offset / element), DType::kFloat32,
                static_cast<int64_t>(n / element));
  });
}

void CudaBackend::CopyToHost(const Tensor& src, std::span<std::byte> host) {
  DJINN_REQUIRE(src.dense());
  const uint64_t bytes = std::min<uint64_t>(host.size(), src.bytes());
  CopyOut(src.data, bytes,
          [&](const std::byte* staged, uint64_t offset, uint64_t n) { std::memcpy(host.data() + offset, staged, n); });
}

std::unique_ptr<OpGraph> CudaBackend::Record(const std::function<void()>& issue) {
  DJINN_REQUIRE(!recording_);
  recording_ = true;
  // The capture begins and ends on the compute stream. If `issue` forks to
  // the copy stream (an event recorded on compute, waited for by the copy
  // stream), the copy stream joins the capture there, and it must join
  // back (compute waits for an event recorded on the copy stream after its
  // last work) before `issue` returns: cudaStreamEndCapture fails on an
  // unjoined fork, which aborts.
  std::unique_ptr<OpGraph> graph = CudaOpGraph::Capture(stream_, issue);
  recording_ = false;
  return graph;
}

// ------------------------------------------------------------ streaming

void CudaBackend::RequireCopyStreamCapturedWhileRecording() const {
  if (!recording_) return;
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  DJINN_CUDA_CHECK(cudaStreamIsCapturing(Stream(copy_stream_), &status));
  if (status != cudaStreamCaptureStatusActive) {
    std::fprintf(stderr,
                 "djinn cuda backend: copy-queue work inside Record before the copy queue waited for an event "
                 "recorded on the compute queue inside Record (Backend::Record's fork rule)\n");
    std::abort();
  }
}

absl::StatusOr<std::byte*> CudaBackend::AllocateHostMemory(uint64_t bytes) {
  DJINN_REQUIRE(!recording_);
  return cuda::AllocatePinned(bytes);
}

void CudaBackend::FreeHostMemory(std::byte* memory, uint64_t bytes) {
  DJINN_REQUIRE(!recording_);
  if (memory == nullptr) return;
  // Direct copies read it on the copy stream; replayed graphs' copies on
  // the compute stream.
  DJINN_CUDA_CHECK(cudaStreamSynchronize(Stream(copy_stream_)));
  DJINN_CUDA_CHECK(cudaStreamSynchronize(Stream(stream_)));
  cuda::FreePinned(memory, bytes);
}

void CudaBackend::CopyToDevice(const std::byte* host, void* device, uint64_t bytes) {
  RequireCopyStreamCapturedWhileRecording();
  if (bytes == 0) return;
  DJINN_CUDA_CHECK(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, Stream(copy_stream_)));
}

std::unique_ptr<QueueEvent> CudaBackend::CreateEvent() { return std::make_unique<CudaQueueEvent>(false); }

std::unique_ptr<QueueEvent> CudaBackend::CreateTimingEvent() { return std::make_unique<CudaQueueEvent>(true); }

void CudaBackend::RecordEvent(QueueEvent* event, Queue queue) {
  if (queue == Queue::kCopy) RequireCopyStreamCapturedWhileRecording();
  const CudaQueueEvent& e = AsCudaEvent(event);
  if (recording_ && e.timing()) {
    // Inside a capture, a plain record only orders the graph's nodes; an
    // external record is a node of its own that records at every replay.
    DJINN_CUDA_CHECK(cudaEventRecordWithFlags(e.get(), Stream(StreamOf(queue)), cudaEventRecordExternal));
  } else {
    DJINN_CUDA_CHECK(cudaEventRecord(e.get(), Stream(StreamOf(queue))));
  }
}

double CudaBackend::SecondsBetween(QueueEvent* from, QueueEvent* to) {
  DJINN_REQUIRE(!recording_);
  DJINN_REQUIRE(AsCudaEvent(from).timing() && AsCudaEvent(to).timing());
  float ms = 0;
  if (cudaEventElapsedTime(&ms, EventOf(from), EventOf(to)) != cudaSuccess) {
    cudaGetLastError();  // not recorded or not reached: not sticky, and not a fault
    return std::numeric_limits<double>::quiet_NaN();
  }
  return ms / 1e3;
}

void CudaBackend::WaitForEvent(Queue queue, QueueEvent* event) {
  // Inside Record, the copy stream waiting for an event recorded on the
  // capturing compute stream is what brings it into the capture.
  DJINN_CUDA_CHECK(cudaStreamWaitEvent(Stream(StreamOf(queue)), EventOf(event), 0));
}

void CudaBackend::Synchronize(QueueEvent* event) {
  DJINN_REQUIRE(!recording_);  // a capture cannot wait on the host
  DJINN_CUDA_CHECK(cudaEventSynchronize(EventOf(event)));
}

// ------------------------------------------------------------ ops

void CudaBackend::Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) {
  DJINN_REQUIRE(table.dtype == out.dtype && table.cols == out.cols && table.dense());
  RequireIndex(ids, 0, 1);
  DJINN_REQUIRE(ids.rows <= out.rows);
  cuda::LaunchEmbedding(Element(table.dtype), table.data, table.rows, table.cols, ids.i32(), ids.row_stride(), ids.rows,
                        out.data, out.row_stride(), Stream(stream_));
}

void CudaBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) {
  DJINN_REQUIRE(x.dtype == weight.dtype && x.dtype == out.dtype);
  DJINN_REQUIRE(weight.elements() == x.cols && weight.dense() && out.rows == x.rows && out.cols == x.cols);
  cuda::LaunchRmsNorm(Element(x.dtype), x.data, x.row_stride(), weight.data, eps, x.rows, x.cols, out.data,
                      out.row_stride(), Stream(stream_));
}

void CudaBackend::MatMul(const Tensor& x, const Tensor& w, const Tensor& out) {
  DJINN_REQUIRE(x.dtype == w.dtype && IsFloat(x.dtype));
  DJINN_REQUIRE(out.dtype == x.dtype || out.dtype == DType::kFloat32);
  DJINN_REQUIRE(x.cols == w.cols && out.rows == x.rows && out.cols == w.rows);
  const int64_t n = x.rows, k = x.cols, m = w.rows;
  if (n == 0 || m == 0) return;
  DJINN_REQUIRE(n <= INT_MAX && k <= INT_MAX && m <= INT_MAX);
  // cuBLAS is column-major. A row-major [r, c] array with row stride s is
  // the column-major [c, r] array with leading dimension s, so x is X'
  // (k×n), w is W' (k×m) and out is O' (m×n). out = x·wᵀ row-major is
  // O' = W'ᵀ · X' column-major: op(A) = W'ᵀ (A = w, transposed), op(B) = X'.
  // With a host pointer mode, a fixed workspace and no TF32, this neither
  // allocates nor synchronises: it can be captured into a graph.
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t in_type = CublasType(x.dtype);
  DJINN_CUBLAS_CHECK(cublasGemmEx(
      cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &alpha, w.data,
      in_type, static_cast<int>(w.row_stride()), x.data, in_type, static_cast<int>(x.row_stride()), &beta, out.data,
      CublasType(out.dtype), static_cast<int>(out.row_stride()), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void CudaBackend::Add(const Tensor& x, const Tensor& y) {
  DJINN_REQUIRE(x.dtype == y.dtype && x.elements() == y.elements() && x.dense() && y.dense());
  cuda::LaunchAdd(Element(x.dtype), x.data, y.data, x.elements(), Stream(stream_));
}

void CudaBackend::SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) {
  DJINN_REQUIRE(gate.dtype == up.dtype && gate.dtype == out.dtype);
  DJINN_REQUIRE(gate.rows == up.rows && gate.cols == up.cols && out.rows == gate.rows && out.cols == gate.cols);
  cuda::LaunchSiluMul(Element(gate.dtype), gate.data, gate.row_stride(), up.data, up.row_stride(), out.data,
                      out.row_stride(), gate.rows, gate.cols, Stream(stream_));
}

void CudaBackend::AddBias(const Tensor& x, const Tensor& bias) {
  DJINN_REQUIRE(x.dtype == bias.dtype && bias.elements() == x.cols && bias.dense());
  cuda::LaunchAddBias(Element(x.dtype), x.data, x.row_stride(), bias.data, x.rows, x.cols, Stream(stream_));
}

void CudaBackend::HeadRmsNorm(const Tensor& x, int64_t head_dim, const Tensor& weight, float eps) {
  DJINN_REQUIRE(x.dtype == weight.dtype && weight.elements() == head_dim && weight.dense());
  DJINN_REQUIRE(head_dim > 0 && x.cols % head_dim == 0);
  cuda::LaunchHeadRmsNorm(Element(x.dtype), x.data, x.row_stride(), x.rows, x.cols, head_dim, weight.data, eps,
                          Stream(stream_));
}

void CudaBackend::Rope(const Tensor& x, int64_t head_dim, const Tensor& positions, const Tensor& cos,
                       const Tensor& sin) {
  DJINN_REQUIRE(cos.dtype == DType::kFloat32 && sin.dtype == DType::kFloat32 && cos.dense() && sin.dense());
  DJINN_REQUIRE(head_dim > 0 && head_dim % 2 == 0 && x.cols % head_dim == 0);
  DJINN_REQUIRE(cos.cols == head_dim / 2 && sin.cols == head_dim / 2 && sin.rows == cos.rows);
  RequireIndex(positions, x.rows, 1);
  cuda::LaunchRope(Element(x.dtype), x.data, x.row_stride(), x.rows, x.cols, head_dim, positions.i32(),
                   positions.row_stride(), cos.f32(), sin.f32(), cos.rows, Stream(stream_));
}

void CudaBackend::WriteKv(const Tensor& k, const Tensor& v, const KvCacheLayout& cache, int64_t layer,
                          const Tensor& destinations) {
  DJINN_REQUIRE(k.dtype == cache.dtype && v.dtype == cache.dtype);
  DJINN_REQUIRE(k.cols == cache.kv_dim && v.cols == cache.kv_dim && k.rows == v.rows);
  RequireIndex(destinations, k.rows, 1);
  cuda::LaunchWriteKv(Element(k.dtype), k.data, k.row_stride(), v.data, v.row_stride(), k.rows, Pages(cache, layer),
                      destinations.i32(), destinations.row_stride(), Stream(stream_));
}

uint64_t CudaBackend::AttentionScratchBytes(const AttentionShape& shape, int64_t rows, int64_t max_seq_len) const {
  // PrefillAttention keeps everything on chip; DecodeAttention needs its
  // per-split partial results.
  if (rows <= 0 || max_seq_len <= 0 || shape.kv_heads <= 0) return 0;
  return cuda::DecodeScratchBytes(Dims(shape), rows, max_seq_len, sm_count_);
}

void CudaBackend::PrefillAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_table,
                                   int64_t start, const AttentionShape& shape, const Tensor& scratch,
                                   const Tensor& out) {
  RequireAttentionShape(shape, cache);
  DJINN_REQUIRE(q.dtype == cache.dtype && out.dtype == cache.dtype);
  DJINN_REQUIRE(q.cols == shape.heads * shape.head_dim && out.cols == q.cols && out.rows == q.rows);
  DJINN_REQUIRE(start >= 0 && start + q.rows <= INT_MAX);
  // The table must cover every key up to the last query.
  RequireIndex(page_table, 1, (start + q.rows + cache.page_tokens - 1) / cache.page_tokens);
  cuda::LaunchPrefillAttention(Element(q.dtype), q.data, q.row_stride(), Pages(cache, layer), page_table.i32(), q.rows,
                               start, Dims(shape), out.data, out.row_stride(), Stream(stream_));
}

void CudaBackend::DecodeAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_tables,
                                  const Tensor& seq_lens, int64_t max_seq_len, const AttentionShape& shape,
                                  const Tensor& scratch, const Tensor& out) {
  RequireAttentionShape(shape, cache);
  DJINN_REQUIRE(q.dtype == cache.dtype && out.dtype == cache.dtype);
  DJINN_REQUIRE(q.cols == shape.heads * shape.head_dim && out.cols == q.cols && out.rows == q.rows);
  const int64_t batch = q.rows;
  DJINN_REQUIRE(batch <= 65535);  // grid.z
  DJINN_REQUIRE(max_seq_len >= 1 && max_seq_len <= INT_MAX);
  RequireIndex(page_tables, batch, (max_seq_len + cache.page_tokens - 1) / cache.page_tokens);
  RequireIndex(seq_lens, batch, 1);
  cuda::LaunchDecodeAttention(Element(q.dtype), q.data, q.row_stride(), Pages(cache, layer), page_tables.i32(),
                              page_tables.row_stride(), seq_lens.i32(), seq_lens.row_stride(), batch, max_seq_len,
                              Dims(shape), scratch.data, scratch.data != nullptr ? scratch.bytes() : 0, out.data,
                              out.row_stride(), sm_count_, Stream(stream_));
}

void CudaBackend::Sample(const Tensor& logits, const Tensor& params, const Tensor& scratch, const Tensor& ids) {
  DJINN_REQUIRE(logits.dtype == DType::kFloat32 && logits.cols >= 1 && logits.cols <= INT_MAX);
  RequireIndex(params, logits.rows, 4);
  RequireIndex(ids, logits.rows, 1);
  cuda::LaunchSample(logits.f32(), logits.row_stride(), logits.rows, logits.cols, params.i32(), params.row_stride(),
                     ids.i32(), ids.row_stride(), Stream(stream_));
}

void CudaBackend::TopLogprobs(const Tensor& logits, const Tensor& ids, int64_t top_n, const Tensor& out) {
  static_assert(cuda::kMaxTopLogprobs == kMaxTopLogprobs);
  DJINN_REQUIRE(logits.dtype == DType::kFloat32 && logits.cols >= 1 && logits.cols <= INT_MAX);
  DJINN_REQUIRE(top_n >= 0 && top_n <= kMaxTopLogprobs && top_n <= logits.cols);
  RequireIndex(ids, logits.rows, 1);
  RequireIndex(out, logits.rows, 2 * (1 + top_n));
  DJINN_REQUIRE(out.dense() && out.cols == 2 * (1 + top_n));
  cuda::LaunchTopLogprobs(logits.f32(), logits.row_stride(), logits.rows, logits.cols, ids.i32(), ids.row_stride(),
                          top_n, out.i32(), out.row_stride(), Stream(stream_));
}

}  // namespace djinn
