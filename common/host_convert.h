// Host-side element conversion: fp32 / fp16 / bf16 to one another (rounding
// to nearest even, like PyTorch), and int32 to int32 as a raw copy. Used by
// the CUDA backend (into and out of pinned staging memory) and by the loader
// (streamed weights into host memory).
#ifndef DJINN_COMMON_HOST_CONVERT_H_
#define DJINN_COMMON_HOST_CONVERT_H_

#include <cstddef>
#include <cstdint>

#include "common/safetensors.h"  // DType

namespace djinn {

// Converts `count` values at `src` (type `from`) into `dst` (type `to`).
// int32 converts only to and from int32 (the caller checks).
void ConvertHost(const std::byte* src, DType from, std::byte* dst, DType to, int64_t count);

// ConvertHost split over up to `threads` threads (0: one per core, at most
// 16) in pieces of at least 4 MiB of output: a large tensor copied out of the
// page cache is limited by one core's memory bandwidth, not the machine's.
void ParallelConvertHost(const std::byte* src, DType from, std::byte* dst, DType to, int64_t count,
                         int threads = 0);

}  // namespace djinn

#endif  // DJINN_COMMON_HOST_CONVERT_H_
