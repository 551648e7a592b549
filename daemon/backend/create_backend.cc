#include "daemon/backend/create_backend.h"

#include <algorithm>

#include "daemon/backend/cpu/cpu_backend.h"
#if DJINN_HAVE_CUDA
#include "daemon/backend/cuda/cuda_backend.h"
#endif

namespace djinn {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const std::string& device, int cpu_threads) {
#if DJINN_HAVE_CUDA
  if (device == "cuda" || (device == "auto" && CudaBackend::DeviceCount() > 0)) {
    absl::StatusOr<std::unique_ptr<CudaBackend>> cuda = CudaBackend::Create();
    if (!cuda.ok()) return cuda.status();
    return std::unique_ptr<Backend>(std::move(*cuda));
  }
#else
  if (device == "cuda") {
    return absl::FailedPreconditionError("this djinnd was built without the CUDA backend; use --device=cpu");
  }
#endif
  return std::make_unique<CpuBackend>(cpu_threads);
}

uint64_t DefaultBudget(const Backend& backend) {
#if DJINN_HAVE_CUDA
  // On the GPU: the device memory free once the backend exists (its cuBLAS
  // workspace and context already taken) minus 2 GiB of headroom for the
  // driver, other processes and fragmentation; 0 if less is free.
  if (const auto* cuda = dynamic_cast<const CudaBackend*>(&backend)) {
    constexpr uint64_t kHeadroom = 2ull << 30;
    const uint64_t free_bytes = cuda->FreeMemoryBytes();
    return free_bytes > kHeadroom ? free_bytes - kHeadroom : 0;
  }
#endif
  // On the CPU the arena is address space committed on first touch, so the
  // default only caps what models may take: half the RAM, at most 4 GiB.
  return std::min<uint64_t>(backend.Describe().total_memory_bytes / 2, 4ull << 30);
}

}  // namespace djinn
