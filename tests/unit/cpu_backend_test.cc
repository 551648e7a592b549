// The CPU backend's ops against straightforward double-precision references
// written here, on random inputs of several shapes (sizes that are not a
// multiple of the 8-wide inner loop, several rows), plus the properties the
// engine relies on: causal attention, GQA head grouping, thread-count
// independent MatMul, strided views giving what dense copies give, a paged
// KV cache read through its page table, decode attention equal to the last
// prefill row, replayable recordings, and Sample following SampleFromLogits.
// Streaming: host memory, copies on the copy thread in issue order, events
// that order compute after copies (and move when recorded again), recorded
// fork/join replays, and a two-slot ring against a direct computation.
#include "daemon/backend/cpu/cpu_backend.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/float16.h"
#include "daemon/engine/sampling/sampler.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

// fp32 error bound relative to the magnitude of what was summed.
constexpr double kRelative = 1e-5;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> Random(size_t count, uint32_t seed, float low = -1.0f, float high = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

Tensor View(std::vector<float>& v, int64_t rows, int64_t cols) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), rows * cols);
  return Tensor{v.data(), DType::kFloat32, rows, cols};
}

Tensor Ints(std::vector<int32_t>& v, int64_t rows, int64_t cols) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), rows * cols);
  return Tensor{v.data(), DType::kInt32, rows, cols};
}

// An int32 column [n, 1], the shape of ids, positions and destinations.
Tensor Column(std::vector<int32_t>& v) { return Ints(v, static_cast<int64_t>(v.size()), 1); }

// `dense` ([rows, cols]) placed at column `first` of a wider [rows, wide]
// buffer whose other entries are `fill`; the buffer's Cols() view of it is
// the strided twin of the dense tensor.
std::vector<float> Widen(const std::vector<float>& dense, int64_t rows, int64_t cols, int64_t wide, int64_t first,
                         float fill) {
  std::vector<float> out(rows * wide, fill);
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(dense.begin() + r * cols, dense.begin() + (r + 1) * cols, out.begin() + r * wide + first);
  }
  return out;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Shape {
  int64_t n, k, m;
};

TEST(CpuBackendTest, Describe) {
  CpuBackend backend(2);
  const DeviceDescription d = backend.Describe();
  EXPECT_EQ(d.kind, "cpu");
  EXPECT_EQ(d.id, "cpu");
  EXPECT_FALSE(d.name.empty());
  EXPECT_GT(d.total_memory_bytes, uint64_t{1} << 20);
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
  EXPECT_GT(usage->used_bytes, 0u);  // this process, at least
  EXPECT_LT(usage->used_bytes, usage->total_bytes);
  EXPECT_EQ(usage->free_bytes(), usage->total_bytes - usage->used_bytes);
}

TEST(CpuBackendTest, ReserveArenaIsWritable) {
  CpuBackend backend(1);
  constexpr uint64_t kBytes = 4 << 20;
  absl::StatusOr<std::byte*> base = backend.ReserveArena(kBytes);
  ASSERT_TRUE(base.ok()) << base.status();
  ASSERT_NE(*base, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*base) % 4096, 0u);
  (*base)[0] = std::byte{1};
  (*base)[kBytes - 1] = std::byte{2};
  EXPECT_EQ((*base)[0], std::byte{1});
  EXPECT_EQ((*base)[kBytes - 1], std::byte{2});
  backend.ReleaseArena(*base, kBytes);
}

TEST(CpuBackendTest, MatMul) {
  CpuBackend backend(3);
  uint32_t seed = 1;
  for (const Shape& s : {Shape{1, 1, 1}, Shape{1, 7, 5}, Shape{3, 8, 4}, Shape{5, 13, 9}, Shape{4, 64, 33},
                         Shape{7, 100, 17}, Shape{2, 257, 3}, Shape{64, 24, 40}}) {
    SCOPED_TRACE(::testing::Message() << "n=" << s.n << " k=" << s.k << " m=" << s.m);
    std::vector<float> x = Random(s.n * s.k, seed++), w = Random(s.m * s.k, seed++);
    std::vector<float> out(s.n * s.m, std::numeric_limits<float>::quiet_NaN());
    backend.MatMul(View(x, s.n, s.k), View(w, s.m, s.k), View(out, s.n, s.m));
    for (int64_t i = 0; i < s.n; ++i) {
      for (int64_t j = 0; j < s.m; ++j) {
        double ref = 0, scale = 0;
        for (int64_t p = 0; p < s.k; ++p) {
          ref += static_cast<double>(x[i * s.k + p]) * w[j * s.k + p];
          scale += std::abs(static_cast<double>(x[i * s.k + p]) * w[j * s.k + p]);
        }
        ASSERT_NEAR(out[i * s.m + j], ref, kRelative * scale + 1e-30) << "at [" << i << ", " << j << "]";
      }
    }
  }
}

TEST(CpuBackendTest, MatMulDoesNotDependOnThreadCount) {
  CpuBackend one(1), four(4), seven(7);
  for (const Shape& s : {Shape{5, 67, 129}, Shape{1, 300, 61}, Shape{33, 19, 8}}) {
    std::vector<float> x = Random(s.n * s.k, 11), w = Random(s.m * s.k, 12);
    std::vector<float> a(s.n * s.m), b(s.n * s.m), c(s.n * s.m);
    one.MatMul(View(x, s.n, s.k), View(w, s.m, s.k), View(a, s.n, s.m));
    four.MatMul(View(x, s.n, s.k), View(w, s.m, s.k), View(b, s.n, s.m));
    seven.MatMul(View(x, s.n, s.k), View(w, s.m, s.k), View(c, s.n, s.m));
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)), 0);
  }
}

TEST(CpuBackendTest, MatMulOfOneRowEqualsThatRowOfABatch) {
  // Decoding one token must give exactly the logits the same row gets in a
  // prefill batch (the engine's KV-cache checks rely on it).
  CpuBackend backend(4);
  const int64_t n = 6, k = 45, m = 23;
  std::vector<float> x = Random(n * k, 21), w = Random(m * k, 22), all(n * m), row(m);
  backend.MatMul(View(x, n, k), View(w, m, k), View(all, n, m));
  for (int64_t i = 0; i < n; ++i) {
    backend.MatMul(View(x, n, k).Rows(i, 1), View(w, m, k), View(row, 1, m));
    EXPECT_EQ(std::memcmp(row.data(), all.data() + i * m, m * sizeof(float)), 0) << "row " << i;
  }
}

TEST(CpuBackendTest, RmsNorm) {
  CpuBackend backend(2);
  uint32_t seed = 100;
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 5}, {3, 8}, {4, 37}, {9, 128}}) {
    for (float eps : {1e-6f, 1e-5f, 0.5f}) {
      SCOPED_TRACE(::testing::Message() << rows << "x" << cols << " eps=" << eps);
      std::vector<float> x = Random(rows * cols, seed++, -3.0f, 3.0f), w = Random(cols, seed++, 0.5f, 1.5f);
      std::vector<float> out(rows * cols);
      backend.RmsNorm(View(x, rows, cols), View(w, 1, cols), eps, View(out, rows, cols));
      for (int64_t r = 0; r < rows; ++r) {
        double sum = 0;
        for (int64_t i = 0; i < cols; ++i) sum += static_cast<double>(x[r * cols + i]) * x[r * cols + i];
        const double scale = 1.0 / std::sqrt(sum / cols + static_cast<double>(eps));
        for (int64_t i = 0; i < cols; ++i) {
          const double ref = static_cast<double>(w[i]) * x[r * cols + i] * scale;
          ASSERT_NEAR(out[r * cols + i], ref, kRelative * std::abs(ref) + 1e-30) << "at [" << r << ", " << i << "]";
        }
      }
    }
  }
}

TEST(CpuBackendTest, RmsNormOfZerosIsZero) {
  CpuBackend backend(1);
  std::vector<float> x(16, 0.0f), w(16, 1.0f), out(16, 1.0f);
  backend.RmsNorm(View(x, 1, 16), View(w, 1, 16), 1e-6f, View(out, 1, 16));
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

double Silu(double g) { return g / (1.0 + std::exp(-g)); }

TEST(CpuBackendTest, SiluMul) {
  CpuBackend backend(2);
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 13}, {4, 172}, {3, 256}}) {
    SCOPED_TRACE(::testing::Message() << rows << "x" << cols);
    std::vector<float> gate = Random(rows * cols, 7, -12.0f, 12.0f), up = Random(rows * cols, 8, -2.0f, 2.0f);
    std::vector<float> out(rows * cols);
    backend.SiluMul(View(gate, rows, cols), View(up, rows, cols), View(out, rows, cols));
    for (size_t i = 0; i < out.size(); ++i) {
      const double ref = Silu(gate[i]) * up[i];
      ASSERT_NEAR(out[i], ref, kRelative * std::abs(ref) + 1e-30) << "at " << i << " gate " << gate[i];
    }
    // In place, as the engine calls it (out aliases gate).
    std::vector<float> in_place = gate;
    backend.SiluMul(View(in_place, rows, cols), View(up, rows, cols), View(in_place, rows, cols));
    EXPECT_EQ(in_place, out);
  }
}

TEST(CpuBackendTest, SiluMulExtremes) {
  CpuBackend backend(1);
  std::vector<float> gate = {-100.0f, -30.0f, 0.0f, 30.0f, 100.0f}, up(5, 1.0f), out(5);
  backend.SiluMul(View(gate, 1, 5), View(up, 1, 5), View(out, 1, 5));
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_TRUE(std::isfinite(out[i])) << gate[i];
    EXPECT_NEAR(out[i], Silu(gate[i]), 1e-5 * std::abs(Silu(gate[i])) + 1e-30) << gate[i];
  }
}

TEST(CpuBackendTest, Add) {
  CpuBackend backend(2);
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 9}, {5, 64}}) {
    std::vector<float> x = Random(rows * cols, 31), y = Random(rows * cols, 32);
    const std::vector<float> original = x;
    backend.Add(View(x, rows, cols), View(y, rows, cols));
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(x[i], original[i] + y[i]) << i;  // one fp32 rounding
    // y is untouched.
    EXPECT_EQ(y, Random(rows * cols, 32));
  }
}


TEST(CpuBackendTest, SiluMulStridedEqualsDense) {
  // gate and up as the two halves of a fused [rows, 2 * cols] projection.
  CpuBackend backend(2);
  const int64_t rows = 5, cols = 37;
  std::vector<float> gate = Random(rows * cols, 33, -6.0f, 6.0f), up = Random(rows * cols, 34);
  std::vector<float> dense(rows * cols), strided(rows * cols, kNaN);
  backend.SiluMul(View(gate, rows, cols), View(up, rows, cols), View(dense, rows, cols));
  std::vector<float> fused = Widen(gate, rows, cols, 2 * cols, 0, kNaN);
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(up.begin() + r * cols, up.begin() + (r + 1) * cols, fused.begin() + r * 2 * cols + cols);
  }
  const Tensor whole = View(fused, rows, 2 * cols);
  backend.SiluMul(whole.Cols(0, cols), whole.Cols(cols, cols), View(strided, rows, cols));
  EXPECT_TRUE(SameBits(strided, dense));
  // Compacted into the start of the fused buffer itself, as the header
  // allows: row r of out overlaps only input rows already consumed.
  backend.SiluMul(whole.Cols(0, cols), whole.Cols(cols, cols), Tensor{fused.data(), DType::kFloat32, rows, cols});
  EXPECT_TRUE(SameBits(std::vector<float>(fused.begin(), fused.begin() + rows * cols), dense));
}

TEST(CpuBackendTest, AddBias) {
  CpuBackend backend(2);
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 9}, {5, 96}}) {
    SCOPED_TRACE(::testing::Message() << rows << "x" << cols);
    std::vector<float> x = Random(rows * cols, 41, -4.0f, 4.0f), bias = Random(cols, 42);
    const std::vector<float> original = x;
    backend.AddBias(View(x, rows, cols), View(bias, cols, 1));  // [m, 1], as the loader holds biases
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < cols; ++i) {
        ASSERT_EQ(x[r * cols + i], original[r * cols + i] + bias[i]) << r << ", " << i;  // one fp32 rounding
      }
    }
  }
}

TEST(CpuBackendTest, AddBiasStridedEqualsDenseAndLeavesOtherColumnsAlone) {
  // The k part of a fused qkv row, say.
  CpuBackend backend(2);
  const int64_t rows = 4, cols = 24, wide = 80, first = 40;
  std::vector<float> dense = Random(rows * cols, 43), bias = Random(cols, 44);
  std::vector<float> fused = Widen(dense, rows, cols, wide, first, kNaN);
  backend.AddBias(View(dense, rows, cols), View(bias, 1, cols));
  backend.AddBias(View(fused, rows, wide).Cols(first, cols), View(bias, 1, cols));
  EXPECT_TRUE(SameBits(fused, Widen(dense, rows, cols, wide, first, kNaN)));
}

// Reference: each head_dim slice normalised on its own, in double.
TEST(CpuBackendTest, HeadRmsNorm) {
  CpuBackend backend(2);
  uint32_t seed = 200;
  for (const auto& [rows, heads, head_dim] :
       std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 8}, {3, 4, 16}, {5, 3, 128}, {2, 2, 6}}) {
    for (float eps : {1e-6f, 0.25f}) {
      SCOPED_TRACE(::testing::Message() << rows << "x" << heads << "x" << head_dim << " eps=" << eps);
      const int64_t cols = heads * head_dim;
      std::vector<float> x = Random(rows * cols, seed++, -3.0f, 3.0f), w = Random(head_dim, seed++, 0.5f, 1.5f);
      const std::vector<float> original = x;
      backend.HeadRmsNorm(View(x, rows, cols), head_dim, View(w, 1, head_dim), eps);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t h = 0; h < heads; ++h) {
          const float* in = original.data() + r * cols + h * head_dim;
          double sum = 0;
          for (int64_t i = 0; i < head_dim; ++i) sum += static_cast<double>(in[i]) * in[i];
          const double scale = 1.0 / std::sqrt(sum / head_dim + static_cast<double>(eps));
          for (int64_t i = 0; i < head_dim; ++i) {
            const double ref = static_cast<double>(w[i]) * in[i] * scale;
            ASSERT_NEAR(x[r * cols + h * head_dim + i], ref, kRelative * std::abs(ref) + 1e-30)
                << "row " << r << " head " << h << " at " << i;
          }
        }
      }
    }
  }
}

TEST(CpuBackendTest, HeadRmsNormIsRmsNormOfEachHead) {
  // Bit for bit what RmsNorm gives on each head as a row of its own, and a
  // strided view (q inside a fused qkv row) leaves the other columns alone.
  CpuBackend backend(2);
  const int64_t rows = 3, heads = 4, head_dim = 32, cols = heads * head_dim, wide = cols + 64;
  std::vector<float> x = Random(rows * cols, 51, -2.0f, 2.0f), w = Random(head_dim, 52, 0.5f, 1.5f);
  std::vector<float> per_head(rows * cols);
  backend.RmsNorm(View(x, rows * heads, head_dim), View(w, 1, head_dim), 1e-6f, View(per_head, rows * heads, head_dim));
  std::vector<float> fused = Widen(x, rows, cols, wide, 0, kNaN);
  backend.HeadRmsNorm(View(fused, rows, wide).Cols(0, cols), head_dim, View(w, 1, head_dim), 1e-6f);
  EXPECT_TRUE(SameBits(fused, Widen(per_head, rows, cols, wide, 0, kNaN)));
}

TEST(CpuBackendTest, Embedding) {
  CpuBackend backend(2);
  const int64_t vocab = 11, hidden = 13;
  std::vector<float> table = Random(vocab * hidden, 41);
  std::vector<int32_t> ids = {3, 0, 10, 3, 7};
  std::vector<float> out(ids.size() * hidden, -1.0f);
  backend.Embedding(View(table, vocab, hidden), Column(ids), View(out, ids.size(), hidden));
  for (size_t t = 0; t < ids.size(); ++t) {
    for (int64_t i = 0; i < hidden; ++i) {
      EXPECT_EQ(out[t * hidden + i], table[ids[t] * hidden + i]) << "token " << t;
    }
  }
}

// Tables of arbitrary angles: the op must use them, not recompute.
struct RopeTables {
  std::vector<float> cos, sin;
  RopeTables(int64_t max_positions, int64_t half, uint32_t seed) {
    const std::vector<float> angles = Random(max_positions * half, seed, -3.14f, 3.14f);
    for (float a : angles) {
      cos.push_back(std::cos(a));
      sin.push_back(std::sin(a));
    }
  }
};

TEST(CpuBackendTest, Rope) {
  CpuBackend backend(2);
  struct Case {
    int64_t rows, heads, head_dim;
    std::vector<int32_t> positions;
  };
  const int64_t max_positions = 40;
  for (Case c : {Case{1, 1, 2, {0}}, Case{1, 4, 16, {17}}, Case{3, 2, 12, {5, 6, 7}},
                 Case{4, 3, 10, {0, 39, 1, 20}}, Case{5, 8, 64, {10, 11, 12, 13, 14}}}) {
    SCOPED_TRACE(::testing::Message() << c.rows << " rows, " << c.heads << " heads of " << c.head_dim);
    const int64_t half = c.head_dim / 2, cols = c.heads * c.head_dim;
    RopeTables tables(max_positions, half, 51);
    std::vector<float> x = Random(c.rows * cols, 52, -2.0f, 2.0f);
    const std::vector<float> original = x;
    backend.Rope(View(x, c.rows, cols), c.head_dim, Column(c.positions), View(tables.cos, max_positions, half),
                 View(tables.sin, max_positions, half));
    for (int64_t t = 0; t < c.rows; ++t) {
      for (int64_t h = 0; h < c.heads; ++h) {
        for (int64_t i = 0; i < half; ++i) {
          const int64_t at = t * cols + h * c.head_dim + i;
          const double a = original[at], b = original[at + half];
          const double co = tables.cos[c.positions[t] * half + i], si = tables.sin[c.positions[t] * half + i];
          const double bound = kRelative * (std::abs(a) + std::abs(b)) + 1e-30;
          ASSERT_NEAR(x[at], a * co - b * si, bound) << "t=" << t << " h=" << h << " i=" << i;
          ASSERT_NEAR(x[at + half], b * co + a * si, bound) << "t=" << t << " h=" << h << " i=" << i;
        }
      }
    }
  }
}

TEST(CpuBackendTest, RopeAtPositionZeroIsIdentity) {
  CpuBackend backend(1);
  const int64_t head_dim = 8, half = 4;
  std::vector<float> cos(2 * half, 1.0f), sin(2 * half, 0.0f);
  std::vector<float> x = Random(2 * head_dim, 61);
  const std::vector<float> original = x;
  std::vector<int32_t> positions = {0};
  backend.Rope(View(x, 1, 2 * head_dim), head_dim, Column(positions), View(cos, 2, half), View(sin, 2, half));
  EXPECT_EQ(x, original);
}

TEST(CpuBackendTest, RopeStridedEqualsDenseAndLeavesOtherColumnsAlone) {
  // q as columns [5, 5 + cols) of a wider row (a fused qkv projection).
  CpuBackend backend(2);
  const int64_t rows = 4, heads = 3, head_dim = 10, half = 5, cols = heads * head_dim, wide = cols + 17;
  RopeTables tables(20, half, 62);
  std::vector<int32_t> positions = {3, 19, 0, 7};
  std::vector<float> dense = Random(rows * cols, 63, -2.0f, 2.0f);
  std::vector<float> fused = Widen(dense, rows, cols, wide, 5, 42.0f);
  backend.Rope(View(dense, rows, cols), head_dim, Column(positions), View(tables.cos, 20, half),
               View(tables.sin, 20, half));
  backend.Rope(View(fused, rows, wide).Cols(5, cols), head_dim, Column(positions), View(tables.cos, 20, half),
               View(tables.sin, 20, half));
  EXPECT_TRUE(SameBits(fused, Widen(dense, rows, cols, wide, 5, 42.0f)));
}

// --- KV cache and attention --------------------------------------------------

struct AttentionCase {
  int64_t heads, kv_heads, head_dim, start, n;
};

// Reference causal attention for query row t (position start + t) over the
// sequence's keys and values in order ([tokens, kv_cols]).
std::vector<double> ReferenceAttention(const std::vector<float>& q, const std::vector<float>& keys,
                                       const std::vector<float>& values, const AttentionCase& c, int64_t t) {
  const int64_t kv_cols = c.kv_heads * c.head_dim, q_cols = c.heads * c.head_dim;
  const int64_t group = c.heads / c.kv_heads;
  const int64_t visible = c.start + t + 1;
  std::vector<double> out(q_cols, 0.0);
  for (int64_t h = 0; h < c.heads; ++h) {
    const int64_t kv = h / group;  // HF repeat_kv: query head h reads kv head h // (heads / kv_heads)
    std::vector<double> scores(visible);
    double max_score = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < visible; ++j) {
      double dot = 0;
      for (int64_t i = 0; i < c.head_dim; ++i) {
        dot += static_cast<double>(q[t * q_cols + h * c.head_dim + i]) * keys[j * kv_cols + kv * c.head_dim + i];
      }
      scores[j] = dot / std::sqrt(static_cast<double>(c.head_dim));
      max_score = std::max(max_score, scores[j]);
    }
    double total = 0;
    for (double& s : scores) total += (s = std::exp(s - max_score));
    for (int64_t j = 0; j < visible; ++j) {
      for (int64_t i = 0; i < c.head_dim; ++i) {
        out[h * c.head_dim + i] += scores[j] / total * values[j * kv_cols + kv * c.head_dim + i];
      }
    }
  }
  return out;
}

// A paged KV cache in host memory, addressed as backend.h spells it out.
// Every entry starts as NaN, so an attention output that read a row never
// written (the future, another layer, a page not in the table) is NaN.
struct PagedCache {
  int64_t pages, layers, page_tokens, kv_dim;
  std::vector<float> storage;

  PagedCache(int64_t pages, int64_t layers, int64_t page_tokens, int64_t kv_dim)
      : pages(pages), layers(layers), page_tokens(page_tokens), kv_dim(kv_dim),
        storage(pages * layers * 2 * page_tokens * kv_dim, kNaN) {}

  KvCacheLayout layout() { return {storage.data(), DType::kFloat32, layers, page_tokens, kv_dim}; }
  // which: 0 keys, 1 values.
  const float* Row(int64_t page, int64_t layer, int which, int64_t row) const {
    return storage.data() + (((page * layers + layer) * 2 + which) * page_tokens + row) * kv_dim;
  }
};

// `count` distinct pages of [0, pool) in a shuffled order.
std::vector<int32_t> ShuffledPages(int64_t pool, int64_t count, uint32_t seed) {
  std::vector<int32_t> pages(pool);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), std::mt19937(seed));
  pages.resize(count);
  return pages;
}

// WriteKv destinations of positions [start, start + n) of the sequence whose
// page table is `table`.
std::vector<int32_t> Destinations(const std::vector<int32_t>& table, int64_t page_tokens, int64_t start, int64_t n) {
  std::vector<int32_t> out;
  for (int64_t p = start; p < start + n; ++p) {
    out.push_back(static_cast<int32_t>(table[p / page_tokens] * page_tokens + p % page_tokens));
  }
  return out;
}

int64_t PagesFor(int64_t tokens, int64_t page_tokens) { return (tokens + page_tokens - 1) / page_tokens; }

// Attention scratch of AttentionScratchBytes, followed by a guard of NaN
// that no op may touch.
struct Scratch {
  static constexpr size_t kGuard = 64;
  std::vector<float> floats;
  size_t used;
  Scratch(const CpuBackend& backend, const AttentionShape& shape, int64_t rows, int64_t max_seq_len)
      : used(backend.AttentionScratchBytes(shape, rows, max_seq_len) / sizeof(float)) {
    floats.assign(used + kGuard, kNaN);
  }
  Tensor tensor() { return Tensor{floats.data(), DType::kFloat32, 1, static_cast<int64_t>(used)}; }
  bool GuardIntact() const {
    return std::all_of(floats.begin() + used, floats.end(), [](float x) { return std::isnan(x); });
  }
};

TEST(CpuBackendTest, PagedWriteKvAndCausalGqaPrefillAttention) {
  CpuBackend backend(4);
  uint32_t seed = 200;
  for (const AttentionCase& c : {AttentionCase{1, 1, 4, 0, 1}, AttentionCase{4, 4, 8, 0, 5},
                                 AttentionCase{8, 2, 16, 0, 7}, AttentionCase{8, 2, 16, 9, 4},
                                 AttentionCase{4, 1, 12, 20, 1}, AttentionCase{12, 3, 10, 13, 11},
                                 AttentionCase{8, 2, 16, 30, 18}}) {
    for (int64_t page_tokens : {4, 5, 64}) {
      SCOPED_TRACE(::testing::Message() << c.heads << "/" << c.kv_heads << " heads of " << c.head_dim << ", start "
                                        << c.start << ", " << c.n << " queries, pages of " << page_tokens);
      ASSERT_EQ(c.heads / c.kv_heads * c.kv_heads, c.heads);
      const int64_t kv_cols = c.kv_heads * c.head_dim, q_cols = c.heads * c.head_dim;
      const int64_t tokens = c.start + c.n, layers = 3, layer = 1;
      const int64_t used_pages = PagesFor(tokens, page_tokens);
      // A pool with spare pages, the sequence's pages in shuffled order.
      PagedCache cache(used_pages + 3, layers, page_tokens, kv_cols);
      std::vector<int32_t> table = ShuffledPages(cache.pages, used_pages, seed++);

      // The sequence's keys and values in order; earlier tokens written in
      // one call, then the new ones at `start`.
      std::vector<float> keys = Random(tokens * kv_cols, seed++, -2.0f, 2.0f), values = Random(tokens * kv_cols, seed++);
      if (c.start > 0) {
        std::vector<int32_t> old = Destinations(table, page_tokens, 0, c.start);
        backend.WriteKv(View(keys, tokens, kv_cols).Rows(0, c.start), View(values, tokens, kv_cols).Rows(0, c.start),
                        cache.layout(), layer, Column(old));
      }
      std::vector<int32_t> fresh = Destinations(table, page_tokens, c.start, c.n);
      backend.WriteKv(View(keys, tokens, kv_cols).Rows(c.start, c.n), View(values, tokens, kv_cols).Rows(c.start, c.n),
                      cache.layout(), layer, Column(fresh));
      // Token t is at page table[t / page_tokens], row t % page_tokens of
      // `layer`; everything else is untouched.
      for (int64_t page = 0; page < cache.pages; ++page) {
        const auto in_table = std::find(table.begin(), table.end(), page);
        for (int64_t l = 0; l < layers; ++l) {
          for (int64_t row = 0; row < page_tokens; ++row) {
            const int64_t token = in_table == table.end() ? -1 : (in_table - table.begin()) * page_tokens + row;
            const bool written = l == layer && token >= 0 && token < tokens;
            for (int which = 0; which < 2; ++which) {
              const float* got = cache.Row(page, l, which, row);
              const std::vector<float>& want = which == 0 ? keys : values;
              for (int64_t i = 0; i < kv_cols; ++i) {
                if (written) {
                  ASSERT_EQ(got[i], want[token * kv_cols + i]) << "token " << token;
                } else {
                  ASSERT_TRUE(std::isnan(got[i])) << "page " << page << " layer " << l << " row " << row << " written";
                }
              }
            }
          }
        }
      }

      const AttentionShape shape{c.heads, c.kv_heads, c.head_dim};
      std::vector<float> q = Random(c.n * q_cols, seed++, -2.0f, 2.0f);
      Scratch scratch(backend, shape, c.n, tokens);
      std::vector<float> out(c.n * q_cols, kNaN);
      backend.PrefillAttention(View(q, c.n, q_cols), cache.layout(), layer, Ints(table, 1, used_pages), c.start,
                               shape, scratch.tensor(), View(out, c.n, q_cols));
      EXPECT_TRUE(scratch.GuardIntact());
      for (int64_t t = 0; t < c.n; ++t) {
        const std::vector<double> ref = ReferenceAttention(q, keys, values, c, t);
        for (int64_t i = 0; i < q_cols; ++i) {
          // A convex combination of values in [-1, 1].
          ASSERT_NEAR(out[t * q_cols + i], ref[i], kRelative) << "query " << t << " feature " << i;
        }
      }
    }
  }
}

TEST(CpuBackendTest, AttentionOfOneKeyReturnsItsValue) {
  CpuBackend backend(1);
  const int64_t heads = 4, kv_heads = 2, d = 3, kv_cols = kv_heads * d;
  PagedCache cache(2, 1, 2, kv_cols);
  std::vector<int32_t> table = {1}, destination = {2};  // page 1, row 0
  std::vector<float> key = Random(kv_cols, 71), value = Random(kv_cols, 72);
  backend.WriteKv(View(key, 1, kv_cols), View(value, 1, kv_cols), cache.layout(), 0, Column(destination));
  const AttentionShape shape{heads, kv_heads, d};
  std::vector<float> q = Random(heads * d, 73), out(heads * d);
  Scratch scratch(backend, shape, 1, 1);
  backend.PrefillAttention(View(q, 1, heads * d), cache.layout(), 0, Ints(table, 1, 1), 0, shape, scratch.tensor(),
                           View(out, 1, heads * d));
  // Heads 0, 1 read kv head 0; heads 2, 3 read kv head 1.
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < d; ++i) EXPECT_EQ(out[h * d + i], value[(h / 2) * d + i]) << "head " << h;
  }
}

// One sequence of `tokens` keys and values written through `table`.
void WriteSequence(CpuBackend& backend, PagedCache& cache, int64_t layer, std::vector<int32_t>& table,
                   std::vector<float>& keys, std::vector<float>& values, int64_t tokens) {
  std::vector<int32_t> destinations = Destinations(table, cache.page_tokens, 0, tokens);
  backend.WriteKv(View(keys, tokens, cache.kv_dim), View(values, tokens, cache.kv_dim), cache.layout(), layer,
                  Column(destinations));
}

TEST(CpuBackendTest, AttentionChunkedEqualsOneShot) {
  // A prompt processed in two chunks attends exactly as in one.
  CpuBackend backend(4);
  const int64_t heads = 8, kv_heads = 2, d = 16, n = 10, page_tokens = 4;
  const int64_t kv_cols = kv_heads * d, q_cols = heads * d;
  const AttentionShape shape{heads, kv_heads, d};
  PagedCache cache(5, 1, page_tokens, kv_cols);
  std::vector<int32_t> table = ShuffledPages(5, 3, 80);
  std::vector<float> k = Random(n * kv_cols, 81), v = Random(n * kv_cols, 82), q = Random(n * q_cols, 83);
  WriteSequence(backend, cache, 0, table, k, v, n);
  Scratch scratch(backend, shape, n, n);
  std::vector<float> whole(n * q_cols);
  backend.PrefillAttention(View(q, n, q_cols), cache.layout(), 0, Ints(table, 1, 3), 0, shape, scratch.tensor(),
                           View(whole, n, q_cols));
  std::vector<float> parts(n * q_cols);
  const int64_t split = 6;
  backend.PrefillAttention(View(q, n, q_cols).Rows(0, split), cache.layout(), 0, Ints(table, 1, 3), 0, shape,
                           scratch.tensor(), View(parts, n, q_cols).Rows(0, split));
  backend.PrefillAttention(View(q, n, q_cols).Rows(split, n - split), cache.layout(), 0, Ints(table, 1, 3), split,
                           shape, scratch.tensor(), View(parts, n, q_cols).Rows(split, n - split));
  EXPECT_TRUE(SameBits(whole, parts));
  EXPECT_TRUE(scratch.GuardIntact());
}

TEST(CpuBackendTest, SmallShuffledPagesEqualOneBigPage) {
  // Paging changes where keys live, not the order they are summed in.
  CpuBackend backend(3);
  const int64_t heads = 6, kv_heads = 3, d = 12, tokens = 23, n = 9, start = tokens - n;
  const int64_t kv_cols = kv_heads * d, q_cols = heads * d;
  const AttentionShape shape{heads, kv_heads, d};
  std::vector<float> k = Random(tokens * kv_cols, 84), v = Random(tokens * kv_cols, 85);
  std::vector<float> q = Random(n * q_cols, 86, -3.0f, 3.0f);

  PagedCache big(1, 2, 32, kv_cols);
  std::vector<int32_t> one_page = {0};
  WriteSequence(backend, big, 1, one_page, k, v, tokens);
  PagedCache small(11, 2, 4, kv_cols);
  std::vector<int32_t> shuffled = ShuffledPages(11, PagesFor(tokens, 4), 87);
  ASSERT_FALSE(std::is_sorted(shuffled.begin(), shuffled.end()));
  WriteSequence(backend, small, 1, shuffled, k, v, tokens);

  Scratch scratch(backend, shape, n, tokens);
  std::vector<float> from_big(n * q_cols), from_small(n * q_cols);
  backend.PrefillAttention(View(q, n, q_cols), big.layout(), 1, Ints(one_page, 1, 1), start, shape,
                           scratch.tensor(), View(from_big, n, q_cols));
  backend.PrefillAttention(View(q, n, q_cols), small.layout(), 1, Ints(shuffled, 1, shuffled.size()), start, shape,
                           scratch.tensor(), View(from_small, n, q_cols));
  EXPECT_TRUE(SameBits(from_big, from_small));
  for (float x : from_small) ASSERT_FALSE(std::isnan(x));
}

TEST(CpuBackendTest, StridedQkvEqualsDenseCopies) {
  // q, k and v as column ranges of one fused projection, through Rope,
  // WriteKv and PrefillAttention, against the same steps on dense copies.
  CpuBackend backend(4);
  const int64_t heads = 8, kv_heads = 2, d = 10, half = 5, n = 7, start = 5, tokens = start + n;
  const int64_t q_cols = heads * d, kv_cols = kv_heads * d, wide = q_cols + 2 * kv_cols;
  const AttentionShape shape{heads, kv_heads, d};
  RopeTables rope(tokens, half, 90);
  std::vector<int32_t> positions(n);
  std::iota(positions.begin(), positions.end(), static_cast<int32_t>(start));
  std::vector<int32_t> table = ShuffledPages(6, PagesFor(tokens, 4), 91);
  std::vector<int32_t> destinations = Destinations(table, 4, start, n);
  std::vector<float> earlier_k = Random(start * kv_cols, 92), earlier_v = Random(start * kv_cols, 93);

  std::vector<float> q = Random(n * q_cols, 94, -2.0f, 2.0f), k = Random(n * kv_cols, 95, -2.0f, 2.0f),
                     v = Random(n * kv_cols, 96);
  std::vector<float> fused = Widen(q, n, q_cols, wide, 0, kNaN);
  for (int64_t t = 0; t < n; ++t) {
    std::copy(k.begin() + t * kv_cols, k.begin() + (t + 1) * kv_cols, fused.begin() + t * wide + q_cols);
    std::copy(v.begin() + t * kv_cols, v.begin() + (t + 1) * kv_cols, fused.begin() + t * wide + q_cols + kv_cols);
  }
  const Tensor qkv = View(fused, n, wide);

  auto run = [&](const Tensor& tq, const Tensor& tk, const Tensor& tv, PagedCache& cache, std::vector<float>& out) {
    WriteSequence(backend, cache, 0, table, earlier_k, earlier_v, start);
    backend.Rope(tq, d, Column(positions), View(rope.cos, tokens, half), View(rope.sin, tokens, half));
    backend.Rope(tk, d, Column(positions), View(rope.cos, tokens, half), View(rope.sin, tokens, half));
    backend.WriteKv(tk, tv, cache.layout(), 0, Column(destinations));
    Scratch scratch(backend, shape, n, tokens);
    backend.PrefillAttention(tq, cache.layout(), 0, Ints(table, 1, table.size()), start, shape, scratch.tensor(),
                             View(out, n, q_cols));
    EXPECT_TRUE(scratch.GuardIntact());
  };
  PagedCache dense_cache(6, 1, 4, kv_cols), strided_cache(6, 1, 4, kv_cols);
  std::vector<float> dense_out(n * q_cols), strided_out(n * q_cols);
  run(View(q, n, q_cols), View(k, n, kv_cols), View(v, n, kv_cols), dense_cache, dense_out);
  run(qkv.Cols(0, q_cols), qkv.Cols(q_cols, kv_cols), qkv.Cols(q_cols + kv_cols, kv_cols), strided_cache,
      strided_out);
  EXPECT_TRUE(SameBits(dense_out, strided_out));
  // NaN == NaN bitwise here: both caches hold the same quiet NaN where unwritten.
  EXPECT_TRUE(SameBits(dense_cache.storage, strided_cache.storage));
  for (float x : dense_out) ASSERT_FALSE(std::isnan(x));
  // The rotated q and k landed in their columns of the fused buffer.
  std::vector<float> rotated = Widen(q, n, q_cols, wide, 0, kNaN);
  for (int64_t t = 0; t < n; ++t) {
    std::copy(k.begin() + t * kv_cols, k.begin() + (t + 1) * kv_cols, rotated.begin() + t * wide + q_cols);
    std::copy(v.begin() + t * kv_cols, v.begin() + (t + 1) * kv_cols, rotated.begin() + t * wide + q_cols + kv_cols);
  }
  EXPECT_TRUE(SameBits(fused, rotated));
}

TEST(CpuBackendTest, DecodeAttentionEqualsLastPrefillRow) {
  // Three sequences of different lengths in one pool of 4-token pages, each
  // with its own shuffled pages; one query row each (strided, as from a fused
  // qkv). Unused page-table entries name a page that is all NaN.
  CpuBackend backend(4);
  const int64_t heads = 8, kv_heads = 2, d = 16, page_tokens = 4, layers = 2, layer = 1;
  const int64_t q_cols = heads * d, kv_cols = kv_heads * d, max_seq_len = 16;
  const int64_t max_pages = max_seq_len / page_tokens;
  const AttentionShape shape{heads, kv_heads, d};
  std::vector<int32_t> seq_lens = {1, 7, 13};
  const int64_t batch = static_cast<int64_t>(seq_lens.size());
  PagedCache cache(1 + batch * max_pages, layers, page_tokens, kv_cols);
  const int32_t never_written = 0;
  // Pages 1.. shuffled and dealt out to the sequences.
  std::vector<int32_t> pool = ShuffledPages(cache.pages - 1, cache.pages - 1, 100);
  for (int32_t& p : pool) ++p;
  std::vector<int32_t> page_tables(batch * max_pages, never_written);
  std::vector<std::vector<float>> keys(batch), values(batch);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int32_t> table(pool.begin() + b * max_pages,
                               pool.begin() + b * max_pages + PagesFor(seq_lens[b], page_tokens));
    std::copy(table.begin(), table.end(), page_tables.begin() + b * max_pages);
    keys[b] = Random(seq_lens[b] * kv_cols, 101 + b, -2.0f, 2.0f);
    values[b] = Random(seq_lens[b] * kv_cols, 111 + b);
    WriteSequence(backend, cache, layer, table, keys[b], values[b], seq_lens[b]);
  }
  std::vector<float> q = Random(batch * q_cols, 120, -2.0f, 2.0f);
  std::vector<float> fused = Widen(q, batch, q_cols, q_cols + 2 * kv_cols, 0, kNaN);
  const Tensor strided_q = View(fused, batch, q_cols + 2 * kv_cols).Cols(0, q_cols);

  Scratch scratch(backend, shape, batch, max_seq_len);
  std::vector<float> out(batch * q_cols, kNaN);
  backend.DecodeAttention(strided_q, cache.layout(), layer, Ints(page_tables, batch, max_pages), Column(seq_lens),
                          max_seq_len, shape, scratch.tensor(), View(out, batch, q_cols));
  EXPECT_TRUE(scratch.GuardIntact());

  for (int64_t b = 0; b < batch; ++b) {
    SCOPED_TRACE(::testing::Message() << "row " << b << ", " << seq_lens[b] << " keys");
    const int64_t position = seq_lens[b] - 1;
    std::vector<float> row(q_cols, kNaN);
    Scratch prefill_scratch(backend, shape, 1, seq_lens[b]);
    backend.PrefillAttention(strided_q.Rows(b, 1), cache.layout(), layer,
                             Ints(page_tables, batch, max_pages).Rows(b, 1), position, shape,
                             prefill_scratch.tensor(), View(row, 1, q_cols));
    EXPECT_TRUE(SameBits(std::vector<float>(out.begin() + b * q_cols, out.begin() + (b + 1) * q_cols), row));
    // And both are attention: against the double reference.
    const std::vector<float> q_row(q.begin() + b * q_cols, q.begin() + (b + 1) * q_cols);
    const std::vector<double> ref =
        ReferenceAttention(q_row, keys[b], values[b], AttentionCase{heads, kv_heads, d, position, 1}, 0);
    for (int64_t i = 0; i < q_cols; ++i) ASSERT_NEAR(out[b * q_cols + i], ref[i], kRelative) << "feature " << i;
  }
}

TEST(CpuBackendTest, DecodeAttentionDoesNotDependOnThreadCount) {
  const int64_t heads = 4, kv_heads = 4, d = 8, page_tokens = 3, max_seq_len = 9;
  const int64_t q_cols = heads * d, kv_cols = kv_heads * d;
  const AttentionShape shape{heads, kv_heads, d};
  std::vector<int32_t> seq_lens = {9, 2, 5, 1, 8};
  const int64_t batch = static_cast<int64_t>(seq_lens.size()), max_pages = max_seq_len / page_tokens;
  PagedCache cache(batch * max_pages, 1, page_tokens, kv_cols);
  std::vector<int32_t> page_tables = ShuffledPages(cache.pages, cache.pages, 130);
  std::vector<float> all = Random(cache.storage.size(), 131);
  cache.storage = all;  // every row holds data: the page tables alone decide
  std::vector<float> q = Random(batch * q_cols, 132);
  std::vector<std::vector<float>> outs;
  for (int threads : {1, 2, 3, 7}) {
    CpuBackend backend(threads);
    Scratch scratch(backend, shape, batch, max_seq_len);
    outs.emplace_back(batch * q_cols);
    backend.DecodeAttention(View(q, batch, q_cols), cache.layout(), 0, Ints(page_tables, batch, max_pages),
                            Column(seq_lens), max_seq_len, shape, scratch.tensor(), View(outs.back(), batch, q_cols));
    EXPECT_TRUE(scratch.GuardIntact()) << threads << " threads";
  }
  for (size_t i = 1; i < outs.size(); ++i) EXPECT_TRUE(SameBits(outs[0], outs[i])) << i;
}
// --- Upload / Download --------------------------------------------------------

// IEEE half decoded arithmetically, independent of common/float16.h.
double HalfValue(uint16_t bits) {
  const int sign = bits >> 15, exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  double magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -24);
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else {
    magnitude = std::ldexp(1024 + mantissa, exponent - 25);
  }
  return sign ? -magnitude : magnitude;
}

// bfloat16 decoded arithmetically.
double BFloat16Value(uint16_t bits) {
  const int sign = bits >> 15, exponent = (bits >> 7) & 0xff, mantissa = bits & 0x7f;
  double magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -133);
  } else if (exponent == 255) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else {
    magnitude = std::ldexp(128 + mantissa, exponent - 134);
  }
  return sign ? -magnitude : magnitude;
}

void ExpectSameValue(float got, double want, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what;
  } else {
    EXPECT_EQ(static_cast<double>(got), want) << what;
    EXPECT_EQ(std::signbit(got), std::signbit(want)) << what;
  }
}

std::vector<std::byte> AsBytes(const std::vector<uint16_t>& bits) {
  std::vector<std::byte> bytes(bits.size() * 2);
  for (size_t i = 0; i < bits.size(); ++i) {
    bytes[2 * i] = std::byte(bits[i] & 0xff);  // little-endian, as safetensors stores them
    bytes[2 * i + 1] = std::byte(bits[i] >> 8);
  }
  return bytes;
}

TEST(CpuBackendTest, UploadFloat16EveryValue) {
  CpuBackend backend(4);
  // All 65536 bit patterns: normals, subnormals, zeros, infinities, NaNs.
  std::vector<uint16_t> bits(65536);
  for (uint32_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<uint16_t>(i);
  const std::vector<std::byte> bytes = AsBytes(bits);
  std::vector<float> out(bits.size());
  backend.Upload(bytes, DType::kFloat16, View(out, 256, 256));
  for (uint32_t i = 0; i < bits.size(); ++i) ExpectSameValue(out[i], HalfValue(bits[i]), "half bits " + std::to_string(i));
  EXPECT_EQ(out[0x3c00], 1.0f);
  EXPECT_EQ(out[0x7bff], 65504.0f);
  EXPECT_EQ(out[0x0001], std::ldexp(1.0f, -24));
}

TEST(CpuBackendTest, UploadBFloat16EveryValue) {
  CpuBackend backend(4);
  std::vector<uint16_t> bits(65536);
  for (uint32_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<uint16_t>(i);
  const std::vector<std::byte> bytes = AsBytes(bits);
  std::vector<float> out(bits.size());
  backend.Upload(bytes, DType::kBFloat16, View(out, 65536, 1));
  for (uint32_t i = 0; i < bits.size(); ++i) {
    ExpectSameValue(out[i], BFloat16Value(bits[i]), "bfloat16 bits " + std::to_string(i));
  }
  EXPECT_EQ(out[0x3f80], 1.0f);
  EXPECT_EQ(out[0xc000], -2.0f);
}

TEST(CpuBackendTest, UploadOddSizesAndFloat32) {
  CpuBackend backend(3);
  for (int64_t count : {1, 7, 37, 1001}) {
    SCOPED_TRACE(count);
    std::vector<float> values = Random(count, 91, -100.0f, 100.0f);
    // f32: bytes copied as they are.
    std::vector<std::byte> raw(count * 4);
    std::memcpy(raw.data(), values.data(), raw.size());
    std::vector<float> out(count, -1.0f);
    backend.Upload(raw, DType::kFloat32, View(out, 1, count));
    EXPECT_EQ(out, values);
    // f16 / bf16 of the rounded values decode to those values.
    std::vector<uint16_t> half(count), brain(count);
    for (int64_t i = 0; i < count; ++i) {
      half[i] = FloatToFloat16(values[i]);
      brain[i] = FloatToBFloat16(values[i]);
    }
    backend.Upload(AsBytes(half), DType::kFloat16, View(out, count, 1));
    for (int64_t i = 0; i < count; ++i) {
      ExpectSameValue(out[i], HalfValue(half[i]), "half");
      EXPECT_NEAR(out[i], values[i], std::abs(values[i]) / 1024.0);
    }
    backend.Upload(AsBytes(brain), DType::kBFloat16, View(out, count, 1));
    for (int64_t i = 0; i < count; ++i) {
      ExpectSameValue(out[i], BFloat16Value(brain[i]), "bfloat16");
      EXPECT_NEAR(out[i], values[i], std::abs(values[i]) / 128.0);
    }
  }
}


TEST(CpuBackendTest, Download) {
  CpuBackend backend(1);
  std::vector<float> device = Random(24, 95), host(24, 0.0f);
  backend.Download(View(device, 4, 6), host);
  EXPECT_EQ(host, device);
  // A row of it.
  std::vector<float> row(6);
  backend.Download(View(device, 4, 6).Rows(2, 1), row);
  EXPECT_EQ(row, std::vector<float>(device.begin() + 12, device.begin() + 18));
  // Columns [1, 4) of every row: strided, gathered densely.
  std::vector<float> columns(12, 0.0f);
  backend.Download(View(device, 4, 6).Cols(1, 3), columns);
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(columns[r * 3 + i], device[r * 6 + 1 + i]) << r << ", " << i;
  }
}

std::span<const std::byte> Bytes(const std::vector<int32_t>& v) { return std::as_bytes(std::span(v)); }

TEST(CpuBackendTest, UploadAndCopyToHostOfInt32) {
  CpuBackend backend(2);
  // Values whose bytes all differ, negatives and extremes included: a
  // conversion through float would change some of them.
  const std::vector<int32_t> values = {0, -1, 16777217, std::numeric_limits<int32_t>::max(),
                                       std::numeric_limits<int32_t>::min(), 123456789, 7};
  std::vector<int32_t> device(values.size(), 99);
  backend.Upload(Bytes(values), DType::kInt32, Column(device));
  EXPECT_EQ(device, values);
  std::vector<int32_t> host(values.size(), 99);
  backend.CopyToHost(Column(device), std::as_writable_bytes(std::span(host)));
  EXPECT_EQ(host, values);
  // Float32 bytes come back as they are too, NaN payloads included.
  std::vector<float> floats = {1.5f, -0.0f, kInf, std::bit_cast<float>(0x7fc01234u)};
  std::vector<float> copy(floats.size());
  backend.CopyToHost(View(floats, 2, 2), std::as_writable_bytes(std::span(copy)));
  EXPECT_TRUE(SameBits(copy, floats));
}

TEST(CpuBackendDeathTest, UploadOfFloatsIntoInt32Aborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<float> source = {1.0f, 2.0f};
  std::vector<int32_t> dst(2);
  EXPECT_DEATH(
      {
        CpuBackend backend(1);
        backend.Upload(std::as_bytes(std::span(source)), DType::kFloat32, Column(dst));
      },
      "int32 tensors take int32 sources only");
}

// --- Record / Replay ----------------------------------------------------------

TEST(CpuBackendTest, RecordRunsNothingAndReplayRerunsWithCurrentContents) {
  // A decode step in miniature: embed the ids, project to logits, sample.
  // Between replays the engine only rewrites the input tensors.
  CpuBackend backend(3);
  const int64_t vocab = 17, hidden = 9, batch = 2;
  std::vector<float> table = Random(vocab * hidden, 140), head = Random(vocab * hidden, 141, -3.0f, 3.0f);
  std::vector<int32_t> ids = {3, 11};
  std::vector<SamplingRow> rows = {{.temperature = 0}, {.temperature = 1.0f, .uniform = 0.5f}};
  std::vector<int32_t> params(batch * 4);
  std::memcpy(params.data(), rows.data(), params.size() * sizeof(int32_t));
  std::vector<float> x(batch * hidden, kNaN), logits(batch * vocab, kNaN);
  std::vector<int32_t> chosen(batch, -7);

  const std::unique_ptr<OpGraph> graph = backend.Record([&] {
    backend.Embedding(View(table, vocab, hidden), Column(ids), View(x, batch, hidden));
    backend.MatMul(View(x, batch, hidden), View(head, vocab, hidden), View(logits, batch, vocab));
    backend.Sample(View(logits, batch, vocab), Ints(params, batch, 4), Tensor{}, Column(chosen));
  });
  ASSERT_NE(graph, nullptr);
  for (float v : x) EXPECT_TRUE(std::isnan(v)) << "Record ran the ops";
  EXPECT_EQ(chosen, std::vector<int32_t>(batch, -7));

  // What the step must produce, computed with the same ops issued directly.
  auto expected = [&](std::vector<int32_t> step_ids, std::vector<int32_t> step_params) {
    std::vector<float> ex(batch * hidden), el(batch * vocab);
    std::vector<int32_t> ec(batch, -7);
    backend.Embedding(View(table, vocab, hidden), Column(step_ids), View(ex, batch, hidden));
    backend.MatMul(View(ex, batch, hidden), View(head, vocab, hidden), View(el, batch, vocab));
    backend.Sample(View(el, batch, vocab), Ints(step_params, batch, 4), Tensor{}, Column(ec));
    return std::make_pair(el, ec);
  };

  graph->Replay();
  auto [logits_a, chosen_a] = expected(ids, params);
  EXPECT_TRUE(SameBits(logits, logits_a));
  EXPECT_EQ(chosen, chosen_a);

  // New ids and a new draw, uploaded into the same tensors.
  const std::vector<int32_t> next_ids = {16, 0};
  backend.Upload(Bytes(next_ids), DType::kInt32, Column(ids));
  rows[1].uniform = 0.999f;
  std::vector<int32_t> next_params(batch * 4);
  std::memcpy(next_params.data(), rows.data(), next_params.size() * sizeof(int32_t));
  backend.Upload(Bytes(next_params), DType::kInt32, Ints(params, batch, 4));
  graph->Replay();
  auto [logits_b, chosen_b] = expected(next_ids, next_params);
  EXPECT_TRUE(SameBits(logits, logits_b));
  EXPECT_EQ(chosen, chosen_b);
  EXPECT_FALSE(SameBits(logits_a, logits_b)) << "the second replay must see the new ids";
  // Row 0 is greedy: the argmax of its logits.
  EXPECT_EQ(chosen[0], std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin());
}

// --- Streaming: host memory, the copy queue, events -----------------------------

// Host memory from the backend, freed with it.
class HostBuffer {
 public:
  HostBuffer(Backend& backend, uint64_t bytes) : backend_(backend), bytes_(bytes) {
    absl::StatusOr<std::byte*> memory = backend.AllocateHostMemory(bytes);
    EXPECT_TRUE(memory.ok()) << memory.status();
    if (memory.ok()) data_ = *memory;
  }
  ~HostBuffer() { backend_.FreeHostMemory(data_, bytes_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  std::byte* data() const { return data_; }
  float* floats() const { return reinterpret_cast<float*>(data_); }

 private:
  Backend& backend_;
  std::byte* data_ = nullptr;
  uint64_t bytes_;
};

// Big enough that a memcpy of it takes milliseconds: a missing wait shows as
// wrong data rather than as a lucky race.
constexpr uint64_t kBigBytes = 64ull << 20;
constexpr int64_t kBigFloats = static_cast<int64_t>(kBigBytes / sizeof(float));

// A value per (index, round) that no other index or round has.
float Pattern(int64_t i, int round) { return static_cast<float>(i % 1000003) + 0.25f * static_cast<float>(round + 1); }

TEST(CpuBackendStreamingTest, HostMemoryIsAlignedAndWritable) {
  CpuBackend backend(1);
  for (uint64_t bytes : {uint64_t{1}, uint64_t{4097}, uint64_t{3} << 20}) {
    absl::StatusOr<std::byte*> memory = backend.AllocateHostMemory(bytes);
    ASSERT_TRUE(memory.ok()) << memory.status();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(*memory) % 4096, 0u) << bytes;
    std::memset(*memory, 0x5a, bytes);
    EXPECT_EQ((*memory)[bytes - 1], std::byte{0x5a});
    backend.FreeHostMemory(*memory, bytes);
  }
}

TEST(CpuBackendStreamingTest, HostMemoryTooLargeIsResourceExhausted) {
  CpuBackend backend(1);
  const absl::StatusOr<std::byte*> memory = backend.AllocateHostMemory(uint64_t{1} << 62);
  ASSERT_FALSE(memory.ok());
  EXPECT_EQ(memory.status().code(), absl::StatusCode::kResourceExhausted) << memory.status();
  // The backend still works.
  HostBuffer small(backend, 64);
  ASSERT_NE(small.data(), nullptr);
}

TEST(CpuBackendStreamingTest, CopiesLandWithTheRightBytes) {
  CpuBackend backend(2);
  const uint64_t bytes = (5ull << 20) + 13;  // not a multiple of anything
  std::vector<std::byte> device(bytes + 2, std::byte{0});
  HostBuffer host(backend, bytes);
  ASSERT_NE(host.data(), nullptr);
  std::mt19937 rng(150);
  for (uint64_t i = 0; i < bytes; ++i) host.data()[i] = std::byte(rng() & 0xff);
  // Three pieces, out of order, at unaligned offsets; the byte after the end
  // must stay untouched.
  const uint64_t a = 1000001, b = 3000017;
  backend.CopyToDevice(host.data() + b, device.data() + 1 + b, bytes - b);
  backend.CopyToDevice(host.data(), device.data() + 1, a);
  backend.CopyToDevice(host.data() + a, device.data() + 1 + a, b - a);
  const std::unique_ptr<QueueEvent> done = backend.CreateEvent();
  backend.RecordEvent(done.get(), Queue::kCopy);
  backend.Synchronize(done.get());
  EXPECT_EQ(device[0], std::byte{0});
  EXPECT_EQ(std::memcmp(device.data() + 1, host.data(), bytes), 0);
  EXPECT_EQ(device[bytes + 1], std::byte{0});
}

TEST(CpuBackendStreamingTest, CopiesToOneDestinationLandInIssueOrder) {
  CpuBackend backend(1);
  // A big copy then a small one over its first bytes, again and again: run
  // out of order, the big one would overwrite the small one. A first copy
  // elsewhere keeps the copy thread busy while both are queued behind it.
  const int64_t big_floats = kBigFloats / 4, small_floats = 1024;
  std::vector<float> device(big_floats, kNaN), elsewhere(big_floats, kNaN);
  HostBuffer big(backend, kBigBytes / 4), small(backend, 4096);
  const std::unique_ptr<QueueEvent> done = backend.CreateEvent();
  for (int round = 0; round < 4; ++round) {
    // The host buffers are rewritten only once the previous round's copies
    // have finished (Synchronize below).
    for (int64_t i = 0; i < big_floats; ++i) big.floats()[i] = Pattern(i, round);
    for (int64_t i = 0; i < small_floats; ++i) small.floats()[i] = -Pattern(i, round);
    backend.CopyToDevice(big.data(), elsewhere.data(), kBigBytes / 4);
    backend.CopyToDevice(big.data(), device.data(), kBigBytes / 4);
    backend.CopyToDevice(small.data(), device.data(), 4096);
    backend.RecordEvent(done.get(), Queue::kCopy);
    backend.Synchronize(done.get());
    for (int64_t i = 0; i < small_floats; ++i) ASSERT_EQ(device[i], -Pattern(i, round)) << "round " << round << " " << i;
    for (int64_t i = small_floats; i < big_floats; ++i) {
      ASSERT_EQ(device[i], Pattern(i, round)) << "round " << round << " " << i;
    }
  }
}

TEST(CpuBackendStreamingTest, ComputeWaitingForACopyEventSeesTheData) {
  CpuBackend backend(2);
  std::vector<float> x(kBigFloats, kNaN), ones(kBigFloats, 1.0f);
  HostBuffer host(backend, kBigBytes);
  for (int64_t i = 0; i < kBigFloats; ++i) host.floats()[i] = Pattern(i, 0);
  const std::unique_ptr<QueueEvent> copied = backend.CreateEvent();
  backend.CopyToDevice(host.data(), x.data(), kBigBytes);
  backend.RecordEvent(copied.get(), Queue::kCopy);
  backend.WaitForEvent(Queue::kCompute, copied.get());
  // Add runs on the compute queue (this thread): without the wait it would
  // read NaN from the part the copy had not reached yet.
  backend.Add(View(x, 1, kBigFloats), View(ones, 1, kBigFloats));
  for (int64_t i = 0; i < kBigFloats; ++i) ASSERT_EQ(x[i], Pattern(i, 0) + 1.0f) << i;
}

TEST(CpuBackendStreamingTest, RecordingAnEventAgainMovesItsPoint) {
  CpuBackend backend(1);
  std::vector<float> first(16, kNaN), second(kBigFloats, kNaN);
  HostBuffer host(backend, kBigBytes);
  for (int64_t i = 0; i < kBigFloats; ++i) host.floats()[i] = Pattern(i, 1);
  const std::unique_ptr<QueueEvent> event = backend.CreateEvent();
  // Never recorded: reached.
  backend.Synchronize(event.get());
  backend.WaitForEvent(Queue::kCompute, event.get());

  backend.CopyToDevice(host.data(), first.data(), 16 * sizeof(float));
  backend.RecordEvent(event.get(), Queue::kCopy);
  backend.Synchronize(event.get());
  for (int64_t i = 0; i < 16; ++i) ASSERT_EQ(first[i], Pattern(i, 1));

  // The same event after a big copy: it now stands after that copy.
  backend.CopyToDevice(host.data(), second.data(), kBigBytes);
  backend.RecordEvent(event.get(), Queue::kCopy);
  backend.Synchronize(event.get());
  for (int64_t i = 0; i < kBigFloats; ++i) ASSERT_EQ(second[i], Pattern(i, 1)) << i;

  // And once more, waited for by compute instead of the host.
  std::fill(second.begin(), second.end(), kNaN);
  backend.CopyToDevice(host.data(), second.data(), kBigBytes);
  backend.RecordEvent(event.get(), Queue::kCopy);
  backend.WaitForEvent(Queue::kCompute, event.get());
  std::vector<float> last(1);
  backend.Download(View(second, 1, kBigFloats).Cols(kBigFloats - 1, 1), last);
  EXPECT_EQ(last[0], Pattern(kBigFloats - 1, 1));
  for (int64_t i = 0; i < kBigFloats; ++i) ASSERT_EQ(second[i], Pattern(i, 1)) << i;

  // Recorded on compute, the event is reached at once, whoever waits.
  backend.RecordEvent(event.get(), Queue::kCompute);
  backend.Synchronize(event.get());
  backend.WaitForEvent(Queue::kCopy, event.get());
  backend.WaitForEvent(Queue::kCompute, event.get());
}

TEST(CpuBackendStreamingTest, RecordedForkAndJoinReplaysWithNewHostData) {
  CpuBackend backend(2);
  // The copy fills a table that Embedding then reads last row first: the
  // rows the copy reaches last are read first, so a missing join shows.
  const int64_t rows = 4096, cols = 1024, n = rows * cols;  // 16 MiB
  std::vector<float> table(n, kNaN), out(n, kNaN);
  std::vector<int32_t> ids(rows);
  for (int64_t t = 0; t < rows; ++t) ids[t] = static_cast<int32_t>(rows - 1 - t);
  HostBuffer host(backend, n * sizeof(float));
  const std::unique_ptr<QueueEvent> fork = backend.CreateEvent(), join = backend.CreateEvent();
  const std::unique_ptr<OpGraph> graph = backend.Record([&] {
    backend.RecordEvent(fork.get(), Queue::kCompute);
    backend.WaitForEvent(Queue::kCopy, fork.get());
    backend.CopyToDevice(host.data(), table.data(), n * sizeof(float));
    backend.RecordEvent(join.get(), Queue::kCopy);
    backend.WaitForEvent(Queue::kCompute, join.get());
    backend.Embedding(View(table, rows, cols), Column(ids), View(out, rows, cols));
  });
  ASSERT_NE(graph, nullptr);
  // Record issued nothing, copies included: once the copy queue is idle,
  // the table is still NaN.
  const std::unique_ptr<QueueEvent> idle = backend.CreateEvent();
  backend.RecordEvent(idle.get(), Queue::kCopy);
  backend.Synchronize(idle.get());
  for (float v : table) ASSERT_TRUE(std::isnan(v)) << "Record ran the ops";

  for (int round = 0; round < 5; ++round) {
    for (int64_t i = 0; i < n; ++i) host.floats()[i] = Pattern(i, round);
    std::fill(table.begin(), table.end(), kNaN);
    std::fill(out.begin(), out.end(), kNaN);
    graph->Replay();
    // Replay ends with compute joined to the copy: out is final now.
    for (int64_t t = 0; t < rows; ++t) {
      for (int64_t c = 0; c < cols; ++c) {
        ASSERT_EQ(out[t * cols + c], Pattern((rows - 1 - t) * cols + c, round)) << "round " << round << " row " << t;
      }
    }
  }
}

// The weight-streaming pattern: blocks of a host array go through two
// device slots in turn while compute consumes them; a slot is refilled only
// after the op that read it (the copy queue waits for the consumer's event).
TEST(CpuBackendStreamingTest, TwoSlotRingEqualsDirectComputation) {
  CpuBackend backend(3);
  const int64_t blocks = 7, m = 2048, k = 1024, n = 3;  // each block a [m, k] weight, 8 MiB
  const uint64_t block_bytes = m * k * sizeof(float);
  std::vector<float> x = Random(n * k, 153);
  std::vector<std::vector<float>> slots(2, std::vector<float>(m * k, kNaN));
  std::vector<float> out(blocks * n * m, kNaN);
  const std::vector<float> weights = Random(blocks * m * k, 152);
  HostBuffer host(backend, blocks * block_bytes);
  std::memcpy(host.data(), weights.data(), blocks * block_bytes);
  std::unique_ptr<QueueEvent> filled[2] = {backend.CreateEvent(), backend.CreateEvent()};
  std::unique_ptr<QueueEvent> consumed[2] = {backend.CreateEvent(), backend.CreateEvent()};

  auto issue_block = [&](int64_t b) {
    const int s = static_cast<int>(b % 2);
    backend.WaitForEvent(Queue::kCopy, consumed[s].get());
    backend.CopyToDevice(host.data() + b * block_bytes, slots[s].data(), block_bytes);
    backend.RecordEvent(filled[s].get(), Queue::kCopy);
  };
  issue_block(0);
  issue_block(1);
  for (int64_t b = 0; b < blocks; ++b) {
    const int s = static_cast<int>(b % 2);
    backend.WaitForEvent(Queue::kCompute, filled[s].get());
    backend.MatMul(View(x, n, k), View(slots[s], m, k), Tensor{out.data() + b * n * m, DType::kFloat32, n, m});
    backend.RecordEvent(consumed[s].get(), Queue::kCompute);
    if (b + 2 < blocks) issue_block(b + 2);
  }
  for (int64_t b = 0; b < blocks; ++b) {
    std::vector<float> w(weights.begin() + b * m * k, weights.begin() + (b + 1) * m * k), want(n * m);
    backend.MatMul(View(x, n, k), View(w, m, k), View(want, n, m));
    const std::vector<float> got(out.begin() + b * n * m, out.begin() + (b + 1) * n * m);
    EXPECT_TRUE(SameBits(got, want)) << "block " << b;
  }
}

TEST(CpuBackendStreamingTest, FreeHostMemoryWaitsForQueuedCopies) {
  CpuBackend backend(1);
  std::vector<float> dst(kBigFloats, kNaN);
  {
    absl::StatusOr<std::byte*> memory = backend.AllocateHostMemory(kBigBytes);
    ASSERT_TRUE(memory.ok()) << memory.status();
    auto* src = reinterpret_cast<float*>(*memory);
    for (int64_t i = 0; i < kBigFloats; ++i) src[i] = Pattern(i, 2);
    backend.CopyToDevice(*memory, dst.data(), kBigBytes);
    // Freed while the copy runs: must wait for it, or the copy reads
    // unmapped memory.
    backend.FreeHostMemory(*memory, kBigBytes);
  }
  for (int64_t i = 0; i < kBigFloats; ++i) ASSERT_EQ(dst[i], Pattern(i, 2)) << i;
}

TEST(CpuBackendStreamingTest, DestructionFinishesQueuedCopies) {
  const int copies = 6;
  const int64_t n = kBigFloats / 8;
  std::vector<float> source(n);
  for (int64_t i = 0; i < n; ++i) source[i] = Pattern(i, 3);
  std::vector<std::vector<float>> dst(copies, std::vector<float>(n, kNaN));
  {
    CpuBackend backend(1);
    for (int c = 0; c < copies; ++c) {
      backend.CopyToDevice(reinterpret_cast<const std::byte*>(source.data()), dst[c].data(), n * sizeof(float));
    }
  }
  for (int c = 0; c < copies; ++c) EXPECT_EQ(dst[c], source) << "copy " << c;
}

// --- Sample -------------------------------------------------------------------

TEST(CpuBackendTest, SampleIsSampleFromLogitsRowByRow) {
  CpuBackend backend(2);
  for (int64_t vocab : {5, 1000, 32}) {  // shrinking after growing reuses the scratch
    SCOPED_TRACE(vocab);
    const std::vector<SamplingRow> rows = {
        {.temperature = 0, .uniform = 0.7f},  // greedy: the uniform is not read
        {.temperature = 1.0f, .uniform = 0.3f},
        {.temperature = 0.7f, .top_k = 5, .uniform = 0.9f},
        {.temperature = 1.5f, .top_p = 0.8f, .uniform = 0.5f},
        {.temperature = 1.0f, .uniform = 0.2f},  // its logits are unusable
        {.temperature = 2.0f, .top_k = 1, .uniform = std::nextafter(1.0f, 0.0f)},
        {.temperature = 1.0f, .uniform = 0.0f},
    };
    const int64_t batch = static_cast<int64_t>(rows.size());
    std::vector<float> logits = Random(batch * vocab, 150 + vocab, -4.0f, 4.0f);
    std::fill(logits.begin() + 4 * vocab, logits.begin() + 5 * vocab, -kInf);
    logits[4 * vocab + 1] = kNaN;
    logits[6 * vocab + vocab - 1] = kInf;  // row 6: the one +inf wins
    std::vector<int32_t> params(batch * 4);
    std::memcpy(params.data(), rows.data(), params.size() * sizeof(int32_t));
    std::vector<int32_t> ids(batch, 12345);
    backend.Sample(View(logits, batch, vocab), Ints(params, batch, 4), Tensor{}, Column(ids));

    std::vector<SampleCandidate> scratch;
    for (int64_t b = 0; b < batch; ++b) {
      const absl::StatusOr<int32_t> want =
          SampleFromLogits(std::span<const float>(logits.data() + b * vocab, vocab), rows[b], &scratch);
      EXPECT_EQ(ids[b], want.ok() ? *want : -1) << "row " << b;
    }
    EXPECT_EQ(ids[4], -1);
    EXPECT_EQ(ids[6], vocab - 1);
    EXPECT_EQ(ids[0], std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin());
  }
}

}  // namespace
}  // namespace djinn
