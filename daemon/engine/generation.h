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
#include "daemon/engine/sampling/sampler.h"

namespace djinn {

struct GenerationRequest {
  std::optional<std::string> prompt_text;  // tokenized, BOS prepended
  std::vector<int32_t> prompt_ids;         // used verbatim when no text
  uint32_t max_tokens = 0;                 // 0: kDefaultMaxTokens, capped by the context
  float temperature = 0;
  int top_k = 0;
  float top_p = 1;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
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

// One streamed message. The last one has finish != kNone (and usage), or a
// non-OK error.
struct GenerationEvent {
  std::vector<int32_t> token_ids;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  GenerationUsage usage;
  absl::Status error;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_GENERATION_H_
