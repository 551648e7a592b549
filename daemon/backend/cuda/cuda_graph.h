// Record / Replay on the GPU: the ops a callback issues, captured from the
// compute stream (and the copy stream, where the callback forks to it) into
// a CUDA graph and instantiated once; Replay launches the whole graph on the
// compute stream with one call. The kernels read their
// index tensors (ids, positions, seq_lens, ...) on the device and size their
// grids from shapes only, so a replay after the engine rewrote those tensors
// computes the new step.
#ifndef DJINN_DAEMON_BACKEND_CUDA_CUDA_GRAPH_H_
#define DJINN_DAEMON_BACKEND_CUDA_CUDA_GRAPH_H_

#include <functional>
#include <memory>

#include "daemon/backend/backend.h"

// Opaque CUDA handle types, so this header needs no CUDA include.
struct CUstream_st;
struct CUgraphExec_st;

namespace djinn {

class CudaOpGraph : public OpGraph {
 public:
  // Captures what `issue` enqueues on `stream` (thread-local capture mode:
  // other threads' CUDA calls are unaffected), without running it. Another
  // stream joins the capture by waiting for an event recorded on a captured
  // stream; it must be joined back into `stream` (`stream` waits for an
  // event recorded on it after its last work) before `issue` returns, since
  // the capture ends on `stream`. Aborts if the capture breaks, e.g.
  // because an op synchronised or allocated, or a fork was not joined.
  static std::unique_ptr<CudaOpGraph> Capture(CUstream_st* stream, const std::function<void()>& issue);

  CudaOpGraph(const CudaOpGraph&) = delete;
  CudaOpGraph& operator=(const CudaOpGraph&) = delete;
  // Must run before the stream's backend is destroyed.
  ~CudaOpGraph() override;

  // Enqueues the recorded ops on the stream; returns at once.
  void Replay() override;

 private:
  CudaOpGraph(CUstream_st* stream, CUgraphExec_st* exec) : stream_(stream), exec_(exec) {}

  CUstream_st* stream_;
  CUgraphExec_st* exec_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_CUDA_CUDA_GRAPH_H_
