// The seam between the engine and the hardware. The engine runs the Llama
// graph as calls to this small set of ops on Tensors in backend memory; a
// backend (cpu/, later cuda/) implements them. Nothing above this interface
// knows which backend runs it.
//
// Ops are issued by one thread at a time per model and complete in issue
// order; a backend may run them asynchronously as long as Download() returns
// finished results.
#ifndef DJINN_DAEMON_BACKEND_BACKEND_H_
#define DJINN_DAEMON_BACKEND_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/backend/tensor.h"

namespace djinn {

struct DeviceDescription {
  std::string kind;  // "cpu" or "cuda"
  std::string name;  // e.g. the CPU model or "NVIDIA H100 80GB HBM3"
  uint64_t total_memory_bytes = 0;
};

// Where one sequence's keys and values for one layer live:
// keys/values are [context_length, kv_heads * head_dim].
struct KvView {
  Tensor keys;
  Tensor values;
};

struct AttentionShape {
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual DeviceDescription Describe() const = 0;
  // The dtype weights, activations and KV cache of a model stored in
  // `stored` are held in (the CPU computes in float32; a GPU in the model's
  // half-precision type).
  virtual DType ComputeDType(DType stored) const = 0;

  // Memory. The daemon reserves its whole budget once at start-up and
  // sub-allocates it; backends never allocate on the hot path.
  virtual absl::StatusOr<std::byte*> ReserveArena(uint64_t bytes) = 0;
  virtual void ReleaseArena(std::byte* base, uint64_t bytes) = 0;

  // Copies `source` (host bytes, dst.elements() values in `source_dtype`)
  // into backend memory, converting to dst.dtype.
  virtual void Upload(std::span<const std::byte> source, DType source_dtype, const Tensor& dst) = 0;
  // Copies `src` (compute dtype) into host floats; waits for pending ops.
  virtual void Download(const Tensor& src, std::span<float> host) = 0;

  // out[t] = table[ids[t]]
  virtual void Embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) = 0;
  // out = x / rms(x) * weight, per row; statistics in fp32.
  virtual void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) = 0;
  // out = x · wᵀ   ([n, k] · [m, k]ᵀ = [n, m])
  virtual void MatMul(const Tensor& x, const Tensor& w, const Tensor& out) = 0;
  // x += y
  virtual void Add(const Tensor& x, const Tensor& y) = 0;
  // out = silu(gate) * up
  virtual void SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) = 0;
  // Rotates each head of x ([n, heads * head_dim]) by its position, HF
  // rotate_half layout. cos/sin are [max_positions, head_dim / 2].
  virtual void Rope(const Tensor& x, int64_t head_dim, std::span<const int32_t> positions, const Tensor& cos,
                    const Tensor& sin) = 0;
  // Writes k/v rows ([n, kv_dim]) into the cache at rows [start, start + n).
  virtual void WriteKv(const Tensor& k, const Tensor& v, const KvView& cache, int64_t start) = 0;
  // Causal attention of queries q ([n, heads * head_dim]) at positions
  // start..start+n-1 over cache rows [0, start + n). `scratch` holds at
  // least heads * (start + n) floats.
  virtual void Attention(const Tensor& q, const KvView& cache, int64_t start, const AttentionShape& shape,
                         const Tensor& scratch, const Tensor& out) = 0;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_BACKEND_BACKEND_H_
