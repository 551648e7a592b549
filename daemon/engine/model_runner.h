// Serves generation requests for one loaded model. Requests wait in a FIFO
// queue for a KV-cache slot. On the runner's own thread, each admitted
// sequence first prefills its prompt (which samples its first token); then
// every running sequence advances one token per step, all of them in one
// batched forward pass. A sequence joins the batch the step after it is
// admitted and leaves it the moment it finishes or is cancelled.
#ifndef DJINN_DAEMON_ENGINE_MODEL_RUNNER_H_
#define DJINN_DAEMON_ENGINE_MODEL_RUNNER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/engine/generation.h"
#include "daemon/engine/generation_stream.h"
#include "daemon/engine/model_loader.h"

namespace djinn {

struct RunnerCounters {
  int queued = 0;
  int active = 0;
  uint64_t requests_total = 0;
  uint64_t prompt_tokens_total = 0;
  uint64_t generated_tokens_total = 0;
};

class ModelRunner {
 public:
  // Requests waiting for KV pages, at most; Submit refuses more.
  static constexpr int kDefaultMaxQueued = 1024;

  explicit ModelRunner(std::unique_ptr<LoadedWeights> weights, int max_queued = kDefaultMaxQueued);
  // Finishes every queued and running request first (see Drain).
  ~ModelRunner();

  // Validates and tokenizes the request (INVALID_ARGUMENT for an empty or too
  // long prompt, out-of-range token ids, bad sampling parameters), then queues
  // it (RESOURCE_EXHAUSTED when max_queued requests already wait). The
  // stream delivers its tokens.
  absl::StatusOr<std::shared_ptr<GenerationStream>> Submit(const GenerationRequest& request);

  // Refuses new requests and waits until every queued and running one has
  // finished.
  void Drain();

  // Stops every queued and running request now with FinishReason kCancelled.
  void CancelAll();

  // Logits of every position of `tokens` (a fresh sequence), for tests and
  // tools: tokens.size() * vocab_size floats.
  absl::StatusOr<std::vector<float>> ScoreTokens(const std::vector<int32_t>& tokens);

  const LoadedWeights& weights() const { return *weights_; }
  RunnerCounters counters() const;
  // What the model's weight ring has copied (zero when nothing streams).
  RingCounters ring_counters() const;

 private:
  struct Sequence;

  void Loop();
  // Prefills the prompts of the newly admitted sequences, together, and
  // takes their first tokens; removes those that finish.
  void PrefillNewSequences();
  // One token for every running sequence; removes those that finish.
  void DecodeStep();
  // Takes the token sampled for `sequence` (negative: sampling failed):
  // streams it, or finishes the sequence. False once it has finished.
  bool Accept(Sequence& sequence, int32_t token);
  void Finish(Sequence& sequence, FinishReason reason, std::string text = "",
              std::vector<int32_t> last_tokens = {});
  // Copies the weight ring's counters for ring_counters(); called after
  // every forward pass, under compute_mutex_.
  void PublishRingCounters();
  // Gives back the KV pages of an admitted sequence.
  void ReleaseKv(Sequence& sequence);
  // Ends `sequence` with an error event, giving back its KV pages first.
  void Fail(Sequence& sequence, absl::Status error);
  // The queued request to admit next: highest priority + seconds waited,
  // then the earliest.
  std::deque<std::unique_ptr<Sequence>>::iterator NextToAdmit(absl::Time now);

  std::unique_ptr<LoadedWeights> weights_;
  const int max_queued_;
  std::vector<DecodeRow> decode_rows_;  // runner thread only
  std::vector<PrefillSequence> prefill_sequences_;  // runner thread only

  mutable absl::Mutex mutex_;
  std::deque<std::unique_ptr<Sequence>> queue_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<Sequence>> running_;  // runner thread only
  int running_count_ ABSL_GUARDED_BY(mutex_) = 0;
  bool cancel_all_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  RunnerCounters counters_ ABSL_GUARDED_BY(mutex_);
  RingCounters ring_counters_ ABSL_GUARDED_BY(mutex_);
  // Serialises model use between the runner thread and ScoreTokens.
  absl::Mutex compute_mutex_;
  std::thread thread_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_MODEL_RUNNER_H_
