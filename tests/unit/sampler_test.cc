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

// Pins the documented algorithm (the stream's 24-bit uniforms included), so
// that another implementation (or a GPU one) given the same seed picks the
// same tokens.
TEST(SamplerTest, MatchesSpelledOutAlgorithm) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
  const float temperature = 0.7f;
  const uint64_t seed = 1234;
  Sampler sampler({.temperature = temperature, .seed = seed});
  std::mt19937_64 rng(seed);
  // Descending probability, ties by id.
  const std::vector<int32_t> order = {1, 3, 4, 0, 2};
  for (int call = 0; call < 100; ++call) {
    const double u = static_cast<double>(rng() >> 40) * 0x1.0p-24;
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


// --- NextRow: the random stream --------------------------------------------

TEST(SamplerTest, NextRowCarriesParamsAnd24BitUniforms) {
  const SamplingParams params{.temperature = 0.8f, .top_k = 40, .top_p = 0.9f, .seed = 99};
  Sampler sampler(params);
  std::mt19937_64 rng(params.seed);
  bool any_low_bits = false;
  for (int i = 0; i < 1000; ++i) {
    const SamplingRow row = sampler.NextRow();
    EXPECT_EQ(row.temperature, params.temperature);
    EXPECT_EQ(row.top_k, params.top_k);
    EXPECT_EQ(row.top_p, params.top_p);
    // The top 24 bits of the next 64-bit output, as an exact float.
    const uint64_t bits = rng() >> 40;
    ASSERT_EQ(static_cast<double>(row.uniform), static_cast<double>(bits) * 0x1.0p-24) << "draw " << i;
    ASSERT_GE(row.uniform, 0.0f);
    ASSERT_LT(row.uniform, 1.0f);
    // Scaled back by 2^24 it is a whole number: nothing was rounded away.
    const double scaled = static_cast<double>(row.uniform) * 0x1.0p24;
    ASSERT_EQ(scaled, std::floor(scaled));
    // Not always a multiple of 2^-12 or so: the low bits of the 24 are used.
    any_low_bits |= (bits & 0xfff) != 0;
  }
  EXPECT_TRUE(any_low_bits);
}

TEST(SamplerTest, GreedyRowsDrawNothing) {
  for (float t : {0.0f, -2.0f, kNaN}) {
    Sampler sampler({.temperature = t, .top_k = 3, .top_p = 0.5f, .seed = 7});
    for (int i = 0; i < 5; ++i) {
      const SamplingRow row = sampler.NextRow();
      EXPECT_EQ(row.uniform, 0.0f);
      EXPECT_EQ(row.top_k, 3);
      EXPECT_EQ(row.top_p, 0.5f);
      EXPECT_TRUE(row.temperature == t || (std::isnan(t) && std::isnan(row.temperature)));
    }
  }
}

TEST(SamplerTest, SampleIsSampleFromLogitsOfNextRow) {
  const std::vector<float> logits = {0.3f, 1.2f, -0.7f, 1.1f, 0.0f, 2.0f, 1.9f};
  for (SamplingParams p : {SamplingParams{.temperature = 1.3f, .seed = 5},
                           SamplingParams{.temperature = 0.6f, .top_k = 3, .seed = 6},
                           SamplingParams{.temperature = 2.0f, .top_p = 0.8f, .seed = 7},
                           SamplingParams{.seed = 8}}) {
    Sampler a(p), b(p);
    std::vector<SampleCandidate> scratch;
    for (int i = 0; i < 200; ++i) {
      const absl::StatusOr<int32_t> expected = SampleFromLogits(logits, b.NextRow(), &scratch);
      ASSERT_TRUE(expected.ok());
      ASSERT_EQ(a.Sample(logits).value(), *expected) << "call " << i;
    }
  }
}

TEST(SamplerTest, RejectedLogitsStillAdvanceTheStream) {
  // One draw per call whatever the logits, so a rejected row does not shift
  // the tokens of later calls.
  const std::vector<float> logits(6, 0.0f);
  Sampler a({.temperature = 1, .seed = 12}), b({.temperature = 1, .seed = 12});
  EXPECT_FALSE(a.Sample(std::vector<float>{-kInf, kNaN}).ok());
  b.NextRow();
  EXPECT_EQ(Draw(a, logits, 50), Draw(b, logits, 50));
}

// --- SampleFromLogits with explicit uniforms ---------------------------------

int32_t Pick(const std::vector<float>& logits, SamplingRow row) {
  std::vector<SampleCandidate> scratch;
  const absl::StatusOr<int32_t> id = SampleFromLogits(logits, row, &scratch);
  EXPECT_TRUE(id.ok()) << id.status();
  return id.value_or(-1);
}

// The largest float below 1 (what the stream gives at most: 1 - 2^-24).
const float kAlmostOne = std::nextafter(1.0f, 0.0f);

TEST(SampleFromLogitsTest, UniformZeroPicksMostLikelyAndAlmostOneTheLeastLikely) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.5f, 1.0f};
  for (float t : {0.5f, 1.0f, 3.0f}) {
    EXPECT_EQ(Pick(logits, {.temperature = t, .uniform = 0.0f}), 3) << t;
    EXPECT_EQ(Pick(logits, {.temperature = t, .uniform = kAlmostOne}), 2) << t;
  }
}

TEST(SampleFromLogitsTest, InvertsTheCdfAtTheSoftmaxBoundaries) {
  // Descending order 3, 1, 4, 0, 2; token i is chosen for uniforms in
  // [cdf before it, cdf through it). Probe just inside both ends of each.
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.5f, 1.0f};
  const std::vector<int32_t> order = {3, 1, 4, 0, 2};
  for (float t : {0.7f, 1.0f, 2.0f}) {
    const std::vector<double> p = Softmax(logits, t);
    double cdf = 0;
    for (int32_t id : order) {
      const double low = cdf, high = cdf + p[id];
      cdf = high;
      const double margin = 1e-4;  // far above the rounding of either sum
      EXPECT_EQ(Pick(logits, {.temperature = t, .uniform = static_cast<float>(low + margin)}), id) << t;
      if (high < 1 - margin) {
        EXPECT_EQ(Pick(logits, {.temperature = t, .uniform = static_cast<float>(high - margin)}), id) << t;
      }
    }
  }
}

TEST(SampleFromLogitsTest, EqualLogitsAreOrderedById) {
  const std::vector<float> logits = {5, 5, 5, 5};
  for (int32_t id = 0; id < 4; ++id) {
    EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = 0.25f * id + 0.01f}), id);
    EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = 0.25f * id + 0.24f}), id);
  }
}

TEST(SampleFromLogitsTest, TopKBoundaryKeepsLowerIds) {
  // Four tokens tie for first; top-k 2 keeps ids 1 and 2, half each.
  const std::vector<float> logits = {0.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_k = 2, .uniform = 0.0f}), 1);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_k = 2, .uniform = 0.49f}), 1);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_k = 2, .uniform = 0.51f}), 2);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_k = 2, .uniform = kAlmostOne}), 2);
  // Without top-k the same uniform reaches the last of the five (id 0).
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = kAlmostOne}), 0);
}

TEST(SampleFromLogitsTest, TopKRenormalises) {
  // Top-k 2 keeps ids 3 (logit 3) and 1 (logit 2), renormalised: id 3 takes
  // the uniforms below 1 / (1 + e^-1) ~ 0.73, not only those below its
  // full-softmax probability ~ 0.55.
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, 3.0f, 1.5f};
  const double p3 = 1.0 / (1.0 + std::exp(-1.0));
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_k = 2, .uniform = static_cast<float>(p3 - 1e-4)}), 3);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_k = 2, .uniform = static_cast<float>(p3 + 1e-4)}), 1);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_k = 2, .uniform = kAlmostOne}), 1);
  // The full softmax gives id 3 less than p3, so p3 - 1e-4 lands past it.
  EXPECT_LT(Softmax(logits, 1)[3], p3 - 1e-4);
  EXPECT_NE(Pick(logits, {.temperature = 1, .uniform = static_cast<float>(p3 - 1e-4)}), 3);
}

TEST(SampleFromLogitsTest, TopPBoundaries) {
  // Probabilities 0.5, 0.25, 0.125, 0.125 (ids 2, 0, 1, 3).
  const std::vector<float> logits = {std::log(0.25f), std::log(0.125f), std::log(0.5f), std::log(0.125f)};
  // 0.5 < 0.7 <= 0.75: ids 2 and 0 kept, renormalised to 2/3 and 1/3.
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_p = 0.7f, .uniform = 0.0f}), 2);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_p = 0.7f, .uniform = 0.66f}), 2);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_p = 0.7f, .uniform = 0.67f}), 0);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_p = 0.7f, .uniform = kAlmostOne}), 0);
  // 0.75 < 0.8 <= 0.875: the tie at 0.125 goes to the lower id, 1; kept
  // mass 0.875, so id 1 takes uniforms above 0.75 / 0.875 = 6/7.
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_p = 0.8f, .uniform = 6.0f / 7 - 1e-4f}), 0);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_p = 0.8f, .uniform = 6.0f / 7 + 1e-4f}), 1);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_p = 0.8f, .uniform = kAlmostOne}), 1);
  // Off: the last of all four, id 3.
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_p = 1.0f, .uniform = kAlmostOne}), 3);
  // Tiny top_p keeps only the most likely.
  EXPECT_EQ(Pick(logits, {.temperature = 1, .top_p = 1e-6f, .uniform = kAlmostOne}), 2);
}

TEST(SampleFromLogitsTest, TemperatureMovesTheBoundary) {
  // Two tokens: P(id 1) = 1 / (1 + e^(-1/T)).
  const std::vector<float> logits = {0.0f, 1.0f};
  for (float t : {0.25f, 0.5f, 1.0f, 2.0f, 8.0f}) {
    const double p1 = 1.0 / (1.0 + std::exp(-1.0 / t));
    EXPECT_EQ(Pick(logits, {.temperature = t, .uniform = static_cast<float>(p1 - 1e-4)}), 1) << t;
    EXPECT_EQ(Pick(logits, {.temperature = t, .uniform = static_cast<float>(p1 + 1e-4)}), 0) << t;
  }
}

TEST(SampleFromLogitsTest, GreedyIgnoresUniform) {
  const std::vector<float> logits = {1, 5, 5, 2};
  for (float t : {0.0f, -1.0f, kNaN}) {
    for (float u : {0.0f, 0.5f, kAlmostOne, 7.0f, kNaN}) {
      EXPECT_EQ(Pick(logits, {.temperature = t, .top_k = 3, .top_p = 0.2f, .uniform = u}), 1) << t << " " << u;
    }
  }
}

TEST(SampleFromLogitsTest, PositiveInfinitiesShareTheMassEqually) {
  const std::vector<float> logits = {100, kInf, 100, kInf};
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = 0.0f}), 1);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = 0.49f}), 1);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = 0.51f}), 3);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = kAlmostOne}), 3);
}

TEST(SampleFromLogitsTest, NaNAndNegativeInfinityAreNeverPicked) {
  const std::vector<float> logits = {kNaN, 0.0f, -kInf, 0.0f, kNaN};
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = 0.0f}), 1);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = kAlmostOne}), 3);
}

TEST(SampleFromLogitsTest, UniformOutsideTheUnitIntervalClampsToTheEnds) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.5f, 1.0f};
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = -0.5f}), 3);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = 1.0f}), 2);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = 3.0f}), 2);
  EXPECT_EQ(Pick(logits, {.temperature = 1, .uniform = kNaN}), 2);
}

TEST(SampleFromLogitsTest, NoUsableLogitIsInvalidArgument) {
  std::vector<SampleCandidate> scratch;
  for (float t : {0.0f, 1.0f}) {
    const SamplingRow row{.temperature = t, .uniform = 0.5f};
    EXPECT_EQ(SampleFromLogits(std::vector<float>{kNaN, -kInf}, row, &scratch).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(SampleFromLogits(std::vector<float>{}, row, &scratch).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(SampleFromLogitsTest, ScratchIsReusedAndItsContentsDoNotMatter) {
  std::vector<float> logits(5000);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (float& x : logits) x = normal(rng);
  std::vector<SampleCandidate> scratch;
  scratch.reserve(logits.size());
  const SampleCandidate* const storage = scratch.data();
  std::vector<SampleCandidate> fresh;
  for (float u : {0.0f, 0.3f, 0.9f, kAlmostOne}) {
    for (const SamplingRow& row : {SamplingRow{.temperature = 1, .uniform = u},
                                   SamplingRow{.temperature = 0.7f, .top_k = 50, .uniform = u},
                                   SamplingRow{.temperature = 1.5f, .top_p = 0.9f, .uniform = u}}) {
      // Leftovers from the previous call, then a fresh vector: same answer.
      const absl::StatusOr<int32_t> reused = SampleFromLogits(logits, row, &scratch);
      fresh.clear();
      fresh.shrink_to_fit();
      ASSERT_TRUE(reused.ok());
      EXPECT_EQ(*reused, SampleFromLogits(logits, row, &fresh).value());
      EXPECT_EQ(scratch.data(), storage) << "scratch was reallocated";
    }
  }
}

}  // namespace
}  // namespace djinn
