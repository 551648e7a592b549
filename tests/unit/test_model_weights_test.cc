// The counter-based weight generator: reproducible bits, independence from
// chunking, sane statistics, and dtype conversions that match float16.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/float16.h"
#include "common/testmodel/random_weights.h"
#include "gtest/gtest.h"

namespace djinn::testmodel {
namespace {

TEST(RandomWeightsTest, KeyDependsOnSeedAndName) {
  EXPECT_EQ(TensorStreamKey(1, "a"), TensorStreamKey(1, "a"));
  EXPECT_NE(TensorStreamKey(1, "a"), TensorStreamKey(2, "a"));
  EXPECT_NE(TensorStreamKey(1, "a"), TensorStreamKey(1, "b"));
  EXPECT_NE(TensorStreamKey(0, ""), TensorStreamKey(0, "model.norm.weight"));
}

// Pinned values. The reference fixtures (tests/fixtures/reference_*.json)
// were computed from models written by this generator: if this test fails,
// the generator changed and every fixture must be regenerated.
TEST(RandomWeightsTest, GoldenValues) {
  const uint64_t key = TensorStreamKey(1, "model.embed_tokens.weight");
  const WeightInit init{.mean = 0.0, .stddev = 1.0};
  const uint32_t golden[] = {0xbf8f11aau, 0xbf5d71cbu, 0xc01057bdu, 0x3e603775u};
  const uint64_t indices[] = {0, 1, 2, 123456789};
  for (int i = 0; i < 4; ++i) {
    const float v = WeightAt(key, init, indices[i]);
    EXPECT_EQ(FloatBits(v), golden[i]) << "index " << indices[i] << " value " << v;
  }
}

TEST(RandomWeightsTest, ChunkingDoesNotChangeValues) {
  const uint64_t key = TensorStreamKey(7, "t");
  const WeightInit init{.mean = 0.5, .stddev = 0.25};
  for (TensorDType dtype : {TensorDType::kF32, TensorDType::kF16, TensorDType::kBF16}) {
    const size_t n = 1000;
    const size_t es = DTypeSize(dtype);
    std::vector<uint8_t> whole(n * es), pieces(n * es);
    FillWeights(key, init, dtype, 0, n, whole.data());
    for (size_t first = 0; first < n;) {
      const size_t count = std::min<size_t>(n - first, 1 + first % 37);
      FillWeights(key, init, dtype, first, count, pieces.data() + first * es);
      first += count;
    }
    EXPECT_EQ(whole, pieces) << TorchDTypeName(dtype);
  }
}

TEST(RandomWeightsTest, HalfPrecisionIsTheRoundedFloat) {
  const uint64_t key = TensorStreamKey(3, "w");
  const WeightInit init{.mean = 0.0, .stddev = 0.02};
  const size_t n = 4096;
  std::vector<float> f32(n);
  std::vector<uint16_t> f16(n), bf16(n);
  FillWeights(key, init, TensorDType::kF32, 0, n, reinterpret_cast<uint8_t*>(f32.data()));
  FillWeights(key, init, TensorDType::kF16, 0, n, reinterpret_cast<uint8_t*>(f16.data()));
  FillWeights(key, init, TensorDType::kBF16, 0, n, reinterpret_cast<uint8_t*>(bf16.data()));
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(f16[i], FloatToFloat16(f32[i])) << i;
    ASSERT_EQ(bf16[i], FloatToBFloat16(f32[i])) << i;
  }
}

TEST(RandomWeightsTest, StandardNormalMoments) {
  const uint64_t key = TensorStreamKey(11, "moments");
  const int n = 1 << 20;
  double sum = 0, sum2 = 0, sum4 = 0, max_abs = 0;
  for (int i = 0; i < n; ++i) {
    const double z = StandardNormalAt(key, i);
    sum += z;
    sum2 += z * z;
    sum4 += z * z * z * z;
    max_abs = std::max(max_abs, std::abs(z));
  }
  const double mean = sum / n;
  const double var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(var, 1.0, 0.005);
  // Irwin-Hall(4) has kurtosis 3 - 6/20 = 2.7 (a normal's is 3): close
  // enough for weights.
  EXPECT_NEAR(sum4 / n, 2.7, 0.03);
  EXPECT_LE(max_abs, 2 * std::sqrt(3.0));
  EXPECT_GT(max_abs, 3.0);
}

TEST(RandomWeightsTest, InitScalesAndShifts) {
  const uint64_t key = TensorStreamKey(5, "norm");
  const WeightInit init{.mean = 1.0, .stddev = 0.1};
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float v = WeightAt(key, init, i);
    EXPECT_EQ(v, static_cast<float>(1.0 + 0.1 * StandardNormalAt(key, i)));
    sum += v;
  }
  EXPECT_NEAR(sum / n, 1.0, 0.002);
}

TEST(RandomWeightsTest, NeighbouringStreamsDiffer) {
  // Streams of different tensors must not be shifted copies of each other.
  const uint64_t a = TensorStreamKey(1, "a");
  const uint64_t b = TensorStreamKey(1, "b");
  int equal = 0;
  for (int i = 0; i < 1000; ++i) {
    for (int shift = 0; shift < 4; ++shift) {
      equal += StandardNormalAt(a, i) == StandardNormalAt(b, i + shift);
    }
  }
  EXPECT_EQ(equal, 0);
}

}  // namespace
}  // namespace djinn::testmodel
