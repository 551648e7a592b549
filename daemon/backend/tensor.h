// A view of a 2-D array in backend memory: [rows, cols], row-major. Rows are
// `stride` elements apart (0 means densely packed, stride == cols), so a
// tensor can name a column range of a wider one — the q, k and v parts of a
// fused qkv projection, say. Activations are [tokens, features], weights
// [out_features, in_features] as HuggingFace stores them. Tensors never own
// memory; the arena does.
#ifndef DJINN_DAEMON_BACKEND_TENSOR_H_
#define DJINN_DAEMON_BACKEND_TENSOR_H_

#include <cstddef>
#include <cstdint>

#include "common/dtype.h"

namespace djinn {

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;  // elements between row starts; 0: cols

  int64_t row_stride() const { return stride != 0 ? stride : cols; }
  bool dense() const { return stride == 0 || stride == cols || rows <= 1; }
  int64_t elements() const { return rows * cols; }
  // Bytes of a dense tensor of this shape.
  size_t bytes() const { return static_cast<size_t>(elements()) * DTypeSize(dtype); }
  float* f32() const { return static_cast<float*>(data); }
  int32_t* i32() const { return static_cast<int32_t*>(data); }
  std::byte* row(int64_t r) const { return static_cast<std::byte*>(data) + r * row_stride() * DTypeSize(dtype); }
  // Rows [first, first + count) as a tensor of their own.
  Tensor Rows(int64_t first, int64_t count) const { return Tensor{row(first), dtype, count, cols, stride}; }
  // Columns [first, first + count) of every row.
  Tensor Cols(int64_t first, int64_t count) const {
    return Tensor{static_cast<std::byte*>(data) + first * DTypeSize(dtype), dtype, rows, count, row_stride()};
  }
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_TENSOR_H_
