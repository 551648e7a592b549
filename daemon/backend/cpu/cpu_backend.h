// The reference backend: plain C++ in fp32 on the host, split over the cores
// by a thread pool. It runs in CI and is what the CUDA kernels are checked
// against, so it favours clarity and a fixed summation order over speed.
#ifndef DJINN_DAEMON_BACKEND_CPU_CPU_BACKEND_H_
#define DJINN_DAEMON_BACKEND_CPU_CPU_BACKEND_H_

#include <memory>

#include "daemon/backend/backend.h"
#include "daemon/backend/cpu/thread_pool.h"

namespace djinn {

class CpuBackend : public Backend {
 public:
  // threads 0: one per hardware thread.
  explicit CpuBackend(int threads = 0);

  DeviceDescription Describe() const override;
  DType ComputeDType(DType) const override { return DType::kFloat32; }
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
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_CPU_CPU_BACKEND_H_
