#include "daemon/engine/sampling/sampler.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace djinn {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<int32_t> Draw(Sampler& sampler, const std::vector<float>& logits,
                          int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    auto token = sampler.Sample(logits);
    EXPECT_TRUE(token.ok()) << token.status();
    out.push_back(token.value_or(-1));
  }
  return out;
}

std::vector<double> Softmax(const std::vector<float>& logits, double t) {
  double max = logits[0];
  for (float x : logits) max = std::max<double>(max, x);
  std::vector<double> p;
  double total = 0;
  for (float x : logits) total += std::exp((x - max) / t);
  for (float x : logits) p.push_back(std::exp((x - max) / t) / total);
  return p;
}

// Pearson's chi-square of observed counts against expected probabilities.
// Tokens with probability 0 must never be drawn.
double ChiSquare(const std::vector<int32_t>& draws,
                 const std::vector<double>& p) {
  std::vector<int> counts(p.size(), 0);
  for (int32_t t : draws) ++counts.at(t);
  double chi2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "excluded token " << i << " was drawn";
      continue;
    }
    const double expected = p[i] * draws.size();
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi2;
}

TEST(SamplerTest, GreedyPicksFirstMaximum) {
  Sampler sampler({});
  EXPECT_EQ(sampler.Sample(std::vector<float>{1, 5, 5, 2}).value(), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{-3, -1, -2}).value(), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{7}).value(), 0);
}

TEST(SamplerTest, NegativeOrNaNTemperatureIsGreedy) {
  for (float t : {-1.0f, 0.0f, kNaN}) {
    Sampler sampler({.temperature = t, .seed = 3});
    EXPECT_EQ(sampler.Sample(std::vector<float>{0, 1, 4, 4}).value(), 2);
  }
}

TEST(SamplerTest, NaNLogitsCountAsNegativeInfinity) {
  Sampler greedy({});
  EXPECT_EQ(greedy.Sample(std::vector<float>{kNaN, 1, kNaN, 0}).value(), 1);
  Sampler sampler({.temperature = 1, .seed = 1});
  for (int32_t t : Draw(sampler, {kNaN, 0, kNaN, 0}, 200)) {
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }
}

TEST(SamplerTest, NoUsableLogitIsInvalidArgument) {
  for (float t : {0.0f, 1.0f}) {
    Sampler sampler({.temperature = t});
    EXPECT_EQ(sampler.Sample(std::vector<float>{kNaN, -kInf}).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(sampler.Sample(std::vector<float>{}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(SamplerTest, PositiveInfinityIsUniformAmongInfinities) {
  Sampler sampler({.temperature = 1, .seed = 5});
  const auto draws = Draw(sampler, {100, kInf, 100, kInf}, 2000);
  int ones = 0;
  for (int32_t t : draws) {
    ASSERT_TRUE(t == 1 || t == 3) << t;
    ones += t == 1;
  }
  EXPECT_NEAR(ones, 1000, 150);
}

TEST(SamplerTest, SameSeedSameSequenceDifferentSeedsDiffer) {
  const std::vector<float> logits(10, 0.0f);  // uniform: maximal entropy
  Sampler a({.temperature = 1, .seed = 42});
  Sampler b({.temperature = 1, .seed = 42});
  Sampler c({.temperature = 1, .seed = 43});
  const auto da = Draw(a, logits, 50);
  EXPECT_EQ(da, Draw(b, logits, 50));
  EXPECT_NE(da, Draw(c, logits, 50));
}

// Pins the documented algorithm, so that another implementation (or a GPU
// one) given the same seed picks the same tokens.
TEST(SamplerTest, MatchesSpelledOutAlgorithm) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
  const float temperature = 0.7f;
  const uint64_t seed = 1234;
  Sampler sampler({.temperature = temperature, .seed = seed});
  std::mt19937_64 rng(seed);
  // Descending probability, ties by id.
  const std::vector<int32_t> order = {1, 3, 4, 0, 2};
  for (int call = 0; call < 100; ++call) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    double total = 0;
    for (float x : logits) total += std::exp((double{x} - 2.0) / temperature);
    double cumulative = 0;
    int32_t expected = order.back();
    for (int32_t id : order) {
      cumulative += std::exp((double{logits[id]} - 2.0) / temperature);
      if (u * total < cumulative) {
        expected = id;
        break;
      }
    }
    ASSERT_EQ(sampler.Sample(logits).value(), expected) << "call " << call;
  }
}

TEST(SamplerTest, TopKOneIsGreedy) {
  const std::vector<float> logits = {0.1f, 3.0f, 2.9f, 3.0f, -1.0f};
  Sampler sampler({.temperature = 5, .top_k = 1, .seed = 9});
  for (int32_t t : Draw(sampler, logits, 500)) EXPECT_EQ(t, 1);
}

TEST(SamplerTest, TinyTopPIsGreedy) {
  const std::vector<float> logits = {0.1f, 3.0f, 2.9f, 3.0f, -1.0f};
  Sampler sampler({.temperature = 5, .top_p = 1e-6f, .seed = 9});
  for (int32_t t : Draw(sampler, logits, 500)) EXPECT_EQ(t, 1);
}

TEST(SamplerTest, OutOfRangeTopKAndTopPAreOff) {
  const std::vector<float> logits = {0.0f, 0.5f, 1.0f, 0.2f};
  Sampler reference({.temperature = 1, .seed = 8});
  const auto expected = Draw(reference, logits, 300);
  for (SamplingParams p :
       {SamplingParams{.top_k = 4}, SamplingParams{.top_k = 100},
        SamplingParams{.top_k = -2}, SamplingParams{.top_p = 0},
        SamplingParams{.top_p = 1.5f}}) {
    p.temperature = 1;
    p.seed = 8;
    Sampler sampler(p);
    EXPECT_EQ(Draw(sampler, logits, 300), expected);
  }
}

// Chi-square bounds below are far above the 99.99th percentile for the
// degrees of freedom involved (df <= 4 -> ~23.5), yet a wrong distribution
// over 20000 draws scores in the hundreds.
constexpr int kDraws = 20000;
constexpr double kChi2Bound = 25;

TEST(SamplerTest, FrequenciesMatchSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, 3.0f, 1.5f};
  for (float t : {1.0f, 0.5f, 2.0f}) {
    Sampler sampler({.temperature = t, .seed = 77});
    const auto draws = Draw(sampler, logits, kDraws);
    EXPECT_LT(ChiSquare(draws, Softmax(logits, t)), kChi2Bound) << "T=" << t;
  }
}

TEST(SamplerTest, TopKRenormalisesOverKeptTokens) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, 3.0f, 1.5f};
  Sampler sampler({.temperature = 1, .top_k = 3, .seed = 11});
  const auto draws = Draw(sampler, logits, kDraws);
  // Kept: 3, 1, 4.
  const auto kept = Softmax({2.0f, 3.0f, 1.5f}, 1);
  const std::vector<double> p = {0, kept[0], 0, kept[1], kept[2]};
  EXPECT_LT(ChiSquare(draws, p), kChi2Bound);
}

TEST(SamplerTest, TopKBoundaryTiesKeepLowerIds) {
  Sampler sampler({.temperature = 1, .top_k = 2, .seed = 4});
  for (int32_t t : Draw(sampler, {0.0f, 1.0f, 1.0f, 1.0f, 1.0f}, 1000)) {
    EXPECT_TRUE(t == 1 || t == 2) << t;
  }
}

TEST(SamplerTest, TopPKeepsSmallestPrefixReachingP) {
  // Probabilities 0.5, 0.25, 0.125, 0.125 (ids 2, 0, 1, 3).
  const std::vector<float> logits = {std::log(0.25f), std::log(0.125f),
                                     std::log(0.5f), std::log(0.125f)};
  {
    // 0.5 < 0.7 <= 0.75: ids 2 and 0, renormalised to 2/3 and 1/3.
    Sampler sampler({.temperature = 1, .top_p = 0.7f, .seed = 21});
    const auto draws = Draw(sampler, logits, kDraws);
    EXPECT_LT(ChiSquare(draws, {1.0 / 3, 0, 2.0 / 3, 0}), kChi2Bound);
  }
  {
    // 0.75 < 0.8 <= 0.875: the tie at 0.125 goes to the lower id, 1.
    Sampler sampler({.temperature = 1, .top_p = 0.8f, .seed = 22});
    const auto draws = Draw(sampler, logits, kDraws);
    EXPECT_LT(ChiSquare(draws, {2.0 / 7, 1.0 / 7, 4.0 / 7, 0}), kChi2Bound);
  }
}

TEST(SamplerTest, TopPAppliesAfterTopK) {
  // Top-k 2 leaves ids 2 (0.5) and 0 (0.25): renormalised 2/3 and 1/3, so
  // top_p 0.6 keeps only id 2. Without top-k first, 0.6 would keep id 0 too.
  const std::vector<float> logits = {std::log(0.25f), std::log(0.125f),
                                     std::log(0.5f), std::log(0.125f)};
  Sampler sampler({.temperature = 1, .top_k = 2, .top_p = 0.6f, .seed = 2});
  for (int32_t t : Draw(sampler, logits, 1000)) EXPECT_EQ(t, 2);
}

TEST(SamplerTest, LargeVocabNeverPicksMaskedTokens) {
  std::vector<float> logits(32000, -kInf);
  logits[17] = 0.0f;
  logits[31999] = 0.5f;
  logits[5000] = -0.5f;
  Sampler sampler({.temperature = 1, .seed = 6});
  for (int32_t t : Draw(sampler, logits, 300)) {
    EXPECT_TRUE(t == 17 || t == 31999 || t == 5000) << t;
  }
}

}  // namespace
}  // namespace djinn
