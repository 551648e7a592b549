// The TopLogprobs op on every backend against a double-precision
// log_softmax written here (and a sort for the top list): random logits of
// vocabularies up to Qwen's 151936, top_n 0 to 20, ties (in the top list and
// at its edge), -inf / NaN / +inf entries, rows with nothing above -inf,
// chosen ids outside the top list or the vocabulary, flat rows, strided
// logits.
//
// Ids (chosen and top list) must be exact: the order is by logit, ties by
// lower id, with no arithmetic in between. ±inf and NaN exactly; finite
// log-probabilities within 4e-7 × max(1, |x|) on the CPU (a few float ulps:
// it sums in double) and 3e-6 × max(1, |x|) elsewhere (an fp32
// log-sum-exp). The output is poisoned first, so an entry left unwritten
// fails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/backend/support.h"

namespace djinn::backendtest {
namespace {

// log_softmax of one row in double, NaN as -inf; +inf entries share the
// whole probability; no entry above -inf: NaN everywhere.
std::vector<double> ReferenceLogSoftmax(const float* row, int64_t vocab) {
  std::vector<double> x(vocab);
  for (int64_t i = 0; i < vocab; ++i) x[i] = std::isnan(row[i]) ? -HUGE_VAL : row[i];
  const double max = *std::max_element(x.begin(), x.end());
  std::vector<double> out(vocab);
  if (max == -HUGE_VAL) {
    std::fill(out.begin(), out.end(), std::nan(""));
  } else if (max == HUGE_VAL) {
    const double count = static_cast<double>(std::count(x.begin(), x.end(), HUGE_VAL));
    for (int64_t i = 0; i < vocab; ++i) out[i] = x[i] == HUGE_VAL ? -std::log(count) : -HUGE_VAL;
  } else {
    double sum = 0;
    for (double v : x) sum += std::exp(v - max);
    for (int64_t i = 0; i < vocab; ++i) out[i] = x[i] - max - std::log(sum);
  }
  return out;
}

// The `count` first ids, largest logit first (NaN as -inf), equal logits by
// lower id. (The order of the log-probabilities too, except that below +inf
// logits all have logprob -inf and keep their logits' order.)
std::vector<int32_t> ReferenceOrder(const float* row, int64_t vocab, int64_t count) {
  std::vector<int32_t> ids(vocab);
  for (int64_t i = 0; i < vocab; ++i) ids[i] = static_cast<int32_t>(i);
  auto key = [&](int32_t id) { return std::isnan(row[id]) ? -kInf : row[id]; };
  std::partial_sort(ids.begin(), ids.begin() + count, ids.end(),
                    [&](int32_t a, int32_t b) { return key(a) != key(b) ? key(a) > key(b) : a < b; });
  ids.resize(count);
  return ids;
}

struct Case {
  Case(int64_t rows, int64_t vocab, int64_t top_n) : rows(rows), vocab(vocab), top_n(top_n) {}
  int64_t rows, vocab, top_n;
  std::vector<float> logits;  // rows * vocab
  std::vector<int32_t> chosen;
};

class TopLogprobsOpsTest : public BackendTest {
 protected:
  // Runs the op; returns the rows of TokenLogprob entries. With stride >
  // vocab the logits are columns [5, 5 + vocab) of a wider tensor.
  std::vector<TokenLogprob> Run(const Case& c, int64_t stride = 0) {
    Tensor logits;
    if (stride > c.vocab) {
      std::vector<float> wide(c.rows * stride, 7.0e30f);
      for (int64_t r = 0; r < c.rows; ++r) std::copy_n(&c.logits[r * c.vocab], c.vocab, &wide[r * stride + 5]);
      logits = Put(wide, c.rows, stride, DType::kFloat32).Cols(5, c.vocab);
    } else {
      logits = Put(c.logits, c.rows, c.vocab, DType::kFloat32);
    }
    const Tensor out = Poisoned(c.rows, 2 * (1 + c.top_n), DType::kInt32);
    backend().TopLogprobs(logits, PutInts(c.chosen, c.rows, 1), c.top_n, out);
    const std::vector<int32_t> ints = GetInts(out);
    std::vector<TokenLogprob> entries(ints.size() / 2);
    std::memcpy(static_cast<void*>(entries.data()), ints.data(), ints.size() * sizeof(int32_t));
    return entries;
  }

  // Equal as float results of a double computation: NaN to NaN, infinities
  // exactly, finite values within the backend's bound.
  bool Close(float got, double want) const {
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return got == static_cast<float>(want);
    return std::abs(got - want) <= (IsReference() ? 4e-7 : 3e-6) * std::max(1.0, std::abs(want));
  }

  // Entry by entry against the reference; adds one results-table row.
  void CheckAgainstReference(const Case& c, const std::vector<TokenLogprob>& got, const std::string& name) {
    const int64_t per_row = 1 + c.top_n;
    ASSERT_EQ(static_cast<int64_t>(got.size()), c.rows * per_row) << name;
    int misses = 0;
    double worst = 0;
    auto check = [&](const TokenLogprob& entry, int32_t id, double logprob, const std::string& where) {
      if (std::isfinite(logprob)) {
        const double error = std::abs(entry.logprob - logprob) / std::max(1.0, std::abs(logprob));
        worst = std::max(worst, std::isnan(error) ? HUGE_VAL : error);
      }
      if ((entry.id != id || !Close(entry.logprob, logprob)) && misses++ < 5) {
        ADD_FAILURE() << name << " " << where << ": got id " << entry.id << " logprob " << entry.logprob << ", want id "
                      << id << " logprob " << logprob;
      }
    };
    for (int64_t r = 0; r < c.rows; ++r) {
      const float* row = &c.logits[r * c.vocab];
      const std::vector<double> reference = ReferenceLogSoftmax(row, c.vocab);
      const std::vector<int32_t> order = ReferenceOrder(row, c.vocab, c.top_n);
      const std::string where = "row " + std::to_string(r);
      const bool in_range = c.chosen[r] >= 0 && c.chosen[r] < c.vocab;
      check(got[r * per_row], c.chosen[r], in_range ? reference[c.chosen[r]] : std::nan(""), where + " chosen");
      for (int64_t k = 0; k < c.top_n; ++k) {
        check(got[r * per_row + 1 + k], order[k], reference[order[k]], where + " top " + std::to_string(k));
      }
    }
    EXPECT_EQ(misses, 0) << name << ": entries that differ from the reference";
    AddResult("top_logprobs", "fp32", name, worst, IsReference() ? 4e-7 : 3e-6, false);
  }
};

// Rows of normal(0, sigma) logits (on a 0.5 grid when quantised: ties),
// chosen alternately the most likely token (greedy), the least likely one
// (outside any top list) and a random one.
Case RandomCase(std::mt19937& rng, int64_t rows, int64_t vocab, int64_t top_n, float sigma, bool quantised) {
  Case c(rows, vocab, top_n);
  std::normal_distribution<float> normal(0.0f, sigma);
  c.logits.resize(rows * vocab);
  for (float& x : c.logits) x = quantised ? std::round(normal(rng) * 2.0f) / 2.0f : normal(rng);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = &c.logits[r * vocab];
    const int32_t most = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
    const int32_t least = static_cast<int32_t>(std::min_element(row, row + vocab) - row);
    const int32_t any = static_cast<int32_t>(rng() % vocab);
    c.chosen.push_back(r % 3 == 0 ? most : r % 3 == 1 ? least : any);
  }
  return c;
}

TEST_P(TopLogprobsOpsTest, MatchesDoubleLogSoftmaxOnRandomLogits) {
  std::mt19937 rng(NextSeed());
  for (int64_t vocab : {1, 7, 20, 21, 1000, 32000, 151936}) {
    for (int64_t top_n : {0, 1, 5, 20}) {
      if (top_n > vocab) continue;
      for (float sigma : {0.5f, 3.0f, 12.0f}) {
        const Case c = RandomCase(rng, vocab > 100000 ? 3 : 6, vocab, top_n, sigma, false);
        CheckAgainstReference(c, Run(c),
                              Shape({{"vocab", vocab}, {"top_n", top_n}}) + " sigma=" + std::to_string(sigma));
      }
    }
  }
}

// Logits of models and worse (ties, -inf, NaN, +inf, empty rows), chosen
// ids the most likely token, the least likely, a random one, or one outside
// the vocabulary.
TEST_P(TopLogprobsOpsTest, MatchesDoubleLogSoftmaxOnMixedLogits) {
  const LogitsMix mix{.sigmas = {0.5f, 2.0f, 6.0f, 15.0f},
                      .quantised = 4,
                      .masked = 6,
                      .nans = 10,
                      .infinite = 20,
                      .empty = 30,
                      .masked_share = 0.5f};
  std::mt19937 rng(NextSeed());
  for (int64_t vocab :
       {int64_t{1}, int64_t{7}, int64_t{20}, int64_t{1000}, int64_t{32000}, int64_t{128256}, int64_t{151936}}) {
    for (int64_t top_n : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{20}}) {
      if (top_n > vocab) continue;
      Case c(vocab > 100000 ? 24 : 64, vocab, top_n);
      c.logits.resize(c.rows * vocab);
      for (int64_t r = 0; r < c.rows; ++r) {
        float* row = &c.logits[r * vocab];
        FillLogitsRow(rng, mix, row, vocab);
        switch (r % 5) {
          case 0: c.chosen.push_back(static_cast<int32_t>(std::max_element(row, row + vocab) - row)); break;
          case 1: c.chosen.push_back(static_cast<int32_t>(std::min_element(row, row + vocab) - row)); break;
          case 4: c.chosen.push_back(rng() % 2 == 0 ? -1 : static_cast<int32_t>(vocab)); break;
          default: c.chosen.push_back(static_cast<int32_t>(rng() % vocab)); break;
        }
      }
      CheckAgainstReference(c, Run(c), Shape({{"rows", c.rows}, {"vocab", vocab}, {"top_n", top_n}}) + " mixed");
    }
  }
}

TEST_P(TopLogprobsOpsTest, EqualLogitsGoByLowerId) {
  std::mt19937 rng(NextSeed());
  // Logits on a 0.5 grid: many ties inside the top list and at its edge.
  const Case quantised = RandomCase(rng, 6, 5000, 20, 1.0f, true);
  CheckAgainstReference(quantised, Run(quantised), "quantised");
  // Every logit equal: the top list is ids 0..19, each log(1 / vocab).
  for (int64_t vocab : {int64_t{300}, int64_t{151936}}) {
    Case flat(3, vocab, 20);
    flat.logits.assign(3 * vocab, 0.25f);
    flat.chosen = {0, static_cast<int32_t>(vocab - 1), 77};
    const std::vector<TokenLogprob> got = Run(flat);
    CheckAgainstReference(flat, got, "flat vocab=" + std::to_string(vocab));
    for (int64_t r = 0; r < 3; ++r) {
      for (int k = 0; k < 20; ++k) EXPECT_EQ(got[r * 21 + 1 + k].id, k);
      EXPECT_NEAR(got[r * 21].logprob, -std::log(static_cast<double>(vocab)), 1e-6);
    }
  }
}

TEST_P(TopLogprobsOpsTest, InfinitiesNaNsAndEmptyRows) {
  Case c(0, 40, 20);
  std::vector<float> row(40);
  auto add = [&](int32_t chosen) {
    c.logits.insert(c.logits.end(), row.begin(), row.end());
    c.chosen.push_back(chosen);
    ++c.rows;
  };
  // Only 5 entries above -inf (others -inf or NaN): the top list continues
  // with -inf entries in id order.
  for (int i = 0; i < 40; ++i) row[i] = i % 2 == 0 ? -kInf : kNaN;
  for (int i : {3, 8, 17, 30, 39}) row[i] = 0.25f * i;
  add(4);  // a -inf token: logprob -inf
  // Two +inf logits: they share everything.
  for (int i = 0; i < 40; ++i) row[i] = static_cast<float>(i % 7);
  row[11] = kInf;
  row[25] = kInf;
  add(25);
  // Nothing above -inf: NaN throughout.
  for (int i = 0; i < 40; ++i) row[i] = i % 3 == 0 ? kNaN : -kInf;
  add(0);
  // Chosen ids outside the vocabulary (a failed sample is -1).
  for (int i = 0; i < 40; ++i) row[i] = std::sin(static_cast<float>(i));
  add(-1);
  add(40);
  const std::vector<TokenLogprob> got = Run(c);
  CheckAgainstReference(c, got, "special");
  // Spelled out, so that the reference's special cases are checked too.
  const TokenLogprob* sparse = &got[0];
  EXPECT_EQ(sparse[0].logprob, -kInf);
  EXPECT_EQ(sparse[1].id, 39);
  EXPECT_EQ(sparse[6].id, 0);  // the first -inf entry: lowest id
  EXPECT_EQ(sparse[6].logprob, -kInf);
  const TokenLogprob* infinite = &got[21];
  EXPECT_FLOAT_EQ(infinite[0].logprob, -std::log(2.0f));
  EXPECT_EQ(infinite[1].id, 11);
  EXPECT_EQ(infinite[2].id, 25);
  EXPECT_EQ(infinite[3].id, 6);  // then the largest finite logits (i % 7 == 6), lowest id first
  EXPECT_EQ(infinite[3].logprob, -kInf);
  EXPECT_TRUE(std::isnan(got[42].logprob));
  EXPECT_TRUE(std::isnan(got[63].logprob));
  EXPECT_EQ(got[63].id, -1);
}

TEST_P(TopLogprobsOpsTest, WholeVocabularySumsToOne) {
  std::mt19937 rng(NextSeed());
  const Case c = RandomCase(rng, 4, 20, 20, 4.0f, false);
  const std::vector<TokenLogprob> got = Run(c);
  for (int64_t r = 0; r < c.rows; ++r) {
    double total = 0;
    for (int k = 1; k <= 20; ++k) total += std::exp(static_cast<double>(got[r * 21 + k].logprob));
    EXPECT_NEAR(total, 1.0, 1e-6) << "row " << r;
  }
}

// The logits as a column range of a wider tensor give what dense ones give.
TEST_P(TopLogprobsOpsTest, StridedLogits) {
  std::mt19937 rng(NextSeed());
  for (int64_t vocab : {int64_t{3001}, int64_t{32001}}) {
    const Case c = RandomCase(rng, 9, vocab, 20, 2.0f, false);
    const std::vector<TokenLogprob> dense = Run(c), strided = Run(c, vocab + 99);
    CheckAgainstReference(c, strided, "strided vocab=" + std::to_string(vocab));
    if (IsReference()) {
      ASSERT_EQ(dense.size(), strided.size());
      EXPECT_EQ(std::memcmp(dense.data(), strided.data(), dense.size() * sizeof(TokenLogprob)), 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, TopLogprobsOpsTest, DJINN_ALL_BACKENDS);

}  // namespace
}  // namespace djinn::backendtest
