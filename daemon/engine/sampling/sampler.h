// Chooses the next token from a row of logits: greedy, or temperature /
// top-k / top-p sampling in the order HuggingFace applies its logits warpers.
// Deterministic: the same params (seed included) and the same logits give the
// same tokens on every machine, because the random stream and the uniform
// conversion are spelled out here rather than left to the standard library.
#ifndef DJINN_DAEMON_ENGINE_SAMPLING_SAMPLER_H_
#define DJINN_DAEMON_ENGINE_SAMPLING_SAMPLER_H_

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

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

// One Sampler per request: it owns the random stream, so consecutive Sample
// calls continue one reproducible sequence. Not thread-safe.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Returns the chosen token id. NaN logits count as -inf. INVALID_ARGUMENT
  // when `logits` is empty or no entry is a number above -inf. If some logits
  // are +inf, the choice is uniform among those.
  //
  // Greedy: the first maximum (lowest id on ties, like torch.argmax); no
  // random number is drawn. Sampling: temperature, then top-k (boundary ties
  // kept by lower id), then top-p, then a softmax in double over the kept
  // tokens; exactly one uniform draw per call, inverted over the kept tokens
  // in descending probability (ties by id). The same seed gives the same
  // tokens with this code on any machine; another implementation matches it
  // except where its normalising sum rounds differently in the last bit.
  absl::StatusOr<int32_t> Sample(std::span<const float> logits);

 private:
  struct Candidate {
    double logit;   // already divided by the temperature; the sort key
    double weight;  // exp(logit - max logit)
    int32_t id;
  };

  double NextUniform();  // in [0, 1), 53 random bits

  SamplingParams params_;
  std::mt19937_64 rng_;
  // Reused across calls so that sampling does not allocate per token.
  std::vector<Candidate> candidates_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_SAMPLING_SAMPLER_H_
