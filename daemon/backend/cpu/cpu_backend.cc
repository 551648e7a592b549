#include "daemon/backend/cpu/cpu_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/float16.h"

namespace djinn {
namespace {

// Eight independent partial sums: the compiler maps them onto SIMD lanes, and
// the order of additions is fixed, so results do not depend on threading.
inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return std::string(absl::StripLeadingAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "cpu";
}

}  // namespace

CpuBackend::CpuBackend(int threads) : pool_(std::make_unique<ThreadPool>(threads)) {}

DeviceDescription CpuBackend::Describe() const {
  const uint64_t total = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
  return {"cpu", CpuModelName(), total};
}

absl::StatusOr<std::byte*> CpuBackend::ReserveArena(uint64_t bytes) {
  // Address space only: pages are committed when first written, so an
  // unused budget costs nothing.
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot reserve ", bytes, " bytes: ", std::strerror(errno)));
  }
  return static_cast<std::byte*>(base);
}

void CpuBackend::ReleaseArena(std::byte* base, uint64_t bytes) { ::munmap(base, bytes); }

void CpuBackend::Upload(std::span<const std::byte> source, DType source_dtype, const Tensor& dst) {
  float* out = dst.f32();
  const int64_t n = dst.elements();
  switch (source_dtype) {
    case DType::kFloat32:
      std::memcpy(out, source.data(), n * sizeof(float));
      return;
    case DType::kFloat16:
    case DType::kBFloat16: {
      const bool is_half = source_dtype == DType::kFloat16;
      pool_->ParallelFor(n, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          uint16_t bits;
          std::memcpy(&bits, source.data() + 2 * i, 2);
          out[i] = is_half ? Float16ToFloat(bits) : BFloat16ToFloat(bits);
        }
      });
      return;
    }
  }
}

void CpuBackend::Download(const Tensor& src, std::span<float> host) {
  std::memcpy(host.data(), src.data, std::min<size_t>(host.size() * sizeof(float), src.bytes()));
}

void CpuBackend::Embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) {
  for (size_t t = 0; t < ids.size(); ++t) {
    std::memcpy(out.f32() + t * out.cols, table.f32() + static_cast<int64_t>(ids[t]) * table.cols,
                table.cols * sizeof(float));
  }
}

void CpuBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) {
  const int64_t n = x.cols;
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* in = x.f32() + r * n;
    float* o = out.f32() + r * n;
    // Mean of squares in double: the reference computes the statistic in fp32
    // from fp32 inputs; a wider sum only removes our own rounding.
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(in[i]) * in[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
    for (int64_t i = 0; i < n; ++i) o[i] = weight.f32()[i] * (in[i] * scale);
  }
}

void CpuBackend::MatMul(const Tensor& x, const Tensor& w, const Tensor& out) {
  const int64_t n = x.rows, k = x.cols, m = w.rows;
  const float* xs = x.f32();
  const float* ws = w.f32();
  float* os = out.f32();
  pool_->ParallelFor(m, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const float* wr = ws + j * k;
      for (int64_t i = 0; i < n; ++i) os[i * m + j] = Dot(xs + i * k, wr, k);
    }
  });
}

void CpuBackend::Add(const Tensor& x, const Tensor& y) {
  float* a = x.f32();
  const float* b = y.f32();
  for (int64_t i = 0, n = x.elements(); i < n; ++i) a[i] += b[i];
}

void CpuBackend::SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) {
  const float* g = gate.f32();
  const float* u = up.f32();
  float* o = out.f32();
  for (int64_t i = 0, n = gate.elements(); i < n; ++i) {
    o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

void CpuBackend::Rope(const Tensor& x, int64_t head_dim, std::span<const int32_t> positions, const Tensor& cos,
                      const Tensor& sin) {
  const int64_t half = head_dim / 2;
  const int64_t heads = x.cols / head_dim;
  for (int64_t t = 0; t < x.rows; ++t) {
    const float* c = cos.f32() + static_cast<int64_t>(positions[t]) * half;
    const float* s = sin.f32() + static_cast<int64_t>(positions[t]) * half;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x.f32() + t * x.cols + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

void CpuBackend::WriteKv(const Tensor& k, const Tensor& v, const KvView& cache, int64_t start) {
  std::memcpy(cache.keys.f32() + start * cache.keys.cols, k.data, k.bytes());
  std::memcpy(cache.values.f32() + start * cache.values.cols, v.data, v.bytes());
}

void CpuBackend::Attention(const Tensor& q, const KvView& cache, int64_t start, const AttentionShape& shape,
                           const Tensor& scratch, const Tensor& out) {
  const int64_t d = shape.head_dim;
  const int64_t group = shape.heads / shape.kv_heads;
  const int64_t kv_cols = cache.keys.cols;
  const int64_t span = start + q.rows;  // keys visible to the last query
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  pool_->ParallelFor(shape.heads, [&](int64_t head_begin, int64_t head_end) {
    for (int64_t h = head_begin; h < head_end; ++h) {
      const int64_t kv = h / group;
      float* scores = scratch.f32() + h * span;
      for (int64_t t = 0; t < q.rows; ++t) {
        const int64_t visible = start + t + 1;
        const float* qh = q.f32() + t * q.cols + h * d;
        float max_score = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < visible; ++j) {
          scores[j] = Dot(qh, cache.keys.f32() + j * kv_cols + kv * d, d) * scale;
          max_score = std::max(max_score, scores[j]);
        }
        float total = 0;
        for (int64_t j = 0; j < visible; ++j) {
          scores[j] = std::exp(scores[j] - max_score);
          total += scores[j];
        }
        float* o = out.f32() + t * out.cols + h * d;
        std::fill(o, o + d, 0.0f);
        for (int64_t j = 0; j < visible; ++j) {
          const float p = scores[j] / total;
          const float* vj = cache.values.f32() + j * kv_cols + kv * d;
          for (int64_t i = 0; i < d; ++i) o[i] += p * vj[i];
        }
      }
    }
  });
}

}  // namespace djinn
