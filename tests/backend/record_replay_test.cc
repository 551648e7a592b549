// Record / Replay on every backend and compute dtype: a small decode step
// (embedding, rmsnorm, fused qkv matmul, rope, paged WriteKv, decode
// attention, logits matmul, sample) is recorded once, and Record itself
// must run nothing. Then, round after round, new ids, positions,
// destinations, sequence lengths and sampling rows are uploaded into the
// same tensors, the graph replayed, and every output compared bit for bit
// with the same ops issued directly on the same inputs: a replay reads what
// the tensors hold when it runs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/backend/support.h"

namespace djinn::backendtest {
namespace {

class RecordReplayTest : public OpTest {};

std::vector<uint32_t> Bits(const std::vector<float>& v) {
  std::vector<uint32_t> bits(v.size());
  std::memcpy(bits.data(), v.data(), v.size() * sizeof(float));
  return bits;
}

TEST_P(RecordReplayTest, ReplayAfterNewInputsEqualsDirectRun) {
  const int64_t vocab = 1000, hidden = 512, heads = 8, kv_heads = 2, head_dim = 64, batch = 3;
  const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim, qkv_cols = q_dim + 2 * kv_dim;
  const int64_t page_tokens = 16, max_seq_len = 256, pages_per_sequence = max_seq_len / page_tokens;
  const AttentionShape shape{heads, kv_heads, head_dim};

  // Weights and tables.
  const Tensor embed = Put(Random(vocab * hidden, dtype()), vocab, hidden);
  const Tensor norm = Put(Random(hidden, dtype(), 0.5f, 1.5f), 1, hidden);
  const Tensor wqkv = Put(Random(qkv_cols * hidden, dtype(), -0.05f, 0.05f), qkv_cols, hidden);
  const Tensor lm_head = Put(Random(vocab * q_dim, dtype(), -0.1f, 0.1f), vocab, q_dim);
  std::vector<float> cos_host(max_seq_len * head_dim / 2), sin_host(max_seq_len * head_dim / 2);
  for (size_t i = 0; i < cos_host.size(); ++i) {
    cos_host[i] = std::cos(0.01f * static_cast<float>(i));
    sin_host[i] = std::sin(0.01f * static_cast<float>(i));
  }
  const Tensor cos = Put(cos_host, max_seq_len, head_dim / 2, DType::kFloat32);
  const Tensor sin = Put(sin_host, max_seq_len, head_dim / 2, DType::kFloat32);
  // The cache: every sequence's pages, shuffled, keys and values random.
  const FilledCache cache =
      MakeFilledCache(*this, 1, 0, page_tokens, kv_dim, std::vector<int64_t>(batch, max_seq_len), max_seq_len);

  // Step inputs and activations.
  const Tensor ids = Alloc(batch, 1, DType::kInt32), positions = Alloc(batch, 1, DType::kInt32);
  const Tensor destinations = Alloc(batch, 1, DType::kInt32), seq_lens = Alloc(batch, 1, DType::kInt32);
  const Tensor tables = PutInts(cache.tables, batch, pages_per_sequence);
  const Tensor params = Alloc(batch, 4, DType::kInt32);
  const Tensor x = Alloc(batch, hidden), normed = Alloc(batch, hidden), qkv = Alloc(batch, qkv_cols);
  const Tensor att = Alloc(batch, q_dim), logits = Alloc(batch, vocab, DType::kFloat32);
  const Tensor sampled = Alloc(batch, 1, DType::kInt32);
  GuardedScratch scratch(*this, shape, batch, max_seq_len);
  const Tensor q = qkv.Cols(0, q_dim), k = qkv.Cols(q_dim, kv_dim), v = qkv.Cols(q_dim + kv_dim, kv_dim);

  auto step = [&] {
    backend().Embedding(embed, ids, x);
    backend().RmsNorm(x, norm, 1e-5f, normed);
    backend().MatMul(normed, wqkv, qkv);
    backend().Rope(q, head_dim, positions, cos, sin);
    backend().Rope(k, head_dim, positions, cos, sin);
    backend().WriteKv(k, v, cache.cache.device, 0, destinations);
    backend().DecodeAttention(q, cache.cache.device, 0, tables, seq_lens, max_seq_len, shape, scratch.tensor(), att);
    backend().MatMul(att, lm_head, logits);
    backend().Sample(logits, params, Tensor{}, sampled);
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
      // Row 0 greedy, row 1 top-p, row 2 top-k.
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
  std::unique_ptr<OpGraph> graph = backend().Record(step);
  ASSERT_NE(graph, nullptr);
  // Recording ran nothing: the outputs are still poison.
  {
    const Outputs after = read();
    for (float f : after.x) ASSERT_TRUE(std::isnan(f)) << "Record ran the ops";
    for (float f : after.att) ASSERT_TRUE(std::isnan(f)) << "Record ran the ops";
    for (int32_t id : after.sampled) ASSERT_EQ(id, -1) << "Record ran the ops";
  }
  std::vector<float> previous_logits;
  for (int round = 0; round < 6; ++round) {
    const std::string what = std::string(ShortName(dtype())) + " round " + std::to_string(round);
    upload_inputs();
    poison_outputs();
    graph->Replay();
    const Outputs replayed = read();
    poison_outputs();
    step();  // WriteKv writes the same values to the same rows again
    const Outputs direct = read();
    EXPECT_EQ(Bits(replayed.x), Bits(direct.x)) << what;
    EXPECT_EQ(Bits(replayed.att), Bits(direct.att)) << what;
    EXPECT_EQ(Bits(replayed.logits), Bits(direct.logits)) << what;
    EXPECT_EQ(replayed.sampled, direct.sampled) << what;
    for (float f : replayed.att) ASSERT_FALSE(std::isnan(f)) << what;
    for (int32_t id : replayed.sampled) EXPECT_TRUE(id >= 0 && id < vocab) << what << ": " << id;
    // Row 0 is greedy: the first maximum of its logits.
    EXPECT_EQ(replayed.sampled[0],
              std::max_element(replayed.logits.begin(), replayed.logits.begin() + vocab) - replayed.logits.begin())
        << what;
    EXPECT_NE(Bits(replayed.logits), Bits(previous_logits)) << what << ": the replay must see the new inputs";
    previous_logits = replayed.logits;
  }
  EXPECT_TRUE(scratch.GuardIntact());
  AddResult("record", ShortName(dtype()), "replay == direct, 6 rounds of new inputs", 0.0, 0.0, false);
}

INSTANTIATE_TEST_SUITE_P(Backends, RecordReplayTest, DJINN_ALL_BACKENDS_AND_DTYPES);

}  // namespace
}  // namespace djinn::backendtest
