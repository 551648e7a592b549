#include "daemon/engine/rope.h"

#include <cmath>
#include <numbers>

namespace djinn {

std::vector<float> RopeInverseFrequencies(const ModelConfig& config) {
  const int64_t half = config.head_dim / 2;
  const float dim = static_cast<float>(config.head_dim);
  std::vector<float> inv_freq(half);
  for (int64_t i = 0; i < half; ++i) {
    // 1 / base^(2i / dim), each step rounded to fp32 as torch does.
    const float exponent = static_cast<float>(2 * i) / dim;
    const float power = static_cast<float>(std::pow(config.rope_theta, static_cast<double>(exponent)));
    inv_freq[i] = 1.0f / power;
  }
  const RopeScaling& scaling = config.rope_scaling;
  if (scaling.type == RopeScaling::Type::kLinear) {
    for (float& f : inv_freq) f = f / static_cast<float>(scaling.factor);
  } else if (scaling.type == RopeScaling::Type::kLlama3) {
    // Long wavelengths are slowed down by `factor`, short ones kept, and the
    // band in between blended smoothly (transformers' _compute_llama3_parameters).
    const float factor = static_cast<float>(scaling.factor);
    const float low = static_cast<float>(scaling.low_freq_factor);
    const float high = static_cast<float>(scaling.high_freq_factor);
    const float old_context = static_cast<float>(scaling.original_max_position_embeddings);
    const float low_freq_wavelen = old_context / low;
    const float high_freq_wavelen = old_context / high;
    for (float& f : inv_freq) {
      const float wavelen = static_cast<float>(2 * std::numbers::pi) / f;
      float scaled = wavelen > low_freq_wavelen ? f / factor : f;
      if (!(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen)) {
        const float smooth = (old_context / wavelen - low) / (high - low);
        scaled = (1 - smooth) * scaled / factor + smooth * scaled;
      }
      f = scaled;
    }
  }
  return inv_freq;
}

void FillRopeTables(const ModelConfig& config, int64_t positions, std::span<float> cos, std::span<float> sin) {
  const std::vector<float> inv_freq = RopeInverseFrequencies(config);
  const int64_t half = static_cast<int64_t>(inv_freq.size());
  for (int64_t p = 0; p < positions; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv_freq[i];  // one fp32 rounding, like torch
      cos[p * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin[p * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

}  // namespace djinn
