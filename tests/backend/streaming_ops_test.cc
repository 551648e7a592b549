// Streaming on every backend: host memory for the copy queue
// (AllocateHostMemory), copies on the copy queue (CopyToDevice) landing byte
// for byte and in issue order, events between the two queues and the host
// (moving when recorded again), compute waiting for a copy, recorded
// fork/join graphs replayed with new host data, a two-slot ring (the weight
// streaming pattern) against a direct computation, and FreeHostMemory
// waiting for the copies that read it.
//
// Every destination is poisoned first, and the copies are large (megabytes)
// so that a missing wait shows as wrong data rather than as a lucky race.
// The host reads backend memory back only after the ordering under test
// says the data is there (Synchronize, or an op on compute that waited).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/float16.h"
#include "tests/backend/support.h"

namespace djinn::backendtest {
namespace {

// Host memory from the backend, freed with it.
class HostBuffer {
 public:
  HostBuffer(Backend& backend, uint64_t bytes) : backend_(backend), bytes_(bytes) {
    absl::StatusOr<std::byte*> memory = backend.AllocateHostMemory(bytes);
    EXPECT_TRUE(memory.ok()) << memory.status();
    if (memory.ok()) data_ = *memory;
  }
  ~HostBuffer() { backend_.FreeHostMemory(data_, bytes_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  std::byte* data() const { return data_; }
  float* floats() const { return reinterpret_cast<float*>(data_); }

 private:
  Backend& backend_;
  std::byte* data_ = nullptr;
  uint64_t bytes_;
};

// Big enough that a copy of it takes a while: a missing wait shows as wrong
// data rather than as a lucky race.
constexpr uint64_t kBigBytes = 64ull << 20;
constexpr int64_t kBigFloats = static_cast<int64_t>(kBigBytes / sizeof(float));

// A value per (index, round) that no other index or round has.
float Pattern(int64_t i, int round) { return static_cast<float>(i % 1000003) + 0.25f * static_cast<float>(round + 1); }

// `values` stored as `t` at `out` (what a tensor of that dtype holds).
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

// Blocks until the copies issued so far have finished.
void WaitForCopies(Backend& backend) {
  const std::unique_ptr<QueueEvent> done = backend.CreateEvent();
  backend.RecordEvent(done.get(), Queue::kCopy);
  backend.Synchronize(done.get());
}

class StreamingOpsTest : public BackendTest {};
class StreamingDTypeTest : public OpTest {};

TEST_P(StreamingOpsTest, HostMemoryIsWritable) {
  for (uint64_t bytes : {uint64_t{1}, uint64_t{4097}, uint64_t{3} << 20}) {
    absl::StatusOr<std::byte*> memory = backend().AllocateHostMemory(bytes);
    ASSERT_TRUE(memory.ok()) << memory.status();
    std::memset(*memory, 0x5a, bytes);
    EXPECT_EQ((*memory)[bytes - 1], std::byte{0x5a});
    backend().FreeHostMemory(*memory, bytes);
  }
}

// Too much to provide: an error, not an abort, and the backend goes on.
TEST_P(StreamingOpsTest, HostMemoryTooLargeIsResourceExhausted) {
  const absl::StatusOr<std::byte*> memory = backend().AllocateHostMemory(uint64_t{1} << 62);
  ASSERT_FALSE(memory.ok());
  EXPECT_EQ(memory.status().code(), absl::StatusCode::kResourceExhausted) << memory.status();
  HostBuffer small(backend(), 64);
  ASSERT_NE(small.data(), nullptr);
  EXPECT_EQ(GetInts(PutInts({7}, 1, 1)), std::vector<int32_t>{7});
}

// Byte-exact copies at odd offsets and sizes, Synchronize from the host,
// and an event recorded again standing after the new work.
TEST_P(StreamingOpsTest, CopiesLandByteForByte) {
  const uint64_t bytes = (48ull << 20) + 13;  // not a multiple of anything
  HostBuffer host(backend(), bytes);
  ASSERT_NE(host.data(), nullptr);
  std::mt19937 rng(NextSeed());
  for (uint64_t i = 0; i < bytes; ++i) host.data()[i] = std::byte(rng() & 0xff);

  // bytes + 2 of 0xFF; the copy at offset 1, so the bytes on either side must stay.
  std::byte* device =
      static_cast<std::byte*>(Poisoned(1, static_cast<int64_t>((bytes + 2 + 3) / 4), DType::kInt32).data);
  const std::unique_ptr<QueueEvent> done = backend().CreateEvent();
  backend().Synchronize(done.get());  // never recorded: reached
  backend().WaitForEvent(Queue::kCompute, done.get());

  // Three pieces, out of order, at unaligned offsets.
  const uint64_t first = 1000001, second = 30000017;
  backend().CopyToDevice(host.data() + second, device + 1 + second, bytes - second);
  backend().CopyToDevice(host.data(), device + 1, first);
  backend().CopyToDevice(host.data() + first, device + 1 + first, second - first);
  backend().RecordEvent(done.get(), Queue::kCopy);
  backend().Synchronize(done.get());
  std::vector<std::byte> got = GetBytes(device, bytes + 2);
  EXPECT_EQ(got[0], std::byte{0xFF});
  EXPECT_EQ(std::memcmp(got.data() + 1, host.data(), bytes), 0) << "copies did not land";
  EXPECT_EQ(got[bytes + 1], std::byte{0xFF});

  // The same event recorded again stands after the next copy.
  for (uint64_t i = 0; i < bytes; ++i) host.data()[i] = std::byte(rng() & 0xff);
  backend().CopyToDevice(host.data(), device + 1, bytes);
  backend().RecordEvent(done.get(), Queue::kCopy);
  backend().Synchronize(done.get());
  got = GetBytes(device, bytes + 2);
  EXPECT_EQ(std::memcmp(got.data() + 1, host.data(), bytes), 0) << "Synchronize returned before the second copy";
}

// A big copy then a small one over its first bytes, again and again: run
// out of order, the big one would overwrite the small one. A first copy
// elsewhere keeps the copy queue busy while both wait behind it.
TEST_P(StreamingOpsTest, CopiesToOneDestinationLandInIssueOrder) {
  const int64_t big_floats = kBigFloats / 4, small_floats = 1024;
  const Tensor device = Poisoned(1, big_floats, DType::kFloat32), elsewhere = Poisoned(1, big_floats, DType::kFloat32);
  HostBuffer big(backend(), kBigBytes / 4), small(backend(), 4096);
  for (int round = 0; round < 4; ++round) {
    // The host buffers are rewritten only once the previous round's copies
    // have finished (WaitForCopies below).
    for (int64_t i = 0; i < big_floats; ++i) big.floats()[i] = Pattern(i, round);
    for (int64_t i = 0; i < small_floats; ++i) small.floats()[i] = -Pattern(i, round);
    backend().CopyToDevice(big.data(), elsewhere.data, kBigBytes / 4);
    backend().CopyToDevice(big.data(), device.data, kBigBytes / 4);
    backend().CopyToDevice(small.data(), device.data, 4096);
    WaitForCopies(backend());
    const std::vector<float> got = Get(device);
    for (int64_t i = 0; i < small_floats; ++i) ASSERT_EQ(got[i], -Pattern(i, round)) << "round " << round << " " << i;
    for (int64_t i = small_floats; i < big_floats; ++i)
      ASSERT_EQ(got[i], Pattern(i, round)) << "round " << round << " " << i;
  }
}

// A big copy, an event on the copy queue, compute waiting for it, then an op
// that reads the copied tensor: every element must be the copied value.
TEST_P(StreamingDTypeTest, ComputeWaitingForACopyEventSeesTheData) {
  const int64_t n = 16ll << 20;  // 64 MiB in fp32, 32 MiB in fp16 / bf16
  const uint64_t bytes = static_cast<uint64_t>(n) * DTypeSize(dtype());
  const std::vector<float> xs = Random(n, dtype()), ys = Random(n, dtype());
  HostBuffer host(backend(), bytes);
  ASSERT_NE(host.data(), nullptr);
  Encode(xs, dtype(), host.data());
  const Tensor x = Poisoned(1, n), y = Put(ys, 1, n);
  const std::unique_ptr<QueueEvent> copied = backend().CreateEvent();

  backend().CopyToDevice(host.data(), x.data, bytes);
  backend().RecordEvent(copied.get(), Queue::kCopy);
  backend().WaitForEvent(Queue::kCompute, copied.get());
  backend().Add(x, y);  // without the wait: NaN + y where the copy had not reached
  const std::vector<float> got = Get(x);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], RoundTo(dtype(), xs[i] + ys[i])) << i;
}

TEST_P(StreamingOpsTest, RecordingAnEventAgainMovesItsPoint) {
  const Tensor first = Poisoned(1, 16, DType::kFloat32), second = Poisoned(1, kBigFloats, DType::kFloat32);
  HostBuffer host(backend(), kBigBytes);
  for (int64_t i = 0; i < kBigFloats; ++i) host.floats()[i] = Pattern(i, 1);
  const std::unique_ptr<QueueEvent> event = backend().CreateEvent();

  backend().CopyToDevice(host.data(), first.data, 16 * sizeof(float));
  backend().RecordEvent(event.get(), Queue::kCopy);
  backend().Synchronize(event.get());
  std::vector<float> got = Get(first);
  for (int64_t i = 0; i < 16; ++i) ASSERT_EQ(got[i], Pattern(i, 1));

  // The same event after a big copy: it now stands after that copy.
  backend().CopyToDevice(host.data(), second.data, kBigBytes);
  backend().RecordEvent(event.get(), Queue::kCopy);
  backend().Synchronize(event.get());
  got = Get(second);
  for (int64_t i = 0; i < kBigFloats; ++i) ASSERT_EQ(got[i], Pattern(i, 1)) << i;

  // And once more, waited for by compute instead of the host: an op on
  // compute (Download) sees the copy's last element.
  Poison(second);
  backend().CopyToDevice(host.data(), second.data, kBigBytes);
  backend().RecordEvent(event.get(), Queue::kCopy);
  backend().WaitForEvent(Queue::kCompute, event.get());
  std::vector<float> last(1);
  backend().Download(second.Cols(kBigFloats - 1, 1), last);
  EXPECT_EQ(last[0], Pattern(kBigFloats - 1, 1));
  got = Get(second);
  for (int64_t i = 0; i < kBigFloats; ++i) ASSERT_EQ(got[i], Pattern(i, 1)) << i;

  // Recorded on compute, the event is reached once compute gets there,
  // whoever waits.
  backend().RecordEvent(event.get(), Queue::kCompute);
  backend().Synchronize(event.get());
  backend().WaitForEvent(Queue::kCopy, event.get());
  backend().WaitForEvent(Queue::kCompute, event.get());
  WaitForCopies(backend());
}

// compute RecordEvent → copy waits → CopyToDevice → copy RecordEvent →
// compute waits → Embedding, recorded once. The copy fills a table that
// Embedding then reads last row first: the rows the copy reaches last are
// read first, so a missing join shows. Record runs nothing (the copy
// included); each replay copies the host buffer's current contents; replays
// take no device memory.
TEST_P(StreamingDTypeTest, RecordedForkAndJoinReplaysWithNewHostData) {
  const int64_t rows = 4096, cols = 1024, n = rows * cols;
  const uint64_t bytes = static_cast<uint64_t>(n) * DTypeSize(dtype());
  HostBuffer host(backend(), bytes);
  ASSERT_NE(host.data(), nullptr);
  const Tensor table = Poisoned(rows, cols), out = Poisoned(rows, cols);
  std::vector<int32_t> reversed(rows);
  for (int64_t t = 0; t < rows; ++t) reversed[t] = static_cast<int32_t>(rows - 1 - t);
  const Tensor ids = PutInts(reversed, rows, 1);
  const std::unique_ptr<QueueEvent> fork = backend().CreateEvent(), join = backend().CreateEvent();
  const std::unique_ptr<OpGraph> graph = backend().Record([&] {
    backend().RecordEvent(fork.get(), Queue::kCompute);
    backend().WaitForEvent(Queue::kCopy, fork.get());
    backend().CopyToDevice(host.data(), table.data, bytes);
    backend().RecordEvent(join.get(), Queue::kCopy);
    backend().WaitForEvent(Queue::kCompute, join.get());
    backend().Embedding(table, ids, out);
  });
  ASSERT_NE(graph, nullptr);
  // Once the copy queue is idle, the table is still NaN.
  WaitForCopies(backend());
  for (float v : Get(table)) ASSERT_TRUE(std::isnan(v)) << "Record ran the copy";
  for (float v : Get(out)) ASSERT_TRUE(std::isnan(v)) << "Record ran the embedding";

  std::optional<uint64_t> in_use;
  for (int round = 0; round < 5; ++round) {
    // The last Get waited for compute, which a replay's copy is part of:
    // the host buffer is free to rewrite.
    std::vector<float> values(n);
    for (int64_t i = 0; i < n; ++i) values[i] = RoundTo(dtype(), Pattern(i, round));
    Encode(values, dtype(), host.data());
    Poison(table);
    Poison(out);
    graph->Replay();
    // Replay ends with compute joined to the copy: out is final now.
    const std::vector<float> got = Get(out);
    for (int64_t t = 0; t < rows; ++t) {
      for (int64_t c = 0; c < cols; ++c) {
        ASSERT_EQ(got[t * cols + c], values[(rows - 1 - t) * cols + c]) << "round " << round << " row " << t;
      }
    }
    if (round == 0) in_use = DeviceBytesInUse(backend());  // the first replay may set up what later ones reuse
  }
  if (in_use) {
    EXPECT_EQ(DeviceBytesInUse(backend()), in_use) << "replays took device memory";
  }
}

// Weight streaming in miniature: `blocks` weight matrices in one host array
// go through two slots in turn while compute multiplies by them. The copy
// into a slot waits for the event compute recorded after its last reader;
// compute waits for the copy's event before reading. On a backend whose
// compute runs behind the host (a GPU), a long MatMul before each consumer
// keeps compute behind the copies, so a copy that did not wait for the
// consumer would overwrite a slot before it is read (on the CPU compute
// runs on the issuing thread and cannot fall behind). Run directly, then
// recorded (a fork at the start, the join at the last block) and replayed
// with new weights; each result must equal MatMul on the block uploaded
// directly, bit for bit.
TEST_P(StreamingDTypeTest, TwoSlotRingEqualsDirectComputation) {
  const int64_t blocks = 6, m = 1024, k = 2048, n = 16, busy = IsReference() ? 0 : 4096;
  const uint64_t block_bytes = static_cast<uint64_t>(m * k) * DTypeSize(dtype());
  HostBuffer host(backend(), blocks * block_bytes);
  ASSERT_NE(host.data(), nullptr);
  const Tensor x = Put(Random(n * k, dtype()), n, k);
  const Tensor slots[2] = {Poisoned(m, k), Poisoned(m, k)};
  const Tensor out = Alloc(blocks * n, m);
  // The busy work: a [busy, busy] product per block (inputs zero).
  Tensor busy_a, busy_out;
  if (busy > 0) {
    busy_a = Put(std::vector<float>(busy * busy, 0.0f), busy, busy);
    busy_out = Alloc(busy, busy);
  }

  struct RingEvents {
    std::unique_ptr<QueueEvent> fork, filled[2], consumed[2];
  };
  auto make_events = [&] {
    RingEvents e;
    e.fork = backend().CreateEvent();
    for (int s = 0; s < 2; ++s) {
      e.filled[s] = backend().CreateEvent();
      e.consumed[s] = backend().CreateEvent();
    }
    return e;
  };
  // with_fork: the recorded form, whose first copy-queue work must wait for
  // an event recorded on compute inside the recording.
  auto ring = [&](RingEvents& e, bool with_fork) {
    if (with_fork) backend().RecordEvent(e.fork.get(), Queue::kCompute);
    auto fill = [&](int64_t b) {
      const int s = static_cast<int>(b % 2);
      backend().WaitForEvent(Queue::kCopy, with_fork && b < 2 ? e.fork.get() : e.consumed[s].get());
      backend().CopyToDevice(host.data() + b * block_bytes, slots[s].data, block_bytes);
      backend().RecordEvent(e.filled[s].get(), Queue::kCopy);
    };
    fill(0);
    fill(1);
    for (int64_t b = 0; b < blocks; ++b) {
      const int s = static_cast<int>(b % 2);
      if (busy > 0) backend().MatMul(busy_a, busy_a, busy_out);
      backend().WaitForEvent(Queue::kCompute, e.filled[s].get());
      backend().MatMul(x, slots[s], out.Rows(b * n, n));
      backend().RecordEvent(e.consumed[s].get(), Queue::kCompute);
      if (b + 2 < blocks) fill(b + 2);
    }
    // Compute's last wait was for the copy queue's last event: joined.
  };
  std::vector<float> weights;
  auto new_weights = [&] {
    weights = Random(blocks * m * k, dtype());
    Encode(weights, dtype(), host.data());
  };
  auto check = [&](const std::string& what) {
    const std::vector<float> got = Get(out);
    for (int64_t b = 0; b < blocks; ++b) {
      const Tensor w = Put(std::vector<float>(weights.begin() + b * m * k, weights.begin() + (b + 1) * m * k), m, k);
      const Tensor want = Poisoned(n, m);
      backend().MatMul(x, w, want);
      EXPECT_TRUE(SameBits(std::vector<float>(got.begin() + b * n * m, got.begin() + (b + 1) * n * m), Get(want)))
          << what << " block " << b;
    }
  };

  RingEvents direct = make_events();
  new_weights();
  Poison(out);
  ring(direct, false);
  check("direct");

  RingEvents recorded = make_events();
  const std::unique_ptr<OpGraph> graph = backend().Record([&] { ring(recorded, true); });
  ASSERT_NE(graph, nullptr);
  std::optional<uint64_t> in_use;
  for (int round = 0; round < 3; ++round) {
    // Get() in check() waited for compute, and with it for every copy of
    // the last replay (part of the graph): the host array is free.
    new_weights();
    Poison(out);
    for (const Tensor& slot : slots) Poison(slot);
    graph->Replay();
    check("replay " + std::to_string(round));
    if (round == 0) in_use = DeviceBytesInUse(backend());
  }
  if (in_use) {
    EXPECT_EQ(DeviceBytesInUse(backend()), in_use) << "replays took device memory";
  }
}

TEST_P(StreamingOpsTest, FreeHostMemoryWaitsForQueuedCopies) {
  const Tensor dst = Poisoned(1, kBigFloats, DType::kFloat32);
  absl::StatusOr<std::byte*> memory = backend().AllocateHostMemory(kBigBytes);
  ASSERT_TRUE(memory.ok()) << memory.status();
  auto* src = reinterpret_cast<float*>(*memory);
  for (int64_t i = 0; i < kBigFloats; ++i) src[i] = Pattern(i, 2);
  backend().CopyToDevice(*memory, dst.data, kBigBytes);
  // Freed while the copy runs: must wait for it, or the copy reads
  // unmapped memory.
  backend().FreeHostMemory(*memory, kBigBytes);
  const std::vector<float> got = Get(dst);
  for (int64_t i = 0; i < kBigFloats; ++i) ASSERT_EQ(got[i], Pattern(i, 2)) << i;
}

INSTANTIATE_TEST_SUITE_P(Backends, StreamingOpsTest, DJINN_ALL_BACKENDS);
INSTANTIATE_TEST_SUITE_P(Backends, StreamingDTypeTest, DJINN_ALL_BACKENDS_AND_DTYPES);

}  // namespace
}  // namespace djinn::backendtest
