#include "daemon/backend/cuda/pinned_memory.h"

#include <cuda_runtime_api.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace djinn::cuda {
namespace {

constexpr uint64_t kHugePage = 2ull << 20;

// What the mapping spans: whole huge pages, so that the last one can be one.
uint64_t MappedBytes(uint64_t bytes) { return std::max<uint64_t>(1, (bytes + kHugePage - 1) / kHugePage) * kHugePage; }

// Writes one byte per 4 KiB page, split over up to 16 threads: the kernel
// zero-fills each page at its first write, and that is the slow part.
void TouchInParallel(std::byte* memory, uint64_t bytes) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const unsigned threads = std::min(16u, std::max(1u, std::thread::hardware_concurrency()));
  const uint64_t per_thread = (bytes / threads + kHugePage - 1) / kHugePage * kHugePage;
  std::vector<std::thread> workers;
  for (uint64_t first = 0; first < bytes; first += per_thread) {
    const uint64_t last = std::min(bytes, first + per_thread);
    workers.emplace_back([=] {
      for (uint64_t at = first; at < last; at += page) memory[at] = std::byte{0};
    });
  }
  for (std::thread& worker : workers) worker.join();
}

}  // namespace

absl::StatusOr<std::byte*> AllocatePinned(uint64_t bytes) {
  const uint64_t mapped = MappedBytes(bytes);
  void* memory = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot map ", bytes, " bytes of host memory: ", std::strerror(errno)));
  }
  ::madvise(memory, mapped, MADV_HUGEPAGE);  // advice only: without THP it still works, page by page
  TouchInParallel(static_cast<std::byte*>(memory), mapped);
  const cudaError_t error = cudaHostRegister(memory, mapped, cudaHostRegisterPortable);
  if (error != cudaSuccess) {
    cudaGetLastError();  // a registration failure is not sticky; clear it
    ::munmap(memory, mapped);
    return absl::ResourceExhaustedError(absl::StrCat("cannot pin ", bytes, " bytes of host memory: ",
                                                     cudaGetErrorName(error), ": ", cudaGetErrorString(error)));
  }
  return static_cast<std::byte*>(memory);
}

void FreePinned(std::byte* memory, uint64_t bytes) {
  if (memory == nullptr) return;
  cudaHostUnregister(memory);
  ::munmap(memory, MappedBytes(bytes));
}

}  // namespace djinn::cuda
