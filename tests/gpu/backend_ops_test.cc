// CUDA-only properties of the CUDA backend, on a GPU host: what it
// describes and computes in, that ReserveArena takes the budget in one piece
// and that, once warmed up, no op (direct, or replayed from a recorded
// graph) allocates device memory, and that AllocateHostMemory is
// page-locked. The op contract both backends meet is the conformance suite
// (tests/backend/, gpu_backend_conformance_test); its fixture and helpers
// serve here too.
//
// Not part of CTest: run by tests/gpu/run.sh on a machine with a GPU.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "daemon/backend/cuda/cuda_backend.h"
#include "tests/backend/support.h"

namespace djinn::backendtest {
namespace {

class CudaBackendTest : public BackendFixture {
 protected:
  void SetUp() override { Open("cuda", DType::kFloat32); }
  CudaBackend& cuda() { return static_cast<CudaBackend&>(backend()); }
};

TEST_F(CudaBackendTest, DescribeAndComputeDType) {
  const DeviceDescription d = cuda().Describe();
  EXPECT_EQ(d.kind, "cuda");
  EXPECT_EQ(d.id, "cuda:0");
  EXPECT_FALSE(d.name.empty());
  EXPECT_GT(d.total_memory_bytes, 1ull << 30);
  EXPECT_EQ(cuda().ComputeDType(DType::kBFloat16), DType::kBFloat16);
  EXPECT_EQ(cuda().ComputeDType(DType::kFloat16), DType::kFloat16);
  EXPECT_EQ(cuda().ComputeDType(DType::kFloat32), DType::kFloat32);
  EXPECT_EQ(cuda().PreferredPrefillChunk(), 2048);
  std::printf("gpu_backend_ops_test: %s, %.1f GiB, %d SMs\n", d.name.c_str(), d.total_memory_bytes / double(1ull << 30),
              cuda().SmCount());
}

// Too much to pin is an error that leaves no sticky CUDA error behind, and
// what AllocateHostMemory gives is page-locked (the copy engine reads it at
// full speed).
TEST_F(CudaBackendTest, HostMemoryIsPinned) {
  const absl::StatusOr<std::byte*> huge = cuda().AllocateHostMemory(uint64_t{1} << 62);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  const uint64_t bytes = 48ull << 20;
  absl::StatusOr<std::byte*> host = cuda().AllocateHostMemory(bytes);
  ASSERT_TRUE(host.ok()) << host.status();
  cudaPointerAttributes attributes{};
  ASSERT_EQ(cudaPointerGetAttributes(&attributes, *host), cudaSuccess);
  EXPECT_EQ(attributes.type, cudaMemoryTypeHost) << "AllocateHostMemory is not page-locked";
  cuda().FreeHostMemory(*host, bytes);
}

// ------------------------------------------------------------ memory

uint64_t DeviceFree() {
  size_t free_bytes = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  return free_bytes;
}

// ReserveArena takes the budget in one piece, and once warmed up the ops
// (direct, or replayed from a recorded graph) allocate nothing more on the
// device.
TEST_F(CudaBackendTest, ArenaOnceAndNoAllocationsOnHotPath) {
  CudaBackend& b = cuda();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  constexpr uint64_t kBudget = 1536ull << 20;
  const uint64_t before = DeviceFree();
  absl::StatusOr<std::byte*> arena = b.ReserveArena(kBudget);
  ASSERT_TRUE(arena.ok()) << arena.status();
  const uint64_t after = DeviceFree();
  EXPECT_GE(before - after, kBudget) << "ReserveArena took less than the budget";
  EXPECT_LE(before - after, kBudget + (32ull << 20)) << "ReserveArena took more than the budget";
  EXPECT_EQ(b.FreeMemoryBytes(), after);

  // A Llama-8B-shaped layer with a small vocabulary, in each dtype.
  const int64_t hidden = 4096, heads = 32, kv_heads = 8, head_dim = 128, inter = 14336 / 4, context = 512;
  const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim, chunk = 128, vocab = 1000;
  const int64_t page_tokens = 16, pages = context / page_tokens, batch = 4;
  const AttentionShape shape{heads, kv_heads, head_dim};
  uint64_t used = 0;
  auto take = [&](int64_t rows, int64_t cols, DType t) {
    Tensor out{*arena + used, t, rows, cols};
    used += (out.bytes() + 255) / 256 * 256;
    EXPECT_LE(used, kBudget);
    return out;
  };
  auto fill = [&](const Tensor& t, float scale = 0.02f) {  // weights ~ ±0.02 keep activations O(1)
    std::vector<float> host = Random(t.elements(), t.dtype, -scale, scale);
    b.Upload(std::as_bytes(std::span<const float>(host)), DType::kFloat32, t);
  };
  auto put_ints = [&](const Tensor& t, const std::vector<int32_t>& host) {
    b.Upload(std::as_bytes(std::span<const int32_t>(host)), DType::kInt32, t);
  };
  const Tensor cos = take(context, head_dim / 2, DType::kFloat32), sin = take(context, head_dim / 2, DType::kFloat32);
  fill(cos, 1.0f);
  fill(sin, 1.0f);
  // Step inputs: ids, positions, destinations, page tables, seq_lens, sampling.
  const Tensor ids = take(chunk, 1, DType::kInt32), positions = take(chunk, 1, DType::kInt32);
  const Tensor destinations = take(chunk, 1, DType::kInt32), tables = take(batch, pages, DType::kInt32);
  const Tensor seq_lens = take(batch, 1, DType::kInt32), sampling = take(batch, 4, DType::kInt32);
  const Tensor sampled = take(batch, 1, DType::kInt32);
  const Tensor scratch =
      take(1, static_cast<int64_t>(b.AttentionScratchBytes(shape, chunk, context) / 4 + 1), DType::kFloat32);
  std::vector<int32_t> table_host(batch * pages);
  for (int64_t i = 0; i < batch * pages; ++i) table_host[i] = static_cast<int32_t>(i);  // sequence s: pages s*32..
  put_ints(tables, table_host);

  struct Layer {
    DType dtype;
    Tensor x, normed, qkv, att, proj, gate_up, act, logits, wqkv, wo, wgu, wd, norm, embed, lm_head;
    KvCacheLayout kv;
  };
  std::vector<Layer> layers;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    Layer l{t,
            take(chunk, hidden, t),
            take(chunk, hidden, t),
            take(chunk, q_dim + 2 * kv_dim, t),
            take(chunk, q_dim, t),
            take(chunk, hidden, t),
            take(chunk, 2 * inter, t),
            take(chunk, inter, t),
            take(batch, vocab, DType::kFloat32),
            take(q_dim + 2 * kv_dim, hidden, t),
            take(hidden, q_dim, t),
            take(2 * inter, hidden, t),
            take(hidden, inter, t),
            take(1, hidden, t),
            take(vocab, hidden, t),
            take(vocab, hidden, t),
            {}};
    const Tensor pool = take(batch * pages, 2 * page_tokens * kv_dim, t);
    l.kv = KvCacheLayout{pool.data, t, 1, page_tokens, kv_dim};
    for (const Tensor& w : {l.wqkv, l.wo, l.wgu, l.wd, l.lm_head}) fill(w);
    for (const Tensor& w : {l.norm, l.embed, pool}) fill(w, 1.0f);
    layers.push_back(l);
  }
  auto forward = [&](const Layer& l, int64_t n, int64_t start) {  // start < 0: decode of n sequences
    const Tensor x = l.x.Rows(0, n), normed = l.normed.Rows(0, n), qkv = l.qkv.Rows(0, n);
    const Tensor q = qkv.Cols(0, q_dim), k = qkv.Cols(q_dim, kv_dim), v = qkv.Cols(q_dim + kv_dim, kv_dim);
    const Tensor att = l.att.Rows(0, n), proj = l.proj.Rows(0, n), gate_up = l.gate_up.Rows(0, n),
                 act = l.act.Rows(0, n);
    b.Embedding(l.embed, ids.Rows(0, n), x);
    b.RmsNorm(x, l.norm, 1e-5f, normed);
    b.MatMul(normed, l.wqkv, qkv);
    b.Rope(q, head_dim, positions.Rows(0, n), cos, sin);
    b.Rope(k, head_dim, positions.Rows(0, n), cos, sin);
    b.WriteKv(k, v, l.kv, 0, destinations.Rows(0, n));
    if (start >= 0) {
      b.PrefillAttention(q, l.kv, 0, tables.Rows(0, 1), start, shape, scratch, att);
    } else {
      b.DecodeAttention(q, l.kv, 0, tables.Rows(0, n), seq_lens.Rows(0, n), context, shape, scratch, att);
    }
    b.MatMul(att, l.wo, proj);
    b.Add(x, proj);
    b.RmsNorm(x, l.norm, 1e-5f, normed);
    b.MatMul(normed, l.wgu, gate_up);
    b.SiluMul(gate_up.Cols(0, inter), gate_up.Cols(inter, inter), act);
    b.MatMul(act, l.wd, proj);
    b.Add(x, proj);
    if (start < 0) {
      b.MatMul(normed.Rows(0, n), l.lm_head, l.logits.Rows(0, n));
      b.Sample(l.logits.Rows(0, n), sampling.Rows(0, n), Tensor{}, sampled.Rows(0, n));
    }
  };
  auto prefill_inputs = [&](int64_t start) {
    std::vector<int32_t> id(chunk), pos(chunk), dst(chunk);
    for (int64_t i = 0; i < chunk; ++i) {
      id[i] = static_cast<int32_t>((i * 37) % vocab);
      pos[i] = static_cast<int32_t>(start + i);
      dst[i] = table_host[(start + i) / page_tokens] * page_tokens + (start + i) % page_tokens;
    }
    put_ints(ids, id);
    put_ints(positions, pos);
    put_ints(destinations, dst);
  };
  auto decode_inputs = [&](int64_t step) {
    std::vector<int32_t> id(batch), pos(batch), dst(batch), lens(batch), params(batch * 4);
    for (int64_t s = 0; s < batch; ++s) {
      const int64_t position = 2 * chunk + step + 50 * s;
      id[s] = static_cast<int32_t>((step * 11 + s) % vocab);
      pos[s] = static_cast<int32_t>(position);
      dst[s] = table_host[s * pages + position / page_tokens] * page_tokens + position % page_tokens;
      lens[s] = static_cast<int32_t>(position + 1);
      const SamplingRow row{s % 2 == 0 ? 0.0f : 0.8f, 40, 0.9f, 0.5f};
      std::memcpy(&params[s * 4], &row, sizeof row);
    }
    put_ints(ids.Rows(0, batch), id);
    put_ints(positions.Rows(0, batch), pos);
    put_ints(destinations.Rows(0, batch), dst);
    put_ints(seq_lens, lens);
    put_ints(sampling, params);
  };
  std::vector<std::unique_ptr<OpGraph>> graphs;
  auto run_all = [&] {
    for (size_t i = 0; i < layers.size(); ++i) {
      const Layer& l = layers[i];
      prefill_inputs(0);
      forward(l, chunk, 0);
      prefill_inputs(chunk);
      forward(l, chunk, chunk);
      for (int64_t step = 0; step < 3; ++step) {  // decode, direct
        decode_inputs(step);
        forward(l, batch, -1);
      }
      if (graphs.size() <= i) graphs.push_back(b.Record([&, i] { forward(layers[i], batch, -1); }));
      for (int64_t step = 3; step < 6; ++step) {  // decode, replayed
        decode_inputs(step);
        graphs[i]->Replay();
      }
      std::vector<int32_t> chosen(batch);
      b.CopyToHost(sampled, std::as_writable_bytes(std::span<int32_t>(chosen)));
      for (int32_t id : chosen) EXPECT_TRUE(id >= 0 && id < vocab) << id;
    }
    std::vector<float> out(hidden);
    for (const Layer& l : layers) {
      b.Download(l.x.Rows(0, 1), out);
      for (float f : out) ASSERT_FALSE(std::isnan(f)) << DTypeName(l.dtype);
    }
  };
  run_all();  // warm-up: lazy module loading, cuBLAS heuristics, graph instantiation
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const uint64_t warm = DeviceFree();
  for (int i = 0; i < 3; ++i) run_all();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const uint64_t steady = DeviceFree();
  std::printf(
      "gpu_backend_ops_test: arena %llu MiB took %llu MiB; free after warm-up %llu MiB, after 3 more runs %llu MiB\n",
      static_cast<unsigned long long>(kBudget >> 20), static_cast<unsigned long long>((before - after) >> 20),
      static_cast<unsigned long long>(warm >> 20), static_cast<unsigned long long>(steady >> 20));
  EXPECT_EQ(steady, warm) << "device memory was allocated on the hot path";
  graphs.clear();
  b.ReleaseArena(*arena, kBudget);
  EXPECT_GE(DeviceFree(), after + kBudget - (2ull << 20));
}

}  // namespace
}  // namespace djinn::backendtest
