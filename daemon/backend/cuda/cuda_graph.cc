#include "daemon/backend/cuda/cuda_graph.h"

#include <cuda_runtime_api.h>

#include "daemon/backend/cuda/kernels.h"  // DJINN_CUDA_CHECK

namespace djinn {

std::unique_ptr<CudaOpGraph> CudaOpGraph::Capture(CUstream_st* stream, const std::function<void()>& issue) {
  DJINN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  issue();
  cudaGraph_t graph = nullptr;
  DJINN_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  // (cudaGraphInstantiateWithFlags: the same call on CUDA 11.4+ and 12.)
  DJINN_CUDA_CHECK(cudaGraphInstantiateWithFlags(&exec, graph, 0));
  DJINN_CUDA_CHECK(cudaGraphDestroy(graph));  // the executable graph is independent of it
  return std::unique_ptr<CudaOpGraph>(new CudaOpGraph(stream, exec));
}

CudaOpGraph::~CudaOpGraph() {
  // A replay may still be running: destroying the executable graph is safe
  // then (CUDA defers the release), but wait anyway so that nothing the
  // graph reads is released under it by the caller right after.
  DJINN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  DJINN_CUDA_CHECK(cudaGraphExecDestroy(exec_));
}

void CudaOpGraph::Replay() { DJINN_CUDA_CHECK(cudaGraphLaunch(exec_, stream_)); }

}  // namespace djinn
