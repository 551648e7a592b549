// A view of a 2-D array in backend memory: [rows, cols], row-major, densely
// packed. Activations are [tokens, features], weights [out_features,
// in_features] as HuggingFace stores them. Tensors never own memory; the
// arena does.
#ifndef DJINN_DAEMON_BACKEND_TENSOR_H_
#define DJINN_DAEMON_BACKEND_TENSOR_H_

#include <cstddef>
#include <cstdint>

#include "common/safetensors.h"  // DType

namespace djinn {

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  int64_t rows = 0;
  int64_t cols = 0;

  int64_t elements() const { return rows * cols; }
  size_t bytes() const { return static_cast<size_t>(elements()) * DTypeSize(dtype); }
  float* f32() const { return static_cast<float*>(data); }
  // Rows [first, first + count) as a tensor of their own.
  Tensor Rows(int64_t first, int64_t count) const {
    return Tensor{static_cast<std::byte*>(data) + first * cols * DTypeSize(dtype), dtype, count, cols};
  }
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_TENSOR_H_
