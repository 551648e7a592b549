// Reads HuggingFace safetensors files: a little-endian u64 header length, a
// JSON header naming each tensor's dtype, shape and byte range, then the raw
// tensor bytes. Files are memory-mapped; nothing is copied until the loader
// converts a tensor. Each file also stays open, so that tensors which need no
// conversion can be read with pread() (parallel_read.h) at their FileOffset.
//
// Everything in the header is validated before any byte is used, so a corrupt
// or truncated file is an INVALID_ARGUMENT naming the problem, never a crash.
#ifndef DJINN_COMMON_SAFETENSORS_H_
#define DJINN_COMMON_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "common/parallel_read.h"

namespace djinn {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offset into the data section
  uint64_t end = 0;

  int64_t elements() const;
  uint64_t bytes() const { return end - begin; }
};

class SafetensorsFile {
 public:
  // Maps and validates `path`. NOT_FOUND if it does not exist.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return file_.path(); }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  // nullptr if absent.
  const TensorInfo* Find(const std::string& name) const;
  std::span<const std::byte> Data(const TensorInfo& tensor) const;
  // The open file, and where a tensor's bytes start in it (past the header).
  const ReadOnlyFile& file() const { return file_; }
  uint64_t FileOffset(const TensorInfo& tensor) const { return data_offset_ + tensor.begin; }

 private:
  explicit SafetensorsFile(ReadOnlyFile file) : file_(std::move(file)) {}

  ReadOnlyFile file_;
  uint64_t data_offset_ = 0;  // of the data section: 8 + the header length
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  const std::byte* data_ = nullptr;  // start of the data section
  std::map<std::string, TensorInfo> tensors_;
};

// All tensors of a model directory: one model.safetensors, or the shards
// listed in model.safetensors.index.json (every shard must exist and hold
// what the index says).
class SafetensorsModel {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsModel>> Open(const std::string& directory);

  // nullptr if absent.
  const TensorInfo* Find(const std::string& name) const;
  std::span<const std::byte> Data(const TensorInfo& tensor) const;
  // The shard that holds `tensor` (one Find returned).
  const SafetensorsFile& FileOf(const TensorInfo& tensor) const;
  uint64_t total_bytes() const { return total_bytes_; }
  // The dtype most tensors are stored in (what the model "is").
  DType predominant_dtype() const { return predominant_dtype_; }
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<const SafetensorsFile*, const TensorInfo*>> index_;
  uint64_t total_bytes_ = 0;
  DType predominant_dtype_ = DType::kFloat32;
};

}  // namespace djinn

#endif  // DJINN_COMMON_SAFETENSORS_H_
