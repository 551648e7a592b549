// Streaming on the GPU: pinned host memory (AllocateHostMemory), copies on
// the copy stream (CopyToDevice), events between the two streams and the
// host, and recorded graphs that fork to the copy stream and join back.
//
// Every destination is poisoned (NaN, 0xFF bytes) first and every copy is
// large enough (megabytes over PCIe) that a missing wait shows as NaN or
// stale data rather than as a lucky race. Device memory is read back with
// plain cudaMemcpy (legacy stream: it does not wait for the backend's
// non-blocking streams) or with Download, which waits for the compute
// stream only, so each check sees only what the backend's own ordering
// guarantees.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/float16.h"
#include "tests/gpu/gpu_test_util.h"

namespace djinn::gputest {
namespace {

uint64_t DeviceFree() {
  size_t free_bytes = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  return free_bytes;
}

// Pinned host memory from the backend, freed with it.
class PinnedBuffer {
 public:
  PinnedBuffer(Backend& backend, uint64_t bytes) : backend_(backend), bytes_(bytes) {
    absl::StatusOr<std::byte*> memory = backend.AllocateHostMemory(bytes);
    EXPECT_TRUE(memory.ok()) << memory.status();
    if (memory.ok()) data_ = *memory;
  }
  ~PinnedBuffer() { backend_.FreeHostMemory(data_, bytes_); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  std::byte* data() const { return data_; }

 private:
  Backend& backend_;
  std::byte* data_ = nullptr;
  uint64_t bytes_;
};

// `values` stored as `t` at `out` (what the device tensor must hold).
void Encode(const std::vector<float>& values, DType t, std::byte* out) {
  if (t == DType::kFloat32) {
    std::memcpy(out, values.data(), values.size() * sizeof(float));
    return;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t bits = t == DType::kFloat16 ? FloatToFloat16(values[i]) : FloatToBFloat16(values[i]);
    std::memcpy(out + 2 * i, &bits, 2);
  }
}

// x + y rounded once to t: what Add computes.
std::vector<float> Sum(const std::vector<float>& x, const std::vector<float>& y, DType t) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = RoundTo(t, x[i] + y[i]);
  return out;
}

std::vector<std::byte> ReadDevice(const void* device, uint64_t bytes) {
  std::vector<std::byte> host(bytes);
  EXPECT_EQ(cudaMemcpy(host.data(), device, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

// ------------------------------------------------------------ copies and events

// Pinned memory, byte-exact copies at odd offsets and sizes, Synchronize
// from the host, and an event recorded again standing after the new work.
TEST(GpuStreamingTest, PinnedCopiesLandByteForByte) {
  Gpu& gpu = TheGpu();
  ASSERT_TRUE(gpu.backend != nullptr) << "no usable CUDA device: " << gpu.status;
  CudaBackend& b = *gpu.backend;

  // Too much to pin: an error, not an abort, and the backend goes on.
  const absl::StatusOr<std::byte*> huge = b.AllocateHostMemory(uint64_t{1} << 62);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);

  const uint64_t bytes = (48ull << 20) + 13;
  PinnedBuffer host(b, bytes);
  ASSERT_NE(host.data(), nullptr);
  cudaPointerAttributes attributes{};
  ASSERT_EQ(cudaPointerGetAttributes(&attributes, host.data()), cudaSuccess);
  EXPECT_EQ(attributes.type, cudaMemoryTypeHost) << "AllocateHostMemory is not page-locked";
  std::mt19937 rng(NextSeed());
  for (uint64_t i = 0; i < bytes; ++i) host.data()[i] = std::byte(rng() & 0xff);

  std::byte* device = gpu.arena;  // bytes + 2, the copy at offset 1
  ASSERT_EQ(cudaMemset(device, 0xFF, bytes + 2), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::unique_ptr<QueueEvent> done = b.CreateEvent();
  b.Synchronize(done.get());  // never recorded: nothing to wait for

  // Three pieces, out of order, at unaligned offsets.
  const uint64_t first = 1000001, second = 30000017;
  b.CopyToDevice(host.data() + second, device + 1 + second, bytes - second);
  b.CopyToDevice(host.data(), device + 1, first);
  b.CopyToDevice(host.data() + first, device + 1 + first, second - first);
  b.RecordEvent(done.get(), Queue::kCopy);
  b.Synchronize(done.get());
  std::vector<std::byte> got = ReadDevice(device, bytes + 2);
  EXPECT_EQ(got[0], std::byte{0xFF});
  EXPECT_EQ(std::memcmp(got.data() + 1, host.data(), bytes), 0) << "copies did not land";
  EXPECT_EQ(got[bytes + 1], std::byte{0xFF});

  // The same event recorded again stands after the next copy.
  for (uint64_t i = 0; i < bytes; ++i) host.data()[i] = std::byte(rng() & 0xff);
  b.CopyToDevice(host.data(), device + 1, bytes);
  b.RecordEvent(done.get(), Queue::kCopy);
  b.Synchronize(done.get());
  got = ReadDevice(device, bytes + 2);
  EXPECT_EQ(std::memcmp(got.data() + 1, host.data(), bytes), 0) << "Synchronize returned before the second copy";
  AddResult("copy", "bytes", Shape({{"bytes", static_cast<int64_t>(bytes)}}), 0.0, 0.0, false);
}

class GpuStreamingOpsTest : public GpuTest {};

// A big copy, an event on the copy queue, compute waiting for it, then an op
// that reads the copied tensor: every element must be the copied value.
TEST_P(GpuStreamingOpsTest, ComputeWaitsForCopyEvent) {
  const int64_t n = 16ll << 20;  // 64 MiB in fp32, 32 MiB in fp16 / bf16
  const uint64_t bytes = static_cast<uint64_t>(n) * DTypeSize(dtype_);
  const std::vector<float> xs = Random(n, dtype_), ys = Random(n, dtype_);
  PinnedBuffer host(*gpu_, bytes);
  ASSERT_NE(host.data(), nullptr);
  Encode(xs, dtype_, host.data());
  const Tensor x = Poisoned(1, n), y = Put(ys, 1, n);
  const std::unique_ptr<QueueEvent> copied = gpu_->CreateEvent();

  gpu_->CopyToDevice(host.data(), x.data, bytes);
  gpu_->RecordEvent(copied.get(), Queue::kCopy);
  gpu_->WaitForEvent(Queue::kCompute, copied.get());
  gpu_->Add(x, y);  // without the wait: NaN + y where the copy had not reached
  Check("stream-add", Shape({{"n", n}}), Get(x), Sum(xs, ys, dtype_), 0.0);
}

// ------------------------------------------------------------ recorded fork / join

// compute RecordEvent → copy waits → CopyToDevice → copy RecordEvent →
// compute waits → Add, recorded once; each replay copies the pinned buffer's
// current contents. Record runs nothing (the copy included), and replays
// allocate no device memory.
TEST_P(GpuStreamingOpsTest, RecordedForkJoinReplaysWithNewHostData) {
  const int64_t n = 8ll << 20;
  const uint64_t bytes = static_cast<uint64_t>(n) * DTypeSize(dtype_);
  PinnedBuffer host(*gpu_, bytes);
  ASSERT_NE(host.data(), nullptr);
  std::vector<float> xs = Random(n, dtype_);
  Encode(xs, dtype_, host.data());
  const std::vector<float> ys = Random(n, dtype_);
  const Tensor x = Poisoned(1, n), y = Put(ys, 1, n);
  const std::unique_ptr<QueueEvent> fork = gpu_->CreateEvent(), join = gpu_->CreateEvent();

  std::unique_ptr<OpGraph> graph = gpu_->Record([&] {
    gpu_->RecordEvent(fork.get(), Queue::kCompute);
    gpu_->WaitForEvent(Queue::kCopy, fork.get());
    gpu_->CopyToDevice(host.data(), x.data, bytes);
    gpu_->RecordEvent(join.get(), Queue::kCopy);
    gpu_->WaitForEvent(Queue::kCompute, join.get());
    gpu_->Add(x, y);
  });
  ASSERT_NE(graph, nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  for (float v : Get(x)) ASSERT_TRUE(std::isnan(v)) << "Record ran the copy or the add";

  graph->Replay();  // the first launch may set up what later ones reuse
  Check("fork-join", Shape({{"n", n}, {"round", 0}}), Get(x), Sum(xs, ys, dtype_), 0.0);
  const uint64_t free_before = DeviceFree();
  for (int round = 1; round <= 5; ++round) {
    // Get() waited for the compute stream, which the graph's copy is part
    // of: the pinned buffer is free to rewrite.
    xs = Random(n, dtype_);
    Encode(xs, dtype_, host.data());
    Poison(x);
    graph->Replay();
    Check("fork-join", Shape({{"n", n}, {"round", round}}), Get(x), Sum(xs, ys, dtype_), 0.0);
  }
  EXPECT_EQ(DeviceFree(), free_before) << "replays allocated device memory";
}

// ------------------------------------------------------------ a two-slot ring

// Weight streaming in miniature: `blocks` weight matrices in one pinned
// array go through two device slots in turn while compute multiplies by
// them. The copy into a slot waits for the event compute recorded after its
// last reader; compute waits for the copy's event before reading. A long
// MatMul before each consumer keeps compute behind the copies, so a copy
// that did not wait for the consumer would overwrite a slot before it is
// read. Run directly, then recorded (a fork at the start, the join at the
// last block) and replayed with new weights; each result must equal
// MatMul on the block uploaded directly, bit for bit.
TEST_P(GpuStreamingOpsTest, TwoSlotRingEqualsDirectComputation) {
  const int64_t blocks = 6, m = 1024, k = 2048, n = 16, busy = 4096;
  const uint64_t block_bytes = static_cast<uint64_t>(m * k) * DTypeSize(dtype_);
  PinnedBuffer host(*gpu_, blocks * block_bytes);
  ASSERT_NE(host.data(), nullptr);
  const Tensor x = Put(Random(n * k, dtype_), n, k);
  const Tensor slots[2] = {Poisoned(m, k), Poisoned(m, k)};
  const Tensor out = Alloc(blocks * n, m);
  // The busy work: a [busy, busy] product per block (inputs zero).
  const Tensor busy_a = Alloc(busy, busy), busy_out = Alloc(busy, busy);
  ASSERT_EQ(cudaMemset(busy_a.data, 0, busy_a.bytes()), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  struct RingEvents {
    std::unique_ptr<QueueEvent> fork, filled[2], consumed[2];
  };
  auto make_events = [&] {
    RingEvents e;
    e.fork = gpu_->CreateEvent();
    for (int s = 0; s < 2; ++s) {
      e.filled[s] = gpu_->CreateEvent();
      e.consumed[s] = gpu_->CreateEvent();
    }
    return e;
  };
  // with_fork: the recorded form, whose first copy-queue work must wait for
  // an event recorded on compute inside the recording.
  auto ring = [&](RingEvents& e, bool with_fork) {
    if (with_fork) gpu_->RecordEvent(e.fork.get(), Queue::kCompute);
    auto fill = [&](int64_t b) {
      const int s = static_cast<int>(b % 2);
      gpu_->WaitForEvent(Queue::kCopy, with_fork && b < 2 ? e.fork.get() : e.consumed[s].get());
      gpu_->CopyToDevice(host.data() + b * block_bytes, slots[s].data, block_bytes);
      gpu_->RecordEvent(e.filled[s].get(), Queue::kCopy);
    };
    fill(0);
    fill(1);
    for (int64_t b = 0; b < blocks; ++b) {
      const int s = static_cast<int>(b % 2);
      gpu_->MatMul(busy_a, busy_a, busy_out);
      gpu_->WaitForEvent(Queue::kCompute, e.filled[s].get());
      gpu_->MatMul(x, slots[s], out.Rows(b * n, n));
      gpu_->RecordEvent(e.consumed[s].get(), Queue::kCompute);
      if (b + 2 < blocks) fill(b + 2);
    }
    // Compute's last wait was for the copy queue's last event: joined.
  };
  std::vector<float> weights;
  auto new_weights = [&] {
    weights = Random(blocks * m * k, dtype_);
    Encode(weights, dtype_, host.data());
  };
  auto check = [&](const std::string& what) {
    const std::vector<float> got = Get(out);
    for (int64_t b = 0; b < blocks; ++b) {
      const Tensor w = Put(std::vector<float>(weights.begin() + b * m * k, weights.begin() + (b + 1) * m * k), m, k);
      const Tensor want = Poisoned(n, m);
      gpu_->MatMul(x, w, want);
      Check("ring", what + " " + Shape({{"block", b}, {"m", m}, {"k", k}, {"n", n}}),
            std::vector<float>(got.begin() + b * n * m, got.begin() + (b + 1) * n * m), Get(want), 0.0);
    }
  };

  RingEvents direct = make_events();
  new_weights();
  Poison(out);
  ring(direct, false);
  check("direct");

  RingEvents recorded = make_events();
  std::unique_ptr<OpGraph> graph = gpu_->Record([&] { ring(recorded, true); });
  ASSERT_NE(graph, nullptr);
  uint64_t free_before = 0;
  for (int round = 0; round < 3; ++round) {
    // Get() in check() waited for the compute stream, and with it for every
    // copy of the last replay (part of the graph): the host array is free.
    new_weights();
    Poison(out);
    for (const Tensor& slot : slots) Poison(slot);
    graph->Replay();
    check("replay " + std::to_string(round));
    if (round == 0) free_before = DeviceFree();
  }
  EXPECT_EQ(DeviceFree(), free_before) << "replays allocated device memory";
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GpuStreamingOpsTest, DJINN_GPU_DTYPES);

}  // namespace
}  // namespace djinn::gputest
