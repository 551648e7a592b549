// Not pass/fail checks: how fast the CUDA backend's attention, Sample and
// TopLogprobs kernels run on model shapes (Llama-2-13B attention, a Llama-3
// vocabulary, Qwen's), printed for the results in bench/results/. Part of
// gpu_backend_ops_test; whether the ops are right is the conformance
// suite's business (tests/backend/).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <vector>

#include "tests/backend/support.h"

namespace djinn::backendtest {
namespace {

class CudaTiming : public BackendFixture {
 protected:
  // Microseconds per call of `op`, over 10 calls after 2 to warm up; a
  // CopyToHost waits for the GPU before and after.
  double MicrosecondsPerCall(const std::function<void()>& op, int runs = 10) {
    const Tensor flag = Alloc(1, 1, DType::kInt32);
    for (int i = 0; i < 2; ++i) op();
    GetInts(flag);
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < runs; ++i) op();
    GetInts(flag);
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - begin).count() / runs;
  }
};

class AttentionTimingTest : public CudaTiming, public ::testing::WithParamInterface<DType> {
 protected:
  void SetUp() override { Open("cuda", GetParam()); }
};

// Both attention kernels on Llama-2-13B shapes, in each compute dtype.
TEST_P(AttentionTimingTest, Attention) {
  const int64_t heads = 40, kv_heads = 40, head_dim = 128, kv_dim = kv_heads * head_dim, q_dim = heads * head_dim;
  const AttentionShape shape{heads, kv_heads, head_dim};
  {  // Prefill of a 2048-token prompt (causal: about n²/2 query-key pairs per head).
    const int64_t n = 2048;
    const FilledCache cache = MakeFilledCache(*this, 1, 0, 16, kv_dim, {n}, n);
    const Tensor q = Put(Random(n * q_dim, dtype(), -3.0f, 3.0f), n, q_dim);
    const Tensor table = PutInts(cache.tables, 1, cache.pages_per_sequence), out = Alloc(n, q_dim);
    GuardedScratch scratch(*this, shape, n, n);
    const double us = MicrosecondsPerCall(
        [&] { backend().PrefillAttention(q, cache.cache.device, 0, table, 0, shape, scratch.tensor(), out); });
    const double flops = 4.0 * heads * head_dim * (n * (n + 1) / 2.0);
    std::printf("gpu_backend_ops_test: %s PrefillAttention n=2048 heads=40 d=128: %.0f us per layer, %.1f TFLOP/s\n",
                ShortName(dtype()), us, flops / us * 1e-6);
  }
  for (int64_t batch : {int64_t{1}, int64_t{8}}) {  // Decode over 4096 cached tokens each.
    const int64_t len = 4096;
    const FilledCache cache = MakeFilledCache(*this, 1, 0, 16, kv_dim, std::vector<int64_t>(batch, len), len);
    const Tensor q = Put(Random(batch * q_dim, dtype(), -3.0f, 3.0f), batch, q_dim);
    const Tensor tables = PutInts(cache.tables, batch, cache.pages_per_sequence);
    const Tensor seq_lens = PutInts(std::vector<int32_t>(batch, static_cast<int32_t>(len)), batch, 1);
    const Tensor out = Alloc(batch, q_dim);
    GuardedScratch scratch(*this, shape, batch, len);
    const double us = MicrosecondsPerCall([&] {
      backend().DecodeAttention(q, cache.cache.device, 0, tables, seq_lens, len, shape, scratch.tensor(), out);
    });
    const double bytes = 2.0 * batch * len * kv_dim * DTypeSize(dtype());
    std::printf(
        "gpu_backend_ops_test: %s DecodeAttention B=%lld len=4096 heads=40 d=128: %.1f us per layer, %.0f GB/s of "
        "K/V\n",
        ShortName(dtype()), static_cast<long long>(batch), us, bytes / us * 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AttentionTimingTest,
                         ::testing::Values(DType::kFloat32, DType::kFloat16, DType::kBFloat16),
                         [](const ::testing::TestParamInfo<DType>& info) { return ShortName(info.param); });

// Sample and TopLogprobs read fp32 logits whatever the model's dtype.
class LogitsTimingTest : public CudaTiming {
 protected:
  void SetUp() override { Open("cuda", DType::kFloat32); }
};

// One row of a Llama-3 vocabulary, and 16.
TEST_F(LogitsTimingTest, Sample) {
  const int64_t vocab = 128256;
  struct Case {
    const char* what;
    int64_t rows;
    float sigma;  // logits N(0, sigma²); 0: flat in [0, 0.1) (the exact fallback)
    SamplingRow params;
  };
  for (const Case& c : {Case{"N(0,9) T=0.8 top-p=0.95", 1, 3.0f, {0.8f, 0, 0.95f, 0.7f}},
                        Case{"N(0,9) T=0.8 top-p=0.95", 16, 3.0f, {0.8f, 0, 0.95f, 0.7f}},
                        Case{"N(0,9) T=0.3 top-p=0.95", 1, 3.0f, {0.3f, 0, 0.95f, 0.7f}},
                        Case{"N(0,9) T=1 top-k=40", 1, 3.0f, {1.0f, 40, 1.0f, 0.7f}},
                        Case{"N(0,9) greedy", 1, 3.0f, {0.0f, 0, 1.0f, 0.7f}},
                        Case{"flat T=0.8 top-p=0.95", 1, 0.0f, {0.8f, 0, 0.95f, 0.7f}}}) {
    const int64_t n = c.rows;
    std::mt19937 rng(NextSeed());
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    std::normal_distribution<float> normal(0.0f, c.sigma > 0 ? c.sigma : 1.0f);
    std::vector<float> logits(n * vocab);
    for (float& x : logits) x = c.sigma > 0 ? normal(rng) : 0.1f * unit(rng);
    std::vector<int32_t> params(n * 4);
    for (int64_t r = 0; r < n; ++r) std::memcpy(&params[r * 4], &c.params, sizeof c.params);
    const Tensor tlogits = Put(logits, n, vocab, DType::kFloat32), tparams = PutInts(params, n, 4);
    const Tensor ids = Alloc(n, 1, DType::kInt32);
    const double us = MicrosecondsPerCall([&] { backend().Sample(tlogits, tparams, Tensor{}, ids); }, 50);
    std::printf("gpu_backend_ops_test: Sample %lld x %lld, %s: %.1f us per call\n", static_cast<long long>(n),
                static_cast<long long>(vocab), c.what, us);
  }
}

// One row of Qwen's vocabulary, and 64, with the most alternatives.
TEST_F(LogitsTimingTest, TopLogprobs) {
  std::mt19937 rng(NextSeed());
  const int64_t vocab = 151936;
  for (int64_t rows : {int64_t{1}, int64_t{64}}) {
    std::vector<float> logits(rows * vocab);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (float& x : logits) x = normal(rng);
    const Tensor tlogits = Put(logits, rows, vocab, DType::kFloat32);
    const Tensor chosen = PutInts(std::vector<int32_t>(rows, 5), rows, 1);
    const Tensor out = Alloc(rows, 2 * (1 + kMaxTopLogprobs), DType::kInt32);
    const double us = MicrosecondsPerCall([&] { backend().TopLogprobs(tlogits, chosen, kMaxTopLogprobs, out); }, 50);
    std::printf("gpu_backend_ops_test: TopLogprobs %lld x %lld, top 20: %.1f us per call\n",
                static_cast<long long>(rows), static_cast<long long>(vocab), us);
  }
}

}  // namespace
}  // namespace djinn::backendtest
