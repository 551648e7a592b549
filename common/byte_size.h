// Byte sizes as people write them on command lines ("16GiB", "512MiB",
// "1.5GB", "1048576") and as we print them back.
#ifndef DJINN_COMMON_BYTE_SIZE_H_
#define DJINN_COMMON_BYTE_SIZE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace djinn {

// Accepts a non-negative number with an optional unit: B, KiB/MiB/GiB/TiB
// (powers of 1024), KB/MB/GB/TB (powers of 1000), K/M/G/T (taken as the
// binary units, like most daemons' flags). Case-insensitive, no spaces needed.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

// "1.50 GiB", "512.00 MiB", "17 B".
std::string FormatBytes(uint64_t bytes);

}  // namespace djinn

#endif  // DJINN_COMMON_BYTE_SIZE_H_
