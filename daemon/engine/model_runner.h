// Serves generation requests for one loaded model. Requests wait in a
// bounded queue for KV-cache pages. On the runner's own thread every pass
// advances each running sequence by one token and, in the same rows, writes
// the next chunks of newly admitted prompts to the cache (the chunk that
// ends a prompt samples its first token). A sequence joins between two
// passes and leaves the moment it finishes or is cancelled; a long prompt
// is cut into chunks and never holds the others back for more than a pass.
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
#include "daemon/engine/residency_manager.h"

namespace djinn {

struct RunnerCounters {
  int queued = 0;
  int active = 0;
  uint64_t requests_total = 0;
  uint64_t prompt_tokens_total = 0;
  uint64_t generated_tokens_total = 0;
};

class ModelRunner : public ResidencyMember {
 public:
  // Requests waiting for KV pages, at most; Submit refuses more.
  static constexpr int kDefaultMaxQueued = 1024;
  // Prompt rows in a pass of a fully resident model that also advances
  // decoding sequences. On the H100 a 13B model's 512-token prompt took
  // 24.9 ms against 10.6 ms for a decode step (bench/results/
  // 2026-11-25-cuda-resident-h100.md): a token waits at most about two steps
  // more for a prompt.
  static constexpr int64_t kMixedPromptRows = 512;

  // With a `residency_manager`, the model's layers are shared with the
  // other models it manages: the runner activates the model before it runs
  // requests and deactivates it when it has none left.
  explicit ModelRunner(std::unique_ptr<LoadedWeights> weights, int max_queued = kDefaultMaxQueued,
                       std::shared_ptr<ResidencyManager> residency_manager = nullptr);
  // Finishes every queued and running request first (see Drain).
  ~ModelRunner() override;

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
  // What the model's weight rings have copied (zero when nothing streamed).
  RingCounters ring_counters() const;
  // Where its layers are now, and how they have moved.
  ResidencySnapshot residency() const;

  // ResidencyMember, for the ResidencyManager.
  uint64_t Evict(uint64_t bytes) override;
  uint64_t WantedBytes() override;
  int64_t Promote() override;
  uint64_t LayerBytes() override { return weights_->residency->layer_bytes(); }
  std::vector<ArenaBlock> EvictableBlocks() override;

 private:
  struct Sequence;

  void Loop();
  // One forward pass: a token for every sequence whose prompt is in the
  // cache, and the next chunks of the prompts that are not (their first
  // tokens when a chunk ends one); removes the sequences that finish.
  void RunPass();
  // Prompt rows a pass may take beside `decode_rows` decoding sequences.
  int64_t PromptRowsFor(int64_t decode_rows) const;
  // Takes the token sampled for `sequence` (negative: sampling failed) and
  // its log-probabilities (LlamaModel::Logprobs; empty unless asked for):
  // streams them, or finishes the sequence. False once it has finished.
  bool Accept(Sequence& sequence, int32_t token, std::span<const TokenLogprob> logprobs);
  void Finish(Sequence& sequence, FinishReason reason, std::string text = "",
              std::vector<int32_t> last_tokens = {}, std::vector<GeneratedLogprobs> last_logprobs = {});
  // Copies the ring's counters and the residency for ring_counters() and
  // residency(); called after every forward pass and placement change,
  // under compute_mutex_.
  void PublishResidency();
  // Gives back the KV pages of an admitted sequence; the last one to go
  // with none queued makes the model idle (Deactivate).
  void ReleaseKv(Sequence& sequence);
  // Tells the residency manager the model has nothing to run (runner thread).
  void Deactivate();
  // Ends `sequence` with an error event, giving back its KV pages first.
  void Fail(Sequence& sequence, absl::Status error);
  // The queued request to admit next: highest priority + seconds waited,
  // then the earliest.
  std::deque<std::unique_ptr<Sequence>>::iterator NextToAdmit(absl::Time now);

  std::unique_ptr<LoadedWeights> weights_;
  const int max_queued_;
  std::vector<DecodeRow> decode_rows_;  // runner thread only
  std::vector<PromptChunk> prompt_chunks_;  // runner thread only

  mutable absl::Mutex mutex_;
  std::deque<std::unique_ptr<Sequence>> queue_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<Sequence>> running_;  // runner thread only
  int running_count_ ABSL_GUARDED_BY(mutex_) = 0;
  bool cancel_all_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  RunnerCounters counters_ ABSL_GUARDED_BY(mutex_);
  RingCounters ring_counters_ ABSL_GUARDED_BY(mutex_);
  ResidencySnapshot residency_ ABSL_GUARDED_BY(mutex_);
  const std::shared_ptr<ResidencyManager> residency_manager_;
  bool active_ = false;  // runner thread only: activated with the manager
  // Serialises model use between the runner thread and ScoreTokens.
  absl::Mutex compute_mutex_;
  std::thread thread_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_MODEL_RUNNER_H_
