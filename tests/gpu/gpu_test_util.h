// Shared by the GPU op tests (one binary, gpu_backend_ops_test): one
// CudaBackend and one device arena for the whole run, random inputs, the
// comparison against the CPU reference and the results table printed last.
//
// Discipline: every case draws fresh random inputs (never zeros), rounds
// them to the dtype under test, and runs CpuBackend (fp32) on exactly those
// values. GPU outputs are poisoned with NaN bit patterns first (0xFF bytes);
// the check is ‖gpu − cpu‖ / ‖cpu‖ against a per-dtype bound (1e-5 fp32,
// 5e-3 fp16, 1e-2 bf16), and any NaN fails.
#ifndef DJINN_TESTS_GPU_GPU_TEST_UTIL_H_
#define DJINN_TESTS_GPU_GPU_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/backend/cuda/cuda_backend.h"
#include "gtest/gtest.h"

namespace djinn::gputest {

constexpr uint64_t kArenaBytes = 4ull << 30;

struct Gpu {
  std::unique_ptr<CudaBackend> backend;
  absl::Status status;
  std::byte* arena = nullptr;
  uint64_t used = 0;
};
Gpu& TheGpu();

// A new seed per call, from DJINN_GPU_TEST_SEED (printed) or random.
uint32_t NextSeed();

const char* Name(DType t);
float RoundTo(DType t, float v);
// Uniform in [low, high], rounded to `t`, with exact zeros nudged away.
std::vector<float> Random(int64_t count, DType t, float low = -1.0f, float high = 1.0f);
double Bound(DType t);  // 1e-5 fp32, 5e-3 fp16, 1e-2 bf16

// "n=64 heads=32 ..."
std::string Shape(std::initializer_list<std::pair<const char*, int64_t>> dims);
// Adds a row to the table printed at exit.
void AddResult(const std::string& op, const std::string& dtype, const std::string& shape, double error, double bound,
               bool nan);

// Host tensors for the CPU backend.
inline Tensor View(std::vector<float>& v, int64_t rows, int64_t cols) {
  return Tensor{v.data(), DType::kFloat32, rows, cols};
}
inline Tensor IntView(std::vector<int32_t>& v, int64_t rows, int64_t cols) {
  return Tensor{v.data(), DType::kInt32, rows, cols};
}

// The fixture of the dtype-parameterised tests.
class GpuTest : public ::testing::TestWithParam<DType> {
 public:  // (public so that helpers such as MakePagedCache can use them)
  void SetUp() override;

  // Device tensor from the arena (256-byte aligned), reset per test.
  Tensor Alloc(int64_t rows, int64_t cols, DType t);
  Tensor Alloc(int64_t rows, int64_t cols) { return Alloc(rows, cols, dtype_); }
  Tensor Put(const std::vector<float>& host, int64_t rows, int64_t cols, DType t);
  Tensor Put(const std::vector<float>& host, int64_t rows, int64_t cols) { return Put(host, rows, cols, dtype_); }
  Tensor PutInts(const std::vector<int32_t>& host, int64_t rows, int64_t cols);
  void UploadInts(const std::vector<int32_t>& host, const Tensor& dst);
  // Every byte 0xFF: NaN in fp32, fp16 and bf16 (and -1 in int32). Dense only.
  static void Poison(const Tensor& t);
  Tensor Poisoned(int64_t rows, int64_t cols, DType t);
  Tensor Poisoned(int64_t rows, int64_t cols) { return Poisoned(rows, cols, dtype_); }
  std::vector<float> Get(const Tensor& t);
  std::vector<int32_t> GetInts(const Tensor& t);

  // ‖got − ref‖ / ‖ref‖ against the bound (the dtype's by default); records
  // a table row. NaN anywhere fails.
  void Check(const std::string& op, const std::string& shape, const std::vector<float>& got,
             const std::vector<float>& ref, double bound = -1);

  CudaBackend* gpu_ = nullptr;
  CpuBackend cpu_{0};
  DType dtype_ = DType::kFloat16;
};

// The three compute dtypes, named fp32 / fp16 / bf16 in test names.
#define DJINN_GPU_DTYPES                                                                            \
  ::testing::Values(::djinn::DType::kFloat32, ::djinn::DType::kFloat16, ::djinn::DType::kBFloat16), \
      ::djinn::gputest::DTypeTestName
std::string DTypeTestName(const ::testing::TestParamInfo<DType>& info);

// A paged KV cache filled the same on both sides: `lens[b]` random key and
// value rows for sequence b in `layer`, in pages handed out in a shuffled
// order; every other row of the pool (other layers, rows past a sequence's
// end, the spare page that pads the page tables) is NaN, so reading one
// shows up.
struct PagedCache {
  int64_t layers = 0, page_tokens = 0, kv_dim = 0, pages = 0, pages_per_sequence = 0;
  std::vector<float> host;      // the whole pool, fp32 (values rounded to the dtype)
  std::vector<int32_t> tables;  // [sequences, pages_per_sequence]
  KvCacheLayout cpu, gpu;

  int64_t RowOffset(int64_t page, int64_t layer, int64_t row, bool values) const {
    return (((page * layers + layer) * 2 + (values ? 1 : 0)) * page_tokens + row) * kv_dim;
  }
};
PagedCache MakePagedCache(GpuTest& test, DType dtype, int64_t layers, int64_t layer, int64_t page_tokens,
                          int64_t kv_dim, const std::vector<int64_t>& lens, int64_t max_len);

}  // namespace djinn::gputest

#endif  // DJINN_TESTS_GPU_GPU_TEST_UTIL_H_
