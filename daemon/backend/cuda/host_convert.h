// Host-side element conversion for Upload and Download: fp32 / fp16 / bf16
// to one another (rounding to nearest even, like PyTorch), and int32 to
// int32 as a raw copy. Runs on the CPU into or out of pinned staging memory.
#ifndef DJINN_DAEMON_BACKEND_CUDA_HOST_CONVERT_H_
#define DJINN_DAEMON_BACKEND_CUDA_HOST_CONVERT_H_

#include <cstddef>
#include <cstdint>

#include "common/safetensors.h"  // DType

namespace djinn {

// Converts `count` values at `src` (type `from`) into `dst` (type `to`).
// int32 converts only to and from int32 (the caller checks).
void ConvertHost(const std::byte* src, DType from, std::byte* dst, DType to, int64_t count);

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_CUDA_HOST_CONVERT_H_
