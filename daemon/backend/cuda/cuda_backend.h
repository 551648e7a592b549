// The GPU backend: weights, activations and the KV cache in fp16 / bf16 in
// one device arena, matrix products through cuBLAS (fp32 accumulation), the
// other ops as our own kernels (kernels.cu), all in issue order on one
// compute stream. Numerics follow the CPU reference (cpu/cpu_backend.h): fp32
// arithmetic, each output rounded once to the compute dtype.
//
// Memory: ReserveArena is the only large allocation (one cudaMalloc of the
// whole budget). Construction takes a fixed cuBLAS workspace and two small
// pinned staging buffers for Upload/Download; after that no op allocates.
//
// Device 0 only for now. CUDA and cuBLAS failures abort with the call, file,
// line and error: they are programming errors or device faults.
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
  static constexpr uint64_t kStagingBytes = 8ull << 20;

  // Visible CUDA devices; 0 when there is no device or no usable driver.
  static int DeviceCount();
  // FAILED_PRECONDITION (with the CUDA error) when no device is usable.
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create();

  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  ~CudaBackend() override;

  // Free device memory now (cudaMemGetInfo).
  uint64_t FreeMemoryBytes() const;

  DeviceDescription Describe() const override { return description_; }
  // bf16 models compute in bf16; fp16 and fp32 models in fp16.
  DType ComputeDType(DType stored) const override;
  absl::StatusOr<std::byte*> ReserveArena(uint64_t bytes) override;
  void ReleaseArena(std::byte* base, uint64_t bytes) override;
  void Upload(std::span<const std::byte> source, DType source_dtype, const Tensor& dst) override;
  void Download(const Tensor& src, std::span<float> host) override;

  void Embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) override;
  void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) override;
  void MatMul(const Tensor& x, const Tensor& w, const Tensor& out) override;
  void Add(const Tensor& x, const Tensor& y) override;
  void SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  void Rope(const Tensor& x, int64_t head_dim, std::span<const int32_t> positions, const Tensor& cos,
            const Tensor& sin) override;
  void WriteKv(const Tensor& k, const Tensor& v, const KvView& cache, int64_t start) override;
  void Attention(const Tensor& q, const KvView& cache, int64_t start, const AttentionShape& shape,
                 const Tensor& scratch, const Tensor& out) override;

 private:
  CudaBackend() = default;
  void Init();  // aborts on failure; Create() checked the device first

  DeviceDescription description_;
  CUstream_st* stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  // Pinned host buffers for Upload/Download; each one's event marks the end
  // of the last copy that used it.
  std::array<std::byte*, 2> staging_{};
  std::array<CUevent_st*, 2> staging_done_{};
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_CUDA_CUDA_BACKEND_H_
