#include "daemon/backend/cpu/top_logprobs.h"

#include <array>
#include <cmath>
#include <limits>

namespace djinn {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// NaN ranks (and weighs) as -inf, as Sample treats it.
float Clean(float x) { return std::isnan(x) ? -kInf : x; }

// The order of the top list: larger logit first, then lower id.
bool Before(float a, int32_t a_id, float b, int32_t b_id) { return a > b || (a == b && a_id < b_id); }

}  // namespace

void TopLogprobsRow(std::span<const float> logits, int32_t chosen, int64_t top_n, TokenLogprob* out) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  // One read of the row: the maximum, the +inf count and the top list
  // (entries hold the cleaned logit until the log-sum-exp is known).
  float max = -kInf;
  int64_t posinf = 0;
  std::array<TokenLogprob, kMaxTopLogprobs> top;
  int64_t size = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    const float x = Clean(logits[i]);
    const int32_t id = static_cast<int32_t>(i);
    if (x > max) max = x;
    if (x == kInf) ++posinf;
    if (top_n == 0) continue;
    // Ids arrive in increasing order, so an entry equal to the last kept
    // one never displaces it.
    if (size == top_n && !Before(x, id, top[size - 1].logprob, top[size - 1].id)) continue;
    int64_t at = size < top_n ? size++ : size - 1;
    while (at > 0 && Before(x, id, top[at - 1].logprob, top[at - 1].id)) {
      top[at] = top[at - 1];
      --at;
    }
    top[at] = TokenLogprob{id, x};
  }

  double sum = 0;
  if (max > -kInf && max < kInf) {
    for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(Clean(logits[i])) - max);
  }
  const double log_sum = std::log(sum);

  // log_softmax of one cleaned logit.
  auto logprob = [&](float x) -> float {
    if (max == -kInf) return kNaN;  // no distribution at all
    if (max == kInf) return x == kInf ? static_cast<float>(-std::log(static_cast<double>(posinf))) : -kInf;
    return static_cast<float>((static_cast<double>(x) - max) - log_sum);
  };

  out[0].id = chosen;
  out[0].logprob = chosen >= 0 && chosen < vocab ? logprob(Clean(logits[chosen])) : kNaN;
  for (int64_t k = 0; k < top_n; ++k) out[1 + k] = TokenLogprob{top[k].id, logprob(top[k].logprob)};
}

}  // namespace djinn
