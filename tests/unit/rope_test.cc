// RoPE tables: plain inverse frequencies, Llama 3 and linear rope_scaling
// (checked against HF's _compute_llama3_parameters evaluated in double here),
// and the cos/sin tables built from them.
#include "daemon/engine/rope.h"

#include <cmath>
#include <numbers>
#include <vector>

#include "common/model_config.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

ModelConfig Config(int64_t head_dim, double theta) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.hidden_size = head_dim * 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 4;
  c.head_dim = head_dim;
  c.rope_theta = theta;
  return c;
}

ModelConfig Llama3Config(int64_t head_dim, double theta, double factor, double low, double high, int64_t original) {
  ModelConfig c = Config(head_dim, theta);
  c.rope_scaling.type = RopeScaling::Type::kLlama3;
  c.rope_scaling.factor = factor;
  c.rope_scaling.low_freq_factor = low;
  c.rope_scaling.high_freq_factor = high;
  c.rope_scaling.original_max_position_embeddings = original;
  return c;
}

double PlainFrequency(const ModelConfig& c, int64_t i) {
  return 1.0 / std::pow(c.rope_theta, 2.0 * i / c.head_dim);
}

// transformers' _compute_llama3_parameters, in double.
double Llama3Frequency(const ModelConfig& c, int64_t i) {
  const RopeScaling& s = c.rope_scaling;
  const double f = PlainFrequency(c, i);
  const double original = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = original / s.low_freq_factor;
  const double high_freq_wavelen = original / s.high_freq_factor;
  const double wavelen = 2 * std::numbers::pi / f;
  if (wavelen < high_freq_wavelen) return f;
  if (wavelen > low_freq_wavelen) return f / s.factor;
  const double smooth = (original / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  return (1 - smooth) * f / s.factor + smooth * f;
}

enum class Band { kHigh, kMiddle, kLow };

Band BandOf(const ModelConfig& c, int64_t i) {
  const double wavelen = 2 * std::numbers::pi / PlainFrequency(c, i);
  const double original = static_cast<double>(c.rope_scaling.original_max_position_embeddings);
  if (wavelen < original / c.rope_scaling.high_freq_factor) return Band::kHigh;
  if (wavelen > original / c.rope_scaling.low_freq_factor) return Band::kLow;
  return Band::kMiddle;
}

TEST(RopeTest, PlainInverseFrequencies) {
  for (int64_t head_dim : {2, 16, 64, 80, 128}) {
    for (double theta : {10000.0, 500000.0, 1000000.0}) {
      SCOPED_TRACE(::testing::Message() << "head_dim " << head_dim << " theta " << theta);
      const ModelConfig c = Config(head_dim, theta);
      const std::vector<float> f = RopeInverseFrequencies(c);
      ASSERT_EQ(f.size(), static_cast<size_t>(head_dim / 2));
      EXPECT_EQ(f[0], 1.0f);
      for (int64_t i = 0; i < head_dim / 2; ++i) {
        const double want = PlainFrequency(c, i);
        EXPECT_NEAR(f[i], want, 2e-6 * want) << "i = " << i;
        if (i > 0) {
          EXPECT_LT(f[i], f[i - 1]);  // strictly decreasing
        }
      }
    }
  }
}

TEST(RopeTest, Llama31ScalingBands) {
  // Llama-3.1-8B: factor 8, low 1, high 4, original 8192, theta 500000, head_dim 128.
  const ModelConfig scaled = Llama3Config(128, 500000.0, 8.0, 1.0, 4.0, 8192);
  const ModelConfig plain = Config(128, 500000.0);
  const std::vector<float> f = RopeInverseFrequencies(scaled);
  const std::vector<float> p = RopeInverseFrequencies(plain);
  ASSERT_EQ(f.size(), 64u);
  int high = 0, middle = 0, low = 0;
  for (int64_t i = 0; i < 64; ++i) {
    SCOPED_TRACE(::testing::Message() << "i = " << i);
    switch (BandOf(scaled, i)) {
      case Band::kHigh:
        ++high;
        EXPECT_EQ(f[i], p[i]);  // unchanged
        break;
      case Band::kLow:
        ++low;
        EXPECT_EQ(f[i], p[i] / 8.0f);  // divided by the factor (exactly: a power of two)
        break;
      case Band::kMiddle:
        ++middle;
        EXPECT_LT(f[i], p[i]);
        EXPECT_GT(f[i], p[i] / 8.0f);
        break;
    }
    EXPECT_NEAR(f[i], Llama3Frequency(scaled, i), 1e-5 * Llama3Frequency(scaled, i));
  }
  // Wavelengths 2048..8192 fall in i = 29..34 at these settings.
  EXPECT_EQ(middle, 6);
  EXPECT_EQ(high, 29);
  EXPECT_EQ(low, 29);
  // The blend moves smoothly from unchanged to divided as i grows.
  for (int64_t i = 29; i <= 34; ++i) EXPECT_LT(f[i] / p[i], f[i - 1] / p[i - 1]) << i;
}

TEST(RopeTest, Llama3ScalingMiddleBandValues) {
  // The tiny-gqa test model's settings (short original context: all three
  // bands at head_dim 16) and Llama-3.2-1B's (factor 32).
  for (const ModelConfig& c : {Llama3Config(16, 500000.0, 8.0, 1.0, 4.0, 64),
                               Llama3Config(64, 500000.0, 32.0, 1.0, 4.0, 8192),
                               Llama3Config(128, 10000.0, 4.0, 2.0, 8.0, 1024)}) {
    SCOPED_TRACE(::testing::Message() << "head_dim " << c.head_dim << " factor " << c.rope_scaling.factor);
    const std::vector<float> f = RopeInverseFrequencies(c);
    bool seen[3] = {false, false, false};
    for (int64_t i = 0; i < c.head_dim / 2; ++i) {
      seen[static_cast<int>(BandOf(c, i))] = true;
      const double want = Llama3Frequency(c, i);
      EXPECT_NEAR(f[i], want, 1e-5 * want) << "i = " << i;
    }
    EXPECT_TRUE(seen[0] && seen[1] && seen[2]) << "settings should cover all three bands";
  }
  // A hand-checked middle-band value: tiny-gqa, i = 1.
  // f = 500000^(-1/8) = 0.193923; wavelen = 2 pi / f = 32.4005;
  // smooth = (64 / 32.4005 - 1) / 3 = 0.325094; (1 - smooth) * f / 8 + smooth * f = 0.0794030.
  const std::vector<float> tiny = RopeInverseFrequencies(Llama3Config(16, 500000.0, 8.0, 1.0, 4.0, 64));
  EXPECT_NEAR(tiny[1], 0.0794030, 1e-6);
}

TEST(RopeTest, LinearScalingDividesByFactor) {
  for (double factor : {2.0, 4.0, 3.0}) {
    ModelConfig c = Config(64, 10000.0);
    const std::vector<float> p = RopeInverseFrequencies(c);
    c.rope_scaling.type = RopeScaling::Type::kLinear;
    c.rope_scaling.factor = factor;
    const std::vector<float> f = RopeInverseFrequencies(c);
    ASSERT_EQ(f.size(), p.size());
    for (size_t i = 0; i < f.size(); ++i) {
      EXPECT_EQ(f[i], p[i] / static_cast<float>(factor)) << "factor " << factor << " i = " << i;
    }
  }
}

void CheckTables(const ModelConfig& c, int64_t positions) {
  const int64_t half = c.head_dim / 2;
  std::vector<float> cos(positions * half, -9.0f), sin(positions * half, -9.0f);
  FillRopeTables(c, positions, cos, sin);
  const std::vector<float> f = RopeInverseFrequencies(c);
  for (int64_t p = 0; p < positions; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(p) * f[i];
      // The angle is one fp32 product, as torch computes it: within half an
      // ulp of the exact one.
      const double bound = std::abs(angle) * 0x1p-24 + 2e-7;
      ASSERT_NEAR(cos[p * half + i], std::cos(angle), bound) << "p = " << p << " i = " << i;
      ASSERT_NEAR(sin[p * half + i], std::sin(angle), bound) << "p = " << p << " i = " << i;
    }
  }
  for (int64_t i = 0; i < half; ++i) {
    EXPECT_EQ(cos[i], 1.0f);
    EXPECT_EQ(sin[i], 0.0f);
  }
}

TEST(RopeTest, TablesArePlainCosSin) { CheckTables(Config(16, 10000.0), 256); }

TEST(RopeTest, TablesUseScaledFrequencies) {
  const ModelConfig c = Llama3Config(16, 500000.0, 8.0, 1.0, 4.0, 64);
  CheckTables(c, 512);
  // Position 100, i = 1 (middle band): cos / sin of 100 * 0.0794030.
  std::vector<float> cos(101 * 8), sin(101 * 8);
  FillRopeTables(c, 101, cos, sin);
  EXPECT_NEAR(cos[100 * 8 + 1], -0.0862121, 1e-4);
  EXPECT_NEAR(sin[100 * 8 + 1], 0.9962768, 1e-4);
}

TEST(RopeTest, TablesForLongContexts) { CheckTables(Llama3Config(128, 500000.0, 8.0, 1.0, 4.0, 8192), 2048); }

}  // namespace
}  // namespace djinn
