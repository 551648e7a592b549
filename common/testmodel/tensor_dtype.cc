#include "common/testmodel/tensor_dtype.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace djinn::testmodel {

size_t DTypeSize(TensorDType dtype) { return dtype == TensorDType::kF32 ? 4 : 2; }

std::string_view SafetensorsDTypeName(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kF32: return "F32";
    case TensorDType::kF16: return "F16";
    case TensorDType::kBF16: return "BF16";
  }
  return "";
}

std::string_view TorchDTypeName(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kF32: return "float32";
    case TensorDType::kF16: return "float16";
    case TensorDType::kBF16: return "bfloat16";
  }
  return "";
}

absl::StatusOr<TensorDType> ParseTorchDType(std::string_view name) {
  for (TensorDType dtype : {TensorDType::kF32, TensorDType::kF16, TensorDType::kBF16}) {
    if (name == TorchDTypeName(dtype)) return dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype \"", std::string(name), "\" (want float32, float16 or bfloat16)"));
}

}  // namespace djinn::testmodel
