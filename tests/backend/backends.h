// The backends the conformance suite (tests/backend/) runs on, and the
// parameters its tests take. "cpu" always; "cuda" when the binary was built
// with the CUDA backend (DJINN_HAVE_CUDA=1: gpu_backend_conformance_test)
// and a CUDA device is visible when it runs. The CPU backend is the
// reference: the other backends are compared with it where a test checks
// model-sized shapes (too slow for a double-precision computation in the
// test), and it runs the host's own rules (SampleFromLogits, TopLogprobsRow).
//
// Engine tests take the same parameter to run a check on every backend
// (tests/unit/weight_ring_test.cc, tests/gpu/streaming_model_test.cc).
#ifndef DJINN_TESTS_BACKEND_BACKENDS_H_
#define DJINN_TESTS_BACKEND_BACKENDS_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/backend/backend.h"
#include "gtest/gtest.h"

namespace djinn::backendtest {

inline constexpr char kReferenceBackend[] = "cpu";
// Threads of the CPU backend under test: fixed, so that a run does not
// depend on the machine, and not a divisor of most sizes.
inline constexpr int kCpuThreads = 3;

// The names of the backends this binary can run on this machine.
std::vector<std::string> AvailableBackends();
// AvailableBackends() less the reference: the backends checked against it.
std::vector<std::string> BackendsBesidesTheReference();

// A new backend: a CpuBackend of kCpuThreads threads, or CudaBackend::Create().
absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const std::string& name);

// One backend and one dtype it computes in.
struct BackendDType {
  std::string backend;
  DType dtype = DType::kFloat32;
};
void PrintTo(const BackendDType& param, std::ostream* out);

// Each available backend with each dtype it holds models in (its
// ComputeDType of fp32, fp16 and bf16): cpu/fp32; cuda/fp32, fp16, bf16.
std::vector<BackendDType> BackendsAndDTypes();
// The same without the reference.
std::vector<BackendDType> BackendsAndDTypesBesidesTheReference();

// Test names: "cpu", "cuda"; "cpu_fp32", "cuda_bf16".
std::string BackendTestName(const ::testing::TestParamInfo<std::string>& info);
std::string BackendDTypeTestName(const ::testing::TestParamInfo<BackendDType>& info);
// "fp32", "fp16", "bf16", "int32".
const char* ShortName(DType dtype);

}  // namespace djinn::backendtest

// The arguments of INSTANTIATE_TEST_SUITE_P for the two kinds of parameter.
#define DJINN_ALL_BACKENDS \
  ::testing::ValuesIn(::djinn::backendtest::AvailableBackends()), ::djinn::backendtest::BackendTestName
#define DJINN_ALL_BACKENDS_AND_DTYPES \
  ::testing::ValuesIn(::djinn::backendtest::BackendsAndDTypes()), ::djinn::backendtest::BackendDTypeTestName
// Suites that compare a backend with the reference have no instance in a
// CPU-only build: each such suite also says
// GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ItsName).
#define DJINN_BACKENDS_BESIDES_THE_REFERENCE \
  ::testing::ValuesIn(::djinn::backendtest::BackendsBesidesTheReference()), ::djinn::backendtest::BackendTestName
#define DJINN_BACKENDS_AND_DTYPES_BESIDES_THE_REFERENCE                              \
  ::testing::ValuesIn(::djinn::backendtest::BackendsAndDTypesBesidesTheReference()), \
      ::djinn::backendtest::BackendDTypeTestName

#endif  // DJINN_TESTS_BACKEND_BACKENDS_H_
