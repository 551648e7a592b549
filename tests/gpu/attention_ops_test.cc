// PrefillAttention and DecodeAttention against the CPU reference: paged KV
// caches (pages of 16, of 1, of a whole context, handed out in a shuffled
// order; every row a sequence does not own is NaN), queries as column views
// of a fused qkv tensor, GQA and plain multi-head shapes, the tensor-core
// prefill path (fp16/bf16, head_dim 64/128) and the simple one (fp32, other
// head dims), and decode batches of 1, 3 and 16 with mixed lengths.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "tests/gpu/gpu_test_util.h"

namespace djinn::gputest {
namespace {

class GpuAttentionTest : public GpuTest {
 protected:
  // q as the first q_dim columns of a fused [rows, q_dim + 2 kv_dim] tensor.
  struct Queries {
    std::vector<float> host;  // the fused tensor
    Tensor cpu, gpu;          // the q views
  };
  Queries MakeQueries(int64_t rows, int64_t q_dim, int64_t kv_dim) {
    Queries q;
    const int64_t cols = q_dim + 2 * kv_dim;
    q.host = Random(rows * cols, dtype_, -3.0f, 3.0f);
    q.cpu = View(q.host, rows, cols).Cols(0, q_dim);
    q.gpu = Put(q.host, rows, cols).Cols(0, q_dim);
    return q;
  }
  Tensor GpuScratch(uint64_t bytes) {
    const Tensor t = Alloc(1, static_cast<int64_t>(bytes / 4 + 1), DType::kFloat32);
    Poison(t);
    return t;
  }
  static Tensor CpuScratch(std::vector<float>& storage, uint64_t bytes) {
    storage.assign(bytes / 4 + 1, 0.0f);
    return View(storage, 1, static_cast<int64_t>(storage.size()));
  }
};

TEST_P(GpuAttentionTest, Prefill) {
  struct Case {
    int64_t n, start, heads, kv_heads, head_dim, page_tokens;
  };
  const std::vector<Case> cases = {
      {1, 0, 32, 8, 128, 16},      {64, 0, 32, 8, 128, 16},      {300, 0, 32, 8, 128, 16},
      {300, 700, 32, 8, 128, 16},  {1, 1000, 32, 8, 128, 16},    {2048, 0, 40, 40, 128, 16},  // Llama-2 13B
      {2048, 0, 32, 8, 128, 4096}, {2048, 1000, 32, 8, 128, 16},                              // one page; long start
      {64, 100, 8, 2, 64, 16},     {300, 37, 8, 8, 64, 1},       {1, 0, 8, 8, 64, 16},
      {7, 11, 6, 2, 80, 16},       {3, 300, 8, 1, 256, 16},      {70, 0, 4, 2, 32, 5},  // the simple kernel
  };
  for (const Case& c : cases) {
    const int64_t layers = 2, layer = 1;
    const int64_t q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim, len = c.start + c.n;
    const AttentionShape shape{c.heads, c.kv_heads, c.head_dim};
    PagedCache cache = MakePagedCache(*this, dtype_, layers, layer, c.page_tokens, kv_dim, {len}, len);
    Queries q = MakeQueries(c.n, q_dim, kv_dim);

    std::vector<float> ref(c.n * q_dim), cpu_scratch;
    std::vector<int32_t> table(cache.tables);
    cpu_.PrefillAttention(q.cpu, cache.cpu, layer, IntView(table, 1, cache.pages_per_sequence), c.start, shape,
                          CpuScratch(cpu_scratch, cpu_.AttentionScratchBytes(shape, c.n, len)), View(ref, c.n, q_dim));

    const Tensor out = Poisoned(c.n, q_dim);
    gpu_->PrefillAttention(q.gpu, cache.gpu, layer, PutInts(table, 1, cache.pages_per_sequence), c.start, shape,
                           GpuScratch(gpu_->AttentionScratchBytes(shape, c.n, len)), out);
    Check("prefill",
          Shape({{"n", c.n},
                 {"start", c.start},
                 {"heads", c.heads},
                 {"kv", c.kv_heads},
                 {"d", c.head_dim},
                 {"page", c.page_tokens}}),
          Get(out), ref);
  }
}

TEST_P(GpuAttentionTest, Decode) {
  struct Case {
    std::vector<int64_t> lens;
    int64_t max_seq_len, heads, kv_heads, head_dim, page_tokens;
  };
  const std::vector<int64_t> mixed16 = {1, 17, 1000, 4096, 4096, 1000, 17, 1, 333, 2048, 64, 65, 4000, 5, 129, 1024};
  const std::vector<Case> cases = {
      {{1}, 4096, 32, 8, 128, 16},
      {{17}, 4096, 32, 8, 128, 16},
      {{4096}, 4096, 32, 8, 128, 16},
      {{1000, 1, 4096}, 4096, 32, 8, 128, 16},
      {mixed16, 4096, 32, 8, 128, 16},
      {{4096}, 4096, 40, 40, 128, 16},  // Llama-2 13B
      {{1, 1000, 17}, 4096, 40, 40, 128, 16},
      {{1000}, 4096, 32, 8, 64, 16},
      {{17, 4096, 1000}, 4096, 32, 8, 64, 4096},  // one page per sequence
      {{1, 17, 1000}, 8192, 32, 8, 128, 16},      // max_seq_len past every sequence
      {{300, 7}, 512, 8, 8, 64, 1},
      {{129, 1000, 3}, 1024, 8, 1, 256, 16},  // group of 8, head_dim 256
      {{50, 200}, 256, 6, 2, 80, 16},         // head_dim 80
      {{33, 5}, 64, 4, 2, 6, 16},             // head_dim 6: the scalar kernel
  };
  for (const Case& c : cases) {
    const int64_t layers = c.lens.size() > 3 ? 1 : 2, layer = layers - 1;
    const int64_t batch = static_cast<int64_t>(c.lens.size());
    const int64_t q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;
    const AttentionShape shape{c.heads, c.kv_heads, c.head_dim};
    PagedCache cache = MakePagedCache(*this, dtype_, layers, layer, c.page_tokens, kv_dim, c.lens, c.max_seq_len);
    Queries q = MakeQueries(batch, q_dim, kv_dim);
    std::vector<int32_t> lens(c.lens.begin(), c.lens.end());

    std::vector<float> ref(batch * q_dim), cpu_scratch;
    cpu_.DecodeAttention(q.cpu, cache.cpu, layer, IntView(cache.tables, batch, cache.pages_per_sequence),
                         IntView(lens, batch, 1), c.max_seq_len, shape,
                         CpuScratch(cpu_scratch, cpu_.AttentionScratchBytes(shape, batch, c.max_seq_len)),
                         View(ref, batch, q_dim));

    const Tensor out = Poisoned(batch, q_dim);
    // Scratch sized for a larger batch than this one, as the engine does.
    gpu_->DecodeAttention(q.gpu, cache.gpu, layer, PutInts(cache.tables, batch, cache.pages_per_sequence),
                          PutInts(lens, batch, 1), c.max_seq_len, shape,
                          GpuScratch(gpu_->AttentionScratchBytes(shape, batch + 5, c.max_seq_len)), out);
    std::string lens_text;
    for (int64_t len : c.lens) {
      if (!lens_text.empty()) lens_text.append(",");
      lens_text.append(std::to_string(len));
    }
    if (lens_text.size() > 16) lens_text.replace(13, std::string::npos, "...");
    Check("decode",
          Shape({{"B", batch},
                 {"max", c.max_seq_len},
                 {"heads", c.heads},
                 {"kv", c.kv_heads},
                 {"d", c.head_dim},
                 {"page", c.page_tokens}}) +
              " lens=" + lens_text,
          Get(out), ref);
  }
}

// Not a pass/fail check: the speed of both kernels on Llama-2-13B shapes.
TEST_P(GpuAttentionTest, Timing) {
  const int64_t heads = 40, kv_heads = 40, head_dim = 128, kv_dim = kv_heads * head_dim, q_dim = heads * head_dim;
  const AttentionShape shape{heads, kv_heads, head_dim};
  auto time_us = [&](const std::function<void()>& op) {
    std::vector<int32_t> sink(1);
    const Tensor flag = Alloc(1, 1, DType::kInt32);
    for (int i = 0; i < 2; ++i) op();
    gpu_->CopyToHost(flag, std::as_writable_bytes(std::span<int32_t>(sink)));
    const int kRuns = 10;
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < kRuns; ++i) op();
    gpu_->CopyToHost(flag, std::as_writable_bytes(std::span<int32_t>(sink)));
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - begin).count() / kRuns;
  };
  {  // Prefill of a 2048-token prompt (causal: about n²/2 query-key pairs per head).
    const int64_t n = 2048;
    PagedCache cache = MakePagedCache(*this, dtype_, 1, 0, 16, kv_dim, {n}, n);
    Queries q = MakeQueries(n, q_dim, kv_dim);
    const Tensor table = PutInts(cache.tables, 1, cache.pages_per_sequence), out = Alloc(n, q_dim);
    const Tensor scratch = GpuScratch(gpu_->AttentionScratchBytes(shape, n, n));
    const double us = time_us([&] { gpu_->PrefillAttention(q.gpu, cache.gpu, 0, table, 0, shape, scratch, out); });
    const double flops = 4.0 * heads * head_dim * (n * (n + 1) / 2.0);
    std::printf("gpu_backend_ops_test: %s PrefillAttention n=2048 heads=40 d=128: %.0f us per layer, %.1f TFLOP/s\n",
                Name(dtype_), us, flops / us * 1e-6);
  }
  for (int64_t batch : {int64_t{1}, int64_t{8}}) {  // Decode over 4096 cached tokens each.
    const int64_t len = 4096;
    PagedCache cache = MakePagedCache(*this, dtype_, 1, 0, 16, kv_dim, std::vector<int64_t>(batch, len), len);
    Queries q = MakeQueries(batch, q_dim, kv_dim);
    std::vector<int32_t> lens(batch, static_cast<int32_t>(len));
    const Tensor tables = PutInts(cache.tables, batch, cache.pages_per_sequence), seq_lens = PutInts(lens, batch, 1);
    const Tensor out = Alloc(batch, q_dim), scratch = GpuScratch(gpu_->AttentionScratchBytes(shape, batch, len));
    const double us =
        time_us([&] { gpu_->DecodeAttention(q.gpu, cache.gpu, 0, tables, seq_lens, len, shape, scratch, out); });
    const double bytes = 2.0 * batch * len * kv_dim * (dtype_ == DType::kFloat32 ? 4 : 2);
    std::printf(
        "gpu_backend_ops_test: %s DecodeAttention B=%lld len=4096 heads=40 d=128: %.1f us per layer, %.0f GB/s of "
        "K/V\n",
        Name(dtype_), static_cast<long long>(batch), us, bytes / us * 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GpuAttentionTest, DJINN_GPU_DTYPES);

}  // namespace
}  // namespace djinn::gputest
