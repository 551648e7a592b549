// What a generation request asks for and what it streams back, as plain C++
// types (the gRPC edge translates to and from these).
#ifndef DJINN_DAEMON_ENGINE_GENERATION_H_
#define DJINN_DAEMON_ENGINE_GENERATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/chat_template.h"
#include "daemon/engine/sampling/sampler.h"

namespace djinn {

struct GenerationRequest {
  std::optional<std::string> prompt_text;  // tokenized, BOS prepended
  std::vector<int32_t> prompt_ids;         // used verbatim when no text or chat
  // A conversation: rendered with the model's chat template
  // (add_generation_prompt true) and tokenized with no special tokens added.
  // Set (even empty) when the request is a chat; an empty one is
  // INVALID_ARGUMENT.
  std::optional<std::vector<ChatMessage>> chat_messages;
  uint32_t max_tokens = 0;                 // 0: kDefaultMaxTokens, capped by the context
  float temperature = 0;
  int top_k = 0;
  float top_p = 1;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  // Return each generated token's log-probability (GenerationEvent::logprobs)
  // and, with top_logprobs > 0, the top_logprobs (<= kMaxTopLogprobs) most
  // likely tokens at its position. top_logprobs without logprobs, or above
  // kMaxTopLogprobs, is INVALID_ARGUMENT.
  bool logprobs = false;
  uint32_t top_logprobs = 0;
  // Past it, the request ends with DEADLINE_EXCEEDED wherever it is (queued
  // or running) and gives back its KV pages.
  absl::Time deadline = absl::InfiniteFuture();
  // Among queued requests, higher goes first; equal ones in arrival order.
  // Waiting adds one per second (aging), so no request waits forever behind
  // a stream of higher-priority ones.
  int priority = 0;
};

constexpr uint32_t kDefaultMaxTokens = 128;

enum class FinishReason { kNone, kLength, kStop, kCancelled };

struct GenerationUsage {
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  double queue_seconds = 0;
  double time_to_first_token_seconds = 0;
  double total_seconds = 0;
  uint64_t seed = 0;
};

// One generated token's log-probability under the model's raw distribution
// (log_softmax of the logits, before temperature, top-k and top-p) and the
// most likely tokens at its position, most likely first (equal logits by
// lower id). The chosen token may be outside `top`.
struct GeneratedLogprobs {
  TokenLogprob chosen;
  std::vector<TokenLogprob> top;
};

// One streamed message. The last one has finish != kNone (and usage), or a
// non-OK error.
struct GenerationEvent {
  std::vector<int32_t> token_ids;
  // With GenerationRequest::logprobs: one entry per token_ids entry, in order.
  std::vector<GeneratedLogprobs> logprobs;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  GenerationUsage usage;
  absl::Status error;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_GENERATION_H_
