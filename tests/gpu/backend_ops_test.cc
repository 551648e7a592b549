// The CUDA backend's memory ops and row ops against the CPU reference, on a
// GPU host, in fp32, fp16 and bf16: Upload / Download / CopyToHost,
// Embedding, RmsNorm, HeadRmsNorm, MatMul, Add, AddBias, SiluMul, Rope, WriteKv (strided views and
// paged caches included), and the rule that no op allocates device memory.
// Attention, sampling and Record/Replay have files of their own; the shared
// fixture and the discipline are in gpu_test_util.h.
//
// Not part of CTest: run by tests/gpu/run.sh on a machine with a GPU.
// DJINN_GPU_TEST_SEED=<n> repeats a run's inputs (the seed is printed).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include "common/float16.h"
#include "tests/gpu/gpu_test_util.h"

namespace djinn::gputest {
namespace {

// ------------------------------------------------------------ basics

TEST(GpuBackendTest, DescribeAndComputeDType) {
  Gpu& gpu = TheGpu();
  ASSERT_TRUE(gpu.backend != nullptr) << "no usable CUDA device: " << gpu.status;
  const DeviceDescription d = gpu.backend->Describe();
  EXPECT_EQ(d.kind, "cuda");
  EXPECT_FALSE(d.name.empty());
  EXPECT_GT(d.total_memory_bytes, 1ull << 30);
  EXPECT_EQ(gpu.backend->ComputeDType(DType::kBFloat16), DType::kBFloat16);
  EXPECT_EQ(gpu.backend->ComputeDType(DType::kFloat16), DType::kFloat16);
  EXPECT_EQ(gpu.backend->ComputeDType(DType::kFloat32), DType::kFloat32);
  EXPECT_EQ(gpu.backend->PreferredPrefillChunk(), 2048);
}

class GpuOpsTest : public GpuTest {};

TEST_P(GpuOpsTest, UploadDownloadRoundTrip) {
  // fp32 source: the device holds exactly the host-rounded values. Sizes
  // cross the 8 MiB staging buffers several times.
  for (int64_t count : {int64_t{1}, int64_t{13}, int64_t{4096}, int64_t{5'000'003}}) {
    const std::vector<float> host = Random(count, DType::kFloat32, -4.0f, 4.0f);
    Tensor t = Poisoned(1, count);
    gpu_->Upload(std::as_bytes(std::span<const float>(host)), DType::kFloat32, t);
    std::vector<float> ref(count);
    for (int64_t i = 0; i < count; ++i) ref[i] = RoundTo(dtype_, host[i]);
    Check("upload", Shape({{"n", count}, {"from fp32", 1}}), Get(t), ref, 0.0);
  }
  // Half sources (fp16 and bf16 bits) into this dtype, and into fp32 (the
  // RoPE tables' case).
  for (DType source : {DType::kFloat16, DType::kBFloat16}) {
    const int64_t count = 3'000'001;
    const std::vector<float> values = Random(count, source, -2.0f, 2.0f);
    std::vector<uint16_t> bits(count);
    for (int64_t i = 0; i < count; ++i) {
      bits[i] = source == DType::kFloat16 ? FloatToFloat16(values[i]) : FloatToBFloat16(values[i]);
    }
    for (DType to : {dtype_, DType::kFloat32}) {
      Tensor t = Poisoned(1, count, to);
      gpu_->Upload(std::as_bytes(std::span<const uint16_t>(bits)), source, t);
      std::vector<float> ref(count);
      for (int64_t i = 0; i < count; ++i) ref[i] = RoundTo(to, values[i]);
      Check("upload", std::string("n=3000001 from ") + Name(source) + " to " + Name(to), Get(t), ref, 0.0);
    }
  }
  // CopyToHost: the raw bytes of this dtype.
  {
    const int64_t count = 100'003;
    const std::vector<float> host = Random(count, dtype_, -4.0f, 4.0f);
    const Tensor t = Put(host, 1, count);
    std::vector<std::byte> raw(t.bytes());
    gpu_->CopyToHost(t, raw);
    std::vector<float> got(count);
    for (int64_t i = 0; i < count; ++i) {
      if (dtype_ == DType::kFloat32) {
        std::memcpy(&got[i], raw.data() + 4 * i, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, raw.data() + 2 * i, 2);
        got[i] = dtype_ == DType::kFloat16 ? Float16ToFloat(h) : BFloat16ToFloat(h);
      }
    }
    Check("copytohost", Shape({{"n", count}}), got, host, 0.0);
  }
}

// int32 tensors: raw copies both ways; many uploads in a row, small ones
// sharing a staging buffer and large ones switching buffers, all land.
TEST(GpuBackendTest, Int32UploadAndCopyToHost) {
  Gpu& gpu = TheGpu();
  ASSERT_TRUE(gpu.backend != nullptr) << "no usable CUDA device: " << gpu.status;
  gpu.used = 0;
  std::mt19937 rng(NextSeed());
  std::vector<int64_t> sizes;
  for (int i = 0; i < 300; ++i) sizes.push_back(1 + rng() % 50);           // a step's ids, positions, ...
  for (int i = 0; i < 12; ++i) sizes.push_back(1'000'000 + rng() % 1000);  // 4 MB each
  sizes.push_back(5'000'001);                                              // more than one staging buffer
  std::vector<std::vector<int32_t>> hosts;
  std::vector<Tensor> tensors;
  for (int64_t n : sizes) {
    std::vector<int32_t> host(n);
    for (int32_t& v : host) v = static_cast<int32_t>(rng());  // negative ones too
    Tensor t{gpu.arena + gpu.used, DType::kInt32, n, 1};
    gpu.used += (t.bytes() + 255) / 256 * 256;
    ASSERT_LE(gpu.used, kArenaBytes);
    gpu.backend->Upload(std::as_bytes(std::span<const int32_t>(host)), DType::kInt32, t);
    std::fill(host.begin(), host.end(), 0);  // the source may be reused at once...
    for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<int32_t>(i * 2654435761u);
    gpu.backend->Upload(std::as_bytes(std::span<const int32_t>(host)), DType::kInt32, t);  // ...and the last write wins
    hosts.push_back(std::move(host));
    tensors.push_back(t);
  }
  size_t mismatched = 0;
  for (size_t k = 0; k < tensors.size(); ++k) {
    std::vector<int32_t> back(tensors[k].elements(), -7);
    gpu.backend->CopyToHost(tensors[k], std::as_writable_bytes(std::span<int32_t>(back)));
    if (back != hosts[k]) ++mismatched;
  }
  EXPECT_EQ(mismatched, 0u) << "of " << tensors.size() << " int32 tensors";
}

// ------------------------------------------------------------ row ops

TEST_P(GpuOpsTest, Embedding) {
  const int64_t vocab = 1000;
  std::mt19937 rng(NextSeed());
  for (int64_t cols : {int64_t{4096}, int64_t{13}, int64_t{100}}) {
    for (int64_t n : {int64_t{1}, int64_t{64}, int64_t{70}, int64_t{2048}}) {
      std::vector<float> table = Random(vocab * cols, dtype_);
      std::vector<int32_t> ids(n);
      for (int32_t& id : ids) id = static_cast<int32_t>(rng() % vocab);
      std::vector<float> ref(n * cols);
      cpu_.Embedding(View(table, vocab, cols), IntView(ids, n, 1), View(ref, n, cols));
      const Tensor gtable = Put(table, vocab, cols), gids = PutInts(ids, n, 1);
      const Tensor out = Poisoned(n, cols);
      gpu_->Embedding(gtable, gids, out);
      Check("embedding", Shape({{"n", n}, {"cols", cols}}), Get(out), ref, 0.0);
      // Into the left columns of a wider tensor: the right ones stay as they were.
      const std::vector<float> wide = Random(n * (cols + 8), dtype_);
      std::vector<float> wide_ref = wide;
      for (int64_t t = 0; t < n; ++t) std::copy_n(ref.begin() + t * cols, cols, wide_ref.begin() + t * (cols + 8));
      const Tensor gwide = Put(wide, n, cols + 8);
      gpu_->Embedding(gtable, gids, gwide.Cols(0, cols));
      Check("embedding", Shape({{"n", n}, {"cols", cols}, {"strided out", 1}}), Get(gwide), wide_ref, 0.0);
    }
  }
}

TEST_P(GpuOpsTest, RmsNorm) {
  for (const auto& [rows, cols] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 4096}, {64, 4096}, {1, 37}, {64, 5120}, {3, 13}, {2048, 5120}}) {
    for (float eps : {1e-5f, 1e-6f}) {
      std::vector<float> x = Random(rows * cols, dtype_, -3.0f, 3.0f), w = Random(cols, dtype_, 0.5f, 1.5f);
      std::vector<float> ref(rows * cols);
      cpu_.RmsNorm(View(x, rows, cols), View(w, 1, cols), eps, View(ref, rows, cols));
      const Tensor out = Poisoned(rows, cols);
      gpu_->RmsNorm(Put(x, rows, cols), Put(w, 1, cols), eps, out);
      Check("rmsnorm", Shape({{"rows", rows}, {"cols", cols}}), Get(out), ref);
    }
  }
}

TEST_P(GpuOpsTest, MatMul) {
  struct Case {
    int64_t n, k, m;
  };
  for (const Case& c :
       {Case{1, 4096, 4096}, Case{64, 4096, 1024}, Case{1, 13, 5}, Case{7, 100, 33}, Case{64, 1000, 250},
        Case{3, 4095, 17}, Case{64, 14336, 512}, Case{1, 4096, 32003}, Case{17, 8, 64}, Case{2048, 5120, 640}}) {
    std::vector<float> x = Random(c.n * c.k, dtype_), w = Random(c.m * c.k, dtype_);
    std::vector<float> ref(c.n * c.m);
    cpu_.MatMul(View(x, c.n, c.k), View(w, c.m, c.k), View(ref, c.n, c.m));
    const Tensor gx = Put(x, c.n, c.k), gw = Put(w, c.m, c.k);
    const Tensor out = Poisoned(c.n, c.m);
    gpu_->MatMul(gx, gw, out);
    Check("matmul", Shape({{"n", c.n}, {"k", c.k}, {"m", c.m}}), Get(out), ref);
    if (dtype_ != DType::kFloat32) {
      // Logits: half inputs, fp32 output (no rounding of the result).
      const Tensor out32 = Poisoned(c.n, c.m, DType::kFloat32);
      gpu_->MatMul(gx, gw, out32);
      Check("matmul", Shape({{"n", c.n}, {"k", c.k}, {"m", c.m}, {"fp32 out", 1}}), Get(out32), ref);
    }
  }
}

TEST_P(GpuOpsTest, Add) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 4096}, {64, 4096}, {3, 37}, {1, 1}}) {
    std::vector<float> x = Random(rows * cols, dtype_, -2.0f, 2.0f), y = Random(rows * cols, dtype_, -2.0f, 2.0f);
    std::vector<float> ref = x;
    cpu_.Add(View(ref, rows, cols), View(y, rows, cols));
    const Tensor gx = Put(x, rows, cols);
    gpu_->Add(gx, Put(y, rows, cols));
    Check("add", Shape({{"rows", rows}, {"cols", cols}}), Get(gx), ref);
  }
}

// A linear layer's bias, dense and as a column range of a fused [rows, q +
// 2 kv] projection (the columns around it untouched).
TEST_P(GpuOpsTest, AddBias) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 4096}, {64, 6144}, {3, 37}, {1, 1}}) {
    std::vector<float> x = Random(rows * cols, dtype_, -2.0f, 2.0f), bias = Random(cols, dtype_, -1.0f, 1.0f);
    std::vector<float> ref = x;
    cpu_.AddBias(View(ref, rows, cols), View(bias, cols, 1));
    const Tensor gx = Put(x, rows, cols);
    gpu_->AddBias(gx, Put(bias, cols, 1));
    Check("addbias", Shape({{"rows", rows}, {"cols", cols}}), Get(gx), ref);
  }
  using Case = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // rows, wide, first column, cols
  for (const auto& [rows, wide, first, cols] : std::vector<Case>{{5, 6144, 4096, 1024}, {3, 96, 40, 24}, {2, 21, 3, 7}}) {
    std::vector<float> fused = Random(rows * wide, dtype_, -2.0f, 2.0f), bias = Random(cols, dtype_, -1.0f, 1.0f);
    std::vector<float> ref = fused;
    cpu_.AddBias(View(ref, rows, wide).Cols(first, cols), View(bias, 1, cols));
    const Tensor gfused = Put(fused, rows, wide);
    gpu_->AddBias(gfused.Cols(first, cols), Put(bias, 1, cols));
    Check("addbias", Shape({{"rows", rows}, {"cols", cols}, {"strided in", wide}}), Get(gfused), ref);
  }
}

// Qwen3's per-head q/k norm: in place over each head of a dense [rows,
// heads * head_dim] tensor, and over q / k as column ranges of a fused qkv
// row (the v columns untouched).
TEST_P(GpuOpsTest, HeadRmsNorm) {
  struct Case {
    int64_t rows, heads, kv_heads, head_dim;
  };
  for (const Case& c : {Case{1, 32, 8, 128}, Case{64, 16, 8, 128}, Case{7, 4, 2, 64}, Case{3, 3, 1, 6},
                        Case{2048, 8, 2, 128}}) {
    const int64_t q = c.heads * c.head_dim, kv = c.kv_heads * c.head_dim, wide = q + 2 * kv;
    for (float eps : {1e-6f, 1e-5f}) {
      std::vector<float> x = Random(c.rows * q, dtype_, -3.0f, 3.0f), w = Random(c.head_dim, dtype_, 0.5f, 1.5f);
      std::vector<float> ref = x;
      cpu_.HeadRmsNorm(View(ref, c.rows, q), c.head_dim, View(w, 1, c.head_dim), eps);
      const Tensor gx = Put(x, c.rows, q), gw = Put(w, 1, c.head_dim);
      gpu_->HeadRmsNorm(gx, c.head_dim, gw, eps);
      Check("headrmsnorm", Shape({{"rows", c.rows}, {"heads", c.heads}, {"head_dim", c.head_dim}}), Get(gx), ref);

      std::vector<float> fused = Random(c.rows * wide, dtype_, -3.0f, 3.0f);
      std::vector<float> fused_ref = fused;
      const Tensor cpu_fused = View(fused_ref, c.rows, wide);
      cpu_.HeadRmsNorm(cpu_fused.Cols(0, q), c.head_dim, View(w, 1, c.head_dim), eps);
      cpu_.HeadRmsNorm(cpu_fused.Cols(q, kv), c.head_dim, View(w, 1, c.head_dim), eps);
      const Tensor gfused = Put(fused, c.rows, wide);
      gpu_->HeadRmsNorm(gfused.Cols(0, q), c.head_dim, gw, eps);
      gpu_->HeadRmsNorm(gfused.Cols(q, kv), c.head_dim, gw, eps);
      Check("headrmsnorm",
            Shape({{"rows", c.rows}, {"heads", c.heads}, {"head_dim", c.head_dim}, {"strided in", wide}}),
            Get(gfused), fused_ref);
    }
  }
}

TEST_P(GpuOpsTest, SiluMul) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 14336}, {64, 11008}, {5, 13}, {1, 1}}) {
    std::vector<float> gate = Random(rows * cols, dtype_, -8.0f, 8.0f), up = Random(rows * cols, dtype_, -2.0f, 2.0f);
    std::vector<float> ref(rows * cols);
    cpu_.SiluMul(View(gate, rows, cols), View(up, rows, cols), View(ref, rows, cols));
    const Tensor out = Poisoned(rows, cols);
    const Tensor ggate = Put(gate, rows, cols), gup = Put(up, rows, cols);
    gpu_->SiluMul(ggate, gup, out);
    Check("silumul", Shape({{"rows", rows}, {"cols", cols}}), Get(out), ref);
    // In place: SiluMul(gate, up, gate).
    gpu_->SiluMul(ggate, gup, ggate);
    Check("silumul", Shape({{"rows", rows}, {"cols", cols}, {"inplace", 1}}), Get(ggate), ref);

    // As the engine calls it: gate and up are the two halves of one fused
    // [rows, 2 * cols] projection (strided views), out dense.
    std::vector<float> fused(rows * 2 * cols);
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(gate.begin() + r * cols, cols, fused.begin() + r * 2 * cols);
      std::copy_n(up.begin() + r * cols, cols, fused.begin() + r * 2 * cols + cols);
    }
    std::vector<float> fused_ref(rows * cols);
    Tensor cpu_fused = View(fused, rows, 2 * cols);
    cpu_.SiluMul(cpu_fused.Cols(0, cols), cpu_fused.Cols(cols, cols), View(fused_ref, rows, cols));
    const Tensor gfused = Put(fused, rows, 2 * cols);
    const Tensor out2 = Poisoned(rows, cols);
    gpu_->SiluMul(gfused.Cols(0, cols), gfused.Cols(cols, cols), out2);
    Check("silumul", Shape({{"rows", rows}, {"cols", cols}, {"strided in", 1}}), Get(out2), fused_ref);
  }
}

TEST_P(GpuOpsTest, Rope) {
  struct Case {
    int64_t n, heads, head_dim, start;
    bool shuffled;  // positions not consecutive
  };
  const int64_t max_positions = 4096;
  for (const Case& c : {Case{1, 32, 128, 17, false}, Case{64, 32, 128, 0, false}, Case{64, 8, 128, 100, false},
                        Case{70, 4, 64, 5, false}, Case{3, 2, 6, 0, false}, Case{9, 3, 128, 0, true},
                        Case{2048, 8, 128, 1000, false}}) {
    const int64_t half = c.head_dim / 2, cols = c.heads * c.head_dim;
    // Llama-style tables (base 500000), fp32.
    std::vector<float> cos(max_positions * half), sin(max_positions * half);
    for (int64_t p = 0; p < max_positions; ++p) {
      for (int64_t i = 0; i < half; ++i) {
        const float inv = static_cast<float>(std::pow(500000.0, -2.0 * i / static_cast<double>(c.head_dim)));
        cos[p * half + i] = std::cos(static_cast<float>(p) * inv);
        sin[p * half + i] = std::sin(static_cast<float>(p) * inv);
      }
    }
    std::vector<int32_t> positions(c.n);
    std::mt19937 rng(NextSeed());
    for (int64_t t = 0; t < c.n; ++t) {
      positions[t] = c.shuffled ? static_cast<int32_t>(rng() % max_positions) : static_cast<int32_t>(c.start + t);
    }
    const Tensor gcos = Put(cos, max_positions, half, DType::kFloat32);
    const Tensor gsin = Put(sin, max_positions, half, DType::kFloat32);
    const Tensor gpositions = PutInts(positions, c.n, 1);
    const std::string shape = Shape({{"n", c.n}, {"heads", c.heads}, {"head_dim", c.head_dim}, {"start", c.start}});

    std::vector<float> x = Random(c.n * cols, dtype_, -2.0f, 2.0f);
    std::vector<float> ref = x;
    cpu_.Rope(View(ref, c.n, cols), c.head_dim, IntView(positions, c.n, 1), View(cos, max_positions, half),
              View(sin, max_positions, half));
    const Tensor gx = Put(x, c.n, cols);
    gpu_->Rope(gx, c.head_dim, gpositions, gcos, gsin);
    Check("rope", shape, Get(gx), ref);

    // x as the middle columns of a wider (qkv-like) tensor: the others stay.
    const int64_t left = 2 * c.head_dim, wide_cols = left + cols + c.head_dim;
    std::vector<float> wide = Random(c.n * wide_cols, dtype_, -2.0f, 2.0f);
    std::vector<float> wide_ref = wide;
    cpu_.Rope(View(wide_ref, c.n, wide_cols).Cols(left, cols), c.head_dim, IntView(positions, c.n, 1),
              View(cos, max_positions, half), View(sin, max_positions, half));
    const Tensor gwide = Put(wide, c.n, wide_cols);
    gpu_->Rope(gwide.Cols(left, cols), c.head_dim, gpositions, gcos, gsin);
    Check("rope", shape + " strided", Get(gwide), wide_ref);
  }
}

TEST_P(GpuOpsTest, WriteKv) {
  struct Case {
    int64_t n, start, kv_dim, page_tokens;
  };
  const int64_t layers = 3, layer = 1, context = 512;
  for (const Case& c : {Case{1, 0, 1024, 16}, Case{1, 200, 1024, 16}, Case{64, 0, 1024, 16}, Case{64, 100, 1024, 16},
                        Case{5, 7, 13, 16}, Case{300, 37, 256, 1}, Case{64, 100, 1024, context}, Case{9, 3, 40, 7}}) {
    // Pool of pages, this sequence's pages shuffled among them.
    const int64_t pages = (context + c.page_tokens - 1) / c.page_tokens + 2;
    const int64_t page_elements = layers * 2 * c.page_tokens * c.kv_dim;
    std::vector<int32_t> table(pages);
    std::iota(table.begin(), table.end(), 0);
    std::mt19937 rng(NextSeed());
    std::shuffle(table.begin(), table.end(), rng);
    std::vector<int32_t> destinations(c.n);
    for (int64_t t = 0; t < c.n; ++t) {
      const int64_t position = c.start + t;
      destinations[t] =
          static_cast<int32_t>(table[position / c.page_tokens] * c.page_tokens + position % c.page_tokens);
    }
    std::vector<float> pool = Random(pages * page_elements, dtype_);
    // k and v as column ranges of one fused [n, 3 * kv_dim] projection.
    std::vector<float> qkv = Random(c.n * 3 * c.kv_dim, dtype_);
    std::vector<float> pool_ref = pool;
    const KvCacheLayout cpu_cache{pool_ref.data(), DType::kFloat32, layers, c.page_tokens, c.kv_dim};
    Tensor cpu_qkv = View(qkv, c.n, 3 * c.kv_dim);
    cpu_.WriteKv(cpu_qkv.Cols(c.kv_dim, c.kv_dim), cpu_qkv.Cols(2 * c.kv_dim, c.kv_dim), cpu_cache, layer,
                 IntView(destinations, c.n, 1));

    const Tensor gpool = Put(pool, pages, page_elements);
    const KvCacheLayout gpu_cache{gpool.data, dtype_, layers, c.page_tokens, c.kv_dim};
    const Tensor gqkv = Put(qkv, c.n, 3 * c.kv_dim);
    gpu_->WriteKv(gqkv.Cols(c.kv_dim, c.kv_dim), gqkv.Cols(2 * c.kv_dim, c.kv_dim), gpu_cache, layer,
                  PutInts(destinations, c.n, 1));
    Check("writekv", Shape({{"n", c.n}, {"start", c.start}, {"kv_dim", c.kv_dim}, {"page_tokens", c.page_tokens}}),
          Get(gpool), pool_ref, 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GpuOpsTest, DJINN_GPU_DTYPES);

// ------------------------------------------------------------ memory

uint64_t DeviceFree() {
  size_t free_bytes = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  return free_bytes;
}

// ReserveArena takes the budget in one piece, and once warmed up the ops
// (direct, or replayed from a recorded graph) allocate nothing more on the
// device.
TEST(GpuMemoryTest, ArenaOnceAndNoAllocationsOnHotPath) {
  Gpu& gpu = TheGpu();
  ASSERT_TRUE(gpu.backend != nullptr) << "no usable CUDA device: " << gpu.status;
  CudaBackend& b = *gpu.backend;
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
}  // namespace djinn::gputest
