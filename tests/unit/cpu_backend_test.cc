// What only the CPU backend promises, beyond the Backend contract that the
// conformance suite (tests/backend/, backend_conformance_test) checks on
// every backend: its description (everything in fp32, short prefill
// chunks, no sampling scratch), device memory that is the host's RAM,
// page-aligned arena and host memory, results that do not depend on the
// thread count, SiluMul compacting into its own input, strided Download,
// copies that finish when the backend goes, and the abort on an int32
// upload of floats.
#include "daemon/backend/cpu/cpu_backend.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

std::vector<float> Random(size_t count, uint32_t seed, float low = -1.0f, float high = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

Tensor View(std::vector<float>& v, int64_t rows, int64_t cols) { return Tensor{v.data(), DType::kFloat32, rows, cols}; }

Tensor Ints(std::vector<int32_t>& v, int64_t rows, int64_t cols) { return Tensor{v.data(), DType::kInt32, rows, cols}; }

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(CpuBackendTest, Describe) {
  CpuBackend backend(2);
  const DeviceDescription d = backend.Describe();
  EXPECT_EQ(d.kind, "cpu");
  EXPECT_EQ(d.id, "cpu");
  for (DType stored : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    EXPECT_EQ(backend.ComputeDType(stored), DType::kFloat32);
  }
  EXPECT_EQ(backend.PreferredPrefillChunk(), 64);
  EXPECT_EQ(backend.SampleScratchBytes(8, 32000), 0u);
}

// The CPU backend's device memory is the host's RAM, as /proc/meminfo has it.
TEST(CpuBackendTest, MemoryUsageIsTheHostsRam) {
  CpuBackend backend(1);
  const absl::StatusOr<DeviceMemoryUsage> usage = backend.MemoryUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->total_bytes, backend.Describe().total_memory_bytes);  // MemTotal is the physical pages
}

TEST(CpuBackendTest, ArenaAndHostMemoryArePageAligned) {
  CpuBackend backend(1);
  constexpr uint64_t kBytes = 4 << 20;
  absl::StatusOr<std::byte*> base = backend.ReserveArena(kBytes);
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*base) % 4096, 0u);
  backend.ReleaseArena(*base, kBytes);
  for (uint64_t bytes : {uint64_t{1}, uint64_t{4097}, uint64_t{3} << 20}) {
    absl::StatusOr<std::byte*> memory = backend.AllocateHostMemory(bytes);
    ASSERT_TRUE(memory.ok()) << memory.status();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(*memory) % 4096, 0u) << bytes;
    backend.FreeHostMemory(*memory, bytes);
  }
}

TEST(CpuBackendTest, MatMulDoesNotDependOnThreadCount) {
  struct Shape {
    int64_t n, k, m;
  };
  CpuBackend one(1), four(4), seven(7);
  for (const Shape& s : {Shape{5, 67, 129}, Shape{1, 300, 61}, Shape{33, 19, 8}}) {
    std::vector<float> x = Random(s.n * s.k, 11), w = Random(s.m * s.k, 12);
    std::vector<float> a(s.n * s.m), b(s.n * s.m), c(s.n * s.m);
    one.MatMul(View(x, s.n, s.k), View(w, s.m, s.k), View(a, s.n, s.m));
    four.MatMul(View(x, s.n, s.k), View(w, s.m, s.k), View(b, s.n, s.m));
    seven.MatMul(View(x, s.n, s.k), View(w, s.m, s.k), View(c, s.n, s.m));
    EXPECT_TRUE(SameBits(a, b));
    EXPECT_TRUE(SameBits(a, c));
  }
}

// Every row of the cache holds data: the page tables alone decide what each
// sequence reads.
TEST(CpuBackendTest, DecodeAttentionDoesNotDependOnThreadCount) {
  const int64_t heads = 4, kv_heads = 4, d = 8, page_tokens = 3, max_seq_len = 9;
  const int64_t q_cols = heads * d, kv_cols = kv_heads * d;
  const AttentionShape shape{heads, kv_heads, d};
  std::vector<int32_t> seq_lens = {9, 2, 5, 1, 8};
  const int64_t batch = static_cast<int64_t>(seq_lens.size()), max_pages = max_seq_len / page_tokens;
  const int64_t pages = batch * max_pages;
  std::vector<float> cache = Random(pages * 2 * page_tokens * kv_cols, 131);
  const KvCacheLayout layout{cache.data(), DType::kFloat32, 1, page_tokens, kv_cols};
  std::vector<int32_t> page_tables(pages);
  for (int64_t p = 0; p < pages; ++p) page_tables[p] = static_cast<int32_t>((p * 7) % pages);  // 7 is prime to 15
  std::vector<float> q = Random(batch * q_cols, 132);
  std::vector<std::vector<float>> outs;
  for (int threads : {1, 2, 3, 7}) {
    CpuBackend backend(threads);
    // The scratch its thread count asks for, then a guard no thread may touch.
    const int64_t used = static_cast<int64_t>(backend.AttentionScratchBytes(shape, batch, max_seq_len) / sizeof(float));
    std::vector<float> scratch(used + 64, -7.0f);
    outs.emplace_back(batch * q_cols);
    backend.DecodeAttention(View(q, batch, q_cols), layout, 0, Ints(page_tables, batch, max_pages),
                            Ints(seq_lens, batch, 1), max_seq_len, shape, View(scratch, 1, used),
                            View(outs.back(), batch, q_cols));
    EXPECT_EQ(std::vector<float>(scratch.begin() + used, scratch.end()), std::vector<float>(64, -7.0f)) << threads;
  }
  for (size_t i = 1; i < outs.size(); ++i) EXPECT_TRUE(SameBits(outs[0], outs[i])) << i;
}

TEST(CpuBackendTest, TopLogprobsDoesNotDependOnThreadCount) {
  const int64_t rows = 9, vocab = 3001, top_n = 20, cols = 2 * (1 + top_n);
  std::vector<float> logits = Random(rows * vocab, 3, -6.0f, 6.0f);
  std::vector<int32_t> chosen(rows);
  for (int64_t r = 0; r < rows; ++r) chosen[r] = static_cast<int32_t>(r * 331);
  std::vector<int32_t> a(rows * cols), b(rows * cols);
  CpuBackend one(1), four(4);
  one.TopLogprobs(View(logits, rows, vocab), Ints(chosen, rows, 1), top_n, Ints(a, rows, cols));
  four.TopLogprobs(View(logits, rows, vocab), Ints(chosen, rows, 1), top_n, Ints(b, rows, cols));
  EXPECT_EQ(a, b);
}

// Rows in order, one at a time (cpu_backend.h): out may be the start of the
// fused buffer gate and up are columns of, since row r of out overlaps
// only input rows already consumed.
TEST(CpuBackendTest, SiluMulCompactsIntoItsFusedInput) {
  CpuBackend backend(2);
  const int64_t rows = 5, cols = 37;
  std::vector<float> fused = Random(rows * 2 * cols, 33, -6.0f, 6.0f), dense(rows * cols);
  const Tensor whole = View(fused, rows, 2 * cols);
  backend.SiluMul(whole.Cols(0, cols), whole.Cols(cols, cols), View(dense, rows, cols));
  backend.SiluMul(whole.Cols(0, cols), whole.Cols(cols, cols), View(fused, rows, cols));
  EXPECT_TRUE(SameBits(std::vector<float>(fused.begin(), fused.begin() + rows * cols), dense));
}

// Columns [1, 4) of every row: strided, gathered densely.
TEST(CpuBackendTest, DownloadOfStridedColumns) {
  CpuBackend backend(1);
  std::vector<float> device = Random(24, 95), columns(12, 0.0f);
  backend.Download(View(device, 4, 6).Cols(1, 3), columns);
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(columns[r * 3 + i], device[r * 6 + 1 + i]) << r << ", " << i;
  }
}

// Host memory may be the destination (it is the arena on the CPU), so the
// copies queued before the backend goes land.
TEST(CpuBackendTest, DestructionFinishesQueuedCopies) {
  const int copies = 6;
  const int64_t n = 2 << 20;
  const std::vector<float> source = Random(n, 4);
  std::vector<std::vector<float>> dst(copies, std::vector<float>(n, -1.0f));
  {
    CpuBackend backend(1);
    for (int c = 0; c < copies; ++c) {
      backend.CopyToDevice(reinterpret_cast<const std::byte*>(source.data()), dst[c].data(), n * sizeof(float));
    }
  }
  for (int c = 0; c < copies; ++c) EXPECT_EQ(dst[c], source) << "copy " << c;
}

TEST(CpuBackendDeathTest, UploadOfFloatsIntoInt32Aborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<float> source = {1.0f, 2.0f};
  std::vector<int32_t> dst(2);
  EXPECT_DEATH(
      {
        CpuBackend backend(1);
        backend.Upload(std::as_bytes(std::span(source)), DType::kFloat32, Ints(dst, 2, 1));
      },
      "int32 tensors take int32 sources only");
}

}  // namespace
}  // namespace djinn
