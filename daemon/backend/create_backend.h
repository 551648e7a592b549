// Picks the backend for --device: "cpu", "cuda", or "auto" (the GPU when
// this build has CUDA support and a GPU is present, the CPU otherwise).
#ifndef DJINN_DAEMON_BACKEND_CREATE_BACKEND_H_
#define DJINN_DAEMON_BACKEND_CREATE_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/backend/backend.h"

namespace djinn {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const std::string& device, int cpu_threads);

// Budget used when --vram-budget=auto.
uint64_t DefaultBudget(const Backend& backend);

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_CREATE_BACKEND_H_
