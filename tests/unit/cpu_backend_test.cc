// The CPU backend's ops against straightforward double-precision references
// written here, on random inputs of several shapes (sizes that are not a
// multiple of the 8-wide inner loop, several rows), plus the properties the
// engine relies on: causal attention, GQA head grouping, thread-count
// independent MatMul.
#include "daemon/backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/float16.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

// fp32 error bound relative to the magnitude of what was summed.
constexpr double kRelative = 1e-5;

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

struct Shape {
  int64_t n, k, m;
};

TEST(CpuBackendTest, Describe) {
  CpuBackend backend(2);
  const DeviceDescription d = backend.Describe();
  EXPECT_EQ(d.kind, "cpu");
  EXPECT_FALSE(d.name.empty());
  EXPECT_GT(d.total_memory_bytes, uint64_t{1} << 20);
  EXPECT_EQ(backend.ComputeDType(DType::kBFloat16), DType::kFloat32);
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

TEST(CpuBackendTest, Embedding) {
  CpuBackend backend(2);
  const int64_t vocab = 11, hidden = 13;
  std::vector<float> table = Random(vocab * hidden, 41);
  const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
  std::vector<float> out(ids.size() * hidden, -1.0f);
  backend.Embedding(View(table, vocab, hidden), ids, View(out, ids.size(), hidden));
  for (size_t t = 0; t < ids.size(); ++t) {
    for (int64_t i = 0; i < hidden; ++i) {
      EXPECT_EQ(out[t * hidden + i], table[ids[t] * hidden + i]) << "token " << t;
    }
  }
}

TEST(CpuBackendTest, Rope) {
  CpuBackend backend(2);
  struct Case {
    int64_t rows, heads, head_dim;
    std::vector<int32_t> positions;
  };
  const int64_t max_positions = 40;
  for (const Case& c : {Case{1, 1, 2, {0}}, Case{1, 4, 16, {17}}, Case{3, 2, 12, {5, 6, 7}},
                        Case{4, 3, 10, {0, 39, 1, 20}}, Case{5, 8, 64, {10, 11, 12, 13, 14}}}) {
    SCOPED_TRACE(::testing::Message() << c.rows << " rows, " << c.heads << " heads of " << c.head_dim);
    const int64_t half = c.head_dim / 2, cols = c.heads * c.head_dim;
    // Tables of arbitrary angles: the op must use them, not recompute.
    std::vector<float> angles = Random(max_positions * half, 51, -3.14f, 3.14f);
    std::vector<float> cos(angles.size()), sin(angles.size());
    for (size_t i = 0; i < angles.size(); ++i) {
      cos[i] = std::cos(angles[i]);
      sin[i] = std::sin(angles[i]);
    }
    std::vector<float> x = Random(c.rows * cols, 52, -2.0f, 2.0f);
    const std::vector<float> original = x;
    backend.Rope(View(x, c.rows, cols), c.head_dim, c.positions, View(cos, max_positions, half),
                 View(sin, max_positions, half));
    for (int64_t t = 0; t < c.rows; ++t) {
      for (int64_t h = 0; h < c.heads; ++h) {
        for (int64_t i = 0; i < half; ++i) {
          const int64_t at = t * cols + h * c.head_dim + i;
          const double a = original[at], b = original[at + half];
          const double co = cos[c.positions[t] * half + i], si = sin[c.positions[t] * half + i];
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
  const std::vector<int32_t> positions = {0};
  backend.Rope(View(x, 1, 2 * head_dim), head_dim, positions, View(cos, 2, half), View(sin, 2, half));
  EXPECT_EQ(x, original);
}

// --- KV cache and attention --------------------------------------------------

struct AttentionCase {
  int64_t heads, kv_heads, head_dim, start, n;
};

// Reference causal attention for query row t (position start + t).
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

TEST(CpuBackendTest, WriteKvAndCausalGqaAttention) {
  CpuBackend backend(4);
  const int64_t context = 48;
  uint32_t seed = 200;
  for (const AttentionCase& c : {AttentionCase{1, 1, 4, 0, 1}, AttentionCase{4, 4, 8, 0, 5},
                                 AttentionCase{8, 2, 16, 0, 7}, AttentionCase{8, 2, 16, 9, 4},
                                 AttentionCase{4, 1, 12, 20, 1}, AttentionCase{12, 3, 10, 13, 11},
                                 AttentionCase{8, 2, 16, 30, 18}}) {
    SCOPED_TRACE(::testing::Message() << c.heads << "/" << c.kv_heads << " heads of " << c.head_dim << ", start "
                                      << c.start << ", " << c.n << " queries");
    ASSERT_EQ(c.heads / c.kv_heads * c.kv_heads, c.heads);
    const int64_t kv_cols = c.kv_heads * c.head_dim, q_cols = c.heads * c.head_dim;
    // The cache: rows past start + n hold NaN, which would poison any output
    // that looked at the future.
    std::vector<float> keys(context * kv_cols, std::numeric_limits<float>::quiet_NaN());
    std::vector<float> values(context * kv_cols, std::numeric_limits<float>::quiet_NaN());
    const KvView cache{View(keys, context, kv_cols), View(values, context, kv_cols)};

    // Earlier tokens, written in one call, then the new ones at `start`.
    std::vector<float> old_k = Random(std::max<int64_t>(c.start, 1) * kv_cols, seed++, -2.0f, 2.0f);
    std::vector<float> old_v = Random(std::max<int64_t>(c.start, 1) * kv_cols, seed++);
    if (c.start > 0) {
      backend.WriteKv(View(old_k, c.start, kv_cols), View(old_v, c.start, kv_cols), cache, 0);
    }
    std::vector<float> k = Random(c.n * kv_cols, seed++, -2.0f, 2.0f), v = Random(c.n * kv_cols, seed++);
    backend.WriteKv(View(k, c.n, kv_cols), View(v, c.n, kv_cols), cache, c.start);
    for (int64_t r = 0; r < context; ++r) {
      for (int64_t i = 0; i < kv_cols; ++i) {
        const float key = keys[r * kv_cols + i], value = values[r * kv_cols + i];
        if (r < c.start) {
          ASSERT_EQ(key, old_k[r * kv_cols + i]);
          ASSERT_EQ(value, old_v[r * kv_cols + i]);
        } else if (r < c.start + c.n) {
          ASSERT_EQ(key, k[(r - c.start) * kv_cols + i]);
          ASSERT_EQ(value, v[(r - c.start) * kv_cols + i]);
        } else {
          ASSERT_TRUE(std::isnan(key) && std::isnan(value)) << "row " << r << " written";
        }
      }
    }

    std::vector<float> q = Random(c.n * q_cols, seed++, -2.0f, 2.0f);
    std::vector<float> scratch(c.heads * (c.start + c.n));
    std::vector<float> out(c.n * q_cols, std::numeric_limits<float>::quiet_NaN());
    backend.Attention(View(q, c.n, q_cols), cache, c.start, AttentionShape{c.heads, c.kv_heads, c.head_dim},
                      View(scratch, c.heads, c.start + c.n), View(out, c.n, q_cols));
    for (int64_t t = 0; t < c.n; ++t) {
      const std::vector<double> ref = ReferenceAttention(q, keys, values, c, t);
      for (int64_t i = 0; i < q_cols; ++i) {
        // A convex combination of values in [-1, 1].
        ASSERT_NEAR(out[t * q_cols + i], ref[i], kRelative) << "query " << t << " feature " << i;
      }
    }
  }
}

TEST(CpuBackendTest, AttentionOfOneKeyReturnsItsValue) {
  CpuBackend backend(1);
  const int64_t heads = 4, kv_heads = 2, d = 3, kv_cols = kv_heads * d;
  std::vector<float> keys = Random(kv_cols, 71), values = Random(kv_cols, 72);
  const KvView cache{View(keys, 1, kv_cols), View(values, 1, kv_cols)};
  std::vector<float> q = Random(heads * d, 73), scratch(heads), out(heads * d);
  backend.Attention(View(q, 1, heads * d), cache, 0, AttentionShape{heads, kv_heads, d}, View(scratch, heads, 1),
                    View(out, 1, heads * d));
  // Heads 0, 1 read kv head 0; heads 2, 3 read kv head 1.
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < d; ++i) EXPECT_EQ(out[h * d + i], values[(h / 2) * d + i]) << "head " << h;
  }
}

TEST(CpuBackendTest, AttentionChunkedEqualsOneShot) {
  // A prompt processed in two chunks attends exactly as in one.
  CpuBackend backend(4);
  const int64_t heads = 8, kv_heads = 2, d = 16, n = 10, context = 16;
  const int64_t kv_cols = kv_heads * d, q_cols = heads * d;
  std::vector<float> k = Random(n * kv_cols, 81), v = Random(n * kv_cols, 82), q = Random(n * q_cols, 83);
  std::vector<float> keys(context * kv_cols), values(context * kv_cols);
  std::vector<float> scratch(heads * n), scratch_first(heads * 6);
  const KvView cache{View(keys, context, kv_cols), View(values, context, kv_cols)};
  backend.WriteKv(View(k, n, kv_cols), View(v, n, kv_cols), cache, 0);
  std::vector<float> whole(n * q_cols);
  backend.Attention(View(q, n, q_cols), cache, 0, {heads, kv_heads, d}, View(scratch, heads, n),
                    View(whole, n, q_cols));
  std::vector<float> parts(n * q_cols);
  const int64_t split = 6;
  backend.Attention(View(q, n, q_cols).Rows(0, split), cache, 0, {heads, kv_heads, d},
                    View(scratch_first, heads, split),
                    View(parts, n, q_cols).Rows(0, split));
  backend.Attention(View(q, n, q_cols).Rows(split, n - split), cache, split, {heads, kv_heads, d},
                    View(scratch, heads, n), View(parts, n, q_cols).Rows(split, n - split));
  EXPECT_EQ(std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)), 0);
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
}

}  // namespace
}  // namespace djinn
