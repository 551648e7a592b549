#include "daemon/backend/sample_rule.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"

namespace djinn {
namespace {

// Most likely first; equal logits by lower id, so the order (and with it the
// top-k boundary and the inverse-CDF walk) never depends on the sort algorithm.
bool Before(const SampleCandidate& a, const SampleCandidate& b) {
  if (a.logit != b.logit) return a.logit > b.logit;
  return a.id < b.id;
}

}  // namespace

absl::StatusOr<int32_t> SampleFromLogits(std::span<const float> logits, const SamplingRow& row,
                                         std::vector<SampleCandidate>* scratch) {
  if (logits.empty()) {
    return absl::InvalidArgumentError("Sample: empty logits");
  }
  const int64_t vocab = static_cast<int64_t>(logits.size());

  // NaN compares false with everything, so `x > best` skips it: NaN acts
  // as -inf without a separate pass.
  const float kNegInf = -std::numeric_limits<float>::infinity();
  int64_t best = -1;
  float best_logit = kNegInf;
  for (int64_t i = 0; i < vocab; ++i) {
    if (logits[i] > best_logit) {
      best_logit = logits[i];
      best = i;
    }
  }
  if (best < 0) {
    return absl::InvalidArgumentError(
        "Sample: every logit is -inf or NaN; no token can be chosen");
  }
  if (IsGreedy(row.temperature)) return static_cast<int32_t>(best);

  // Tokens at -inf (or NaN) have probability 0 and never enter. If the max is
  // +inf the softmax degenerates to uniform over the +inf tokens.
  const bool any_posinf = std::isinf(best_logit);
  const double temperature = row.temperature;
  const double max_logit = any_posinf ? 0.0 : best_logit / temperature;
  std::vector<SampleCandidate>& candidates = *scratch;
  candidates.clear();
  for (int64_t i = 0; i < vocab; ++i) {
    const float x = logits[i];
    if (!(x > kNegInf)) continue;
    if (any_posinf && !std::isinf(x)) continue;
    const double scaled = any_posinf ? 0.0 : x / temperature;
    candidates.push_back({scaled, 0.0, static_cast<int32_t>(i)});
  }
  const size_t n = candidates.size();

  // The walks below visit candidates in descending order but usually stop
  // after a few dozen, so the order is built on demand: [0, sorted) is
  // sorted and no later candidate comes before any of it. Sorting the whole
  // vocabulary per token would cost milliseconds.
  size_t sorted = 0;
  auto sort_through = [&](size_t i) {
    if (i < sorted) return;
    const size_t end = std::min(n, std::max({2 * sorted, i + 1, size_t{64}}));
    std::partial_sort(candidates.begin() + sorted, candidates.begin() + end,
                      candidates.end(), Before);
    sorted = end;
  };

  // Weights are the unnormalised softmax with the max subtracted, so exp
  // never overflows. Top-k keeps the first k in order and renormalises over
  // them; only their weights are needed, and exp is most of the cost.
  size_t kept = n;
  if (row.top_k > 0 && static_cast<size_t>(row.top_k) < n) {
    kept = static_cast<size_t>(row.top_k);
    sort_through(kept - 1);
  }
  double total = 0;
  for (size_t i = 0; i < kept; ++i) {
    candidates[i].weight = std::exp(candidates[i].logit - max_logit);
    total += candidates[i].weight;
  }

  // Top-p over the top-k survivors (HF renormalises after top-k): the
  // smallest prefix whose cumulative probability reaches top_p, at least one.
  const double top_p = row.top_p;
  if (top_p > 0 && top_p < 1) {
    const double threshold = top_p * total;
    double cumulative = 0;
    size_t i = 0;
    while (i < kept) {
      sort_through(i);
      cumulative += candidates[i++].weight;
      if (cumulative >= threshold) break;
    }
    kept = i;
    total = cumulative;
  }

  // Inverse CDF in descending-probability order. Rounding can leave the
  // target a hair above the last cumulative sum; the last kept token then
  // takes it rather than falling off the end.
  const double target = static_cast<double>(row.uniform) * total;
  double cumulative = 0;
  for (size_t i = 0; i + 1 < kept; ++i) {
    sort_through(i);
    cumulative += candidates[i].weight;
    if (target < cumulative) return candidates[i].id;
  }
  sort_through(kept - 1);
  return candidates[kept - 1].id;
}

}  // namespace djinn
