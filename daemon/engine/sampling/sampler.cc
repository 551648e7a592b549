#include "daemon/engine/sampling/sampler.h"

namespace djinn {

Sampler::Sampler(const SamplingParams& params)
    : params_(params), rng_(params.seed) {}

SamplingRow Sampler::NextRow() {
  SamplingRow row{.temperature = params_.temperature,
                  .top_k = static_cast<int32_t>(params_.top_k),
                  .top_p = params_.top_p,
                  .uniform = 0};
  if (!IsGreedy(row.temperature)) {
    // The top 24 bits of one 64-bit draw, scaled: exact in a float and the
    // same everywhere, unlike std::uniform_real_distribution.
    row.uniform = static_cast<float>(rng_() >> 40) * 0x1.0p-24f;
  }
  return row;
}

absl::StatusOr<int32_t> Sampler::Sample(std::span<const float> logits) {
  return SampleFromLogits(logits, NextRow(), &candidates_);
}

}  // namespace djinn
