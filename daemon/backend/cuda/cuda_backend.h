// The GPU backend: weights, activations and the KV cache in the model's own
// type (fp32, fp16 or bf16) in one device arena, matrix products through
// cuBLAS (fp32 accumulation, no TF32), the other ops as our own kernels
// (kernels.h lists them), all in issue order on one compute stream. Numerics
// follow the CPU reference (cpu/cpu_backend.h): fp32 arithmetic, each output
// rounded once to its element type.
//
// Memory: ReserveArena is the only large device allocation (one cudaMalloc
// of the whole budget). Construction takes a fixed cuBLAS workspace and two
// 64 MiB pinned staging buffers for Upload/Download/CopyToHost (host memory;
// Upload fills them on several threads); after that no
// op allocates, so every op can be captured by Record into a CUDA graph.
// AllocateHostMemory is the caller's pinned host memory (the weights that
// stream), apart from all of that.
//
// Index tensors (token ids, positions, KV destinations, page tables,
// sequence lengths, sampling parameters) are int32 tensors in the arena,
// read by the kernels on the device: launches depend on shapes only.
//
// Streaming: a second, non-blocking stream is the copy queue
// (CopyToDevice: cudaMemcpyAsync from pinned host memory). A QueueEvent is
// a cudaEvent_t (without timing unless CreateTimingEvent): RecordEvent = cudaEventRecord on the
// queue's stream, WaitForEvent = cudaStreamWaitEvent, Synchronize =
// cudaEventSynchronize. As with any CUDA event, waiting for one that was
// never recorded waits for nothing. Upload, Download and CopyToHost order
// themselves after the compute stream only, not after the copy stream.
//
// Device 0 only for now. CUDA and cuBLAS failures, and shape or dtype
// violations, abort with the call, file, line and error: they are
// programming errors or device faults.
#ifndef DJINN_DAEMON_BACKEND_CUDA_CUDA_BACKEND_H_
#define DJINN_DAEMON_BACKEND_CUDA_CUDA_BACKEND_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "daemon/backend/backend.h"

// Opaque CUDA handle types, so this header needs no CUDA include.
struct CUstream_st;
struct CUevent_st;
struct cublasContext;

namespace djinn {

class CudaBackend : public Backend {
 public:
  // Bytes of the cuBLAS workspace taken at construction (Hopper's
  // recommended size), and of each of the two pinned staging buffers.
  static constexpr uint64_t kCublasWorkspaceBytes = 32ull << 20;
  static constexpr uint64_t kStagingBytes = 64ull << 20;
  // Prompt chunk per forward pass: large enough for compute-bound GEMMs.
  static constexpr int64_t kPrefillChunk = 2048;

  // Visible CUDA devices; 0 when there is no device or no usable driver.
  static int DeviceCount();
  // FAILED_PRECONDITION (with the CUDA error) when no device is usable.
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create();

  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  ~CudaBackend() override;

  // Free device memory now (cudaMemGetInfo).
  uint64_t FreeMemoryBytes() const;
  // Streaming multiprocessors of the device (DecodeAttention's split plan).
  int SmCount() const { return sm_count_; }

  DeviceDescription Describe() const override { return description_; }
  // cudaMemGetInfo: every process's use of the device, the CUDA context included.
  absl::StatusOr<DeviceMemoryUsage> MemoryUsage() const override;
  // The stored type itself: fp32, fp16 and bf16 models compute in their own type.
  DType ComputeDType(DType stored) const override { return stored; }
  int64_t PreferredPrefillChunk() const override { return kPrefillChunk; }

  absl::StatusOr<std::byte*> ReserveArena(uint64_t bytes) override;
  void ReleaseArena(std::byte* base, uint64_t bytes) override;
  void Upload(std::span<const std::byte> source, DType source_dtype, const Tensor& dst) override;
  void Download(const Tensor& src, std::span<float> host) override;
  void CopyToHost(const Tensor& src, std::span<std::byte> host) override;
  // Stream capture of the compute stream (cuda_graph.h). Work `issue` puts
  // on the copy queue is captured only if that stream has joined the
  // capture first (WaitForEvent(kCopy, e) on an event recorded on compute
  // inside `issue`), and the capture ends on the compute stream, which
  // CUDA allows only once the copy stream has joined back (compute waits
  // for an event recorded on the copy queue after its last work): this is
  // the fork/join rule of Backend::Record, and breaking it aborts. The graph
  // replays as one launch on the compute stream, copies included: a replay
  // is ordered after earlier compute-stream work but not after copies
  // issued directly on the copy queue (wait for those on compute first),
  // and events recorded inside `issue` belong to the graph (record them
  // again outside before the host or direct work waits on them).
  std::unique_ptr<OpGraph> Record(const std::function<void()>& issue) override;

  // Pinned (cuda::AllocatePinned: huge pages, parallel first touch,
  // cudaHostRegister); RESOURCE_EXHAUSTED when it fails. Not while recording.
  absl::StatusOr<std::byte*> AllocateHostMemory(uint64_t bytes) override;
  // Waits for both streams, then unpins and unmaps. Not while recording.
  void FreeHostMemory(std::byte* memory, uint64_t bytes) override;
  void CopyToDevice(const std::byte* host, void* device, uint64_t bytes) override;
  std::unique_ptr<QueueEvent> CreateEvent() override;
  void RecordEvent(QueueEvent* event, Queue queue) override;
  void WaitForEvent(Queue queue, QueueEvent* event) override;
  // Not while recording.
  void Synchronize(QueueEvent* event) override;
  std::unique_ptr<QueueEvent> CreateTimingEvent() override;
  // cudaEventElapsedTime. Not while recording.
  double SecondsBetween(QueueEvent* from, QueueEvent* to) override;

  void Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) override;
  void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) override;
  void MatMul(const Tensor& x, const Tensor& w, const Tensor& out) override;
  void Add(const Tensor& x, const Tensor& y) override;
  void SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  void AddBias(const Tensor& x, const Tensor& bias) override;
  // One block per (row, head), the RmsNorm kernel's.
  void HeadRmsNorm(const Tensor& x, int64_t head_dim, const Tensor& weight, float eps) override;
  void Rope(const Tensor& x, int64_t head_dim, const Tensor& positions, const Tensor& cos, const Tensor& sin) override;
  void WriteKv(const Tensor& k, const Tensor& v, const KvCacheLayout& cache, int64_t layer,
               const Tensor& destinations) override;

  uint64_t AttentionScratchBytes(const AttentionShape& shape, int64_t rows, int64_t max_seq_len) const override;
  void PrefillAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_table,
                        int64_t start, const AttentionShape& shape, const Tensor& scratch, const Tensor& out) override;
  void DecodeAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_tables,
                       const Tensor& seq_lens, int64_t max_seq_len, const AttentionShape& shape, const Tensor& scratch,
                       const Tensor& out) override;

  // Sampling needs no scratch on the GPU (histograms live in shared memory).
  uint64_t SampleScratchBytes(int64_t rows, int64_t vocab) const override { return 0; }
  void Sample(const Tensor& logits, const Tensor& params, const Tensor& scratch, const Tensor& ids) override;
  // One block per row (top_logprobs_kernel.cu); needs no scratch.
  void TopLogprobs(const Tensor& logits, const Tensor& ids, int64_t top_n, const Tensor& out) override;

 private:
  CudaBackend() = default;
  void Init();  // aborts on failure; Create() checked the device first

  // Pinned staging space for one host<->device copy of `bytes` (at most
  // kStagingBytes): the next free stretch of the current buffer, or the
  // other buffer once its last copy has finished.
  std::byte* StagingSpace(uint64_t bytes);
  // Marks the end of the copy just enqueued from/to the current buffer.
  void StagingCopied();
  // Copies `bytes` device bytes to the host through staging, chunk by
  // chunk, calling consume(staged, offset, n) for each; waits for all
  // pending ops.
  template <typename Consume>
  void CopyOut(const void* device, uint64_t bytes, Consume&& consume);

  DeviceDescription description_;
  int sm_count_ = 0;
  CUstream_st* StreamOf(Queue queue) const { return queue == Queue::kCopy ? copy_stream_ : stream_; }
  // Inside Record, work for the copy queue must come after it joined the
  // capture; enqueued before, it would run at once instead of being
  // recorded.
  void RequireCopyStreamCapturedWhileRecording() const;

  CUstream_st* stream_ = nullptr;       // the compute queue
  CUstream_st* copy_stream_ = nullptr;  // the copy queue
  cublasContext* cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  std::array<std::byte*, 2> staging_{};
  // Each buffer's event marks the end of the last copy that used it.
  std::array<CUevent_st*, 2> staging_done_{};
  int staging_current_ = 0;
  uint64_t staging_used_ = 0;  // bytes of the current buffer handed out
  bool recording_ = false;     // inside Record: no Upload / Download / CopyToHost
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_CUDA_CUDA_BACKEND_H_
