#include "daemon/engine/model_runner.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "daemon/engine/sampling/detokenizer.h"
#include "daemon/engine/sampling/stop_matcher.h"

namespace djinn {
namespace {

// A chat request's prompt: the conversation rendered with the model's chat
// template, tokenized as apply_chat_template does.
absl::StatusOr<std::vector<int32_t>> ChatPromptTokens(const LoadedWeights& weights,
                                                      const std::vector<ChatMessage>& messages) {
  if (weights.chat_template == nullptr) {
    return absl::FailedPreconditionError(
        "the model has no chat template (no chat_template in its tokenizer_config.json, no chat_template.jinja): "
        "send a text prompt");
  }
  if (messages.empty()) return absl::InvalidArgumentError("the chat has no messages");
  absl::StatusOr<std::string> text = weights.chat_template->Render(messages, /*add_generation_prompt=*/true);
  if (!text.ok()) return text.status();
  // The template writes the special tokens (BOS …) itself: none are added,
  // as apply_chat_template tokenizes.
  return weights.tokenizer->Encode(*text, /*add_special_tokens=*/false);
}

}  // namespace

struct ModelRunner::Sequence {
  std::shared_ptr<GenerationStream> stream;
  std::vector<int32_t> tokens;  // prompt, then generated
  size_t prompt_tokens = 0;
  uint32_t max_tokens = 0;
  std::vector<int32_t> stop_token_ids;
  std::unique_ptr<Sampler> sampler;
  int32_t top_logprobs = -1;  // DecodeRow::top_logprobs: < 0 when logprobs were not asked for
  std::unique_ptr<IncrementalDetokenizer> detokenizer;
  std::unique_ptr<StopMatcher> stop_matcher;
  int slot = -1;
  size_t cached = 0;  // tokens whose keys/values are in the cache
  GenerationUsage usage;
  absl::Time submitted, admitted;
  absl::Time deadline = absl::InfiniteFuture();
  int priority = 0;
};

ModelRunner::ModelRunner(std::unique_ptr<LoadedWeights> weights, int max_queued,
                         std::shared_ptr<ResidencyManager> residency_manager)
    : weights_(std::move(weights)), max_queued_(max_queued), residency_manager_(std::move(residency_manager)) {
  {
    absl::MutexLock lock(&compute_mutex_);
    PublishResidency();
  }
  if (residency_manager_ != nullptr) residency_manager_->Add(this);
  thread_ = std::thread([this] { Loop(); });
}

ModelRunner::~ModelRunner() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  thread_.join();
  if (residency_manager_ != nullptr) {
    residency_manager_->Remove(this);
    weights_.reset();  // its memory goes back now, for the others to use
    residency_manager_->Rebalance();
  }
}

absl::StatusOr<std::shared_ptr<GenerationStream>> ModelRunner::Submit(const GenerationRequest& request) {
  const ModelConfig& config = weights_->config;
  auto sequence = std::make_unique<Sequence>();
  if (request.chat_messages.has_value()) {
    absl::StatusOr<std::vector<int32_t>> tokens = ChatPromptTokens(*weights_, *request.chat_messages);
    if (!tokens.ok()) return tokens.status();
    sequence->tokens = *std::move(tokens);
  } else if (request.prompt_text.has_value()) {
    // BOS (and whatever else) as the tokenizer's own rules add them: the
    // post-processor of tokenizer.json, the BOS for tokenizer.model.
    sequence->tokens = weights_->tokenizer->Encode(*request.prompt_text, /*add_special_tokens=*/true);
  } else {
    sequence->tokens = request.prompt_ids;
  }
  if (sequence->tokens.empty()) return absl::InvalidArgumentError("the prompt is empty");
  for (int32_t id : sequence->tokens) {
    if (id < 0 || id >= config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrFormat("prompt token id %d is outside the vocabulary [0, %d)", id,
                                                        config.vocab_size));
    }
  }
  const int64_t context = weights_->model->context_length();
  const int64_t prompt = static_cast<int64_t>(sequence->tokens.size());
  if (prompt >= context) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the prompt is %d tokens; the context length is %d, leaving no room to generate", prompt, context));
  }
  uint32_t max_tokens = request.max_tokens;
  if (max_tokens == 0) {
    max_tokens = static_cast<uint32_t>(std::min<int64_t>(kDefaultMaxTokens, context - prompt));
  } else if (prompt + max_tokens > context) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "prompt (%d tokens) + max_tokens (%d) exceeds the context length %d", prompt, max_tokens, context));
  }
  if (request.temperature < 0 || !(request.top_p >= 0 && request.top_p <= 1) || request.top_k < 0) {
    return absl::InvalidArgumentError("temperature must be >= 0, top_k >= 0 and top_p in [0, 1]");
  }
  if (request.top_logprobs > kMaxTopLogprobs) {
    return absl::InvalidArgumentError(absl::StrFormat("top_logprobs is %d; at most %d alternatives per token",
                                                      request.top_logprobs, kMaxTopLogprobs));
  }
  if (request.top_logprobs > 0 && !request.logprobs) {
    return absl::InvalidArgumentError("top_logprobs needs logprobs: set logprobs to true");
  }
  SamplingParams sampling;
  sampling.temperature = request.temperature;
  sampling.top_k = request.top_k;
  sampling.top_p = request.top_p;
  sampling.seed = request.seed.has_value() ? *request.seed : std::random_device{}() * 0x100000000ull + std::random_device{}();

  sequence->prompt_tokens = sequence->tokens.size();
  sequence->max_tokens = max_tokens;
  sequence->stop_token_ids = request.stop_token_ids;
  if (!request.ignore_eos) {
    for (int64_t eos : config.eos_token_ids) sequence->stop_token_ids.push_back(static_cast<int32_t>(eos));
  }
  sequence->sampler = std::make_unique<Sampler>(sampling);
  sequence->top_logprobs = request.logprobs ? static_cast<int32_t>(request.top_logprobs) : -1;
  const Tokenizer* tokenizer = weights_->tokenizer.get();
  sequence->detokenizer = std::make_unique<IncrementalDetokenizer>(
      [tokenizer](std::span<const int32_t> ids) { return tokenizer->Decode(ids); }, sequence->tokens);
  sequence->stop_matcher = std::make_unique<StopMatcher>(request.stop);
  sequence->usage.prompt_tokens = static_cast<uint32_t>(sequence->prompt_tokens);
  sequence->usage.seed = sampling.seed;
  sequence->submitted = absl::Now();
  sequence->stream = std::make_shared<GenerationStream>();
  std::shared_ptr<GenerationStream> stream = sequence->stream;

  absl::MutexLock lock(&mutex_);
  if (stopping_) return absl::NotFoundError("the model is unloading");
  if (static_cast<int>(queue_.size()) >= max_queued_) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%d requests are already waiting for this model; try again later", queue_.size()));
  }
  sequence->deadline = request.deadline;
  sequence->priority = request.priority;
  ++counters_.requests_total;
  counters_.prompt_tokens_total += sequence->prompt_tokens;
  queue_.push_back(std::move(sequence));
  return stream;
}

void ModelRunner::Drain() {
  absl::MutexLock lock(&mutex_);
  stopping_ = true;
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return queue_.empty() && running_count_ == 0; };
  mutex_.Await(absl::Condition(&idle));
}

void ModelRunner::CancelAll() {
  absl::MutexLock lock(&mutex_);
  cancel_all_ = true;
}

RunnerCounters ModelRunner::counters() const {
  absl::MutexLock lock(&mutex_);
  RunnerCounters c = counters_;
  c.queued = static_cast<int>(queue_.size());
  c.active = running_count_;
  return c;
}

RingCounters ModelRunner::ring_counters() const {
  absl::MutexLock lock(&mutex_);
  return ring_counters_;
}

ResidencySnapshot ModelRunner::residency() const {
  absl::MutexLock lock(&mutex_);
  return residency_;
}

void ModelRunner::PublishResidency() {
  // A copy under the short lock: Stats must not wait for a forward pass
  // (compute_mutex_), which can take a second while weights stream.
  const RingCounters counters = weights_->residency->ring_counters();
  const ResidencySnapshot residency = weights_->residency->Snapshot();
  absl::MutexLock lock(&mutex_);
  ring_counters_ = counters;
  residency_ = residency;
}

std::vector<ArenaBlock> ModelRunner::EvictableBlocks() {
  absl::MutexLock lock(&compute_mutex_);
  return weights_->residency->EvictableBlocks();
}

uint64_t ModelRunner::Evict(uint64_t bytes) {
  absl::MutexLock lock(&compute_mutex_);
  const uint64_t freed = weights_->residency->Evict(bytes);
  PublishResidency();
  return freed;
}

uint64_t ModelRunner::WantedBytes() {
  absl::MutexLock lock(&compute_mutex_);
  return weights_->residency->WantedBytes();
}

int64_t ModelRunner::Promote() {
  absl::MutexLock lock(&compute_mutex_);
  const int64_t promoted = weights_->residency->Promote();
  PublishResidency();
  return promoted;
}

absl::StatusOr<std::vector<float>> ModelRunner::ScoreTokens(const std::vector<int32_t>& tokens) {
  const int64_t vocab = weights_->config.vocab_size;
  if (tokens.empty() || static_cast<int64_t>(tokens.size()) > weights_->model->context_length()) {
    return absl::InvalidArgumentError("token count must be in [1, context length]");
  }
  for (int32_t id : tokens) {
    if (id < 0 || id >= vocab) return absl::InvalidArgumentError("token id outside the vocabulary");
  }
  std::optional<int> slot = weights_->kv_cache->Acquire(static_cast<int64_t>(tokens.size()));
  if (!slot.has_value()) return absl::ResourceExhaustedError("no free KV-cache pages");
  std::vector<float> all(tokens.size() * vocab);
  {
    absl::MutexLock lock(&compute_mutex_);
    weights_->model->Score(tokens, weights_->kv_cache->Pages(*slot), all);
    PublishResidency();
  }
  weights_->kv_cache->Release(*slot);
  return all;
}

void ModelRunner::Loop() {
  {
    absl::MutexLock lock(&compute_mutex_);
    weights_->model->PrefetchWeights();  // for the first prompt
  }
  for (;;) {
    bool cancel_all = false;
    {
      absl::MutexLock lock(&mutex_);
      // Sleep until there is something to do.
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || cancel_all_ || !running_.empty() || !queue_.empty();
      };
      mutex_.Await(absl::Condition(&has_work));
      if (stopping_ && running_.empty() && queue_.empty()) return;
      cancel_all = cancel_all_;
      cancel_all_ = false;
      // Drop queued requests whose client is gone or whose deadline passed;
      // admit the rest while KV pages last, best first (NextToAdmit).
      const absl::Time now = absl::Now();
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->stream->cancelled() || cancel_all) {
          Finish(**it, FinishReason::kCancelled);
        } else if ((*it)->deadline < now) {
          Fail(**it, absl::DeadlineExceededError("the deadline passed while the request was queued"));
        } else {
          ++it;
          continue;
        }
        it = queue_.erase(it);
      }
      while (!queue_.empty()) {
        auto next = NextToAdmit(now);
        // Pages for everything the request can write: prompt + max_tokens.
        const Sequence& candidate = **next;
        std::optional<int> slot =
            weights_->kv_cache->Acquire(static_cast<int64_t>(candidate.prompt_tokens + candidate.max_tokens));
        if (!slot.has_value()) break;
        std::unique_ptr<Sequence> sequence = std::move(*next);
        queue_.erase(next);
        sequence->slot = *slot;
        sequence->admitted = now;
        sequence->usage.queue_seconds = absl::ToDoubleSeconds(sequence->admitted - sequence->submitted);
        running_.push_back(std::move(sequence));
      }
      running_count_ = static_cast<int>(running_.size());
    }
    if (!active_ && residency_manager_ != nullptr) {
      // Before the first pass: this model's streamed layers may take the
      // room idle models give back.
      residency_manager_->Activate(this);
      active_ = true;
    }
    // Cancelled sequences leave first, then new ones prefill their prompts
    // (together), then every running sequence advances one token in one
    // batched step.
    const absl::Time now = absl::Now();
    std::erase_if(running_, [&](const std::unique_ptr<Sequence>& sequence) {
      if (cancel_all || sequence->stream->cancelled()) {
        Finish(*sequence, FinishReason::kCancelled);
      } else if (sequence->deadline < now) {
        Fail(*sequence, absl::DeadlineExceededError(absl::StrFormat(
                            "the deadline passed after %d generated tokens", sequence->usage.completion_tokens)));
      } else {
        return false;
      }
      return true;
    });
    if (!running_.empty()) RunPass();
    if (running_.empty()) {
      // Nothing left to run: the next pass is a new prompt's, and with
      // streamed layers its first blocks can be on their way already.
      {
        absl::MutexLock lock(&compute_mutex_);
        weights_->model->PrefetchWeights();
      }
      bool idle;
      {
        absl::MutexLock lock(&mutex_);
        idle = queue_.empty();
      }
      if (idle) Deactivate();
    }
  }
}

int64_t ModelRunner::PromptRowsFor(int64_t decode_rows) const {
  const LlamaModel& model = *weights_->model;
  const int64_t rows = std::max(model.prefill_chunk(), model.max_batch()) - decode_rows;
  // Without streamed layers a pass costs what its rows cost, so prompt rows
  // beside decoding sequences are held to a share that keeps their next
  // token from waiting long; with streamed layers every pass costs the copy
  // anyway, and the most rows per pass mean the fewest passes. (The
  // published residency: another thread may move layers between passes,
  // under compute_mutex_, which this runs outside of.)
  if (decode_rows > 0 && residency().streamed_layers == 0) {
    return std::min(rows, std::max<int64_t>(kMixedPromptRows, 1));
  }
  return rows;
}

void ModelRunner::RunPass() {
  decode_rows_.clear();
  prompt_chunks_.clear();
  std::vector<Sequence*> decoding, prompting;
  for (const std::unique_ptr<Sequence>& sequence : running_) {
    if (sequence->cached < sequence->prompt_tokens) continue;
    // The token sampled last is fed at the first position the cache lacks.
    decode_rows_.push_back(DecodeRow{sequence->tokens.back(), static_cast<int64_t>(sequence->cached),
                                     weights_->kv_cache->Pages(sequence->slot), sequence->sampler->NextRow(),
                                     sequence->top_logprobs});
    decoding.push_back(sequence.get());
  }
  // Then as much of the waiting prompts as the pass has rows for, oldest
  // admission first; a prompt longer than that continues next pass.
  int64_t budget = PromptRowsFor(static_cast<int64_t>(decode_rows_.size()));
  for (const std::unique_ptr<Sequence>& sequence : running_) {
    if (budget == 0) break;
    if (sequence->cached >= sequence->prompt_tokens) continue;
    PromptChunk chunk;
    chunk.tokens = std::span<const int32_t>(sequence->tokens.data(), sequence->prompt_tokens);
    chunk.pages = weights_->kv_cache->Pages(sequence->slot);
    chunk.start = static_cast<int64_t>(sequence->cached);
    chunk.n = std::min<int64_t>(budget, static_cast<int64_t>(sequence->prompt_tokens - sequence->cached));
    // Drawn only for the row that samples, so a request's random stream
    // does not depend on how its prompt was cut.
    if (chunk.ends_prompt()) chunk.sampling = sequence->sampler->NextRow();
    chunk.top_logprobs = sequence->top_logprobs;
    budget -= chunk.n;
    prompt_chunks_.push_back(chunk);
    prompting.push_back(sequence.get());
  }
  std::vector<int32_t> chosen;
  // Per chosen id, once some row asked (so a pass where none did allocates nothing).
  std::vector<std::vector<TokenLogprob>> logprobs;
  {
    absl::MutexLock lock(&compute_mutex_);
    const std::span<const int32_t> ids = weights_->model->Step(decode_rows_, prompt_chunks_);
    chosen.assign(ids.begin(), ids.end());
    for (size_t i = 0; i < chosen.size(); ++i) {
      const std::span<const TokenLogprob> row = weights_->model->Logprobs(i);
      if (row.empty()) continue;
      logprobs.resize(chosen.size());
      logprobs[i].assign(row.begin(), row.end());
    }
    PublishResidency();
  }
  auto logprobs_of = [&logprobs](size_t i) {
    return i < logprobs.size() ? std::span<const TokenLogprob>(logprobs[i]) : std::span<const TokenLogprob>();
  };
  std::vector<Sequence*> finished;
  size_t next = 0;
  for (Sequence* sequence : decoding) {
    ++sequence->cached;
    if (!Accept(*sequence, chosen[next], logprobs_of(next))) finished.push_back(sequence);
    ++next;
  }
  for (size_t i = 0; i < prompting.size(); ++i) {
    prompting[i]->cached += static_cast<size_t>(prompt_chunks_[i].n);
    if (!prompt_chunks_[i].ends_prompt()) continue;
    if (!Accept(*prompting[i], chosen[next], logprobs_of(next))) finished.push_back(prompting[i]);
    ++next;
  }
  std::erase_if(running_, [&](const std::unique_ptr<Sequence>& sequence) {
    return std::find(finished.begin(), finished.end(), sequence.get()) != finished.end();
  });
}

bool ModelRunner::Accept(Sequence& sequence, int32_t token, std::span<const TokenLogprob> logprobs) {
  if (token < 0) {
    Fail(sequence, absl::InternalError("sampling failed: no logit is a finite number"));
    return false;
  }
  std::vector<GeneratedLogprobs> token_logprobs;
  if (!logprobs.empty()) {
    token_logprobs.push_back(GeneratedLogprobs{logprobs[0], {logprobs.begin() + 1, logprobs.end()}});
  }
  sequence.tokens.push_back(token);
  const uint32_t generated = static_cast<uint32_t>(sequence.tokens.size() - sequence.prompt_tokens);
  sequence.usage.completion_tokens = generated;
  if (generated == 1) {
    sequence.usage.time_to_first_token_seconds = absl::ToDoubleSeconds(absl::Now() - sequence.submitted);
  }
  {
    absl::MutexLock lock(&mutex_);
    ++counters_.generated_tokens_total;
  }

  // A stop token ends the sequence; its id is returned, its text is not.
  if (std::find(sequence.stop_token_ids.begin(), sequence.stop_token_ids.end(), token) !=
      sequence.stop_token_ids.end()) {
    Finish(sequence, FinishReason::kStop, sequence.stop_matcher->Flush(), {token}, std::move(token_logprobs));
    return false;
  }
  const std::string delta = sequence.detokenizer->Push(token);
  StopMatcher::Result released = sequence.stop_matcher->Push(delta);
  if (released.stopped) {
    Finish(sequence, FinishReason::kStop, std::move(released.text), {token}, std::move(token_logprobs));
    return false;
  }
  if (generated >= sequence.max_tokens) {
    std::string tail = std::move(released.text);
    StopMatcher::Result rest = sequence.stop_matcher->Push(sequence.detokenizer->Flush());
    tail += rest.text;
    if (!rest.stopped) tail += sequence.stop_matcher->Flush();
    Finish(sequence, rest.stopped ? FinishReason::kStop : FinishReason::kLength, std::move(tail), {token},
           std::move(token_logprobs));
    return false;
  }
  GenerationEvent event;
  event.token_ids.push_back(token);
  event.logprobs = std::move(token_logprobs);
  event.text = std::move(released.text);
  sequence.stream->Push(std::move(event));
  return true;
}

std::deque<std::unique_ptr<ModelRunner::Sequence>>::iterator ModelRunner::NextToAdmit(absl::Time now) {
  auto score = [now](const Sequence& s) { return s.priority + absl::ToDoubleSeconds(now - s.submitted); };
  auto best = queue_.begin();
  for (auto it = std::next(queue_.begin()); it != queue_.end(); ++it) {
    if (score(**it) > score(**best)) best = it;  // ties: the earlier one stays
  }
  return best;
}

void ModelRunner::ReleaseKv(Sequence& sequence) {
  // Freed before the last event goes out, so that a client that has seen its
  // stream end never finds the pages still held.
  if (sequence.slot < 0) return;  // still queued
  weights_->kv_cache->Release(sequence.slot);
  sequence.slot = -1;
  bool idle;
  {
    absl::MutexLock lock(&mutex_);
    idle = --running_count_ == 0 && queue_.empty();
  }
  // Idle before the stream's last event too: a client that has seen its
  // request end finds this model able to give way to others.
  if (idle) Deactivate();
}

void ModelRunner::Deactivate() {
  if (!active_ || residency_manager_ == nullptr) return;
  residency_manager_->Deactivate(this);
  active_ = false;
}

void ModelRunner::Fail(Sequence& sequence, absl::Status error) {
  ReleaseKv(sequence);
  GenerationEvent event;
  event.error = std::move(error);
  sequence.stream->Push(std::move(event));
}

void ModelRunner::Finish(Sequence& sequence, FinishReason reason, std::string text, std::vector<int32_t> last_tokens,
                         std::vector<GeneratedLogprobs> last_logprobs) {
  ReleaseKv(sequence);
  GenerationEvent event;
  event.token_ids = std::move(last_tokens);
  event.logprobs = std::move(last_logprobs);
  event.text = std::move(text);
  event.finish = reason;
  sequence.usage.total_seconds = absl::ToDoubleSeconds(absl::Now() - sequence.submitted);
  event.usage = sequence.usage;
  sequence.stream->Push(std::move(event));
}

}  // namespace djinn
