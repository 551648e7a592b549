#include "tests/backend/backends.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "daemon/backend/cpu/cpu_backend.h"
#if DJINN_HAVE_CUDA
#include "daemon/backend/cuda/cuda_backend.h"
#endif

namespace djinn::backendtest {

std::vector<std::string> AvailableBackends() {
  std::vector<std::string> names = {kReferenceBackend};
#if DJINN_HAVE_CUDA
  if (CudaBackend::DeviceCount() > 0) names.push_back("cuda");
#endif
  return names;
}

std::vector<std::string> BackendsBesidesTheReference() {
  std::vector<std::string> names = AvailableBackends();
  names.erase(std::remove(names.begin(), names.end(), kReferenceBackend), names.end());
  return names;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const std::string& name) {
  if (name == kReferenceBackend) return std::make_unique<CpuBackend>(kCpuThreads);
#if DJINN_HAVE_CUDA
  if (name == "cuda") {
    absl::StatusOr<std::unique_ptr<CudaBackend>> cuda = CudaBackend::Create();
    if (!cuda.ok()) return cuda.status();
    return std::unique_ptr<Backend>(*std::move(cuda));
  }
#endif
  return absl::InvalidArgumentError("no backend \"" + name + "\" in this build");
}

void PrintTo(const BackendDType& param, std::ostream* out) { *out << param.backend << "/" << ShortName(param.dtype); }

std::vector<BackendDType> BackendsAndDTypes() {
  // Once per process: every instantiation asks, and creating a GPU backend
  // takes a while.
  static const std::vector<BackendDType> all = [] {
    std::vector<BackendDType> params;
    for (const std::string& name : AvailableBackends()) {
      // Asked of the backend itself. One that cannot be created still gets
      // fp32, so that its tests exist and fail in SetUp, saying why.
      std::vector<DType> dtypes = {DType::kFloat32};
      if (absl::StatusOr<std::unique_ptr<Backend>> backend = MakeBackend(name); backend.ok()) {
        dtypes.clear();
        for (DType stored : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
          const DType compute = (*backend)->ComputeDType(stored);
          if (std::find(dtypes.begin(), dtypes.end(), compute) == dtypes.end()) dtypes.push_back(compute);
        }
      }
      for (DType dtype : dtypes) params.push_back({name, dtype});
    }
    return params;
  }();
  return all;
}

std::vector<BackendDType> BackendsAndDTypesBesidesTheReference() {
  std::vector<BackendDType> params = BackendsAndDTypes();
  params.erase(std::remove_if(params.begin(), params.end(),
                              [](const BackendDType& p) { return p.backend == kReferenceBackend; }),
               params.end());
  return params;
}

std::string BackendTestName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

std::string BackendDTypeTestName(const ::testing::TestParamInfo<BackendDType>& info) {
  return info.param.backend + "_" + ShortName(info.param.dtype);
}

const char* ShortName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "fp32";
    case DType::kFloat16: return "fp16";
    case DType::kBFloat16: return "bf16";
    case DType::kInt32: return "int32";
  }
  return "?";
}

}  // namespace djinn::backendtest
