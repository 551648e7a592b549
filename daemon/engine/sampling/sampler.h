// Chooses the next token from a row of logits: greedy, or temperature /
// top-k / top-p sampling in the order HuggingFace applies its logits warpers.
//
// Two halves. SampleFromLogits is the rule (daemon/backend/sample_rule.h):
// a pure function of the logits and one SamplingRow, which every backend's
// Sample op implements. Sampler, here, is the per-request random stream that
// produces those rows. Deterministic:
// the same params (seed included) and the same logits give the same tokens
// on every machine, because the random stream and the uniform conversion are
// spelled out here rather than left to the standard library.
#ifndef DJINN_DAEMON_ENGINE_SAMPLING_SAMPLER_H_
#define DJINN_DAEMON_ENGINE_SAMPLING_SAMPLER_H_

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/backend/sample_rule.h"  // SamplingRow, SampleFromLogits

namespace djinn {

struct SamplingParams {
  // <= 0 (or NaN): greedy. Otherwise logits are divided by it.
  float temperature = 0;
  // Keep only the k most likely tokens; 0, negative or >= vocab: off.
  int top_k = 0;
  // Keep the smallest most-likely set whose probability reaches top_p;
  // <= 0 or >= 1: off.
  float top_p = 1;
  // Seeds the per-request random stream (std::mt19937_64).
  uint64_t seed = 0;
};

// One Sampler per request: it owns the random stream, so consecutive rows
// (and Sample calls) continue one reproducible sequence. Not thread-safe.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // The row for the next token: temperature, top_k and top_p from the
  // params, and, unless greedy, a fresh uniform draw: the top 24 bits of one
  // mt19937_64 output times 2^-24, in [0, 1 - 2^-24]. 24 bits, not 53,
  // because the draw travels to the GPU's Sample op as a float and must mean
  // the same there as here: every such value is exactly a float. Greedy
  // rows draw nothing (uniform 0), so greedy requests never advance the
  // stream.
  SamplingRow NextRow();

  // SampleFromLogits(logits, NextRow()): one row, hence one draw when not
  // greedy, per call, even when the logits are rejected, so the stream
  // position depends only on the call count.
  absl::StatusOr<int32_t> Sample(std::span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  // Reused across calls so that sampling does not allocate per token.
  std::vector<SampleCandidate> candidates_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_SAMPLING_SAMPLER_H_
