// The element types a test model can be written in, with their safetensors
// and torch_dtype names.
#ifndef DJINN_COMMON_TESTMODEL_TENSOR_DTYPE_H_
#define DJINN_COMMON_TESTMODEL_TENSOR_DTYPE_H_

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"

namespace djinn::testmodel {

enum class TensorDType { kF32, kF16, kBF16 };

// Bytes per element: 4 or 2.
size_t DTypeSize(TensorDType dtype);

// "F32" | "F16" | "BF16", as in a safetensors header.
std::string_view SafetensorsDTypeName(TensorDType dtype);

// "float32" | "float16" | "bfloat16", as in config.json's torch_dtype.
std::string_view TorchDTypeName(TensorDType dtype);

// Inverse of TorchDTypeName; INVALID_ARGUMENT for anything else.
absl::StatusOr<TensorDType> ParseTorchDType(std::string_view name);

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_TENSOR_DTYPE_H_
