// Shared by the backend conformance suite (tests/backend/*_test.cc, one
// binary): the fixtures, tensors in the backend's memory, random inputs,
// references and the checks.
//
// Discipline: inputs are random (never exact zeros) and rounded to the dtype
// under test, so that a reference computed from them sees exactly what the
// backend sees. Outputs are poisoned with NaN first, so an entry an op left
// unwritten fails. Small shapes are checked element by element against a
// double-precision computation in the test; model-sized shapes (GPU kernel
// paths: tensor-core tiles, staging buffers, long rows) against the CPU
// backend, by ‖got − cpu‖ / ‖cpu‖, with a results table printed at exit.
// Tolerances depend on the dtype: 1e-5 for fp32, 5e-3 for fp16, 1e-2 for
// bf16.
//
// Inputs come from DJINN_BACKEND_TEST_SEED (default 1, printed at start):
// a run is repeatable, and another seed runs on other inputs.
#ifndef DJINN_TESTS_BACKEND_SUPPORT_H_
#define DJINN_TESTS_BACKEND_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "daemon/backend/backend.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "gtest/gtest.h"
#include "tests/backend/backends.h"

namespace djinn::backendtest {

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
inline constexpr float kInf = std::numeric_limits<float>::infinity();

// --- Inputs -------------------------------------------------------------------

// A new seed per call, from DJINN_BACKEND_TEST_SEED.
uint32_t NextSeed();
// `v` rounded to `t` (fp16 or bf16; fp32 and int32 unchanged).
float RoundTo(DType t, float v);
// Uniform in [low, high], rounded to `t`, exact zeros nudged away.
std::vector<float> Random(int64_t count, DType t = DType::kFloat32, float low = -1.0f, float high = 1.0f);
// `count` distinct values of [0, pool) in a shuffled order.
std::vector<int32_t> ShuffledPages(int64_t pool, int64_t count);
// `dense` ([rows, cols]) placed at column `first` of a [rows, wide] array
// whose other entries are `fill`: the wide array's Cols() view is its
// strided twin.
std::vector<float> Widen(const std::vector<float>& dense, int64_t rows, int64_t cols, int64_t wide, int64_t first,
                         float fill);
bool SameBits(const std::vector<float>& a, const std::vector<float>& b);
// One row of logits as models give them and worse: normal(0, sigma) with
// sigma one of `sigmas`, and each of these with the given odds (1 in N, 0:
// never): the row on a 0.5 grid (ties), `masked_share` of it -inf, 5% of
// it NaN, three +inf entries, nothing above -inf at all (-inf and NaN).
struct LogitsMix {
  std::vector<float> sigmas;
  uint32_t quantised = 0, masked = 0, nans = 0, infinite = 0, empty = 0;
  float masked_share = 0.3f;
};
void FillLogitsRow(std::mt19937& rng, const LogitsMix& mix, float* row, int64_t vocab);
// "n=64 heads=32 ..."
std::string Shape(std::initializer_list<std::pair<const char*, int64_t>> dims);

// Host tensors (the CPU reference reads and writes host memory).
inline Tensor HostView(std::vector<float>& v, int64_t rows, int64_t cols) {
  return Tensor{v.data(), DType::kFloat32, rows, cols};
}
inline Tensor HostInts(std::vector<int32_t>& v, int64_t rows, int64_t cols) {
  return Tensor{v.data(), DType::kInt32, rows, cols};
}

// --- Tolerances and checks ----------------------------------------------------

// 1e-5 fp32, 5e-3 fp16, 1e-2 bf16: relative to the op's scale (below).
double Tolerance(DType t);
// Element by element: |got[i] − want[i]| <= tolerance × scale[i] (scale
// empty: 1 for every element). NaN in `got` fails. Reports the first few
// misses and returns whether all matched.
bool ExpectNear(const std::string& what, const std::vector<float>& got, const std::vector<double>& want,
                const std::vector<double>& scale, double tolerance);
// ‖got − ref‖ / ‖ref‖ <= bound, no NaN; adds a row to the results table.
void ExpectRelativeError(const std::string& op, DType dtype, const std::string& shape, const std::vector<float>& got,
                         const std::vector<float>& ref, double bound);
// Adds a row to the results table printed at exit.
void AddResult(const std::string& op, const std::string& dtype, const std::string& shape, double error, double bound,
               bool nan);

// --- The fixtures ---------------------------------------------------------------

// A backend made by MakeBackend and an arena in its memory, both new for
// each test.
class BackendFixture : public ::testing::Test {
 public:                                               // (public so that helpers such as MakePagedCache can use them)
  static constexpr uint64_t kArenaBytes = 4ull << 30;  // address space only on the CPU

  Backend& backend() { return *backend_; }
  const std::string& backend_name() const { return name_; }
  DType dtype() const { return dtype_; }
  // The CPU backend: its summation order is fixed (cpu_backend.h) and it
  // runs the host's rules, so it promises more than bounds.
  bool IsReference() const { return name_ == kReferenceBackend; }

  // Tensors in the arena (256-byte aligned), dense.
  Tensor Alloc(int64_t rows, int64_t cols, DType t);
  Tensor Alloc(int64_t rows, int64_t cols) { return Alloc(rows, cols, dtype_); }
  Tensor Put(const std::vector<float>& host, int64_t rows, int64_t cols, DType t);
  Tensor Put(const std::vector<float>& host, int64_t rows, int64_t cols) { return Put(host, rows, cols, dtype_); }
  Tensor PutInts(const std::vector<int32_t>& host, int64_t rows, int64_t cols);
  void UploadInts(const std::vector<int32_t>& host, const Tensor& dst);
  // NaN in a float tensor, -1 (0xFF bytes) in an int32 one (dense);
  // finished when it returns, so that copy-queue work may follow.
  void Poison(const Tensor& t);
  Tensor Poisoned(int64_t rows, int64_t cols, DType t);
  Tensor Poisoned(int64_t rows, int64_t cols) { return Poisoned(rows, cols, dtype_); }
  std::vector<float> Get(const Tensor& t);
  std::vector<int32_t> GetInts(const Tensor& t);
  // `bytes` bytes of backend memory at `device` (any address).
  std::vector<std::byte> GetBytes(const void* device, uint64_t bytes);

  // Two ways of computing the same thing (strided or dense, chunked or
  // whole, paged or not): bit for bit on the reference; elsewhere within the
  // dtype's tolerance, relative to max(1, |b|) (NaN where both are NaN).
  void ExpectEquivalent(const std::string& what, const std::vector<float>& a, const std::vector<float>& b);

 protected:
  void Open(const std::string& name, DType dtype);
  void TearDown() override;

 private:
  std::string name_;
  DType dtype_ = DType::kFloat32;
  std::unique_ptr<Backend> backend_;
  std::byte* arena_ = nullptr;
  uint64_t used_ = 0;
};

// Tests of one backend, whatever dtype (memory, sampling, streaming).
class BackendTest : public BackendFixture, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override { Open(GetParam(), DType::kFloat32); }
};

// Tests of one backend in one of its compute dtypes.
class OpTest : public BackendFixture, public ::testing::WithParamInterface<BackendDType> {
 protected:
  void SetUp() override { Open(GetParam().backend, GetParam().dtype); }
};

// Model-sized shapes against the CPU backend on the same (rounded) inputs;
// instantiated for the backends besides the reference.
class VersusCpuTest : public OpTest {
 protected:
  void Check(const std::string& op, const std::string& shape, const std::vector<float>& got,
             const std::vector<float>& ref, double bound = -1) {
    ExpectRelativeError(op, dtype(), shape, got, ref, bound < 0 ? Tolerance(dtype()) : bound);
  }
  CpuBackend cpu_{0};
};

// The device memory in use, where the device is the backend's own (a GPU:
// it changes only with this process's allocations there). nullopt on the
// CPU, whose memory is the host's, shared with every process.
std::optional<uint64_t> DeviceBytesInUse(Backend& backend);

// --- The paged KV cache -----------------------------------------------------------

// A paged KV cache pool in backend memory with its host mirror (fp32, the
// values rounded to the dtype), addressed as backend.h spells it out.
struct PagedCache {
  int64_t pages = 0, layers = 0, page_tokens = 0, kv_dim = 0;
  std::vector<float> host;  // the whole pool
  Tensor pool;              // [pages, page elements] in backend memory
  KvCacheLayout device;     // the pool as the backend's ops take it

  int64_t page_elements() const { return layers * 2 * page_tokens * kv_dim; }
  int64_t RowOffset(int64_t page, int64_t layer, bool values, int64_t row) const {
    return (((page * layers + layer) * 2 + (values ? 1 : 0)) * page_tokens + row) * kv_dim;
  }
  // The host mirror as the CPU backend takes it.
  KvCacheLayout host_layout() { return {host.data(), DType::kFloat32, layers, page_tokens, kv_dim}; }
};
// A pool of `pages` pages, every entry NaN (on both sides), so that an op
// that reads a row never written (the future, another layer, a page not in
// the table) gives NaN.
PagedCache MakeEmptyCache(BackendFixture& test, int64_t pages, int64_t layers, int64_t page_tokens, int64_t kv_dim);

// Sequence b's `lens[b]` random key and value rows of `layer`, in pages
// handed out in a shuffled order (its `tables` row; the rest of the row
// names a spare page, NaN throughout like every row no sequence owns),
// written on both sides.
struct FilledCache {
  PagedCache cache;
  int64_t pages_per_sequence = 0;
  std::vector<int32_t> tables;  // [sequences, pages_per_sequence]
};
FilledCache MakeFilledCache(BackendFixture& test, int64_t layers, int64_t layer, int64_t page_tokens, int64_t kv_dim,
                            const std::vector<int64_t>& lens, int64_t max_len);

// WriteKv destinations of positions [start, start + n) of the sequence whose
// page table is `table`.
std::vector<int32_t> Destinations(const std::vector<int32_t>& table, int64_t page_tokens, int64_t start, int64_t n);
inline int64_t PagesFor(int64_t tokens, int64_t page_tokens) { return (tokens + page_tokens - 1) / page_tokens; }

// Attention scratch of AttentionScratchBytes followed by a guard of NaN
// that no op may touch.
class GuardedScratch {
 public:
  GuardedScratch(BackendFixture& test, const AttentionShape& shape, int64_t rows, int64_t max_seq_len);
  const Tensor& tensor() const { return scratch_; }
  bool GuardIntact();

 private:
  static constexpr int64_t kGuard = 64;
  BackendFixture& test_;
  Tensor whole_, scratch_;
};

// Causal attention of query row t (position start + t, [heads * head_dim]
// per row of q) over the sequence's keys and values [0, start + t]
// ([tokens, kv_heads * head_dim]), in double. GQA as HF's repeat_kv.
std::vector<double> ReferenceAttention(const std::vector<float>& q, const std::vector<float>& keys,
                                       const std::vector<float>& values, const AttentionShape& shape, int64_t start,
                                       int64_t t);

}  // namespace djinn::backendtest

#endif  // DJINN_TESTS_BACKEND_SUPPORT_H_
