// A fixed set of worker threads for splitting one op over the cores.
// ParallelFor calls from different threads are serialised: on the CPU
// backend one op at a time uses every core.
#ifndef DJINN_DAEMON_BACKEND_CPU_THREAD_POOL_H_
#define DJINN_DAEMON_BACKEND_CPU_THREAD_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace djinn {

class ThreadPool {
 public:
  // 0: one thread per hardware thread.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs fn(begin, end) over contiguous, disjoint ranges covering [0, count);
  // returns when all are done. The calling thread takes a share.
  void ParallelFor(int64_t count, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop(int index);

  std::mutex call_mutex_;  // one ParallelFor at a time
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  const std::function<void(int64_t, int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_CPU_THREAD_POOL_H_
