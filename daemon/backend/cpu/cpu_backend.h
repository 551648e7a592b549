// The reference backend: plain C++ in fp32 on the host, split over the cores
// by a thread pool. It runs in CI and is what the CUDA kernels are checked
// against, so it favours clarity and a fixed summation order over speed.
//
// Ops run synchronously on the issuing thread (with the pool's help), so
// every op has finished when it returns; Download and CopyToHost have
// nothing to wait for.
//
// Streaming: the copy queue is a thread of the backend's own that runs
// CopyToDevice's memcpys one after another in issue order. Events are
// positions in a queue: a copy-queue event is the sequence number of the
// last copy issued before RecordEvent (reached once the copy thread has
// finished that copy); a compute-queue event is reached as soon as it is
// recorded, since compute is synchronous. An event never recorded counts as
// reached (as a CUDA event does). A timing event is reached on the compute
// queue when recorded, and on the copy queue when recorded or when the copy
// thread finished its copy, whichever is later (the thread notes when each
// of the last kCopyTimes copies finished).
#ifndef DJINN_DAEMON_BACKEND_CPU_CPU_BACKEND_H_
#define DJINN_DAEMON_BACKEND_CPU_CPU_BACKEND_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "daemon/backend/backend.h"
#include "daemon/backend/cpu/thread_pool.h"
#include "daemon/backend/sample_rule.h"  // SampleFromLogits, the rule Sample runs

namespace djinn {

class CpuBackend : public Backend {
 public:
  // threads 0: one per hardware thread.
  explicit CpuBackend(int threads = 0);
  // Finishes the copies already issued, then stops the copy thread.
  ~CpuBackend() override;

  DeviceDescription Describe() const override;
  // The host's RAM (/proc/meminfo): the CPU backend's device memory is the host's.
  absl::StatusOr<DeviceMemoryUsage> MemoryUsage() const override;
  DType ComputeDType(DType) const override { return DType::kFloat32; }
  // Small: the CPU gains nothing from long chunks, and a chunk's
  // activations are workspace that the KV cache could use instead.
  int64_t PreferredPrefillChunk() const override { return 64; }

  absl::StatusOr<std::byte*> ReserveArena(uint64_t bytes) override;
  // Waits for the copies already issued first (they may write to it).
  void ReleaseArena(std::byte* base, uint64_t bytes) override;
  // dst is float32 (from float32, float16 or bfloat16) or int32 (from int32
  // only); anything else is a bug in the caller and aborts.
  void Upload(std::span<const std::byte> source, DType source_dtype, const Tensor& dst) override;
  // src float32, may be strided; copies min(host.size(), src.elements())
  // values, row by row.
  void Download(const Tensor& src, std::span<float> host) override;
  // Copies min(host.size(), src.bytes()) bytes.
  void CopyToHost(const Tensor& src, std::span<std::byte> host) override;

  // The CPU has no graphs: the returned OpGraph keeps a copy of `issue` and
  // calls it on every Replay, which re-reads whatever the tensors hold then
  // (exactly what replaying a recorded graph does). Record runs nothing.
  // Replay therefore issues the copies and events again each time, exactly
  // as a direct run would.
  std::unique_ptr<OpGraph> Record(const std::function<void()>& issue) override;

  // Page-aligned anonymous memory (mmap); RESOURCE_EXHAUSTED when the
  // kernel refuses it.
  absl::StatusOr<std::byte*> AllocateHostMemory(uint64_t bytes) override;
  // Waits for the copies already issued (any of them may read `memory`).
  void FreeHostMemory(std::byte* memory, uint64_t bytes) override;
  // Queues a memcpy on the copy thread and returns at once. `device` may be
  // any writable host memory (on the CPU the arena is host memory).
  void CopyToDevice(const std::byte* host, void* device, uint64_t bytes) override;
  std::unique_ptr<QueueEvent> CreateEvent() override;
  void RecordEvent(QueueEvent* event, Queue queue) override;
  // Compute waiting for a copy-queue event blocks the calling thread until
  // the copy thread has passed it. Every other wait is already satisfied:
  // a compute-queue event was reached when it was recorded, and the copy
  // queue runs in issue order.
  void WaitForEvent(Queue queue, QueueEvent* event) override;
  void Synchronize(QueueEvent* event) override;
  std::unique_ptr<QueueEvent> CreateTimingEvent() override;
  // Waits for a copy-queue event's copy; NaN for a copy older than the last
  // kCopyTimes.
  double SecondsBetween(QueueEvent* from, QueueEvent* to) override;

  void Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) override;
  void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) override;
  void MatMul(const Tensor& x, const Tensor& w, const Tensor& out) override;
  void Add(const Tensor& x, const Tensor& y) override;
  // Rows in order, one at a time: out may be the start of the fused buffer
  // gate and up are columns of (row r of out only overlaps input rows <= r).
  void SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  void AddBias(const Tensor& x, const Tensor& bias) override;
  void HeadRmsNorm(const Tensor& x, int64_t head_dim, const Tensor& weight, float eps) override;
  void Rope(const Tensor& x, int64_t head_dim, const Tensor& positions, const Tensor& cos,
            const Tensor& sin) override;
  void WriteKv(const Tensor& k, const Tensor& v, const KvCacheLayout& cache, int64_t layer,
               const Tensor& destinations) override;

  // One score row of max_seq_len floats for each (query row, head) pair that
  // can be in flight at once: min(threads, rows * heads) of them.
  uint64_t AttentionScratchBytes(const AttentionShape& shape, int64_t rows, int64_t max_seq_len) const override;
  void PrefillAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_table,
                        int64_t start, const AttentionShape& shape, const Tensor& scratch,
                        const Tensor& out) override;
  // Row b gives bit for bit what PrefillAttention gives for that sequence's
  // last query row (position seq_lens[b] - 1): both run one function.
  void DecodeAttention(const Tensor& q, const KvCacheLayout& cache, int64_t layer, const Tensor& page_tables,
                       const Tensor& seq_lens, int64_t max_seq_len, const AttentionShape& shape,
                       const Tensor& scratch, const Tensor& out) override;

  // 0: Sample uses a vector of its own, sized to the vocabulary on first use
  // and reused after that.
  uint64_t SampleScratchBytes(int64_t rows, int64_t vocab) const override { return 0; }
  // SampleFromLogits row by row. A row it rejects (every logit -inf or NaN)
  // gets id -1, which the engine treats as a sampling failure.
  void Sample(const Tensor& logits, const Tensor& params, const Tensor& scratch, const Tensor& ids) override;
  // TopLogprobsRow (cpu/top_logprobs.h) row by row, rows split over the pool.
  void TopLogprobs(const Tensor& logits, const Tensor& ids, int64_t top_n, const Tensor& out) override;

 private:
  // Calls fn(item, slot) for every item in [0, count), split over the pool
  // into at most `slots` contiguous shares; share i runs its items in order
  // with slot i, so a slot's scratch is never used by two threads at once.
  void ForEachInSlots(int64_t count, int64_t slots, const std::function<void(int64_t, int64_t)>& fn);

  // The copy queue.
  struct CopyTask {
    const std::byte* source;
    void* destination;
    uint64_t bytes;
  };
  void CopyLoop();
  // Blocks until the copy thread has finished copy number `sequence`.
  void WaitForCopy(uint64_t sequence);

  std::unique_ptr<ThreadPool> pool_;
  std::mutex copy_mutex_;
  std::condition_variable copy_ready_;  // a task was queued, or stopping
  std::condition_variable copy_done_;   // copies_done_ moved
  std::deque<CopyTask> copy_tasks_;     // issued, not yet started
  uint64_t copies_issued_ = 0;          // copy n (from 1) is the n-th CopyToDevice
  uint64_t copies_done_ = 0;            // copies 1..copies_done_ have finished
  // When copy n finished, at [n % kCopyTimes], for timing events.
  static constexpr uint64_t kCopyTimes = 4096;
  std::vector<std::chrono::steady_clock::time_point> copy_finished_at_ =
      std::vector<std::chrono::steady_clock::time_point>(kCopyTimes);
  bool copy_stopping_ = false;
  std::thread copy_thread_;             // last: starts after the state above exists
  // Sample's working space; ops are issued by one thread at a time.
  std::vector<SampleCandidate> sample_candidates_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_CPU_CPU_BACKEND_H_
