// The sampling rule every backend's Sample op implements (backend.h) and the
// engine's Sampler applies on the host: the next token as a pure function of
// a row of logits and one SamplingRow (temperature, top-k, top-p and the
// row's uniform draw), in the order HuggingFace applies its logits warpers.
// It lives with the Backend interface, not in the engine, so that a backend
// (the CPU one runs exactly this) never reaches up into the engine.
#ifndef DJINN_DAEMON_BACKEND_SAMPLE_RULE_H_
#define DJINN_DAEMON_BACKEND_SAMPLE_RULE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/backend/backend.h"  // SamplingRow

namespace djinn {

// Greedy (the first maximum) when the temperature is not above 0; NaN too.
inline bool IsGreedy(float temperature) { return !(temperature > 0); }

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

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_SAMPLE_RULE_H_
