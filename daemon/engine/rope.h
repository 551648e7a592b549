// Rotary position embedding tables, computed the way HuggingFace's
// LlamaRotaryEmbedding does (inverse frequencies and angles in fp32, with the
// Llama 3 and linear rope_scaling rules), so positions rotate identically.
#ifndef DJINN_DAEMON_ENGINE_ROPE_H_
#define DJINN_DAEMON_ENGINE_ROPE_H_

#include <span>
#include <vector>

#include "common/model_config.h"

namespace djinn {

// head_dim / 2 inverse frequencies after rope_scaling.
std::vector<float> RopeInverseFrequencies(const ModelConfig& config);

// Fills cos/sin tables of [positions, head_dim / 2] floats.
void FillRopeTables(const ModelConfig& config, int64_t positions, std::span<float> cos, std::span<float> sin);

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_ROPE_H_
