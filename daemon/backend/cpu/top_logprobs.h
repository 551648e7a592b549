// The rule of Backend::TopLogprobs for one row of logits, in plain C++: the
// CPU backend runs it row by row, and it is the reference the CUDA kernel
// (cuda/top_logprobs_kernel.cu) is tested against.
//
// log_softmax(x)[i] = (x[i] - max) - log(sum_j exp(x[j] - max)), the sum in
// double in id order, so the result does not depend on threads or batching.
// The top list is kept sorted while the row is read once (insertion into at
// most kMaxTopLogprobs entries), so no per-vocabulary scratch is needed.
#ifndef DJINN_DAEMON_BACKEND_CPU_TOP_LOGPROBS_H_
#define DJINN_DAEMON_BACKEND_CPU_TOP_LOGPROBS_H_

#include <cstdint>
#include <span>

#include "daemon/backend/backend.h"  // TokenLogprob, kMaxTopLogprobs

namespace djinn {

// Writes 1 + top_n entries to `out`: `chosen` and its log-probability, then
// the top_n most likely tokens (ties by lower id). top_n in [0,
// min(kMaxTopLogprobs, logits.size())]; the special cases (NaN, ±inf, a
// chosen id outside the row) are Backend::TopLogprobs's.
void TopLogprobsRow(std::span<const float> logits, int32_t chosen, int64_t top_n, TokenLogprob* out);

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_CPU_TOP_LOGPROBS_H_
