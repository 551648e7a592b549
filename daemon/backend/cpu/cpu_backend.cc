#include "daemon/backend/cpu/cpu_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/float16.h"
#include "daemon/backend/cpu/top_logprobs.h"

namespace djinn {
namespace {

// Shape and dtype checks: a violation is a bug in the caller, and reading
// int32 as float (or past a table) would give silent garbage, not an error.
void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "djinn cpu backend: requirement failed: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

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

// out = in / rms(in) * weight over n values; out may be in (each value is
// read before it is written).
void RmsNormSlice(const float* in, const float* weight, int64_t n, float eps, float* out) {
  // Mean of squares in double: the reference computes the statistic in fp32
  // from fp32 inputs; a wider sum only removes our own rounding.
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(in[i]) * in[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (in[i] * scale);
}

float* F32Row(const Tensor& t, int64_t r) { return reinterpret_cast<float*>(t.row(r)); }
int32_t* I32Row(const Tensor& t, int64_t r) { return reinterpret_cast<int32_t*>(t.row(r)); }

// Row `row` of page `page` of `layer`'s keys (which 0) or values (which 1),
// addressed as KvCacheLayout documents.
float* KvRow(const KvCacheLayout& cache, int64_t layer, int64_t page, int64_t row, int which) {
  const int64_t block = (page * cache.layers + layer) * 2 + which;
  return static_cast<float*>(cache.base) + (block * cache.page_tokens + row) * cache.kv_dim;
}

// A sequence's keys or values for one layer, token by token through its page
// table.
struct PagedRows {
  const KvCacheLayout& cache;
  int64_t layer;
  const int32_t* page_table;
  int which;

  const float* operator[](int64_t token) const {
    return KvRow(cache, layer, page_table[token / cache.page_tokens], token % cache.page_tokens, which);
  }
};

// One query head attending to the first `visible` tokens of a sequence: the
// whole of attention for one (query row, head). Prefill and decode both run
// exactly this, so a decode row equals the prefill row at the same position
// bit for bit. `scores` holds `visible` floats.
void AttendOneHead(const float* q, const PagedRows& keys, const PagedRows& values, int64_t visible,
                   int64_t kv_offset, int64_t d, float* scores, float* out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < visible; ++j) {
    scores[j] = Dot(q, keys[j] + kv_offset, d) * scale;
    max_score = std::max(max_score, scores[j]);
  }
  float total = 0;
  for (int64_t j = 0; j < visible; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    total += scores[j];
  }
  std::fill(out, out + d, 0.0f);
  for (int64_t j = 0; j < visible; ++j) {
    const float p = scores[j] / total;
    const float* vj = values[j] + kv_offset;
    for (int64_t i = 0; i < d; ++i) out[i] += p * vj[i];
  }
}

void RequireAttentionArgs(const Tensor& q, const KvCacheLayout& cache, const AttentionShape& shape,
                          const Tensor& out) {
  Require(cache.dtype == DType::kFloat32 && q.dtype == DType::kFloat32 && out.dtype == DType::kFloat32,
          "attention: q, cache and out are float32");
  Require(shape.kv_heads > 0 && shape.heads % shape.kv_heads == 0, "attention: heads a multiple of kv_heads");
  Require(cache.kv_dim == shape.kv_heads * shape.head_dim, "attention: cache.kv_dim == kv_heads * head_dim");
  Require(q.cols == shape.heads * shape.head_dim && out.cols == q.cols && out.rows == q.rows && out.dense(),
          "attention: q and dense out are [n, heads * head_dim]");
}

// An event: the queue it was last recorded on and, on the copy queue, the
// copy it waits for (0: none, reached).
class CpuQueueEvent final : public QueueEvent {
 public:
  explicit CpuQueueEvent(bool timing) : timing(timing) {}
  const bool timing;
  Queue queue = Queue::kCompute;
  uint64_t copy = 0;
  std::chrono::steady_clock::time_point recorded_at;  // timing events only
};

CpuQueueEvent* AsCpuEvent(QueueEvent* event) {
  auto* cpu = dynamic_cast<CpuQueueEvent*>(event);
  Require(cpu != nullptr, "events come from this backend's CreateEvent");
  return cpu;
}

class CallbackGraph final : public OpGraph {
 public:
  explicit CallbackGraph(std::function<void()> issue) : issue_(std::move(issue)) {}
  void Replay() override { issue_(); }

 private:
  std::function<void()> issue_;
};

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

// The value of a /proc/meminfo line such as "MemTotal:  16318480 kB" in
// bytes, if the line is `key` ("MemTotal:").
std::optional<uint64_t> MeminfoBytes(absl::string_view line, absl::string_view key) {
  if (!absl::ConsumePrefix(&line, key)) return std::nullopt;
  line = absl::StripAsciiWhitespace(line);
  const bool kibibytes = absl::ConsumeSuffix(&line, "kB");  // the kernel's "kB" is 1024 bytes
  uint64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &value)) return std::nullopt;
  return kibibytes ? value * 1024 : value;
}

}  // namespace

CpuBackend::CpuBackend(int threads) : pool_(std::make_unique<ThreadPool>(threads)) {
  copy_thread_ = std::thread([this] { CopyLoop(); });
}

CpuBackend::~CpuBackend() {
  {
    std::lock_guard<std::mutex> lock(copy_mutex_);
    copy_stopping_ = true;
  }
  copy_ready_.notify_one();
  copy_thread_.join();  // CopyLoop drains the queue first
}

DeviceDescription CpuBackend::Describe() const {
  const uint64_t total = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
  return {"cpu", CpuModelName(), total, "cpu"};
}

// MemAvailable, not MemFree: the kernel's estimate of what could be given to
// a new allocation without swapping (page cache included), so "used" is what
// is really taken. Inside a container these are still the host's figures,
// not the cgroup's limit.
absl::StatusOr<DeviceMemoryUsage> CpuBackend::MemoryUsage() const {
  std::ifstream in("/proc/meminfo");
  if (!in) return absl::UnavailableError("cannot open /proc/meminfo");
  std::optional<uint64_t> total, available;
  std::string line;
  while ((!total || !available) && std::getline(in, line)) {
    if (!total) total = MeminfoBytes(line, "MemTotal:");
    if (!available) available = MeminfoBytes(line, "MemAvailable:");
  }
  if (!total || !available) return absl::UnavailableError("/proc/meminfo lacks MemTotal or MemAvailable");
  return DeviceMemoryUsage{*total, *total - std::min(*available, *total)};
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

void CpuBackend::ReleaseArena(std::byte* base, uint64_t bytes) {
  WaitForCopy(copies_issued_);  // a queued copy may still write to it
  ::munmap(base, bytes);
}

void CpuBackend::Upload(std::span<const std::byte> source, DType source_dtype, const Tensor& dst) {
  Require(dst.dense(), "Upload: dst is dense");
  const int64_t n = dst.elements();
  Require(source.size() >= static_cast<size_t>(n) * DTypeSize(source_dtype), "Upload: source holds dst.elements()");
  if (dst.dtype == DType::kInt32) {
    Require(source_dtype == DType::kInt32, "Upload: int32 tensors take int32 sources only");
    std::memcpy(dst.data, source.data(), n * sizeof(int32_t));
    return;
  }
  Require(dst.dtype == DType::kFloat32, "Upload: dst is float32 or int32 (the CPU computes in float32)");
  float* out = dst.f32();
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
    case DType::kInt32:
      Require(false, "Upload: float32 tensors take floating-point sources only");
  }
}

void CpuBackend::Download(const Tensor& src, std::span<float> host) {
  Require(src.dtype == DType::kFloat32, "Download: src is float32");
  const size_t cols = static_cast<size_t>(src.cols);
  size_t done = 0;
  for (int64_t r = 0; r < src.rows && done < host.size(); ++r) {
    const size_t count = std::min(cols, host.size() - done);
    std::memcpy(host.data() + done, src.row(r), count * sizeof(float));
    done += count;
  }
}

void CpuBackend::CopyToHost(const Tensor& src, std::span<std::byte> host) {
  Require(src.dense(), "CopyToHost: src is dense");
  std::memcpy(host.data(), src.data, std::min(host.size(), src.bytes()));
}

std::unique_ptr<OpGraph> CpuBackend::Record(const std::function<void()>& issue) {
  return std::make_unique<CallbackGraph>(issue);
}

// ------------------------------------------------------------ streaming

void CpuBackend::CopyLoop() {
  std::unique_lock<std::mutex> lock(copy_mutex_);
  while (true) {
    copy_ready_.wait(lock, [this] { return copy_stopping_ || !copy_tasks_.empty(); });
    if (copy_tasks_.empty()) return;  // stopping, and nothing left to copy
    const CopyTask task = copy_tasks_.front();
    copy_tasks_.pop_front();
    lock.unlock();
    std::memcpy(task.destination, task.source, task.bytes);
    lock.lock();
    ++copies_done_;
    copy_finished_at_[copies_done_ % kCopyTimes] = std::chrono::steady_clock::now();
    copy_done_.notify_all();
  }
}

void CpuBackend::WaitForCopy(uint64_t sequence) {
  std::unique_lock<std::mutex> lock(copy_mutex_);
  copy_done_.wait(lock, [&] { return copies_done_ >= sequence; });
}

absl::StatusOr<std::byte*> CpuBackend::AllocateHostMemory(uint64_t bytes) {
  // Not MAP_NORESERVE: the memory is committed now, so a request the host
  // cannot back fails here rather than at first touch (where it can).
  void* memory = ::mmap(nullptr, std::max<uint64_t>(bytes, 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
  if (memory == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes of host memory: ", std::strerror(errno)));
  }
  return static_cast<std::byte*>(memory);
}

void CpuBackend::FreeHostMemory(std::byte* memory, uint64_t bytes) {
  if (memory == nullptr) return;
  WaitForCopy(copies_issued_);  // a queued copy may still read it
  ::munmap(memory, std::max<uint64_t>(bytes, 1));
}

void CpuBackend::CopyToDevice(const std::byte* host, void* device, uint64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(copy_mutex_);
    copy_tasks_.push_back({host, device, bytes});
    ++copies_issued_;
  }
  copy_ready_.notify_one();
}

std::unique_ptr<QueueEvent> CpuBackend::CreateEvent() { return std::make_unique<CpuQueueEvent>(false); }

std::unique_ptr<QueueEvent> CpuBackend::CreateTimingEvent() { return std::make_unique<CpuQueueEvent>(true); }

void CpuBackend::RecordEvent(QueueEvent* event, Queue queue) {
  CpuQueueEvent* e = AsCpuEvent(event);
  e->queue = queue;
  // copies_issued_ is written only by this (the issuing) thread.
  e->copy = queue == Queue::kCopy ? copies_issued_ : 0;
  if (e->timing) e->recorded_at = std::chrono::steady_clock::now();
}

double CpuBackend::SecondsBetween(QueueEvent* from, QueueEvent* to) {
  auto reached = [this](const CpuQueueEvent& e) -> std::optional<std::chrono::steady_clock::time_point> {
    Require(e.timing, "SecondsBetween takes timing events");
    if (e.queue == Queue::kCompute || e.copy == 0) return e.recorded_at;
    WaitForCopy(e.copy);
    std::lock_guard<std::mutex> lock(copy_mutex_);
    if (copies_done_ - e.copy >= kCopyTimes) return std::nullopt;  // overwritten since
    return std::max(e.recorded_at, copy_finished_at_[e.copy % kCopyTimes]);
  };
  const auto a = reached(*AsCpuEvent(from)), b = reached(*AsCpuEvent(to));
  if (!a.has_value() || !b.has_value()) return std::numeric_limits<double>::quiet_NaN();
  return std::chrono::duration<double>(*b - *a).count();
}

void CpuBackend::WaitForEvent(Queue queue, QueueEvent* event) {
  const CpuQueueEvent* e = AsCpuEvent(event);
  if (queue == Queue::kCompute && e->queue == Queue::kCopy) WaitForCopy(e->copy);
  // Otherwise satisfied already: compute is synchronous, so a compute-queue
  // event was reached when recorded and nothing later on compute can start
  // before this returns; and copies run in issue order, so copy-queue work
  // issued from now on starts after every copy issued before.
}

void CpuBackend::Synchronize(QueueEvent* event) {
  const CpuQueueEvent* e = AsCpuEvent(event);
  if (e->queue == Queue::kCopy) WaitForCopy(e->copy);
}

// ------------------------------------------------------------ ops

void CpuBackend::Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) {
  Require(ids.dtype == DType::kInt32, "Embedding: ids are int32");
  for (int64_t t = 0; t < ids.rows; ++t) {
    const int64_t id = I32Row(ids, t)[0];
    Require(id >= 0 && id < table.rows, "Embedding: ids within the table");
    std::memcpy(F32Row(out, t), F32Row(table, id), table.cols * sizeof(float));
  }
}

void CpuBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) {
  for (int64_t r = 0; r < x.rows; ++r) RmsNormSlice(F32Row(x, r), weight.f32(), x.cols, eps, F32Row(out, r));
}

void CpuBackend::MatMul(const Tensor& x, const Tensor& w, const Tensor& out) {
  Require(x.dense() && w.dense() && out.dense(), "MatMul: x, w and out are dense");
  Require(x.dtype == DType::kFloat32 && w.dtype == DType::kFloat32 && out.dtype == DType::kFloat32,
          "MatMul: float32 only on the CPU");
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
  Require(x.dense() && y.dense(), "Add: x and y are dense");
  float* a = x.f32();
  const float* b = y.f32();
  for (int64_t i = 0, n = x.elements(); i < n; ++i) a[i] += b[i];
}

void CpuBackend::SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) {
  Require(out.dense(), "SiluMul: out is dense");
  for (int64_t r = 0; r < gate.rows; ++r) {
    const float* g = F32Row(gate, r);
    const float* u = F32Row(up, r);
    float* o = F32Row(out, r);
    for (int64_t i = 0; i < gate.cols; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

void CpuBackend::AddBias(const Tensor& x, const Tensor& bias) {
  Require(bias.elements() == x.cols, "AddBias: one bias per column");
  const float* b = bias.f32();
  for (int64_t r = 0; r < x.rows; ++r) {
    float* row = F32Row(x, r);
    for (int64_t i = 0; i < x.cols; ++i) row[i] += b[i];
  }
}

void CpuBackend::HeadRmsNorm(const Tensor& x, int64_t head_dim, const Tensor& weight, float eps) {
  Require(head_dim > 0 && x.cols % head_dim == 0, "HeadRmsNorm: whole heads");
  Require(weight.elements() == head_dim, "HeadRmsNorm: one weight per head element");
  for (int64_t r = 0; r < x.rows; ++r) {
    for (int64_t h = 0; h < x.cols / head_dim; ++h) {
      float* head = F32Row(x, r) + h * head_dim;
      RmsNormSlice(head, weight.f32(), head_dim, eps, head);
    }
  }
}

void CpuBackend::Rope(const Tensor& x, int64_t head_dim, const Tensor& positions, const Tensor& cos,
                      const Tensor& sin) {
  Require(positions.dtype == DType::kInt32, "Rope: positions are int32");
  const int64_t half = head_dim / 2;
  const int64_t heads = x.cols / head_dim;
  for (int64_t t = 0; t < x.rows; ++t) {
    const int64_t position = I32Row(positions, t)[0];
    Require(position >= 0 && position < cos.rows, "Rope: positions within the cos/sin tables");
    const float* c = F32Row(cos, position);
    const float* s = F32Row(sin, position);
    for (int64_t h = 0; h < heads; ++h) {
      float* v = F32Row(x, t) + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

void CpuBackend::WriteKv(const Tensor& k, const Tensor& v, const KvCacheLayout& cache, int64_t layer,
                         const Tensor& destinations) {
  Require(destinations.dtype == DType::kInt32, "WriteKv: destinations are int32");
  Require(cache.dtype == DType::kFloat32 && k.cols == cache.kv_dim && v.cols == cache.kv_dim,
          "WriteKv: float32 cache, k and v [n, kv_dim]");
  const size_t row_bytes = cache.kv_dim * sizeof(float);
  for (int64_t t = 0; t < k.rows; ++t) {
    const int64_t d = I32Row(destinations, t)[0];
    Require(d >= 0, "WriteKv: destinations are not negative");
    const int64_t page = d / cache.page_tokens, row = d % cache.page_tokens;
    std::memcpy(KvRow(cache, layer, page, row, 0), k.row(t), row_bytes);
    std::memcpy(KvRow(cache, layer, page, row, 1), v.row(t), row_bytes);
  }
}

void CpuBackend::ForEachInSlots(int64_t count, int64_t slots, const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t parts = std::min(count, slots);
  if (parts <= 0) return;
  pool_->ParallelFor(parts, [&](int64_t first, int64_t last) {
    for (int64_t p = first; p < last; ++p) {
      for (int64_t i = count * p / parts, end = count * (p + 1) / parts; i < end; ++i) fn(i, p);
    }
  });
}

uint64_t CpuBackend::AttentionScratchBytes(const AttentionShape& shape, int64_t rows, int64_t max_seq_len) const {
  const int64_t slots = std::min<int64_t>(pool_->size(), rows * shape.heads);
  return static_cast<uint64_t>(slots) * static_cast<uint64_t>(max_seq_len) * sizeof(float);
}

void CpuBackend::PrefillAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_table,
                                  int64_t start, const AttentionShape& shape, const Tensor& scratch,
                                  const Tensor& out) {
  RequireAttentionArgs(q, cache, shape, out);
  Require(page_table.dtype == DType::kInt32, "PrefillAttention: page_table is int32");
  const int64_t d = shape.head_dim;
  const int64_t group = shape.heads / shape.kv_heads;
  const int64_t span = start + q.rows;  // keys visible to the last query
  const int64_t slots = std::min<int64_t>(pool_->size(), shape.heads);
  Require(scratch.bytes() >= static_cast<size_t>(slots * span) * sizeof(float),
          "PrefillAttention: scratch of AttentionScratchBytes");
  const PagedRows keys{cache, layer, I32Row(page_table, 0), 0};
  const PagedRows values{cache, layer, I32Row(page_table, 0), 1};
  // One head per item: its query rows in order share one score row.
  ForEachInSlots(shape.heads, slots, [&](int64_t h, int64_t slot) {
    float* scores = scratch.f32() + slot * span;
    const int64_t kv_offset = (h / group) * d;
    for (int64_t t = 0; t < q.rows; ++t) {
      AttendOneHead(F32Row(q, t) + h * d, keys, values, start + t + 1, kv_offset, d, scores, F32Row(out, t) + h * d);
    }
  });
}

void CpuBackend::DecodeAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_tables,
                                 const Tensor& seq_lens, int64_t max_seq_len, const AttentionShape& shape,
                                 const Tensor& scratch, const Tensor& out) {
  RequireAttentionArgs(q, cache, shape, out);
  Require(page_tables.dtype == DType::kInt32 && seq_lens.dtype == DType::kInt32 && page_tables.rows >= q.rows &&
              seq_lens.rows >= q.rows,
          "DecodeAttention: int32 page_tables and seq_lens, a row per query row");
  const int64_t d = shape.head_dim;
  const int64_t group = shape.heads / shape.kv_heads;
  const int64_t slots = std::min<int64_t>(pool_->size(), q.rows * shape.heads);
  Require(scratch.bytes() >= static_cast<size_t>(slots * max_seq_len) * sizeof(float),
          "DecodeAttention: scratch of AttentionScratchBytes");
  // One (row, head) per item, so that a single sequence still uses every
  // core; the CPU gains nothing from also splitting along the keys.
  ForEachInSlots(q.rows * shape.heads, slots, [&](int64_t item, int64_t slot) {
    const int64_t b = item / shape.heads, h = item % shape.heads;
    const int64_t visible = I32Row(seq_lens, b)[0];
    Require(visible >= 1 && visible <= max_seq_len, "DecodeAttention: seq_lens in [1, max_seq_len]");
    const PagedRows keys{cache, layer, I32Row(page_tables, b), 0};
    const PagedRows values{cache, layer, I32Row(page_tables, b), 1};
    AttendOneHead(F32Row(q, b) + h * d, keys, values, visible, (h / group) * d, d,
                  scratch.f32() + slot * max_seq_len, F32Row(out, b) + h * d);
  });
}

void CpuBackend::Sample(const Tensor& logits, const Tensor& params, const Tensor& scratch, const Tensor& ids) {
  Require(logits.dtype == DType::kFloat32 && params.dtype == DType::kInt32 && params.cols == 4 &&
              ids.dtype == DType::kInt32 && params.rows >= logits.rows && ids.rows >= logits.rows,
          "Sample: float32 logits [B, vocab], int32 params [B, 4] and ids [B, 1]");
  // Reserved once for the whole vocabulary: SampleFromLogits then never
  // grows it.
  sample_candidates_.reserve(static_cast<size_t>(logits.cols));
  for (int64_t b = 0; b < logits.rows; ++b) {
    SamplingRow row;
    std::memcpy(&row, params.row(b), sizeof(row));
    const std::span<const float> values(F32Row(logits, b), static_cast<size_t>(logits.cols));
    const absl::StatusOr<int32_t> id = SampleFromLogits(values, row, &sample_candidates_);
    I32Row(ids, b)[0] = id.ok() ? *id : -1;
  }
}

void CpuBackend::TopLogprobs(const Tensor& logits, const Tensor& ids, int64_t top_n, const Tensor& out) {
  Require(logits.dtype == DType::kFloat32 && ids.dtype == DType::kInt32 && ids.rows >= logits.rows,
          "TopLogprobs: float32 logits [B, vocab] and int32 ids [B, 1]");
  Require(top_n >= 0 && top_n <= kMaxTopLogprobs && top_n <= logits.cols,
          "TopLogprobs: top_n in [0, min(kMaxTopLogprobs, vocab)]");
  Require(out.dtype == DType::kInt32 && out.dense() && out.rows >= logits.rows && out.cols == 2 * (1 + top_n),
          "TopLogprobs: dense int32 out [B, 2 * (1 + top_n)]");
  const int64_t slots = std::min<int64_t>(pool_->size(), logits.rows);
  ForEachInSlots(logits.rows, slots, [&](int64_t b, int64_t) {
    const std::span<const float> row(F32Row(logits, b), static_cast<size_t>(logits.cols));
    TopLogprobsRow(row, I32Row(ids, b)[0], top_n, reinterpret_cast<TokenLogprob*>(I32Row(out, b)));
  });
}

}  // namespace djinn
