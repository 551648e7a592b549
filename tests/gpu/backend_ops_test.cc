// The CUDA backend's ops against the CPU reference backend, on a GPU host.
//
// Every case draws fresh random inputs (never zeros), rounds them to the
// compute dtype, and runs CpuBackend on fp32 copies of exactly those values
// and CudaBackend in fp16 and in bf16. Outputs are poisoned with NaN bit
// patterns first (0xFF bytes); the check is ‖gpu − cpu‖ / ‖cpu‖ ≤ 5e-3 (fp16)
// or 1e-2 (bf16), and any NaN fails. A table of every case is printed last.
//
// Not part of CTest: run by tests/gpu/run.sh on a machine with a GPU.
// DJINN_GPU_TEST_SEED=<n> repeats a run's inputs (the seed is printed).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/float16.h"
#include "daemon/backend/cpu/cpu_backend.h"
#include "daemon/backend/cuda/cuda_backend.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

// ------------------------------------------------------------ results table

struct Result {
  std::string op, dtype, shape;
  double error = 0, bound = 0;
  bool nan = false;
};

std::vector<Result>& Results() {
  static std::vector<Result> results;
  return results;
}

class TableEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (Results().empty()) return;
    std::printf("\n%-10s %-9s %-44s %-11s %-9s %s\n", "op", "dtype", "shape", "rel.error", "bound", "");
    for (const Result& r : Results()) {
      const bool ok = !r.nan && r.error <= r.bound;
      std::printf("%-10s %-9s %-44s %-11.3e %-9.0e %s\n", r.op.c_str(), r.dtype.c_str(), r.shape.c_str(), r.error,
                  r.bound, r.nan ? "FAIL (NaN)" : (ok ? "ok" : "FAIL"));
    }
    std::fflush(stdout);
  }
};
[[maybe_unused]] ::testing::Environment* const kTable = ::testing::AddGlobalTestEnvironment(new TableEnvironment);

// ------------------------------------------------------------ the backends

uint32_t BaseSeed() {
  static const uint32_t seed = [] {
    const char* env = std::getenv("DJINN_GPU_TEST_SEED");
    const uint32_t s = env != nullptr ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : std::random_device{}();
    std::printf("gpu_backend_ops_test: DJINN_GPU_TEST_SEED=%u\n", s);
    return s;
  }();
  return seed;
}

uint32_t NextSeed() {
  static uint32_t counter = 0;
  return BaseSeed() + 7919u * ++counter;
}

constexpr uint64_t kArenaBytes = 1ull << 30;

// One backend and one arena for the whole run (a cuBLAS handle is costly).
struct Gpu {
  std::unique_ptr<CudaBackend> backend;
  absl::Status status;
  std::byte* arena = nullptr;
  uint64_t used = 0;
};

Gpu& TheGpu() {
  static Gpu* gpu = [] {
    auto* g = new Gpu;
    absl::StatusOr<std::unique_ptr<CudaBackend>> b = CudaBackend::Create();
    if (!b.ok()) {
      g->status = b.status();
      std::fprintf(stderr, "gpu_backend_ops_test: %s\n", g->status.ToString().c_str());
      return g;
    }
    g->backend = std::move(*b);
    const DeviceDescription d = g->backend->Describe();
    std::printf("gpu_backend_ops_test: %s, %.1f GiB\n", d.name.c_str(), d.total_memory_bytes / double(1ull << 30));
    absl::StatusOr<std::byte*> arena = g->backend->ReserveArena(kArenaBytes);
    if (!arena.ok()) {
      g->status = arena.status();
      g->backend.reset();
      return g;
    }
    g->arena = *arena;
    return g;
  }();
  return *gpu;
}

const char* Name(DType t) { return DTypeName(t); }

float RoundTo(DType t, float v) {
  switch (t) {
    case DType::kFloat32:
      return v;
    case DType::kFloat16:
      return Float16ToFloat(FloatToFloat16(v));
    case DType::kBFloat16:
      return BFloat16ToFloat(FloatToBFloat16(v));
  }
  return v;
}

// Uniform in [low, high], rounded to `t`, with exact zeros nudged away.
std::vector<float> Random(int64_t count, DType t, float low = -1.0f, float high = 1.0f) {
  std::mt19937 rng(NextSeed());
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> v(count);
  for (float& x : v) {
    float r = dist(rng);
    if (r == 0.0f) r = 0.5f * high;
    x = RoundTo(t, r);
  }
  return v;
}

Tensor View(std::vector<float>& v, int64_t rows, int64_t cols) { return Tensor{v.data(), DType::kFloat32, rows, cols}; }

class GpuOpsTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    Gpu& gpu = TheGpu();
    ASSERT_TRUE(gpu.backend != nullptr) << "no usable CUDA device: " << gpu.status;
    gpu_ = gpu.backend.get();
    gpu.used = 0;
    dtype_ = GetParam();
  }

  // Device tensor from the arena (256-byte aligned), reset per test.
  Tensor Alloc(int64_t rows, int64_t cols, DType t) {
    Gpu& gpu = TheGpu();
    Tensor out{gpu.arena + gpu.used, t, rows, cols};
    gpu.used += (out.bytes() + 255) / 256 * 256;
    EXPECT_LE(gpu.used, kArenaBytes) << "test arena too small";
    return out;
  }
  Tensor Put(const std::vector<float>& host, int64_t rows, int64_t cols, DType t) {
    Tensor out = Alloc(rows, cols, t);
    gpu_->Upload(std::as_bytes(std::span<const float>(host)), DType::kFloat32, out);
    return out;
  }
  Tensor Put(const std::vector<float>& host, int64_t rows, int64_t cols) { return Put(host, rows, cols, dtype_); }
  // Every byte 0xFF: NaN in fp32, fp16 and bf16.
  static void Poison(const Tensor& t) {
    ASSERT_EQ(cudaMemset(t.data, 0xFF, t.bytes()), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  Tensor Poisoned(int64_t rows, int64_t cols) {
    Tensor t = Alloc(rows, cols, dtype_);
    Poison(t);
    return t;
  }
  std::vector<float> Get(const Tensor& t) {
    std::vector<float> host(t.elements());
    gpu_->Download(t, host);
    return host;
  }

  double Bound() const { return dtype_ == DType::kBFloat16 ? 1e-2 : 5e-3; }

  // ‖got − ref‖ / ‖ref‖ against the bound; records a table row.
  void Check(const std::string& op, const std::string& shape, const std::vector<float>& got,
             const std::vector<float>& ref, double bound = -1) {
    if (bound < 0) bound = Bound();
    ASSERT_EQ(got.size(), ref.size());
    double diff = 0, norm = 0;
    size_t nans = 0, first_nan = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(got[i]) || std::isnan(ref[i])) {
        if (nans++ == 0) first_nan = i;
        continue;
      }
      diff += (static_cast<double>(got[i]) - ref[i]) * (static_cast<double>(got[i]) - ref[i]);
      norm += static_cast<double>(ref[i]) * ref[i];
    }
    const double error = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
    Results().push_back({op, Name(dtype_), shape, error, bound, nans > 0});
    EXPECT_EQ(nans, 0u) << op << " " << shape << ": " << nans << " NaNs, first at " << first_nan;
    EXPECT_LE(error, bound) << op << " " << shape;
  }

  CudaBackend* gpu_ = nullptr;
  CpuBackend cpu_{4};
  DType dtype_ = DType::kFloat16;
};

std::string Shape(std::initializer_list<std::pair<const char*, int64_t>> dims) {
  std::string s;
  for (const auto& [name, value] : dims) {
    if (!s.empty()) s += " ";
    s += std::string(name) + "=" + std::to_string(value);
  }
  return s;
}

// ------------------------------------------------------------ basics

TEST(GpuBackendTest, DescribeAndComputeDType) {
  Gpu& gpu = TheGpu();
  ASSERT_TRUE(gpu.backend != nullptr) << "no usable CUDA device: " << gpu.status;
  const DeviceDescription d = gpu.backend->Describe();
  EXPECT_EQ(d.kind, "cuda");
  EXPECT_FALSE(d.name.empty());
  EXPECT_GT(d.total_memory_bytes, 1ull << 30);
  EXPECT_EQ(gpu.backend->ComputeDType(DType::kBFloat16), DType::kBFloat16);
  EXPECT_EQ(gpu.backend->ComputeDType(DType::kFloat16), DType::kFloat16);
  EXPECT_EQ(gpu.backend->ComputeDType(DType::kFloat32), DType::kFloat16);
}

TEST_P(GpuOpsTest, UploadDownloadRoundTrip) {
  // fp32 source: the device holds exactly the host-rounded values. Sizes
  // cross the 8 MiB staging buffers several times.
  for (int64_t count : {int64_t{1}, int64_t{13}, int64_t{4096}, int64_t{5'000'003}}) {
    const std::vector<float> host = Random(count, DType::kFloat32, -4.0f, 4.0f);
    Tensor t = Alloc(1, count, dtype_);
    Poison(t);
    gpu_->Upload(std::as_bytes(std::span<const float>(host)), DType::kFloat32, t);
    std::vector<float> ref(count);
    for (int64_t i = 0; i < count; ++i) ref[i] = RoundTo(dtype_, host[i]);
    Check("upload", Shape({{"n", count}, {"from fp32", 1}}), Get(t), ref, 0.0);
  }
  // Half sources (fp16 and bf16 bits) into this dtype, and into fp32 (the
  // RoPE tables' case).
  for (DType source : {DType::kFloat16, DType::kBFloat16}) {
    const int64_t count = 3'000'001;
    const std::vector<float> values = Random(count, source, -2.0f, 2.0f);
    std::vector<uint16_t> bits(count);
    for (int64_t i = 0; i < count; ++i) {
      bits[i] = source == DType::kFloat16 ? FloatToFloat16(values[i]) : FloatToBFloat16(values[i]);
    }
    for (DType to : {dtype_, DType::kFloat32}) {
      Tensor t = Alloc(1, count, to);
      Poison(t);
      gpu_->Upload(std::as_bytes(std::span<const uint16_t>(bits)), source, t);
      std::vector<float> ref(count);
      for (int64_t i = 0; i < count; ++i) ref[i] = RoundTo(to, values[i]);
      Check("upload", std::string("n=3000001 from ") + Name(source) + " to " + Name(to), Get(t), ref, 0.0);
    }
  }
}

// ------------------------------------------------------------ ops

TEST_P(GpuOpsTest, Embedding) {
  const int64_t vocab = 1000;
  for (int64_t cols : {int64_t{4096}, int64_t{13}, int64_t{100}}) {
    for (int64_t n : {int64_t{1}, int64_t{64}, int64_t{70}}) {
      std::vector<float> table = Random(vocab * cols, dtype_);
      std::vector<int32_t> ids(n);
      std::mt19937 rng(NextSeed());
      for (int32_t& id : ids) id = static_cast<int32_t>(rng() % vocab);
      std::vector<float> ref(n * cols);
      cpu_.Embedding(View(table, vocab, cols), ids, View(ref, n, cols));
      const Tensor out = Poisoned(n, cols);
      gpu_->Embedding(Put(table, vocab, cols), ids, out);
      Check("embedding", Shape({{"n", n}, {"cols", cols}}), Get(out), ref, 0.0);
    }
  }
}

TEST_P(GpuOpsTest, RmsNorm) {
  for (const auto& [rows, cols] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 4096}, {64, 4096}, {1, 37}, {64, 5120}, {3, 13}}) {
    for (float eps : {1e-5f, 1e-6f}) {
      std::vector<float> x = Random(rows * cols, dtype_, -3.0f, 3.0f), w = Random(cols, dtype_, 0.5f, 1.5f);
      std::vector<float> ref(rows * cols);
      cpu_.RmsNorm(View(x, rows, cols), View(w, 1, cols), eps, View(ref, rows, cols));
      const Tensor out = Poisoned(rows, cols);
      gpu_->RmsNorm(Put(x, rows, cols), Put(w, 1, cols), eps, out);
      Check("rmsnorm", Shape({{"rows", rows}, {"cols", cols}}), Get(out), ref);
    }
  }
}

TEST_P(GpuOpsTest, MatMul) {
  struct Case {
    int64_t n, k, m;
  };
  for (const Case& c : {Case{1, 4096, 4096}, Case{64, 4096, 1024}, Case{1, 13, 5}, Case{7, 100, 33},
                        Case{64, 1000, 250}, Case{3, 4095, 17}, Case{64, 14336, 512}, Case{1, 4096, 32003},
                        Case{17, 8, 64}}) {
    std::vector<float> x = Random(c.n * c.k, dtype_), w = Random(c.m * c.k, dtype_);
    std::vector<float> ref(c.n * c.m);
    cpu_.MatMul(View(x, c.n, c.k), View(w, c.m, c.k), View(ref, c.n, c.m));
    const Tensor out = Poisoned(c.n, c.m);
    gpu_->MatMul(Put(x, c.n, c.k), Put(w, c.m, c.k), out);
    Check("matmul", Shape({{"n", c.n}, {"k", c.k}, {"m", c.m}}), Get(out), ref);
  }
}

TEST_P(GpuOpsTest, Add) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 4096}, {64, 4096}, {3, 37}, {1, 1}}) {
    std::vector<float> x = Random(rows * cols, dtype_, -2.0f, 2.0f), y = Random(rows * cols, dtype_, -2.0f, 2.0f);
    std::vector<float> ref = x;
    cpu_.Add(View(ref, rows, cols), View(y, rows, cols));
    const Tensor gx = Put(x, rows, cols);
    gpu_->Add(gx, Put(y, rows, cols));
    Check("add", Shape({{"rows", rows}, {"cols", cols}}), Get(gx), ref);
  }
}

TEST_P(GpuOpsTest, SiluMul) {
  for (const auto& [rows, cols] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 14336}, {64, 11008}, {5, 13}, {1, 1}}) {
    std::vector<float> gate = Random(rows * cols, dtype_, -8.0f, 8.0f), up = Random(rows * cols, dtype_, -2.0f, 2.0f);
    std::vector<float> ref(rows * cols);
    cpu_.SiluMul(View(gate, rows, cols), View(up, rows, cols), View(ref, rows, cols));
    const Tensor out = Poisoned(rows, cols);
    const Tensor ggate = Put(gate, rows, cols), gup = Put(up, rows, cols);
    gpu_->SiluMul(ggate, gup, out);
    Check("silumul", Shape({{"rows", rows}, {"cols", cols}}), Get(out), ref);
    // In place, as the engine calls it: SiluMul(gate, up, gate).
    gpu_->SiluMul(ggate, gup, ggate);
    Check("silumul", Shape({{"rows", rows}, {"cols", cols}, {"inplace", 1}}), Get(ggate), ref);
  }
}

TEST_P(GpuOpsTest, Rope) {
  struct Case {
    int64_t n, heads, head_dim, start;
    bool shuffled;  // positions not consecutive
  };
  const int64_t max_positions = 512;
  for (const Case& c : {Case{1, 32, 128, 17, false}, Case{64, 32, 128, 0, false}, Case{64, 8, 128, 100, false},
                        Case{70, 4, 64, 5, false}, Case{3, 2, 6, 0, false}, Case{9, 3, 128, 0, true}}) {
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
    std::vector<float> x = Random(c.n * cols, dtype_, -2.0f, 2.0f);
    std::vector<float> ref = x;
    cpu_.Rope(View(ref, c.n, cols), c.head_dim, positions, View(cos, max_positions, half),
              View(sin, max_positions, half));
    const Tensor gx = Put(x, c.n, cols);
    gpu_->Rope(gx, c.head_dim, positions, Put(cos, max_positions, half, DType::kFloat32),
               Put(sin, max_positions, half, DType::kFloat32));
    Check("rope", Shape({{"n", c.n}, {"heads", c.heads}, {"head_dim", c.head_dim}, {"start", c.start}}), Get(gx),
          ref);
  }
}

TEST_P(GpuOpsTest, WriteKv) {
  const int64_t context = 256;
  for (const auto& [n, start, kv_dim] :
       std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 0, 1024}, {1, 200, 1024}, {64, 0, 1024}, {64, 100, 1024},
                                                          {5, 7, 13}}) {
    std::vector<float> keys = Random(context * kv_dim, dtype_), values = Random(context * kv_dim, dtype_);
    std::vector<float> k = Random(n * kv_dim, dtype_), v = Random(n * kv_dim, dtype_);
    std::vector<float> ref_keys = keys, ref_values = values;
    cpu_.WriteKv(View(k, n, kv_dim), View(v, n, kv_dim), {View(ref_keys, context, kv_dim), View(ref_values, context, kv_dim)},
                 start);
    const KvView cache{Put(keys, context, kv_dim), Put(values, context, kv_dim)};
    gpu_->WriteKv(Put(k, n, kv_dim), Put(v, n, kv_dim), cache, start);
    const std::string shape = Shape({{"n", n}, {"start", start}, {"kv_dim", kv_dim}});
    Check("writekv.k", shape, Get(cache.keys), ref_keys, 0.0);
    Check("writekv.v", shape, Get(cache.values), ref_values, 0.0);
  }
}

TEST_P(GpuOpsTest, Attention) {
  struct Case {
    int64_t n, start, heads, kv_heads, head_dim;
  };
  for (const Case& c : {Case{1, 0, 32, 8, 128}, Case{1, 200, 32, 8, 128}, Case{64, 0, 32, 8, 128},
                        Case{64, 100, 32, 8, 128}, Case{1, 2000, 32, 8, 128}, Case{5, 3, 4, 4, 64},
                        Case{7, 11, 6, 2, 80}, Case{3, 300, 8, 1, 256}, Case{70, 0, 4, 2, 32}}) {
    const int64_t span = c.start + c.n, context = span + 16;  // rows past span stay NaN
    const int64_t q_cols = c.heads * c.head_dim, kv_cols = c.kv_heads * c.head_dim;
    std::vector<float> q = Random(c.n * q_cols, dtype_, -3.0f, 3.0f);
    std::vector<float> keys = Random(span * kv_cols, dtype_, -1.0f, 1.0f);
    std::vector<float> values = Random(span * kv_cols, dtype_, -1.0f, 1.0f);
    std::vector<float> scratch(c.heads * span), ref(c.n * q_cols);
    const AttentionShape shape{c.heads, c.kv_heads, c.head_dim};
    cpu_.Attention(View(q, c.n, q_cols), {View(keys, span, kv_cols), View(values, span, kv_cols)}, c.start, shape,
                   View(scratch, c.heads, span), View(ref, c.n, q_cols));

    const KvView cache{Poisoned(context, kv_cols), Poisoned(context, kv_cols)};
    gpu_->Upload(std::as_bytes(std::span<const float>(keys)), DType::kFloat32, cache.keys.Rows(0, span));
    gpu_->Upload(std::as_bytes(std::span<const float>(values)), DType::kFloat32, cache.values.Rows(0, span));
    const Tensor gscratch = Alloc(c.heads, span, DType::kFloat32);
    Poison(gscratch);
    const Tensor out = Poisoned(c.n, q_cols);
    gpu_->Attention(Put(q, c.n, q_cols), cache, c.start, shape, gscratch, out);
    Check("attention",
          Shape({{"n", c.n}, {"start", c.start}, {"heads", c.heads}, {"kv", c.kv_heads}, {"d", c.head_dim}}), Get(out),
          ref);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GpuOpsTest, ::testing::Values(DType::kFloat16, DType::kBFloat16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return info.param == DType::kFloat16 ? std::string("fp16") : std::string("bf16");
                         });

// ------------------------------------------------------------ memory

uint64_t DeviceFree() {
  size_t free_bytes = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  return free_bytes;
}

// ReserveArena takes the budget in one piece, and once warmed up the ops
// allocate nothing more on the device.
TEST(GpuMemoryTest, ArenaOnceAndNoAllocationsOnHotPath) {
  Gpu& gpu = TheGpu();
  ASSERT_TRUE(gpu.backend != nullptr) << "no usable CUDA device: " << gpu.status;
  CudaBackend& b = *gpu.backend;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  constexpr uint64_t kBudget = 512ull << 20;
  const uint64_t before = DeviceFree();
  absl::StatusOr<std::byte*> arena = b.ReserveArena(kBudget);
  ASSERT_TRUE(arena.ok()) << arena.status();
  const uint64_t after = DeviceFree();
  EXPECT_GE(before - after, kBudget) << "ReserveArena took less than the budget";
  EXPECT_LE(before - after, kBudget + (32ull << 20)) << "ReserveArena took more than the budget";
  EXPECT_EQ(b.FreeMemoryBytes(), after);

  // A Llama-8B-shaped layer, small vocab, in both half types.
  const int64_t hidden = 4096, heads = 32, kv_heads = 8, head_dim = 128, inter = 14336 / 4, context = 256;
  const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim, chunk = 64;
  uint64_t used = 0;
  auto take = [&](int64_t rows, int64_t cols, DType t) {
    Tensor out{*arena + used, t, rows, cols};
    used += (out.bytes() + 255) / 256 * 256;
    EXPECT_LE(used, kBudget);
    return out;
  };
  // Weights ~ ±0.02 keep activations O(1) through the layer (no fp16 overflow).
  auto fill = [&](const Tensor& t, float scale = 0.02f) {
    std::vector<float> host = Random(t.elements(), t.dtype, -scale, scale);
    b.Upload(std::as_bytes(std::span<const float>(host)), DType::kFloat32, t);
  };
  struct Layer {
    Tensor x, normed, q, k, v, att, proj, gate, up, wq, wk, wv, wo, wg, wu, wd, norm, embed;
    KvView kv;
  };
  std::vector<Layer> layers;
  const Tensor cos = take(context, head_dim / 2, DType::kFloat32), sin = take(context, head_dim / 2, DType::kFloat32);
  const Tensor scores = take(heads, context, DType::kFloat32);
  fill(cos, 1.0f);
  fill(sin, 1.0f);
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    Layer l{take(chunk, hidden, t),   take(chunk, hidden, t),   take(chunk, q_dim, t),    take(chunk, kv_dim, t),
            take(chunk, kv_dim, t),   take(chunk, q_dim, t),    take(chunk, hidden, t),   take(chunk, inter, t),
            take(chunk, inter, t),    take(q_dim, hidden, t),   take(kv_dim, hidden, t),  take(kv_dim, hidden, t),
            take(hidden, q_dim, t),   take(inter, hidden, t),   take(inter, hidden, t),   take(hidden, inter, t),
            take(1, hidden, t),       take(1000, hidden, t),    {take(context, kv_dim, t), take(context, kv_dim, t)}};
    for (const Tensor& w : {l.wq, l.wk, l.wv, l.wo, l.wg, l.wu, l.wd}) fill(w);
    for (const Tensor& w : {l.norm, l.embed, l.kv.keys, l.kv.values}) fill(w, 1.0f);
    layers.push_back(l);
  }
  std::vector<int32_t> tokens(chunk), positions(chunk);
  for (int64_t i = 0; i < chunk; ++i) tokens[i] = static_cast<int32_t>((i * 37) % 1000);
  auto forward = [&](const Layer& l, int64_t n, int64_t start) {
    for (int64_t i = 0; i < n; ++i) positions[i] = static_cast<int32_t>(start + i);
    const std::span<const int32_t> ids(tokens.data(), n), pos(positions.data(), n);
    const Tensor x = l.x.Rows(0, n), normed = l.normed.Rows(0, n), q = l.q.Rows(0, n), k = l.k.Rows(0, n),
                 v = l.v.Rows(0, n), att = l.att.Rows(0, n), proj = l.proj.Rows(0, n), gate = l.gate.Rows(0, n),
                 up = l.up.Rows(0, n);
    b.Embedding(l.embed, ids, x);
    b.RmsNorm(x, l.norm, 1e-5f, normed);
    b.MatMul(normed, l.wq, q);
    b.MatMul(normed, l.wk, k);
    b.MatMul(normed, l.wv, v);
    b.Rope(q, head_dim, pos, cos, sin);
    b.Rope(k, head_dim, pos, cos, sin);
    b.WriteKv(k, v, l.kv, start);
    b.Attention(q, l.kv, start, {heads, kv_heads, head_dim}, scores, att);
    b.MatMul(att, l.wo, proj);
    b.Add(x, proj);
    b.RmsNorm(x, l.norm, 1e-5f, normed);
    b.MatMul(normed, l.wg, gate);
    b.MatMul(normed, l.wu, up);
    b.SiluMul(gate, up, gate);
    b.MatMul(gate, l.wd, proj);
    b.Add(x, proj);
  };
  auto run_all = [&] {
    for (const Layer& l : layers) {
      forward(l, chunk, 0);  // prefill
      for (int64_t s = chunk; s < chunk + 4; ++s) forward(l, 1, s);  // decode
      forward(l, chunk, 100);
    }
    std::vector<float> out(hidden);
    for (const Layer& l : layers) b.Download(l.x.Rows(0, 1), out);
    for (float f : out) ASSERT_FALSE(std::isnan(f));
  };
  run_all();  // warm-up: lazy module loading, cuBLAS heuristics
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const uint64_t warm = DeviceFree();
  for (int i = 0; i < 3; ++i) run_all();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const uint64_t steady = DeviceFree();
  std::printf("gpu_backend_ops_test: arena %llu MiB took %llu MiB; free after warm-up %llu MiB, after 3 more runs %llu MiB\n",
              static_cast<unsigned long long>(kBudget >> 20), static_cast<unsigned long long>((before - after) >> 20),
              static_cast<unsigned long long>(warm >> 20), static_cast<unsigned long long>(steady >> 20));
  EXPECT_EQ(steady, warm) << "device memory was allocated on the hot path";
  b.ReleaseArena(*arena, kBudget);
  EXPECT_GE(DeviceFree(), after + kBudget - (2ull << 20));
}

}  // namespace
}  // namespace djinn
