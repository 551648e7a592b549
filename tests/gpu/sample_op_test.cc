// The Sample op against the CPU's (SampleFromLogits through CpuBackend) on
// random logits and parameters.
//
// Greedy rows must agree exactly (ties, NaN, ±inf included). Sampled rows
// get the same uniform draw on both sides and must agree except where the
// GPU's fp32 weights may round across a boundary: a disagreement is allowed
// only when the draw (uniform × total) or the top-p threshold lies within
// 1e-5 of the total of a cumulative boundary, as a double-precision replay
// of the rule (with a full sort) measures; at least 99.5% must agree.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "tests/gpu/gpu_test_util.h"

namespace djinn::gputest {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// How close a row's draw came to changing its token, by a double-precision
// replay of the rule with a full sort.
struct Margins {
  double draw = std::numeric_limits<double>::infinity();   // |uniform × total − nearest boundary| / total
  double top_p = std::numeric_limits<double>::infinity();  // |top_p × total − nearest boundary| / total
};

Margins Measure(std::span<const float> logits, const SamplingRow& row) {
  Margins m;
  float best = -kInf;
  for (float x : logits) best = x > best ? x : best;
  if (!(best > -kInf) || !(row.temperature > 0)) return m;
  const bool posinf = std::isinf(best);
  struct C {
    double logit;
    int32_t id;
  };
  std::vector<C> c;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float x = logits[i];
    if (!(x > -kInf) || (posinf && !std::isinf(x))) continue;
    c.push_back({posinf ? 0.0 : x / static_cast<double>(row.temperature), static_cast<int32_t>(i)});
  }
  std::sort(c.begin(), c.end(),
            [](const C& a, const C& b) { return a.logit != b.logit ? a.logit > b.logit : a.id < b.id; });
  const double max_logit = c[0].logit;
  size_t kept = c.size();
  if (row.top_k > 0 && static_cast<size_t>(row.top_k) < kept) kept = row.top_k;
  std::vector<double> cumulative(kept);
  double total = 0;
  for (size_t i = 0; i < kept; ++i) cumulative[i] = total += std::exp(c[i].logit - max_logit);
  auto nearest = [&](double value, size_t count) {
    double d = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < count; ++i) d = std::min(d, std::abs(cumulative[i] - value));
    return d;
  };
  if (row.top_p > 0 && row.top_p < 1) {
    const double threshold = static_cast<double>(row.top_p) * total;
    m.top_p = nearest(threshold, kept) / total;
    size_t i = 0;
    while (i < kept && cumulative[i] < threshold) ++i;
    kept = std::min(kept, i + 1);
    total = cumulative[kept - 1];
  }
  m.draw = nearest(static_cast<double>(row.uniform) * total, kept) / total;
  return m;
}

class GpuSampleTest : public GpuTest {
 protected:
  // Runs both backends on rows × vocab logits; returns {cpu ids, gpu ids}.
  std::pair<std::vector<int32_t>, std::vector<int32_t>> RunBoth(std::vector<float>& logits,
                                                                std::vector<SamplingRow>& rows, int64_t vocab) {
    const int64_t n = static_cast<int64_t>(rows.size());
    std::vector<int32_t> params(n * 4);
    std::memcpy(params.data(), rows.data(), n * sizeof(SamplingRow));
    std::vector<int32_t> cpu_ids(n, -12345);
    cpu_.Sample(View(logits, n, vocab), IntView(params, n, 4), Tensor{}, IntView(cpu_ids, n, 1));
    const Tensor glogits = Put(logits, n, vocab, DType::kFloat32);
    const Tensor gids = PutInts(std::vector<int32_t>(n, -12345), n, 1);
    const Tensor scratch = Alloc(1, static_cast<int64_t>(gpu_->SampleScratchBytes(n, vocab) / 4 + 1), DType::kFloat32);
    gpu_->Sample(glogits, PutInts(params, n, 4), scratch, gids);
    return {cpu_ids, GetInts(gids)};
  }
};

// Logits of one row: normal(0, sigma), some rows quantised (ties), some with
// -inf / NaN / +inf entries, a few with nothing above -inf.
void FillRow(std::mt19937& rng, float* row, int64_t vocab, bool allow_empty) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const float sigma = std::array<float, 4>{0.5f, 1.0f, 3.0f, 8.0f}[rng() % 4];
  const bool quantised = rng() % 5 == 0;
  const bool masked = rng() % 8 == 0;
  const bool nans = rng() % 16 == 0;
  const bool infinite = rng() % 40 == 0;
  for (int64_t i = 0; i < vocab; ++i) {
    float x = normal(rng) * sigma;
    if (quantised) x = std::round(x * 2.0f) / 2.0f;
    if (masked && unit(rng) < 0.3f) x = -kInf;
    if (nans && unit(rng) < 0.05f) x = kNaN;
    row[i] = x;
  }
  if (infinite) {
    for (int k = 0; k < 3; ++k) row[rng() % vocab] = kInf;
  }
  if (allow_empty && rng() % 100 == 0) {
    for (int64_t i = 0; i < vocab; ++i) row[i] = rng() % 2 == 0 ? -kInf : kNaN;
  }
}

TEST_P(GpuSampleTest, GreedyExact) {
  std::mt19937 rng(NextSeed());
  for (int64_t vocab : {int64_t{7}, int64_t{1000}, int64_t{32000}, int64_t{128256}}) {
    const int64_t n = vocab > 100000 ? 64 : 500;
    std::vector<float> logits(n * vocab);
    std::vector<SamplingRow> rows(n);
    for (int64_t r = 0; r < n; ++r) {
      FillRow(rng, &logits[r * vocab], vocab, true);
      if (r % 3 == 0) {  // many equal maxima
        for (int64_t i = 0; i < vocab; ++i) logits[r * vocab + i] = std::round(logits[r * vocab + i] / 4.0f);
      }
      rows[r].temperature = std::array<float, 3>{0.0f, -1.0f, kNaN}[r % 3];
      rows[r].top_k = static_cast<int32_t>(rng() % 50);
      rows[r].top_p = 0.9f;
      rows[r].uniform = 0.5f;
    }
    const auto [cpu_ids, gpu_ids] = RunBoth(logits, rows, vocab);
    int64_t differ = 0, empty = 0;
    for (int64_t r = 0; r < n; ++r) {
      if (cpu_ids[r] != gpu_ids[r] && differ++ < 5) {
        ADD_FAILURE() << "greedy vocab=" << vocab << " row " << r << ": cpu " << cpu_ids[r] << " gpu " << gpu_ids[r];
      }
      empty += cpu_ids[r] == -1;
    }
    AddResult("sample", "fp32", Shape({{"greedy rows", n}, {"vocab", vocab}, {"no-candidate rows", empty}}),
              static_cast<double>(differ) / n, 0.0, false);
    EXPECT_EQ(differ, 0);
  }
}

TEST_P(GpuSampleTest, SampledAgreesExceptAtBoundaries) {
  std::mt19937 rng(NextSeed());
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  struct Batch {
    int64_t vocab, rows;
    bool shaped;  // rows built to defeat the GPU's top-list fast path
  };
  int64_t total_rows = 0, total_agree = 0;
  for (const Batch& batch :
       {Batch{1000, 600, false}, Batch{32000, 1600, false}, Batch{128256, 100, false}, Batch{32000, 200, true}}) {
    const int64_t vocab = batch.vocab, n = batch.rows;
    std::vector<float> logits(n * vocab);
    std::vector<SamplingRow> rows(n);
    for (int64_t r = 0; r < n; ++r) {
      if (batch.shaped) {
        // Even rows: flat (one bucket holds everything). Odd rows: 100 tokens
        // 10 nats above 31900 tied ones, draws near 1, so the draw often lands
        // among the ties.
        for (int64_t i = 0; i < vocab; ++i) {
          logits[r * vocab + i] = r % 2 == 0 ? 0.1f * unit(rng) : (rng() % 320 == 0 ? 10.0f : 0.0f);
        }
      } else {
        FillRow(rng, &logits[r * vocab], vocab, true);
      }
      SamplingRow& p = rows[r];
      p.temperature = std::array<float, 5>{0.3f, 0.7f, 1.0f, 1.5f, 4.0f}[rng() % 5];
      p.top_k = std::array<int32_t, 9>{
          0, 0, 0, 1, 5, 40, 500, static_cast<int32_t>(vocab), static_cast<int32_t>(vocab + 3)}[rng() % 9];
      p.top_p = std::array<float, 7>{1.0f, 1.0f, 0.5f, 0.9f, 0.95f, 0.0f, 0.999f}[rng() % 7];
      const uint32_t pick = rng() % 50;
      p.uniform = pick == 0 ? 0.0f : pick == 1 ? 0.99999994f : unit(rng);
      if (batch.shaped && r % 2 == 1) {
        p.temperature = 1.0f;
        p.uniform = 0.97f + 0.03f * unit(rng);
      }
    }
    const auto [cpu_ids, gpu_ids] = RunBoth(logits, rows, vocab);
    int64_t agree = 0, excused = 0, unexcused = 0;
    double worst = 0;
    for (int64_t r = 0; r < n; ++r) {
      if (cpu_ids[r] == gpu_ids[r]) {
        ++agree;
        continue;
      }
      const Margins m = Measure(std::span<const float>(&logits[r * vocab], vocab), rows[r]);
      const double margin = std::min(m.draw, m.top_p);
      worst = std::max(worst, margin);
      if (margin <= 1e-5) {
        ++excused;
      } else if (unexcused++ < 5) {
        ADD_FAILURE() << "vocab=" << vocab << " row " << r << ": cpu " << cpu_ids[r] << " gpu " << gpu_ids[r]
                      << " (temperature " << rows[r].temperature << " top_k " << rows[r].top_k << " top_p "
                      << rows[r].top_p << " uniform " << rows[r].uniform << "; draw margin " << m.draw
                      << ", top-p margin " << m.top_p << ")";
      }
    }
    // The row's error: the share of disagreements away from any boundary.
    AddResult("sample", "fp32",
              Shape({{"sampled rows", n},
                     {"vocab", vocab},
                     {"shaped", batch.shaped},
                     {"agree", agree},
                     {"near-boundary", excused}}),
              static_cast<double>(unexcused) / n, 0.0, false);
    EXPECT_EQ(unexcused, 0) << "disagreements away from any boundary (largest margin " << worst << ")";
    total_rows += n;
    total_agree += agree;
  }
  AddResult("sample", "fp32", Shape({{"all sampled rows", total_rows}, {"agree", total_agree}}) + " (disagree <= 0.5%)",
            1.0 - static_cast<double>(total_agree) / total_rows, 0.005, false);
  EXPECT_GE(static_cast<double>(total_agree) / total_rows, 0.995);
}

// Not a pass/fail check: how long one row of a Llama-3 vocabulary takes.
TEST_P(GpuSampleTest, Timing) {
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
    const Tensor glogits = Put(logits, n, vocab, DType::kFloat32), gparams = PutInts(params, n, 4);
    const Tensor gids = Alloc(n, 1, DType::kInt32);
    std::vector<int32_t> out(n);
    for (int warm = 0; warm < 3; ++warm) gpu_->Sample(glogits, gparams, Tensor{}, gids);
    gpu_->CopyToHost(gids, std::as_writable_bytes(std::span<int32_t>(out)));
    const int kRuns = 50;
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < kRuns; ++i) gpu_->Sample(glogits, gparams, Tensor{}, gids);
    gpu_->CopyToHost(gids, std::as_writable_bytes(std::span<int32_t>(out)));
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - begin).count() / kRuns;
    std::printf("gpu_backend_ops_test: Sample %lld x %lld, %s: %.1f us per call\n", static_cast<long long>(n),
                static_cast<long long>(vocab), c.what, us);
  }
}

INSTANTIATE_TEST_SUITE_P(Logits, GpuSampleTest, ::testing::Values(DType::kFloat32), DTypeTestName);

}  // namespace
}  // namespace djinn::gputest
