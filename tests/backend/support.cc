#include "tests/backend/support.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <span>

#include "common/float16.h"

namespace djinn::backendtest {
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
    const char* env = std::getenv("DJINN_BACKEND_TEST_SEED");
    const uint32_t s = env != nullptr ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 1;
    std::printf("backend tests: DJINN_BACKEND_TEST_SEED=%u\n", s);
    return s;
  }();
  return seed;
}

}  // namespace

uint32_t NextSeed() {
  static uint32_t counter = 0;
  return BaseSeed() + 7919u * ++counter;
}

float RoundTo(DType t, float v) {
  switch (t) {
    case DType::kFloat16: return Float16ToFloat(FloatToFloat16(v));
    case DType::kBFloat16: return BFloat16ToFloat(FloatToBFloat16(v));
    default: return v;
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

std::vector<int32_t> ShuffledPages(int64_t pool, int64_t count) {
  std::vector<int32_t> pages(pool);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), std::mt19937(NextSeed()));
  pages.resize(count);
  return pages;
}

void FillLogitsRow(std::mt19937& rng, const LogitsMix& mix, float* row, int64_t vocab) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  auto one_in = [&](uint32_t n) { return n > 0 && rng() % n == 0; };
  const float sigma = mix.sigmas[rng() % mix.sigmas.size()];
  const bool quantised = one_in(mix.quantised), masked = one_in(mix.masked), nans = one_in(mix.nans);
  const bool infinite = one_in(mix.infinite);
  for (int64_t i = 0; i < vocab; ++i) {
    float x = normal(rng) * sigma;
    if (quantised) x = std::round(x * 2.0f) / 2.0f;
    if (masked && unit(rng) < mix.masked_share) x = -kInf;
    if (nans && unit(rng) < 0.05f) x = kNaN;
    row[i] = x;
  }
  if (infinite) {
    for (int k = 0; k < 3; ++k) row[rng() % vocab] = kInf;
  }
  if (one_in(mix.empty)) {
    for (int64_t i = 0; i < vocab; ++i) row[i] = rng() % 2 == 0 ? -kInf : kNaN;
  }
}

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

std::string Shape(std::initializer_list<std::pair<const char*, int64_t>> dims) {
  std::string s;
  for (const auto& [name, value] : dims) {
    if (!s.empty()) s += " ";
    s += std::string(name) + "=" + std::to_string(value);
  }
  return s;
}

double Tolerance(DType t) {
  switch (t) {
    case DType::kFloat16: return 5e-3;
    case DType::kBFloat16: return 1e-2;
    default: return 1e-5;
  }
}

bool ExpectNear(const std::string& what, const std::vector<float>& got, const std::vector<double>& want,
                const std::vector<double>& scale, double tolerance) {
  EXPECT_EQ(got.size(), want.size()) << what;
  if (got.size() != want.size()) return false;
  int misses = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double bound = tolerance * (scale.empty() ? 1.0 : scale[i]) + 1e-30;
    const double error = std::abs(static_cast<double>(got[i]) - want[i]);
    if (!(error <= bound) && misses++ < 5) {  // NaN fails too
      ADD_FAILURE() << what << ": at " << i << " got " << got[i] << ", want " << want[i] << " (bound " << bound << ")";
    }
  }
  EXPECT_EQ(misses, 0) << what << ": entries out of bounds, of " << got.size();
  return misses == 0;
}

void AddResult(const std::string& op, const std::string& dtype, const std::string& shape, double error, double bound,
               bool nan) {
  Results().push_back({op, dtype, shape, error, bound, nan});
}

void ExpectRelativeError(const std::string& op, DType dtype, const std::string& shape, const std::vector<float>& got,
                         const std::vector<float>& ref, double bound) {
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
  AddResult(op, ShortName(dtype), shape, error, bound, nans > 0);
  EXPECT_EQ(nans, 0u) << op << " " << shape << ": " << nans << " NaNs, first at " << first_nan;
  EXPECT_LE(error, bound) << op << " " << shape;
}

// --- BackendFixture ----------------------------------------------------------------

void BackendFixture::Open(const std::string& name, DType dtype) {
  name_ = name;
  dtype_ = dtype;
  absl::StatusOr<std::unique_ptr<Backend>> made = MakeBackend(name);
  ASSERT_TRUE(made.ok()) << "backend " << name << ": " << made.status();
  backend_ = *std::move(made);
  absl::StatusOr<std::byte*> arena = backend_->ReserveArena(kArenaBytes);
  ASSERT_TRUE(arena.ok()) << arena.status();
  arena_ = *arena;
}

void BackendFixture::TearDown() {
  if (arena_ != nullptr) backend_->ReleaseArena(arena_, kArenaBytes);
  arena_ = nullptr;
}

Tensor BackendFixture::Alloc(int64_t rows, int64_t cols, DType t) {
  Tensor out{arena_ + used_, t, rows, cols};
  used_ += (out.bytes() + 255) / 256 * 256;
  EXPECT_LE(used_, kArenaBytes) << "test arena too small";
  return out;
}

Tensor BackendFixture::Put(const std::vector<float>& host, int64_t rows, int64_t cols, DType t) {
  EXPECT_EQ(static_cast<int64_t>(host.size()), rows * cols);
  Tensor out = Alloc(rows, cols, t);
  backend_->Upload(std::as_bytes(std::span<const float>(host)), DType::kFloat32, out);
  return out;
}

Tensor BackendFixture::PutInts(const std::vector<int32_t>& host, int64_t rows, int64_t cols) {
  EXPECT_EQ(static_cast<int64_t>(host.size()), rows * cols);
  Tensor out = Alloc(rows, cols, DType::kInt32);
  UploadInts(host, out);
  return out;
}

void BackendFixture::UploadInts(const std::vector<int32_t>& host, const Tensor& dst) {
  backend_->Upload(std::as_bytes(std::span<const int32_t>(host)), DType::kInt32, dst);
}

void BackendFixture::Poison(const Tensor& t) {
  if (t.dtype == DType::kInt32) {
    UploadInts(std::vector<int32_t>(t.elements(), -1), t);
  } else {
    const std::vector<float> nans(t.elements(), kNaN);
    backend_->Upload(std::as_bytes(std::span<const float>(nans)), DType::kFloat32, t);
  }
  // Finished on return: copy-queue work issued next does not wait for it.
  GetBytes(t.data, 1);
}

Tensor BackendFixture::Poisoned(int64_t rows, int64_t cols, DType t) {
  Tensor out = Alloc(rows, cols, t);
  Poison(out);
  return out;
}

std::vector<float> BackendFixture::Get(const Tensor& t) {
  std::vector<float> host(t.elements());
  backend_->Download(t, host);
  return host;
}

std::vector<int32_t> BackendFixture::GetInts(const Tensor& t) {
  std::vector<int32_t> host(t.elements());
  backend_->CopyToHost(t, std::as_writable_bytes(std::span<int32_t>(host)));
  return host;
}

std::vector<std::byte> BackendFixture::GetBytes(const void* device, uint64_t bytes) {
  // CopyToHost copies as many bytes as the host span holds.
  const Tensor words{const_cast<void*>(device), DType::kInt32, 1, static_cast<int64_t>((bytes + 3) / 4)};
  std::vector<std::byte> host(bytes);
  backend_->CopyToHost(words, host);
  return host;
}

void BackendFixture::ExpectEquivalent(const std::string& what, const std::vector<float>& a,
                                      const std::vector<float>& b) {
  if (IsReference()) {
    EXPECT_TRUE(SameBits(a, b)) << what << ": not bit for bit";
    return;
  }
  ASSERT_EQ(a.size(), b.size()) << what;
  int misses = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = b[i];
    const bool same =
        (std::isnan(x) && std::isnan(y)) || std::abs(x - y) <= Tolerance(dtype_) * std::max(1.0, std::abs(y));
    if (!same && misses++ < 5) ADD_FAILURE() << what << ": at " << i << " " << x << " vs " << y;
  }
  EXPECT_EQ(misses, 0) << what << ": entries that differ, of " << a.size();
}

std::optional<uint64_t> DeviceBytesInUse(Backend& backend) {
  if (backend.Describe().kind == kReferenceBackend) return std::nullopt;
  const absl::StatusOr<DeviceMemoryUsage> usage = backend.MemoryUsage();
  EXPECT_TRUE(usage.ok()) << usage.status();
  return usage.ok() ? std::optional<uint64_t>(usage->used_bytes) : std::nullopt;
}

// --- The paged KV cache -----------------------------------------------------------

PagedCache MakeEmptyCache(BackendFixture& test, int64_t pages, int64_t layers, int64_t page_tokens, int64_t kv_dim) {
  PagedCache c;
  c.pages = pages;
  c.layers = layers;
  c.page_tokens = page_tokens;
  c.kv_dim = kv_dim;
  c.host.assign(pages * c.page_elements(), kNaN);
  c.pool = test.Put(c.host, pages, c.page_elements());
  c.device = KvCacheLayout{c.pool.data, test.dtype(), layers, page_tokens, kv_dim};
  return c;
}

FilledCache MakeFilledCache(BackendFixture& test, int64_t layers, int64_t layer, int64_t page_tokens, int64_t kv_dim,
                            const std::vector<int64_t>& lens, int64_t max_len) {
  FilledCache f;
  f.pages_per_sequence = PagesFor(max_len, page_tokens);
  int64_t used_pages = 0;
  for (int64_t len : lens) used_pages += PagesFor(len, page_tokens);
  PagedCache& c = f.cache;
  c.pages = used_pages + 3;  // spare pages, NaN throughout
  c.layers = layers;
  c.page_tokens = page_tokens;
  c.kv_dim = kv_dim;
  c.host.assign(c.pages * c.page_elements(), kNaN);

  // Pages in a shuffled order; the last page pads every table.
  const std::vector<int32_t> order = ShuffledPages(c.pages - 1, c.pages - 1);
  const int32_t spare = static_cast<int32_t>(c.pages - 1);
  f.tables.assign(lens.size() * f.pages_per_sequence, spare);
  size_t next = 0;
  for (size_t b = 0; b < lens.size(); ++b) {
    for (int64_t p = 0; p < PagesFor(lens[b], page_tokens); ++p) f.tables[b * f.pages_per_sequence + p] = order[next++];
    const std::vector<float> values = Random(2 * lens[b] * kv_dim, test.dtype(), -1.0f, 1.0f);
    for (int64_t t = 0; t < lens[b]; ++t) {
      const int64_t page = f.tables[b * f.pages_per_sequence + t / page_tokens];
      for (int kind = 0; kind < 2; ++kind) {
        std::copy_n(values.begin() + (2 * t + kind) * kv_dim, kv_dim,
                    c.host.begin() + c.RowOffset(page, layer, kind == 1, t % page_tokens));
      }
    }
  }
  c.pool = test.Put(c.host, c.pages, c.page_elements());
  c.device = KvCacheLayout{c.pool.data, test.dtype(), layers, page_tokens, kv_dim};
  return f;
}

std::vector<int32_t> Destinations(const std::vector<int32_t>& table, int64_t page_tokens, int64_t start, int64_t n) {
  std::vector<int32_t> out;
  for (int64_t p = start; p < start + n; ++p) {
    out.push_back(static_cast<int32_t>(table[p / page_tokens] * page_tokens + p % page_tokens));
  }
  return out;
}

GuardedScratch::GuardedScratch(BackendFixture& test, const AttentionShape& shape, int64_t rows, int64_t max_seq_len)
    : test_(test) {
  const int64_t used = static_cast<int64_t>((test.backend().AttentionScratchBytes(shape, rows, max_seq_len) + 3) / 4);
  whole_ = test.Poisoned(1, used + kGuard, DType::kFloat32);
  scratch_ = whole_.Cols(0, used);
}

bool GuardedScratch::GuardIntact() {
  const std::vector<float> all = test_.Get(whole_);
  return std::all_of(all.end() - kGuard, all.end(), [](float x) { return std::isnan(x); });
}

std::vector<double> ReferenceAttention(const std::vector<float>& q, const std::vector<float>& keys,
                                       const std::vector<float>& values, const AttentionShape& shape, int64_t start,
                                       int64_t t) {
  const int64_t d = shape.head_dim, kv_cols = shape.kv_heads * d, q_cols = shape.heads * d;
  const int64_t group = shape.heads / shape.kv_heads;
  const int64_t visible = start + t + 1;
  std::vector<double> out(q_cols, 0.0);
  for (int64_t h = 0; h < shape.heads; ++h) {
    const int64_t kv = h / group;  // HF repeat_kv: query head h reads kv head h // (heads / kv_heads)
    std::vector<double> scores(visible);
    double max_score = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < visible; ++j) {
      double dot = 0;
      for (int64_t i = 0; i < d; ++i)
        dot += static_cast<double>(q[t * q_cols + h * d + i]) * keys[j * kv_cols + kv * d + i];
      scores[j] = dot / std::sqrt(static_cast<double>(d));
      max_score = std::max(max_score, scores[j]);
    }
    double total = 0;
    for (double& s : scores) total += (s = std::exp(s - max_score));
    for (int64_t j = 0; j < visible; ++j) {
      for (int64_t i = 0; i < d; ++i) out[h * d + i] += scores[j] / total * values[j * kv_cols + kv * d + i];
    }
  }
  return out;
}

}  // namespace djinn::backendtest
