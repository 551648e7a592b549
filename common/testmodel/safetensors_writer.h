// Streams tensors into a .safetensors file: an 8-byte little-endian header
// length, a JSON header padded with spaces to a multiple of 8 bytes, then the
// tensor bytes back to back in name order. The header is computed from the
// shapes alone, so a tensor's bytes are generated (in parallel, in bounded
// blocks) only as they are written: a multi-GB shard is never held in memory.
#ifndef DJINN_COMMON_TESTMODEL_SAFETENSORS_WRITER_H_
#define DJINN_COMMON_TESTMODEL_SAFETENSORS_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/testmodel/tensor_dtype.h"

namespace djinn::testmodel {

struct SafetensorsEntry {
  std::string name;
  std::vector<int64_t> shape;
  TensorDType dtype = TensorDType::kF32;
};

// Where each tensor lands in the file.
struct SafetensorsLayout {
  std::string header;            // the 8-byte length and the padded JSON
  std::vector<size_t> order;     // entry indices in file (name) order
  std::vector<uint64_t> begin;   // per entry: offset of its bytes from the data start
  std::vector<uint64_t> size;    // per entry: bytes
  uint64_t data_size = 0;        // sum of `size`
  uint64_t file_size() const { return header.size() + data_size; }
};

// INVALID_ARGUMENT for a duplicate or empty name or a negative dimension.
absl::StatusOr<SafetensorsLayout> PlanSafetensors(const std::vector<SafetensorsEntry>& entries);

// Writes elements [first, first + count) of entries[tensor], encoded in its
// dtype, to `out`. Called concurrently from several threads with disjoint
// ranges, so it must be thread-safe.
using ElementFiller =
    std::function<void(size_t tensor, uint64_t first, uint64_t count, uint8_t* out)>;

struct SafetensorsWriteOptions {
  int threads = 0;                        // fill threads; 0 = hardware_concurrency
  uint64_t block_bytes = uint64_t{32} << 20;  // generated then written at a time
  // Called on the calling thread after each write, with the bytes it wrote.
  std::function<void(uint64_t)> on_bytes_written;
};

// Writes the file (replacing it; atomically, via a temporary name).
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsEntry>& entries,
                              const ElementFiller& fill,
                              const SafetensorsWriteOptions& options = {});

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_SAFETENSORS_WRITER_H_
