// Chooses the next token from a row of logits: greedy, or temperature /
// top-k / top-p sampling in the order HuggingFace applies its logits warpers.
//
// Two halves. SampleFromLogits is the rule: a pure function of the logits
// and one SamplingRow (temperature, top-k, top-p and the row's uniform
// draw), which the backends' Sample op implements too (backend.h). Sampler
// is the per-request random stream that produces those rows. Deterministic:
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
#include "daemon/backend/backend.h"  // SamplingRow

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

// Working space of SampleFromLogits, one entry per token that can be chosen.
// Callers only own the vector, so that it is reused from call to call.
struct SampleCandidate {
  double logit;   // already divided by the temperature; the sort key
  double weight;  // exp(logit - max logit)
  int32_t id;
};

// Returns the token id chosen from `logits` by `row`. NaN logits count as
// -inf. INVALID_ARGUMENT when `logits` is empty or no entry is a number
// above -inf. If some logits are +inf, the choice is among those only, with
// equal weights.
//
// Greedy (row.temperature <= 0 or NaN): the first maximum (lowest id on
// ties, like torch.argmax); row.uniform is not read. Sampling: temperature,
// then top-k (boundary ties kept by lower id), then top-p over the top-k
// survivors, then a softmax in double over the kept tokens; row.uniform is
// inverted over the kept tokens in descending probability (ties by id):
// the first token whose cumulative weight exceeds uniform * total. So
// uniform 0 gives the most likely kept token and uniform just below 1 the
// least likely one; a value outside [0, 1) is not an error (below 0 acts as
// 0; 1 or above, or NaN, gives the last kept token). Another implementation
// matches this one except where its normalising sum rounds differently in
// the last bit.
//
// `scratch` is cleared and refilled; once its capacity reaches the vocabulary
// size, calls do not allocate.
absl::StatusOr<int32_t> SampleFromLogits(std::span<const float> logits, const SamplingRow& row,
                                         std::vector<SampleCandidate>* scratch);

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
