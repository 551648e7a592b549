// Element types, the one definition every layer uses: model files, host
// conversion, backend tensors and the CUDA kernels (so header-only and C++17,
// which nvcc compiles). Tensors in model files are F32, F16 or BF16; kInt32
// exists for the engine's own per-step index tensors (token ids, positions,
// page tables) and is never read from a file.
#ifndef DJINN_COMMON_DTYPE_H_
#define DJINN_COMMON_DTYPE_H_

#include <cstddef>

namespace djinn {

enum class DType { kFloat32, kFloat16, kBFloat16, kInt32 };

// "float32", "float16", "bfloat16", "int32".
inline const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kInt32: return "int32";
  }
  return "?";
}

inline constexpr size_t DTypeSize(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kInt32 ? 4 : 2;
}

}  // namespace djinn

#endif  // DJINN_COMMON_DTYPE_H_
