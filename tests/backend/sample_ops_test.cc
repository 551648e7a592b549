// The Sample op on every backend against the rule it implements,
// SampleFromLogits (daemon/backend/sample_rule.h), row by row: hand-made
// rows (greedy, temperature, top-k, top-p, a row with nothing to choose, a
// +inf logit, the extreme draws) and random logits and parameters up to a
// Llama-3 vocabulary, with ties, -inf, NaN and +inf entries.
//
// Greedy rows must agree exactly. Sampled rows get the same uniform draw as
// the rule; the CPU backend runs the rule itself and must agree on every
// row. Another backend's fp32 weights may round across a boundary: a
// disagreement is allowed only where the draw (uniform × total) or the
// top-p threshold lies within 1e-5 of the total of a cumulative boundary,
// as a double-precision replay of the rule (with a full sort) measures, and
// at least 99.5% of the rows must agree.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include "daemon/backend/sample_rule.h"
#include "tests/backend/support.h"

namespace djinn::backendtest {
namespace {

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

class SampleOpsTest : public BackendTest {
 protected:
  // The backend's choice for each row of `logits` ([rows, vocab]).
  std::vector<int32_t> Sample(const std::vector<float>& logits, const std::vector<SamplingRow>& rows, int64_t vocab) {
    const int64_t n = static_cast<int64_t>(rows.size());
    std::vector<int32_t> params(n * 4);
    std::memcpy(params.data(), rows.data(), n * sizeof(SamplingRow));
    const Tensor ids = PutInts(std::vector<int32_t>(n, -12345), n, 1);
    const Tensor scratch =
        Alloc(1, static_cast<int64_t>(backend().SampleScratchBytes(n, vocab) / 4 + 1), DType::kFloat32);
    backend().Sample(Put(logits, n, vocab, DType::kFloat32), PutInts(params, n, 4), scratch, ids);
    return GetInts(ids);
  }

  // Compares the backend's choices with the rule's (-1 where the rule
  // refuses the row). A disagreement fails unless the row's margin is
  // within `allowed` (excused).
  struct Agreement {
    int64_t agree = 0, excused = 0, unexcused = 0;
  };
  Agreement CompareWithTheRule(const std::string& what, const std::vector<float>& logits,
                               const std::vector<SamplingRow>& rows, int64_t vocab, const std::vector<int32_t>& got,
                               double allowed) {
    std::vector<SampleCandidate> scratch;
    Agreement a;
    double worst = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::span<const float> row(logits.data() + r * vocab, vocab);
      const absl::StatusOr<int32_t> rule = SampleFromLogits(row, rows[r], &scratch);
      const int32_t want = rule.ok() ? *rule : -1;
      if (got[r] == want) {
        ++a.agree;
        continue;
      }
      const Margins m = Measure(row, rows[r]);
      const double margin = std::min(m.draw, m.top_p);
      worst = std::max(worst, margin);
      if (margin <= allowed) {
        ++a.excused;
        continue;
      }
      if (a.unexcused++ < 5) {
        ADD_FAILURE() << what << " row " << r << ": rule " << want << ", backend " << got[r] << " (temperature "
                      << rows[r].temperature << " top_k " << rows[r].top_k << " top_p " << rows[r].top_p << " uniform "
                      << rows[r].uniform << "; draw margin " << m.draw << ", top-p margin " << m.top_p << ")";
      }
    }
    EXPECT_EQ(a.unexcused, 0) << what << ": disagreements away from any boundary (largest margin " << worst << ")";
    return a;
  }

  // How close to a boundary a sampled row may disagree with the rule.
  double AllowedMargin() const { return IsReference() ? 0.0 : 1e-5; }
};

TEST_P(SampleOpsTest, HandMadeRowsFollowTheRule) {
  for (int64_t vocab : {5, 1000, 32}) {  // shrinking after growing reuses a backend's scratch
    SCOPED_TRACE(vocab);
    const std::vector<SamplingRow> rows = {
        {.temperature = 0, .uniform = 0.7f},  // greedy: the uniform is not read
        {.temperature = 1.0f, .uniform = 0.3f},
        {.temperature = 0.7f, .top_k = 5, .uniform = 0.9f},
        {.temperature = 1.5f, .top_p = 0.8f, .uniform = 0.5f},
        {.temperature = 1.0f, .uniform = 0.2f},  // its logits are unusable
        {.temperature = 2.0f, .top_k = 1, .uniform = std::nextafter(1.0f, 0.0f)},
        {.temperature = 1.0f, .uniform = 0.0f},
    };
    const int64_t batch = static_cast<int64_t>(rows.size());
    std::vector<float> logits = Random(batch * vocab, DType::kFloat32, -4.0f, 4.0f);
    std::fill(logits.begin() + 4 * vocab, logits.begin() + 5 * vocab, -kInf);
    logits[4 * vocab + 1] = kNaN;
    logits[6 * vocab + vocab - 1] = kInf;  // row 6: the one +inf wins
    const std::vector<int32_t> ids = Sample(logits, rows, vocab);
    CompareWithTheRule("hand-made", logits, rows, vocab, ids, AllowedMargin());
    EXPECT_EQ(ids[4], -1);
    EXPECT_EQ(ids[6], vocab - 1);
    EXPECT_EQ(ids[0], std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin());
  }
}

const LogitsMix kSampleMix{
    .sigmas = {0.5f, 1.0f, 3.0f, 8.0f}, .quantised = 5, .masked = 8, .nans = 16, .infinite = 40, .empty = 100};

TEST_P(SampleOpsTest, GreedyRowsFollowTheRuleExactly) {
  std::mt19937 rng(NextSeed());
  for (int64_t vocab : {int64_t{7}, int64_t{1000}, int64_t{32000}, int64_t{128256}}) {
    const int64_t n = vocab > 100000 ? 64 : 500;
    std::vector<float> logits(n * vocab);
    std::vector<SamplingRow> rows(n);
    for (int64_t r = 0; r < n; ++r) {
      FillLogitsRow(rng, kSampleMix, &logits[r * vocab], vocab);
      if (r % 3 == 0) {  // many equal maxima
        for (int64_t i = 0; i < vocab; ++i) logits[r * vocab + i] = std::round(logits[r * vocab + i] / 4.0f);
      }
      rows[r].temperature = std::array<float, 3>{0.0f, -1.0f, kNaN}[r % 3];
      rows[r].top_k = static_cast<int32_t>(rng() % 50);
      rows[r].top_p = 0.9f;
      rows[r].uniform = 0.5f;
    }
    const std::vector<int32_t> ids = Sample(logits, rows, vocab);
    const std::string shape = Shape({{"greedy rows", n}, {"vocab", vocab}});
    const Agreement a = CompareWithTheRule(shape, logits, rows, vocab, ids, 0.0);
    AddResult("sample", "fp32", shape, static_cast<double>(n - a.agree) / n, 0.0, false);
  }
}

TEST_P(SampleOpsTest, SampledRowsFollowTheRuleExceptAtBoundaries) {
  std::mt19937 rng(NextSeed());
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  struct Batch {
    int64_t vocab, rows;
    bool shaped;  // rows built to defeat a GPU's top-list fast path
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
        FillLogitsRow(rng, kSampleMix, &logits[r * vocab], vocab);
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
    const std::vector<int32_t> ids = Sample(logits, rows, vocab);
    const std::string shape = Shape({{"sampled rows", n}, {"vocab", vocab}, {"shaped", batch.shaped}});
    const Agreement a = CompareWithTheRule(shape, logits, rows, vocab, ids, AllowedMargin());
    // The row's error: the share of disagreements away from any boundary.
    AddResult("sample", "fp32", shape + " " + Shape({{"agree", a.agree}, {"near-boundary", a.excused}}),
              static_cast<double>(a.unexcused) / n, 0.0, false);
    total_rows += n;
    total_agree += a.agree;
  }
  const double disagree = 1.0 - static_cast<double>(total_agree) / total_rows;
  AddResult("sample", "fp32", Shape({{"all sampled rows", total_rows}, {"agree", total_agree}}) + " (disagree <= 0.5%)",
            disagree, 0.005, false);
  EXPECT_LE(disagree, 0.005) << total_agree << " of " << total_rows << " rows agree";
}

INSTANTIATE_TEST_SUITE_P(Backends, SampleOpsTest, DJINN_ALL_BACKENDS);

}  // namespace
}  // namespace djinn::backendtest
