// The row ops of the Backend contract on every backend and compute dtype:
// MatMul, RmsNorm, HeadRmsNorm, Add, AddBias, SiluMul, Embedding and Rope.
//
// Small shapes (sizes that are not a multiple of a vector width, several
// rows) against double-precision references written here, element by
// element; strided views (q, k and v inside a fused projection) against
// dense copies; in-place calls as the engine makes them. Add and AddBias
// round once, Embedding copies: those are exact. Then, for the backends
// besides the CPU, model-sized shapes against the CPU backend.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/backend/support.h"

namespace djinn::backendtest {
namespace {

class ElementwiseOpsTest : public OpTest {
 protected:
  // Bounds relative to `magnitudes`, but never below the dtype's smallest
  // normal value: below it (fp16's subnormals, zero) an output can only be
  // as close as the dtype's absolute spacing there.
  std::vector<double> Scale(std::vector<double> magnitudes) const {
    const double floor = dtype() == DType::kFloat16 ? 0x1p-14 : 0x1p-126;
    for (double& m : magnitudes) m = std::max(std::abs(m), floor);
    return magnitudes;
  }
};

constexpr float kFill = 42.0f;  // columns an op must leave alone (exact in every dtype)

struct MatMulShape {
  int64_t n, k, m;
};

TEST_P(ElementwiseOpsTest, MatMul) {
  for (const MatMulShape& s :
       {MatMulShape{1, 1, 1}, MatMulShape{1, 7, 5}, MatMulShape{3, 8, 4}, MatMulShape{5, 13, 9}, MatMulShape{4, 64, 33},
        MatMulShape{7, 100, 17}, MatMulShape{2, 257, 3}, MatMulShape{64, 24, 40}}) {
    const std::string shape = Shape({{"n", s.n}, {"k", s.k}, {"m", s.m}});
    const std::vector<float> x = Random(s.n * s.k, dtype()), w = Random(s.m * s.k, dtype());
    const Tensor out = Poisoned(s.n, s.m);
    backend().MatMul(Put(x, s.n, s.k), Put(w, s.m, s.k), out);
    // Bound: relative to the magnitude of what was summed.
    std::vector<double> ref(s.n * s.m, 0.0), scale(s.n * s.m, 0.0);
    for (int64_t i = 0; i < s.n; ++i) {
      for (int64_t j = 0; j < s.m; ++j) {
        for (int64_t p = 0; p < s.k; ++p) {
          const double term = static_cast<double>(x[i * s.k + p]) * w[j * s.k + p];
          ref[i * s.m + j] += term;
          scale[i * s.m + j] += std::abs(term);
        }
      }
    }
    ExpectNear("matmul " + shape, Get(out), ref, Scale(scale), Tolerance(dtype()));
  }
}

// Decoding one token must give the logits the same row gets in a prefill
// batch (the engine's KV-cache checks rely on it).
TEST_P(ElementwiseOpsTest, MatMulOfOneRowEqualsThatRowOfABatch) {
  const int64_t n = 6, k = 45, m = 23;
  const Tensor x = Put(Random(n * k, dtype()), n, k), w = Put(Random(m * k, dtype()), m, k);
  const Tensor all = Poisoned(n, m), row = Poisoned(1, m);
  backend().MatMul(x, w, all);
  const std::vector<float> batch = Get(all);
  for (int64_t i = 0; i < n; ++i) {
    backend().MatMul(x.Rows(i, 1), w, row);
    ExpectEquivalent("row " + std::to_string(i), Get(row),
                     std::vector<float>(batch.begin() + i * m, batch.begin() + (i + 1) * m));
  }
}

// x / rms(x) * weight per row of `cols`, in double.
std::vector<double> ReferenceRmsNorm(const std::vector<float>& x, int64_t rows, int64_t cols,
                                     const std::vector<float>& w, float eps) {
  std::vector<double> out(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t i = 0; i < cols; ++i) sum += static_cast<double>(x[r * cols + i]) * x[r * cols + i];
    const double scale = 1.0 / std::sqrt(sum / cols + static_cast<double>(eps));
    for (int64_t i = 0; i < cols; ++i) out[r * cols + i] = static_cast<double>(w[i]) * x[r * cols + i] * scale;
  }
  return out;
}

TEST_P(ElementwiseOpsTest, RmsNorm) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 5}, {3, 8}, {4, 37}, {9, 128}}) {
    for (float eps : {1e-6f, 1e-5f, 0.5f}) {
      const std::vector<float> x = Random(rows * cols, dtype(), -3.0f, 3.0f), w = Random(cols, dtype(), 0.5f, 1.5f);
      const Tensor out = Poisoned(rows, cols);
      backend().RmsNorm(Put(x, rows, cols), Put(w, 1, cols), eps, out);
      const std::vector<double> ref = ReferenceRmsNorm(x, rows, cols, w, eps);
      ExpectNear("rmsnorm " + Shape({{"rows", rows}, {"cols", cols}}) + " eps=" + std::to_string(eps), Get(out), ref,
                 Scale(ref), Tolerance(dtype()));
    }
  }
}

TEST_P(ElementwiseOpsTest, RmsNormOfZerosIsZero) {
  const Tensor out = Poisoned(1, 16);
  backend().RmsNorm(Put(std::vector<float>(16, 0.0f), 1, 16), Put(std::vector<float>(16, 1.0f), 1, 16), 1e-6f, out);
  for (float v : Get(out)) EXPECT_EQ(v, 0.0f);
}

// Each head_dim slice of each row normalised on its own, in place.
TEST_P(ElementwiseOpsTest, HeadRmsNorm) {
  for (const auto& [rows, heads, head_dim] :
       std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 8}, {3, 4, 16}, {5, 3, 128}, {2, 2, 6}}) {
    for (float eps : {1e-6f, 0.25f}) {
      const int64_t cols = heads * head_dim;
      const std::vector<float> x = Random(rows * cols, dtype(), -3.0f, 3.0f);
      const std::vector<float> w = Random(head_dim, dtype(), 0.5f, 1.5f);
      const Tensor tx = Put(x, rows, cols);
      backend().HeadRmsNorm(tx, head_dim, Put(w, 1, head_dim), eps);
      const std::vector<double> ref = ReferenceRmsNorm(x, rows * heads, head_dim, w, eps);
      ExpectNear("headrmsnorm " + Shape({{"rows", rows}, {"heads", heads}, {"head_dim", head_dim}}), Get(tx), ref,
                 Scale(ref), Tolerance(dtype()));
    }
  }
}

// What RmsNorm gives on each head as a row of its own, and a strided view
// (q inside a fused qkv row) leaves the other columns alone.
TEST_P(ElementwiseOpsTest, HeadRmsNormIsRmsNormOfEachHead) {
  const int64_t rows = 3, heads = 4, head_dim = 32, cols = heads * head_dim, wide = cols + 64;
  const std::vector<float> x = Random(rows * cols, dtype(), -2.0f, 2.0f), w = Random(head_dim, dtype(), 0.5f, 1.5f);
  const Tensor tw = Put(w, 1, head_dim), per_head = Poisoned(rows * heads, head_dim);
  backend().RmsNorm(Put(x, rows * heads, head_dim), tw, 1e-6f, per_head);
  const Tensor fused = Put(Widen(x, rows, cols, wide, 0, kFill), rows, wide);
  backend().HeadRmsNorm(fused.Cols(0, cols), head_dim, tw, 1e-6f);
  ExpectEquivalent("headrmsnorm strided", Get(fused), Widen(Get(per_head), rows, cols, wide, 0, kFill));
}

double Silu(double g) { return g / (1.0 + std::exp(-g)); }

TEST_P(ElementwiseOpsTest, SiluMul) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 13}, {4, 172}, {3, 256}}) {
    const std::string shape = Shape({{"rows", rows}, {"cols", cols}});
    const std::vector<float> gate = Random(rows * cols, dtype(), -12.0f, 12.0f);
    const std::vector<float> up = Random(rows * cols, dtype(), -2.0f, 2.0f);
    const Tensor tgate = Put(gate, rows, cols), tup = Put(up, rows, cols), out = Poisoned(rows, cols);
    backend().SiluMul(tgate, tup, out);
    std::vector<double> ref(rows * cols);
    for (size_t i = 0; i < ref.size(); ++i) ref[i] = Silu(gate[i]) * up[i];
    const std::vector<float> got = Get(out);
    ExpectNear("silumul " + shape, got, ref, Scale(ref), Tolerance(dtype()));
    // In place, as the engine calls it (out aliases gate).
    backend().SiluMul(tgate, tup, tgate);
    ExpectEquivalent("silumul in place " + shape, Get(tgate), got);
  }
}

TEST_P(ElementwiseOpsTest, SiluMulExtremes) {
  const std::vector<float> gate = {-100.0f, -30.0f, 0.0f, 30.0f, 100.0f};
  const Tensor out = Poisoned(1, 5);
  backend().SiluMul(Put(gate, 1, 5), Put(std::vector<float>(5, 1.0f), 1, 5), out);
  const std::vector<float> got = Get(out);
  std::vector<double> ref(5);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(std::isfinite(got[i])) << gate[i];
    ref[i] = Silu(gate[i]);
  }
  ExpectNear("silumul extremes", got, ref, Scale(ref), Tolerance(dtype()));
}

// gate and up as the two halves of a fused [rows, 2 * cols] projection.
TEST_P(ElementwiseOpsTest, SiluMulStridedEqualsDense) {
  const int64_t rows = 5, cols = 37;
  const std::vector<float> gate = Random(rows * cols, dtype(), -6.0f, 6.0f), up = Random(rows * cols, dtype());
  const Tensor dense = Poisoned(rows, cols), strided = Poisoned(rows, cols);
  backend().SiluMul(Put(gate, rows, cols), Put(up, rows, cols), dense);
  std::vector<float> fused = Widen(gate, rows, cols, 2 * cols, 0, kNaN);
  for (int64_t r = 0; r < rows; ++r) std::copy_n(up.begin() + r * cols, cols, fused.begin() + r * 2 * cols + cols);
  const Tensor whole = Put(fused, rows, 2 * cols);
  backend().SiluMul(whole.Cols(0, cols), whole.Cols(cols, cols), strided);
  ExpectEquivalent("silumul strided", Get(strided), Get(dense));
}

// x + y, rounded once to the dtype: exact. y is untouched.
TEST_P(ElementwiseOpsTest, Add) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 9}, {5, 64}}) {
    const std::vector<float> x = Random(rows * cols, dtype()), y = Random(rows * cols, dtype());
    const Tensor tx = Put(x, rows, cols), ty = Put(y, rows, cols);
    backend().Add(tx, ty);
    std::vector<double> sum(x.size());
    for (size_t i = 0; i < x.size(); ++i) sum[i] = RoundTo(dtype(), x[i] + y[i]);
    ExpectNear("add " + Shape({{"rows", rows}, {"cols", cols}}), Get(tx), sum, {}, 0.0);
    EXPECT_EQ(Get(ty), y);
  }
}

TEST_P(ElementwiseOpsTest, AddBias) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 9}, {5, 96}}) {
    const std::vector<float> x = Random(rows * cols, dtype(), -4.0f, 4.0f), bias = Random(cols, dtype());
    const Tensor tx = Put(x, rows, cols);
    backend().AddBias(tx, Put(bias, cols, 1));  // [m, 1], as the loader holds biases
    std::vector<double> sum(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < cols; ++i) sum[r * cols + i] = RoundTo(dtype(), x[r * cols + i] + bias[i]);
    }
    ExpectNear("addbias " + Shape({{"rows", rows}, {"cols", cols}}), Get(tx), sum, {}, 0.0);
  }
}

// The k part of a fused qkv row, say: the other columns stay as they were.
TEST_P(ElementwiseOpsTest, AddBiasStridedLeavesOtherColumnsAlone) {
  const int64_t rows = 4, cols = 24, wide = 80, first = 40;
  const std::vector<float> x = Random(rows * cols, dtype()), bias = Random(cols, dtype());
  const Tensor fused = Put(Widen(x, rows, cols, wide, first, kFill), rows, wide);
  backend().AddBias(fused.Cols(first, cols), Put(bias, 1, cols));
  std::vector<float> sum(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < cols; ++i) sum[r * cols + i] = RoundTo(dtype(), x[r * cols + i] + bias[i]);
  }
  EXPECT_EQ(Get(fused), Widen(sum, rows, cols, wide, first, kFill));
}

TEST_P(ElementwiseOpsTest, Embedding) {
  const int64_t vocab = 11, hidden = 13;
  const std::vector<float> table = Random(vocab * hidden, dtype());
  const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
  const int64_t n = static_cast<int64_t>(ids.size());
  const Tensor out = Poisoned(n, hidden);
  backend().Embedding(Put(table, vocab, hidden), PutInts(ids, n, 1), out);
  const std::vector<float> got = Get(out);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < hidden; ++i) EXPECT_EQ(got[t * hidden + i], table[ids[t] * hidden + i]) << "token " << t;
  }
}

// Tables of arbitrary angles: the op must use them, not recompute.
struct RopeTables {
  std::vector<float> cos, sin;
  RopeTables(int64_t max_positions, int64_t half) {
    for (float a : Random(max_positions * half, DType::kFloat32, -3.14f, 3.14f)) {
      cos.push_back(std::cos(a));
      sin.push_back(std::sin(a));
    }
  }
};

TEST_P(ElementwiseOpsTest, Rope) {
  struct Case {
    int64_t rows, heads, head_dim;
    std::vector<int32_t> positions;
  };
  const int64_t max_positions = 40;
  for (const Case& c : {Case{1, 1, 2, {0}}, Case{1, 4, 16, {17}}, Case{3, 2, 12, {5, 6, 7}},
                        Case{4, 3, 10, {0, 39, 1, 20}}, Case{5, 8, 64, {10, 11, 12, 13, 14}}}) {
    const int64_t half = c.head_dim / 2, cols = c.heads * c.head_dim;
    const RopeTables tables(max_positions, half);
    const std::vector<float> x = Random(c.rows * cols, dtype(), -2.0f, 2.0f);
    const Tensor tx = Put(x, c.rows, cols);
    backend().Rope(tx, c.head_dim, PutInts(c.positions, c.rows, 1),
                   Put(tables.cos, max_positions, half, DType::kFloat32),
                   Put(tables.sin, max_positions, half, DType::kFloat32));
    std::vector<double> ref(x.size()), scale(x.size());
    for (int64_t t = 0; t < c.rows; ++t) {
      for (int64_t h = 0; h < c.heads; ++h) {
        for (int64_t i = 0; i < half; ++i) {
          const int64_t at = t * cols + h * c.head_dim + i;
          const double a = x[at], b = x[at + half];
          const double co = tables.cos[c.positions[t] * half + i], si = tables.sin[c.positions[t] * half + i];
          ref[at] = a * co - b * si;
          ref[at + half] = b * co + a * si;
          scale[at] = scale[at + half] = std::abs(a) + std::abs(b);
        }
      }
    }
    ExpectNear("rope " + Shape({{"rows", c.rows}, {"heads", c.heads}, {"head_dim", c.head_dim}}), Get(tx), ref,
               Scale(scale), Tolerance(dtype()));
  }
}

TEST_P(ElementwiseOpsTest, RopeAtPositionZeroIsIdentity) {
  const int64_t head_dim = 8, half = 4;
  const std::vector<float> x = Random(2 * head_dim, dtype());
  const Tensor tx = Put(x, 1, 2 * head_dim);
  backend().Rope(tx, head_dim, PutInts({0}, 1, 1), Put(std::vector<float>(2 * half, 1.0f), 2, half, DType::kFloat32),
                 Put(std::vector<float>(2 * half, 0.0f), 2, half, DType::kFloat32));
  EXPECT_EQ(Get(tx), x);
}

// q as columns [5, 5 + cols) of a wider row (a fused qkv projection).
TEST_P(ElementwiseOpsTest, RopeStridedEqualsDenseAndLeavesOtherColumnsAlone) {
  const int64_t rows = 4, heads = 3, head_dim = 10, half = 5, cols = heads * head_dim, wide = cols + 17;
  const RopeTables tables(20, half);
  const Tensor cos = Put(tables.cos, 20, half, DType::kFloat32), sin = Put(tables.sin, 20, half, DType::kFloat32);
  const Tensor positions = PutInts({3, 19, 0, 7}, rows, 1);
  const std::vector<float> x = Random(rows * cols, dtype(), -2.0f, 2.0f);
  const Tensor dense = Put(x, rows, cols), fused = Put(Widen(x, rows, cols, wide, 5, kFill), rows, wide);
  backend().Rope(dense, head_dim, positions, cos, sin);
  backend().Rope(fused.Cols(5, cols), head_dim, positions, cos, sin);
  ExpectEquivalent("rope strided", Get(fused), Widen(Get(dense), rows, cols, wide, 5, kFill));
}

INSTANTIATE_TEST_SUITE_P(Backends, ElementwiseOpsTest, DJINN_ALL_BACKENDS_AND_DTYPES);

// ------------------------------------------------------------ model-sized shapes against the CPU

class ElementwiseVersusCpuTest : public VersusCpuTest {};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ElementwiseVersusCpuTest);

TEST_P(ElementwiseVersusCpuTest, Embedding) {
  const int64_t vocab = 1000;
  std::mt19937 rng(NextSeed());
  for (int64_t cols : {int64_t{4096}, int64_t{13}, int64_t{100}}) {
    for (int64_t n : {int64_t{1}, int64_t{64}, int64_t{70}, int64_t{2048}}) {
      std::vector<float> table = Random(vocab * cols, dtype());
      std::vector<int32_t> ids(n);
      for (int32_t& id : ids) id = static_cast<int32_t>(rng() % vocab);
      std::vector<float> ref(n * cols);
      cpu_.Embedding(HostView(table, vocab, cols), HostInts(ids, n, 1), HostView(ref, n, cols));
      const Tensor gtable = Put(table, vocab, cols), gids = PutInts(ids, n, 1);
      const Tensor out = Poisoned(n, cols);
      backend().Embedding(gtable, gids, out);
      Check("embedding", Shape({{"n", n}, {"cols", cols}}), Get(out), ref, 0.0);
      // Into the left columns of a wider tensor: the right ones stay as they were.
      const std::vector<float> wide = Random(n * (cols + 8), dtype());
      std::vector<float> wide_ref = wide;
      for (int64_t t = 0; t < n; ++t) std::copy_n(ref.begin() + t * cols, cols, wide_ref.begin() + t * (cols + 8));
      const Tensor gwide = Put(wide, n, cols + 8);
      backend().Embedding(gtable, gids, gwide.Cols(0, cols));
      Check("embedding", Shape({{"n", n}, {"cols", cols}, {"strided out", 1}}), Get(gwide), wide_ref, 0.0);
    }
  }
}

TEST_P(ElementwiseVersusCpuTest, RmsNorm) {
  for (const auto& [rows, cols] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 4096}, {64, 4096}, {1, 37}, {64, 5120}, {3, 13}, {2048, 5120}}) {
    for (float eps : {1e-5f, 1e-6f}) {
      std::vector<float> x = Random(rows * cols, dtype(), -3.0f, 3.0f), w = Random(cols, dtype(), 0.5f, 1.5f);
      std::vector<float> ref(rows * cols);
      cpu_.RmsNorm(HostView(x, rows, cols), HostView(w, 1, cols), eps, HostView(ref, rows, cols));
      const Tensor out = Poisoned(rows, cols);
      backend().RmsNorm(Put(x, rows, cols), Put(w, 1, cols), eps, out);
      Check("rmsnorm", Shape({{"rows", rows}, {"cols", cols}}), Get(out), ref);
    }
  }
}

TEST_P(ElementwiseVersusCpuTest, MatMul) {
  for (const MatMulShape& c :
       {MatMulShape{1, 4096, 4096}, MatMulShape{64, 4096, 1024}, MatMulShape{1, 13, 5}, MatMulShape{7, 100, 33},
        MatMulShape{64, 1000, 250}, MatMulShape{3, 4095, 17}, MatMulShape{64, 14336, 512}, MatMulShape{1, 4096, 32003},
        MatMulShape{17, 8, 64}, MatMulShape{2048, 5120, 640}}) {
    std::vector<float> x = Random(c.n * c.k, dtype()), w = Random(c.m * c.k, dtype());
    std::vector<float> ref(c.n * c.m);
    cpu_.MatMul(HostView(x, c.n, c.k), HostView(w, c.m, c.k), HostView(ref, c.n, c.m));
    const Tensor gx = Put(x, c.n, c.k), gw = Put(w, c.m, c.k);
    const Tensor out = Poisoned(c.n, c.m);
    backend().MatMul(gx, gw, out);
    Check("matmul", Shape({{"n", c.n}, {"k", c.k}, {"m", c.m}}), Get(out), ref);
    if (dtype() != DType::kFloat32) {
      // Logits: half inputs, fp32 output (no rounding of the result).
      const Tensor out32 = Poisoned(c.n, c.m, DType::kFloat32);
      backend().MatMul(gx, gw, out32);
      Check("matmul", Shape({{"n", c.n}, {"k", c.k}, {"m", c.m}, {"fp32 out", 1}}), Get(out32), ref);
    }
  }
}

TEST_P(ElementwiseVersusCpuTest, Add) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 4096}, {64, 4096}, {3, 37}, {1, 1}}) {
    std::vector<float> x = Random(rows * cols, dtype(), -2.0f, 2.0f), y = Random(rows * cols, dtype(), -2.0f, 2.0f);
    std::vector<float> ref = x;
    cpu_.Add(HostView(ref, rows, cols), HostView(y, rows, cols));
    const Tensor gx = Put(x, rows, cols);
    backend().Add(gx, Put(y, rows, cols));
    Check("add", Shape({{"rows", rows}, {"cols", cols}}), Get(gx), ref);
  }
}

// A linear layer's bias, dense and as a column range of a fused [rows, q +
// 2 kv] projection (the columns around it untouched).
TEST_P(ElementwiseVersusCpuTest, AddBias) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 4096}, {64, 6144}, {3, 37}, {1, 1}}) {
    std::vector<float> x = Random(rows * cols, dtype(), -2.0f, 2.0f), bias = Random(cols, dtype(), -1.0f, 1.0f);
    std::vector<float> ref = x;
    cpu_.AddBias(HostView(ref, rows, cols), HostView(bias, cols, 1));
    const Tensor gx = Put(x, rows, cols);
    backend().AddBias(gx, Put(bias, cols, 1));
    Check("addbias", Shape({{"rows", rows}, {"cols", cols}}), Get(gx), ref);
  }
  using Case = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // rows, wide, first column, cols
  for (const auto& [rows, wide, first, cols] :
       std::vector<Case>{{5, 6144, 4096, 1024}, {3, 96, 40, 24}, {2, 21, 3, 7}}) {
    std::vector<float> fused = Random(rows * wide, dtype(), -2.0f, 2.0f), bias = Random(cols, dtype(), -1.0f, 1.0f);
    std::vector<float> ref = fused;
    cpu_.AddBias(HostView(ref, rows, wide).Cols(first, cols), HostView(bias, 1, cols));
    const Tensor gfused = Put(fused, rows, wide);
    backend().AddBias(gfused.Cols(first, cols), Put(bias, 1, cols));
    Check("addbias", Shape({{"rows", rows}, {"cols", cols}, {"strided in", wide}}), Get(gfused), ref);
  }
}

// Qwen3's per-head q/k norm: in place over each head of a dense [rows,
// heads * head_dim] tensor, and over q / k as column ranges of a fused qkv
// row (the v columns untouched).
TEST_P(ElementwiseVersusCpuTest, HeadRmsNorm) {
  struct Case {
    int64_t rows, heads, kv_heads, head_dim;
  };
  for (const Case& c :
       {Case{1, 32, 8, 128}, Case{64, 16, 8, 128}, Case{7, 4, 2, 64}, Case{3, 3, 1, 6}, Case{2048, 8, 2, 128}}) {
    const int64_t q = c.heads * c.head_dim, kv = c.kv_heads * c.head_dim, wide = q + 2 * kv;
    const std::string shape = Shape({{"rows", c.rows}, {"heads", c.heads}, {"head_dim", c.head_dim}});
    for (float eps : {1e-6f, 1e-5f}) {
      std::vector<float> x = Random(c.rows * q, dtype(), -3.0f, 3.0f), w = Random(c.head_dim, dtype(), 0.5f, 1.5f);
      std::vector<float> ref = x;
      cpu_.HeadRmsNorm(HostView(ref, c.rows, q), c.head_dim, HostView(w, 1, c.head_dim), eps);
      const Tensor gx = Put(x, c.rows, q), gw = Put(w, 1, c.head_dim);
      backend().HeadRmsNorm(gx, c.head_dim, gw, eps);
      Check("headrmsnorm", shape, Get(gx), ref);

      std::vector<float> fused = Random(c.rows * wide, dtype(), -3.0f, 3.0f);
      std::vector<float> fused_ref = fused;
      const Tensor cpu_fused = HostView(fused_ref, c.rows, wide);
      cpu_.HeadRmsNorm(cpu_fused.Cols(0, q), c.head_dim, HostView(w, 1, c.head_dim), eps);
      cpu_.HeadRmsNorm(cpu_fused.Cols(q, kv), c.head_dim, HostView(w, 1, c.head_dim), eps);
      const Tensor gfused = Put(fused, c.rows, wide);
      backend().HeadRmsNorm(gfused.Cols(0, q), c.head_dim, gw, eps);
      backend().HeadRmsNorm(gfused.Cols(q, kv), c.head_dim, gw, eps);
      Check("headrmsnorm", shape + " strided in=" + std::to_string(wide), Get(gfused), fused_ref);
    }
  }
}

TEST_P(ElementwiseVersusCpuTest, SiluMul) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 14336}, {64, 11008}, {5, 13}, {1, 1}}) {
    std::vector<float> gate = Random(rows * cols, dtype(), -8.0f, 8.0f), up = Random(rows * cols, dtype(), -2.0f, 2.0f);
    std::vector<float> ref(rows * cols);
    cpu_.SiluMul(HostView(gate, rows, cols), HostView(up, rows, cols), HostView(ref, rows, cols));
    const Tensor out = Poisoned(rows, cols);
    const Tensor ggate = Put(gate, rows, cols), gup = Put(up, rows, cols);
    backend().SiluMul(ggate, gup, out);
    Check("silumul", Shape({{"rows", rows}, {"cols", cols}}), Get(out), ref);
    // In place: SiluMul(gate, up, gate).
    backend().SiluMul(ggate, gup, ggate);
    Check("silumul", Shape({{"rows", rows}, {"cols", cols}, {"inplace", 1}}), Get(ggate), ref);

    // As the engine calls it: gate and up are the two halves of one fused
    // [rows, 2 * cols] projection (strided views), out dense.
    std::vector<float> fused = Widen(gate, rows, cols, 2 * cols, 0, 0.0f);
    for (int64_t r = 0; r < rows; ++r) std::copy_n(up.begin() + r * cols, cols, fused.begin() + r * 2 * cols + cols);
    std::vector<float> fused_ref(rows * cols);
    const Tensor cpu_fused = HostView(fused, rows, 2 * cols);
    cpu_.SiluMul(cpu_fused.Cols(0, cols), cpu_fused.Cols(cols, cols), HostView(fused_ref, rows, cols));
    const Tensor gfused = Put(fused, rows, 2 * cols);
    const Tensor out2 = Poisoned(rows, cols);
    backend().SiluMul(gfused.Cols(0, cols), gfused.Cols(cols, cols), out2);
    Check("silumul", Shape({{"rows", rows}, {"cols", cols}, {"strided in", 1}}), Get(out2), fused_ref);
  }
}

TEST_P(ElementwiseVersusCpuTest, Rope) {
  struct Case {
    int64_t n, heads, head_dim, start;
    bool shuffled;  // positions not consecutive
  };
  const int64_t max_positions = 4096;
  for (const Case& c : {Case{1, 32, 128, 17, false}, Case{64, 32, 128, 0, false}, Case{64, 8, 128, 100, false},
                        Case{70, 4, 64, 5, false}, Case{3, 2, 6, 0, false}, Case{9, 3, 128, 0, true},
                        Case{2048, 8, 128, 1000, false}}) {
    const int64_t half = c.head_dim / 2, cols = c.heads * c.head_dim;
    // Llama-style tables (base 500000), fp32.
    std::vector<float> cos(max_positions * half), sin(max_positions * half);
    for (int64_t p = 0; p < max_positions; ++p) {
      for (int64_t i = 0; i < half; ++i) {
        const float inv = static_cast<float>(std::pow(500000.0, -2.0 * i / static_cast<double>(c.head_dim)));
        cos[p * half + i] = std::cos(static_cast<float>(p) * inv);
        sin[p * half + i] = std::sin(static_cast<float>(p) * inv);
      }
    }
    std::vector<int32_t> positions(c.n);
    std::mt19937 rng(NextSeed());
    for (int64_t t = 0; t < c.n; ++t) {
      positions[t] = c.shuffled ? static_cast<int32_t>(rng() % max_positions) : static_cast<int32_t>(c.start + t);
    }
    const Tensor gcos = Put(cos, max_positions, half, DType::kFloat32);
    const Tensor gsin = Put(sin, max_positions, half, DType::kFloat32);
    const Tensor gpositions = PutInts(positions, c.n, 1);
    const std::string shape = Shape({{"n", c.n}, {"heads", c.heads}, {"head_dim", c.head_dim}, {"start", c.start}});

    std::vector<float> x = Random(c.n * cols, dtype(), -2.0f, 2.0f);
    std::vector<float> ref = x;
    cpu_.Rope(HostView(ref, c.n, cols), c.head_dim, HostInts(positions, c.n, 1), HostView(cos, max_positions, half),
              HostView(sin, max_positions, half));
    const Tensor gx = Put(x, c.n, cols);
    backend().Rope(gx, c.head_dim, gpositions, gcos, gsin);
    Check("rope", shape, Get(gx), ref);

    // x as the middle columns of a wider (qkv-like) tensor: the others stay.
    const int64_t left = 2 * c.head_dim, wide_cols = left + cols + c.head_dim;
    std::vector<float> wide = Random(c.n * wide_cols, dtype(), -2.0f, 2.0f);
    std::vector<float> wide_ref = wide;
    cpu_.Rope(HostView(wide_ref, c.n, wide_cols).Cols(left, cols), c.head_dim, HostInts(positions, c.n, 1),
              HostView(cos, max_positions, half), HostView(sin, max_positions, half));
    const Tensor gwide = Put(wide, c.n, wide_cols);
    backend().Rope(gwide.Cols(left, cols), c.head_dim, gpositions, gcos, gsin);
    Check("rope", shape + " strided", Get(gwide), wide_ref);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ElementwiseVersusCpuTest, DJINN_BACKENDS_AND_DTYPES_BESIDES_THE_REFERENCE);

}  // namespace
}  // namespace djinn::backendtest
