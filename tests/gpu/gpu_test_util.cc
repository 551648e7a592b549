#include "tests/gpu/gpu_test_util.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>

#include "common/float16.h"

namespace djinn::gputest {
namespace {

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
    std::printf("\n%-12s %-9s %-58s %-11s %-9s %s\n", "op", "dtype", "shape", "rel.error", "bound", "");
    for (const Result& r : Results()) {
      const bool ok = !r.nan && r.error <= r.bound;
      std::printf("%-12s %-9s %-58s %-11.3e %-9.0e %s\n", r.op.c_str(), r.dtype.c_str(), r.shape.c_str(), r.error,
                  r.bound, r.nan ? "FAIL (NaN)" : (ok ? "ok" : "FAIL"));
    }
    std::fflush(stdout);
  }
};
[[maybe_unused]] ::testing::Environment* const kTable = ::testing::AddGlobalTestEnvironment(new TableEnvironment);

uint32_t BaseSeed() {
  static const uint32_t seed = [] {
    const char* env = std::getenv("DJINN_GPU_TEST_SEED");
    const uint32_t s = env != nullptr ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : std::random_device{}();
    std::printf("gpu_backend_ops_test: DJINN_GPU_TEST_SEED=%u\n", s);
    return s;
  }();
  return seed;
}

}  // namespace

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
    std::printf("gpu_backend_ops_test: %s, %.1f GiB, %d SMs\n", d.name.c_str(),
                d.total_memory_bytes / double(1ull << 30), g->backend->SmCount());
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

uint32_t NextSeed() {
  static uint32_t counter = 0;
  return BaseSeed() + 7919u * ++counter;
}

const char* Name(DType t) { return DTypeName(t); }

float RoundTo(DType t, float v) {
  switch (t) {
    case DType::kFloat16:
      return Float16ToFloat(FloatToFloat16(v));
    case DType::kBFloat16:
      return BFloat16ToFloat(FloatToBFloat16(v));
    default:
      return v;
  }
}

std::vector<float> Random(int64_t count, DType t, float low, float high) {
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

double Bound(DType t) {
  switch (t) {
    case DType::kFloat32:
      return 1e-5;
    case DType::kBFloat16:
      return 1e-2;
    default:
      return 5e-3;
  }
}

std::string Shape(std::initializer_list<std::pair<const char*, int64_t>> dims) {
  std::string s;
  for (const auto& [name, value] : dims) {
    if (!s.empty()) s += " ";
    s += std::string(name) + "=" + std::to_string(value);
  }
  return s;
}

void AddResult(const std::string& op, const std::string& dtype, const std::string& shape, double error, double bound,
               bool nan) {
  Results().push_back({op, dtype, shape, error, bound, nan});
}

std::string DTypeTestName(const ::testing::TestParamInfo<DType>& info) {
  switch (info.param) {
    case DType::kFloat32:
      return "fp32";
    case DType::kFloat16:
      return "fp16";
    default:
      return "bf16";
  }
}

void GpuTest::SetUp() {
  Gpu& gpu = TheGpu();
  ASSERT_TRUE(gpu.backend != nullptr) << "no usable CUDA device: " << gpu.status;
  gpu_ = gpu.backend.get();
  gpu.used = 0;
  dtype_ = GetParam();
}

Tensor GpuTest::Alloc(int64_t rows, int64_t cols, DType t) {
  Gpu& gpu = TheGpu();
  Tensor out{gpu.arena + gpu.used, t, rows, cols};
  gpu.used += (out.bytes() + 255) / 256 * 256;
  EXPECT_LE(gpu.used, kArenaBytes) << "test arena too small";
  return out;
}

Tensor GpuTest::Put(const std::vector<float>& host, int64_t rows, int64_t cols, DType t) {
  Tensor out = Alloc(rows, cols, t);
  gpu_->Upload(std::as_bytes(std::span<const float>(host)), DType::kFloat32, out);
  return out;
}

Tensor GpuTest::PutInts(const std::vector<int32_t>& host, int64_t rows, int64_t cols) {
  Tensor out = Alloc(rows, cols, DType::kInt32);
  UploadInts(host, out);
  return out;
}

void GpuTest::UploadInts(const std::vector<int32_t>& host, const Tensor& dst) {
  gpu_->Upload(std::as_bytes(std::span<const int32_t>(host)), DType::kInt32, dst);
}

void GpuTest::Poison(const Tensor& t) {
  ASSERT_EQ(cudaMemset(t.data, 0xFF, t.bytes()), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

Tensor GpuTest::Poisoned(int64_t rows, int64_t cols, DType t) {
  Tensor out = Alloc(rows, cols, t);
  Poison(out);
  return out;
}

std::vector<float> GpuTest::Get(const Tensor& t) {
  std::vector<float> host(t.elements());
  gpu_->Download(t, host);
  return host;
}

std::vector<int32_t> GpuTest::GetInts(const Tensor& t) {
  std::vector<int32_t> host(t.elements());
  gpu_->CopyToHost(t, std::as_writable_bytes(std::span<int32_t>(host)));
  return host;
}

void GpuTest::Check(const std::string& op, const std::string& shape, const std::vector<float>& got,
                    const std::vector<float>& ref, double bound) {
  if (bound < 0) bound = Bound(dtype_);
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
  AddResult(op, Name(dtype_), shape, error, bound, nans > 0);
  EXPECT_EQ(nans, 0u) << op << " " << shape << ": " << nans << " NaNs, first at " << first_nan;
  EXPECT_LE(error, bound) << op << " " << shape;
}

PagedCache MakePagedCache(GpuTest& test, DType dtype, int64_t layers, int64_t layer, int64_t page_tokens,
                          int64_t kv_dim, const std::vector<int64_t>& lens, int64_t max_len) {
  PagedCache c;
  c.layers = layers;
  c.page_tokens = page_tokens;
  c.kv_dim = kv_dim;
  c.pages_per_sequence = (max_len + page_tokens - 1) / page_tokens;
  int64_t used_pages = 0;
  for (int64_t len : lens) used_pages += (len + page_tokens - 1) / page_tokens;
  c.pages = used_pages + 3;  // spare pages, NaN throughout
  const int64_t page_elements = layers * 2 * page_tokens * kv_dim;
  c.host.assign(c.pages * page_elements, std::numeric_limits<float>::quiet_NaN());

  // Pages in a shuffled order; the last page pads every table.
  std::vector<int32_t> order(c.pages - 1);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(NextSeed());
  std::shuffle(order.begin(), order.end(), rng);
  const int32_t spare = static_cast<int32_t>(c.pages - 1);
  c.tables.assign(lens.size() * c.pages_per_sequence, spare);
  size_t next = 0;
  for (size_t b = 0; b < lens.size(); ++b) {
    const int64_t pages = (lens[b] + page_tokens - 1) / page_tokens;
    for (int64_t p = 0; p < pages; ++p) c.tables[b * c.pages_per_sequence + p] = order[next++];
    // Random keys and values for tokens [0, lens[b]) of `layer`.
    const std::vector<float> values = Random(2 * lens[b] * kv_dim, dtype, -1.0f, 1.0f);
    for (int64_t t = 0; t < lens[b]; ++t) {
      const int64_t page = c.tables[b * c.pages_per_sequence + t / page_tokens];
      for (int kind = 0; kind < 2; ++kind) {
        std::copy_n(values.begin() + (2 * t + kind) * kv_dim, kv_dim,
                    c.host.begin() + c.RowOffset(page, layer, t % page_tokens, kind == 1));
      }
    }
  }
  c.cpu = KvCacheLayout{c.host.data(), DType::kFloat32, layers, page_tokens, kv_dim};
  const Tensor pool = test.Put(c.host, c.pages, page_elements, dtype);
  c.gpu = KvCacheLayout{pool.data, dtype, layers, page_tokens, kv_dim};
  return c;
}

}  // namespace djinn::gputest
