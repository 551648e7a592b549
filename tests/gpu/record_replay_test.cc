// Record / Replay: a small decode step (embedding, rmsnorm, fused qkv
// matmul, rope, paged WriteKv, decode attention, logits matmul, sample) is
// recorded once; Record itself must run nothing. Then, round after round,
// new ids, positions, destinations, sequence lengths and sampling rows are
// uploaded, the graph replayed, and every output compared bit for bit with
// the same ops issued directly on the same inputs.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/gpu/gpu_test_util.h"

namespace djinn::gputest {
namespace {

class GpuRecordTest : public GpuTest {};

std::vector<uint32_t> Bits(const std::vector<float>& v) {
  std::vector<uint32_t> bits(v.size());
  std::memcpy(bits.data(), v.data(), v.size() * sizeof(float));
  return bits;
}

TEST_P(GpuRecordTest, ReplayAfterNewInputsEqualsDirectRun) {
  const int64_t vocab = 1000, hidden = 512, heads = 8, kv_heads = 2, head_dim = 64, batch = 3;
  const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim, qkv_cols = q_dim + 2 * kv_dim;
  const int64_t page_tokens = 16, max_seq_len = 256, pages_per_sequence = max_seq_len / page_tokens;
  const AttentionShape shape{heads, kv_heads, head_dim};

  // Weights and tables.
  const Tensor embed = Put(Random(vocab * hidden, dtype_), vocab, hidden);
  const Tensor norm = Put(Random(hidden, dtype_, 0.5f, 1.5f), 1, hidden);
  const Tensor wqkv = Put(Random(qkv_cols * hidden, dtype_, -0.05f, 0.05f), qkv_cols, hidden);
  const Tensor lm_head = Put(Random(vocab * q_dim, dtype_, -0.1f, 0.1f), vocab, q_dim);
  std::vector<float> cos_host(max_seq_len * head_dim / 2), sin_host(max_seq_len * head_dim / 2);
  for (size_t i = 0; i < cos_host.size(); ++i) {
    cos_host[i] = std::cos(0.01f * static_cast<float>(i));
    sin_host[i] = std::sin(0.01f * static_cast<float>(i));
  }
  const Tensor cos = Put(cos_host, max_seq_len, head_dim / 2, DType::kFloat32);
  const Tensor sin = Put(sin_host, max_seq_len, head_dim / 2, DType::kFloat32);
  // The cache: every sequence's pages, shuffled, keys and values random.
  std::vector<int64_t> full(batch, max_seq_len);
  PagedCache cache = MakePagedCache(*this, dtype_, 1, 0, page_tokens, kv_dim, full, max_seq_len);

  // Step inputs and activations.
  const Tensor ids = Alloc(batch, 1, DType::kInt32), positions = Alloc(batch, 1, DType::kInt32);
  const Tensor destinations = Alloc(batch, 1, DType::kInt32), seq_lens = Alloc(batch, 1, DType::kInt32);
  const Tensor tables = PutInts(cache.tables, batch, pages_per_sequence);
  const Tensor params = Alloc(batch, 4, DType::kInt32);
  const Tensor x = Alloc(batch, hidden), normed = Alloc(batch, hidden), qkv = Alloc(batch, qkv_cols);
  const Tensor att = Alloc(batch, q_dim), logits = Alloc(batch, vocab, DType::kFloat32);
  const Tensor sampled = Alloc(batch, 1, DType::kInt32);
  const Tensor scratch =
      Alloc(1, static_cast<int64_t>(gpu_->AttentionScratchBytes(shape, batch, max_seq_len) / 4 + 1), DType::kFloat32);
  const Tensor q = qkv.Cols(0, q_dim), k = qkv.Cols(q_dim, kv_dim), v = qkv.Cols(q_dim + kv_dim, kv_dim);

  auto step = [&] {
    gpu_->Embedding(embed, ids, x);
    gpu_->RmsNorm(x, norm, 1e-5f, normed);
    gpu_->MatMul(normed, wqkv, qkv);
    gpu_->Rope(q, head_dim, positions, cos, sin);
    gpu_->Rope(k, head_dim, positions, cos, sin);
    gpu_->WriteKv(k, v, cache.gpu, 0, destinations);
    gpu_->DecodeAttention(q, cache.gpu, 0, tables, seq_lens, max_seq_len, shape, scratch, att);
    gpu_->MatMul(att, lm_head, logits);
    gpu_->Sample(logits, params, Tensor{}, sampled);
  };
  std::mt19937 rng(NextSeed());
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  auto upload_inputs = [&] {
    std::vector<int32_t> id(batch), pos(batch), dst(batch), lens(batch), rows(batch * 4);
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t position = rng() % max_seq_len;
      id[b] = static_cast<int32_t>(rng() % vocab);
      pos[b] = static_cast<int32_t>(position);
      dst[b] = cache.tables[b * pages_per_sequence + position / page_tokens] * page_tokens + position % page_tokens;
      lens[b] = static_cast<int32_t>(position + 1);
      const SamplingRow row{b == 0 ? 0.0f : 0.9f, b == 2 ? 20 : 0, b == 1 ? 0.8f : 1.0f, unit(rng)};
      std::memcpy(&rows[b * 4], &row, sizeof row);
    }
    UploadInts(id, ids);
    UploadInts(pos, positions);
    UploadInts(dst, destinations);
    UploadInts(lens, seq_lens);
    UploadInts(rows, params);
  };
  struct Outputs {
    std::vector<float> x, att, logits;
    std::vector<int32_t> sampled;
  };
  auto read = [&] { return Outputs{Get(x), Get(att), Get(logits), GetInts(sampled)}; };
  auto poison_outputs = [&] {
    for (const Tensor& t : {x, normed, qkv, att, logits, sampled}) Poison(t);
  };

  upload_inputs();
  poison_outputs();
  std::unique_ptr<OpGraph> graph = gpu_->Record(step);
  ASSERT_NE(graph, nullptr);
  // Recording ran nothing: the outputs are still poison.
  {
    const Outputs after = read();
    for (float f : after.att) ASSERT_TRUE(std::isnan(f)) << "Record ran the ops";
    for (int32_t id : after.sampled) ASSERT_EQ(id, -1) << "Record ran the ops";
  }
  for (int round = 0; round < 6; ++round) {
    upload_inputs();
    poison_outputs();
    graph->Replay();
    const Outputs replayed = read();
    poison_outputs();
    step();  // WriteKv writes the same values to the same rows again
    const Outputs direct = read();
    const std::string what = std::string(Name(dtype_)) + " round " + std::to_string(round);
    EXPECT_EQ(Bits(replayed.x), Bits(direct.x)) << what;
    EXPECT_EQ(Bits(replayed.att), Bits(direct.att)) << what;
    EXPECT_EQ(Bits(replayed.logits), Bits(direct.logits)) << what;
    EXPECT_EQ(replayed.sampled, direct.sampled) << what;
    for (float f : replayed.att) ASSERT_FALSE(std::isnan(f)) << what;
    for (int32_t id : replayed.sampled) EXPECT_TRUE(id >= 0 && id < vocab) << what << ": " << id;
  }
  AddResult("record", Name(dtype_), "replay == direct, 6 rounds of new inputs", 0.0, 0.0, false);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GpuRecordTest, DJINN_GPU_DTYPES);

}  // namespace
}  // namespace djinn::gputest
