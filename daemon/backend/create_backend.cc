#include "daemon/backend/create_backend.h"

#include <algorithm>

#include "daemon/backend/cpu/cpu_backend.h"

namespace djinn {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const std::string& device, int cpu_threads) {
  if (device == "cuda") {
    return absl::FailedPreconditionError("this djinnd was built without the CUDA backend; use --device=cpu");
  }
  return std::make_unique<CpuBackend>(cpu_threads);
}

uint64_t DefaultBudget(const Backend& backend) {
  // On the CPU the arena is address space committed on first touch, so the
  // default only caps what models may take: half the RAM, at most 4 GiB.
  return std::min<uint64_t>(backend.Describe().total_memory_bytes / 2, 4ull << 30);
}

}  // namespace djinn
