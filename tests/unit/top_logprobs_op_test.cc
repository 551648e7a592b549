// The CPU backend's TopLogprobs op against a straightforward double-precision
// log_softmax written here (and a full sort for the top list), on random
// logits of many vocabulary sizes, with ties, -inf, NaN and +inf entries,
// chosen ids outside the top list or outside the vocabulary, strided logits,
// and any thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "daemon/backend/cpu/cpu_backend.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

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

// Every id, largest logit first (NaN as -inf), equal logits by lower id.
// (The order of the log-probabilities too, except that below +inf logits
// all have logprob -inf and keep their logits' order.)
std::vector<int32_t> ReferenceOrder(const float* row, int64_t vocab) {
  std::vector<int32_t> ids(vocab);
  for (int64_t i = 0; i < vocab; ++i) ids[i] = static_cast<int32_t>(i);
  auto key = [&](int32_t id) { return std::isnan(row[id]) ? -kInf : row[id]; };
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return key(a) > key(b); });
  return ids;
}

// Equal as float results of a double computation: NaN to NaN, infinities
// exactly, finite values within a few float ulps.
void ExpectClose(float got, double want, const std::string& where) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << where << ": got " << got << ", want NaN";
  } else if (std::isinf(want)) {
    EXPECT_EQ(got, static_cast<float>(want)) << where;
  } else {
    EXPECT_NEAR(got, want, 4e-7 * std::max(1.0, std::abs(want))) << where;
  }
}

struct Case {
  std::vector<float> logits;  // rows * vocab
  std::vector<int32_t> chosen;
  int64_t rows = 0, vocab = 0, top_n = 0;
};

// Runs the op; returns the rows of TokenLogprob entries.
std::vector<TokenLogprob> RunOp(CpuBackend& backend, Case& c, int64_t stride = 0) {
  std::vector<float> wide;
  Tensor logits{c.logits.data(), DType::kFloat32, c.rows, c.vocab};
  if (stride > c.vocab) {  // the same logits as columns of a wider tensor
    wide.assign(c.rows * stride, 12345.0f);
    for (int64_t r = 0; r < c.rows; ++r) std::copy_n(&c.logits[r * c.vocab], c.vocab, &wide[r * stride + 3]);
    logits = Tensor{wide.data(), DType::kFloat32, c.rows, stride}.Cols(3, c.vocab);
  }
  std::vector<int32_t> out(c.rows * 2 * (1 + c.top_n), -7);
  backend.TopLogprobs(logits, Tensor{c.chosen.data(), DType::kInt32, c.rows, 1}, c.top_n,
                      Tensor{out.data(), DType::kInt32, c.rows, 2 * (1 + c.top_n)});
  std::vector<TokenLogprob> entries(out.size() / 2);
  std::memcpy(entries.data(), out.data(), out.size() * sizeof(int32_t));
  return entries;
}

void CheckAgainstReference(const Case& c, const std::vector<TokenLogprob>& got, const std::string& name) {
  const int64_t per_row = 1 + c.top_n;
  for (int64_t r = 0; r < c.rows; ++r) {
    const std::string where = name + " row " + std::to_string(r);
    const std::vector<double> reference = ReferenceLogSoftmax(&c.logits[r * c.vocab], c.vocab);
    const std::vector<int32_t> order = ReferenceOrder(&c.logits[r * c.vocab], c.vocab);
    const TokenLogprob* row = &got[r * per_row];
    EXPECT_EQ(row[0].id, c.chosen[r]) << where;
    const bool in_range = c.chosen[r] >= 0 && c.chosen[r] < c.vocab;
    ExpectClose(row[0].logprob, in_range ? reference[c.chosen[r]] : std::nan(""), where + " chosen");
    for (int64_t k = 0; k < c.top_n; ++k) {
      EXPECT_EQ(row[1 + k].id, order[k]) << where << " top " << k;
      ExpectClose(row[1 + k].logprob, reference[order[k]], where + " top " + std::to_string(k));
    }
  }
}

Case RandomCase(std::mt19937& rng, int64_t rows, int64_t vocab, int64_t top_n, float sigma, bool quantised) {
  Case c;
  c.rows = rows;
  c.vocab = vocab;
  c.top_n = top_n;
  std::normal_distribution<float> normal(0.0f, sigma);
  c.logits.resize(rows * vocab);
  for (float& x : c.logits) x = quantised ? std::round(normal(rng) * 2.0f) / 2.0f : normal(rng);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = &c.logits[r * vocab];
    // Alternately the most likely token (greedy), the least likely one
    // (outside any top list) and a random one.
    const int32_t most = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
    const int32_t least = static_cast<int32_t>(std::min_element(row, row + vocab) - row);
    const int32_t any = static_cast<int32_t>(rng() % vocab);
    c.chosen.push_back(r % 3 == 0 ? most : r % 3 == 1 ? least : any);
  }
  return c;
}

TEST(TopLogprobsOpTest, MatchesDoubleLogSoftmaxOnRandomLogits) {
  std::mt19937 rng(20261204);
  CpuBackend backend(2);
  for (int64_t vocab : {1, 7, 20, 21, 1000, 32000, 151936}) {
    for (int64_t top_n : {0, 1, 5, 20}) {
      if (top_n > vocab) continue;
      for (float sigma : {0.5f, 3.0f, 12.0f}) {
        Case c = RandomCase(rng, vocab > 100000 ? 3 : 6, vocab, top_n, sigma, false);
        CheckAgainstReference(c, RunOp(backend, c),
                              "vocab " + std::to_string(vocab) + " top_n " + std::to_string(top_n));
      }
    }
  }
}

TEST(TopLogprobsOpTest, EqualLogitsGoByLowerId) {
  std::mt19937 rng(5);
  CpuBackend backend(2);
  // Logits on a 0.5 grid: many ties inside the top list and at its edge.
  Case c = RandomCase(rng, 6, 5000, 20, 1.0f, true);
  CheckAgainstReference(c, RunOp(backend, c), "quantised");
  // Every logit equal: the top list is ids 0..19, each log(1 / vocab).
  Case flat;
  flat.rows = 1;
  flat.vocab = 300;
  flat.top_n = 20;
  flat.logits.assign(300, 1.5f);
  flat.chosen = {299};
  const std::vector<TokenLogprob> got = RunOp(backend, flat);
  for (int k = 0; k < 20; ++k) {
    EXPECT_EQ(got[1 + k].id, k);
    EXPECT_NEAR(got[1 + k].logprob, -std::log(300.0), 1e-6);
  }
  EXPECT_NEAR(got[0].logprob, -std::log(300.0), 1e-6);
}

TEST(TopLogprobsOpTest, InfinitiesNaNsAndEmptyRows) {
  CpuBackend backend(2);
  Case c;
  c.vocab = 40;
  c.top_n = 20;
  std::vector<std::vector<float>> rows;
  std::vector<float> row(40);
  // Only 5 entries above -inf (others -inf or NaN): the top list continues
  // with -inf entries in id order.
  for (int i = 0; i < 40; ++i) row[i] = i % 2 == 0 ? -kInf : kNaN;
  for (int i : {3, 8, 17, 30, 39}) row[i] = 0.25f * i;
  rows.push_back(row);
  c.chosen.push_back(4);  // a -inf token: logprob -inf
  // Two +inf logits: they share everything.
  for (int i = 0; i < 40; ++i) row[i] = static_cast<float>(i % 7);
  row[11] = kInf;
  row[25] = kInf;
  rows.push_back(row);
  c.chosen.push_back(25);
  // Nothing above -inf: NaN throughout.
  for (int i = 0; i < 40; ++i) row[i] = i % 3 == 0 ? kNaN : -kInf;
  rows.push_back(row);
  c.chosen.push_back(0);
  // Chosen ids outside the vocabulary (a failed sample is -1).
  for (int i = 0; i < 40; ++i) row[i] = std::sin(static_cast<float>(i));
  rows.push_back(row);
  c.chosen.push_back(-1);
  rows.push_back(row);
  c.chosen.push_back(40);
  c.rows = static_cast<int64_t>(rows.size());
  for (const auto& r : rows) c.logits.insert(c.logits.end(), r.begin(), r.end());
  const std::vector<TokenLogprob> got = RunOp(backend, c);
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

TEST(TopLogprobsOpTest, WholeVocabularySumsToOne) {
  std::mt19937 rng(11);
  CpuBackend backend(2);
  Case c = RandomCase(rng, 4, 20, 20, 4.0f, false);
  const std::vector<TokenLogprob> got = RunOp(backend, c);
  for (int64_t r = 0; r < c.rows; ++r) {
    double total = 0;
    for (int k = 1; k <= 20; ++k) total += std::exp(static_cast<double>(got[r * 21 + k].logprob));
    EXPECT_NEAR(total, 1.0, 1e-6) << "row " << r;
  }
}

TEST(TopLogprobsOpTest, StridedLogitsAndThreadCountsGiveTheSameBits) {
  std::mt19937 rng(3);
  Case c = RandomCase(rng, 9, 3001, 20, 2.0f, false);
  CpuBackend one(1), four(4);
  const std::vector<TokenLogprob> a = RunOp(one, c);
  const std::vector<TokenLogprob> b = RunOp(four, c);
  const std::vector<TokenLogprob> strided = RunOp(four, c, 3100);
  CheckAgainstReference(c, a, "one thread");
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(TokenLogprob)), 0);
  ASSERT_EQ(a.size(), strided.size());
  EXPECT_EQ(std::memcmp(a.data(), strided.data(), a.size() * sizeof(TokenLogprob)), 0);
}

}  // namespace
}  // namespace djinn
