// The TopLogprobs op on the GPU against the CPU's (TopLogprobsRow through
// CpuBackend, itself checked against a double log_softmax in
// tests/unit/top_logprobs_op_test.cc) on random logits: vocabularies up to
// Qwen's 151936, 1 to 64 rows, top_n 0 to 20, ties, -inf / NaN / +inf
// entries, rows with nothing above -inf, chosen ids outside the top list or
// the vocabulary, strided logits.
//
// Ids (chosen and top list) must agree exactly: both order by logit, ties by
// lower id, with no arithmetic in between. Log-probabilities within 2e-6 ×
// max(1, |cpu|) (the GPU's log-sum-exp is fp32, the CPU's double); ±inf and
// NaN exactly. The output is poisoned first, so an entry left unwritten
// fails.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <tuple>
#include <string>
#include <vector>

#include "tests/gpu/gpu_test_util.h"

namespace djinn::gputest {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

class GpuTopLogprobsTest : public GpuTest {
 protected:
  // Runs both backends; returns {cpu entries, gpu entries}. With stride >
  // vocab the GPU reads the logits as columns [5, 5 + vocab) of a wider
  // tensor.
  std::pair<std::vector<TokenLogprob>, std::vector<TokenLogprob>> RunBoth(std::vector<float>& logits,
                                                                          std::vector<int32_t>& chosen, int64_t vocab,
                                                                          int64_t top_n, int64_t stride = 0) {
    const int64_t n = static_cast<int64_t>(chosen.size());
    const int64_t cols = 2 * (1 + top_n);
    std::vector<int32_t> cpu_out(n * cols, -12345);
    cpu_.TopLogprobs(View(logits, n, vocab), IntView(chosen, n, 1), top_n, IntView(cpu_out, n, cols));
    Tensor glogits;
    if (stride > vocab) {
      std::vector<float> wide(n * stride, 7.0e30f);
      for (int64_t r = 0; r < n; ++r) std::copy_n(&logits[r * vocab], vocab, &wide[r * stride + 5]);
      glogits = Put(wide, n, stride, DType::kFloat32).Cols(5, vocab);
    } else {
      glogits = Put(logits, n, vocab, DType::kFloat32);
    }
    const Tensor gout = Poisoned(n, cols, DType::kInt32);
    gpu_->TopLogprobs(glogits, PutInts(chosen, n, 1), top_n, gout);
    const std::vector<int32_t> gpu_out = GetInts(gout);
    std::vector<TokenLogprob> a(n * (1 + top_n)), b(n * (1 + top_n));
    std::memcpy(a.data(), cpu_out.data(), cpu_out.size() * sizeof(int32_t));
    std::memcpy(b.data(), gpu_out.data(), gpu_out.size() * sizeof(int32_t));
    return {a, b};
  }

  // Compares entry by entry; records one results-table row.
  void Compare(const std::vector<TokenLogprob>& cpu, const std::vector<TokenLogprob>& gpu, const std::string& shape) {
    ASSERT_EQ(cpu.size(), gpu.size());
    int64_t id_mismatches = 0, value_mismatches = 0;
    double worst = 0;
    bool nan = false;
    for (size_t i = 0; i < cpu.size(); ++i) {
      if (cpu[i].id != gpu[i].id && id_mismatches++ < 5) {
        ADD_FAILURE() << shape << " entry " << i << ": cpu id " << cpu[i].id << ", gpu id " << gpu[i].id;
      }
      const float c = cpu[i].logprob, g = gpu[i].logprob;
      bool same;
      if (std::isnan(c) || std::isinf(c)) {
        same = std::isnan(c) ? std::isnan(g) : g == c;
      } else {
        nan |= std::isnan(g);
        const double error = std::abs(static_cast<double>(g) - c) / std::max(1.0, std::abs(static_cast<double>(c)));
        worst = std::max(worst, std::isnan(error) ? HUGE_VAL : error);
        same = error <= 2e-6;
      }
      if (!same && value_mismatches++ < 5) {
        ADD_FAILURE() << shape << " entry " << i << " (id " << cpu[i].id << "): cpu " << c << ", gpu " << g;
      }
    }
    AddResult("top_logprobs", "fp32", shape, worst, 2e-6, nan);
    EXPECT_EQ(id_mismatches, 0) << shape;
    EXPECT_EQ(value_mismatches, 0) << shape;
  }
};

// Logits of one row: normal(0, sigma), some rows on a 0.5 grid (ties at the
// top list's edge), some with -inf / NaN entries, a few with +inf ones, and
// (allow_empty) now and then nothing above -inf.
void FillRow(std::mt19937& rng, float* row, int64_t vocab, bool allow_empty) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const float sigma = std::array<float, 4>{0.5f, 2.0f, 6.0f, 15.0f}[rng() % 4];
  const bool quantised = rng() % 4 == 0;
  const bool masked = rng() % 6 == 0;
  const bool nans = rng() % 10 == 0;
  const bool infinite = rng() % 20 == 0;
  for (int64_t i = 0; i < vocab; ++i) {
    float x = normal(rng) * sigma;
    if (quantised) x = std::round(x * 2.0f) / 2.0f;
    if (masked && unit(rng) < 0.5f) x = -kInf;
    if (nans && unit(rng) < 0.05f) x = kNaN;
    row[i] = x;
  }
  if (infinite) {
    for (int k = 0; k < 3; ++k) row[rng() % vocab] = kInf;
  }
  if (allow_empty && rng() % 30 == 0) {
    for (int64_t i = 0; i < vocab; ++i) row[i] = rng() % 2 == 0 ? -kInf : kNaN;
  }
}

// The chosen ids: the most likely token, the least likely, a random one, or
// (now and then) one outside the vocabulary.
std::vector<int32_t> Chosen(std::mt19937& rng, const std::vector<float>& logits, int64_t rows, int64_t vocab) {
  std::vector<int32_t> chosen;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = &logits[r * vocab];
    switch (r % 5) {
      case 0: chosen.push_back(static_cast<int32_t>(std::max_element(row, row + vocab) - row)); break;
      case 1: chosen.push_back(static_cast<int32_t>(std::min_element(row, row + vocab) - row)); break;
      case 4: chosen.push_back(rng() % 2 == 0 ? -1 : static_cast<int32_t>(vocab)); break;
      default: chosen.push_back(static_cast<int32_t>(rng() % vocab)); break;
    }
  }
  return chosen;
}

TEST_P(GpuTopLogprobsTest, MatchesTheCpu) {
  std::mt19937 rng(NextSeed());
  for (int64_t vocab : {int64_t{1}, int64_t{7}, int64_t{20}, int64_t{1000}, int64_t{32000}, int64_t{128256},
                        int64_t{151936}}) {
    for (int64_t top_n : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{20}}) {
      if (top_n > vocab) continue;
      const int64_t rows = vocab > 100000 ? 24 : 64;
      std::vector<float> logits(rows * vocab);
      for (int64_t r = 0; r < rows; ++r) FillRow(rng, &logits[r * vocab], vocab, true);
      std::vector<int32_t> chosen = Chosen(rng, logits, rows, vocab);
      const auto [cpu, gpu] = RunBoth(logits, chosen, vocab, top_n);
      Compare(cpu, gpu, Shape({{"rows", rows}, {"vocab", vocab}, {"top_n", top_n}}));
    }
  }
}

TEST_P(GpuTopLogprobsTest, FlatRowsAndStridedLogits) {
  std::mt19937 rng(NextSeed());
  // Every logit equal: ids 0..19, each log(1 / vocab).
  std::vector<float> flat(3 * 151936, 0.25f);
  std::vector<int32_t> chosen = {0, 151935, 77};
  auto [cpu, gpu] = RunBoth(flat, chosen, 151936, 20);
  Compare(cpu, gpu, "flat rows=3 vocab=151936 top_n=20");
  for (int k = 0; k < 20; ++k) EXPECT_EQ(gpu[1 + k].id, k);
  // Strided: the logits as a column range of a wider tensor.
  const int64_t vocab = 32001;
  std::vector<float> logits(8 * vocab);
  for (int64_t r = 0; r < 8; ++r) FillRow(rng, &logits[r * vocab], vocab, false);
  chosen = Chosen(rng, logits, 8, vocab);
  std::tie(cpu, gpu) = RunBoth(logits, chosen, vocab, 20, vocab + 11);
  Compare(cpu, gpu, "strided rows=8 vocab=32001 top_n=20");
}

TEST_P(GpuTopLogprobsTest, Timing) {
  std::mt19937 rng(NextSeed());
  const int64_t vocab = 151936;
  for (int64_t rows : {int64_t{1}, int64_t{64}}) {
    std::vector<float> logits(rows * vocab);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (float& x : logits) x = normal(rng);
    std::vector<int32_t> chosen(rows, 5);
    const Tensor glogits = Put(logits, rows, vocab, DType::kFloat32), gchosen = PutInts(chosen, rows, 1);
    const Tensor gout = Alloc(rows, 2 * (1 + kMaxTopLogprobs), DType::kInt32);
    std::vector<int32_t> out(gout.elements());
    for (int warm = 0; warm < 3; ++warm) gpu_->TopLogprobs(glogits, gchosen, kMaxTopLogprobs, gout);
    gpu_->CopyToHost(gout, std::as_writable_bytes(std::span<int32_t>(out)));
    const int kRuns = 50;
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < kRuns; ++i) gpu_->TopLogprobs(glogits, gchosen, kMaxTopLogprobs, gout);
    gpu_->CopyToHost(gout, std::as_writable_bytes(std::span<int32_t>(out)));
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - begin).count() / kRuns;
    std::printf("gpu_backend_ops_test: TopLogprobs %lld x %lld, top 20: %.1f us per call\n",
                static_cast<long long>(rows), static_cast<long long>(vocab), us);
  }
}

INSTANTIATE_TEST_SUITE_P(Logits, GpuTopLogprobsTest, ::testing::Values(DType::kFloat32), DTypeTestName);

}  // namespace
}  // namespace djinn::gputest
