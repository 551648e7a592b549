// The KV cache and attention on every backend and compute dtype: WriteKv
// into a paged cache (only the rows it names change), causal prefill
// attention with GQA head grouping and decode attention, against a
// double-precision reference written in support.cc. The properties the
// engine relies on: a prompt in chunks attends as in one piece, paging
// changes where keys live and not the result, strided q/k/v (a fused
// projection) give what dense copies give, decode equals the last prefill
// row, and no op writes past its scratch. Every cache row a sequence does
// not own is NaN, so reading one shows.
//
// Then, for the backends besides the CPU, model-sized shapes against the
// CPU backend: pages of 16, of 1 and of a whole context, the GPU's
// tensor-core prefill path (fp16/bf16, head_dim 64/128) and its simple one,
// decode batches of 1, 3 and 16 with mixed lengths.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tests/backend/support.h"

namespace djinn::backendtest {
namespace {

class AttentionOpsTest : public OpTest {};

struct AttentionCase {
  int64_t heads, kv_heads, head_dim, start, n;
};

TEST_P(AttentionOpsTest, PagedWriteKvAndCausalGqaPrefillAttention) {
  for (const AttentionCase& c :
       {AttentionCase{1, 1, 4, 0, 1}, AttentionCase{4, 4, 8, 0, 5}, AttentionCase{8, 2, 16, 0, 7},
        AttentionCase{8, 2, 16, 9, 4}, AttentionCase{4, 1, 12, 20, 1}, AttentionCase{12, 3, 10, 13, 11},
        AttentionCase{8, 2, 16, 30, 18}}) {
    for (int64_t page_tokens : {4, 5, 64}) {
      SCOPED_TRACE(::testing::Message() << c.heads << "/" << c.kv_heads << " heads of " << c.head_dim << ", start "
                                        << c.start << ", " << c.n << " queries, pages of " << page_tokens);
      const int64_t kv_cols = c.kv_heads * c.head_dim, q_cols = c.heads * c.head_dim;
      const int64_t tokens = c.start + c.n, layers = 3, layer = 1;
      const int64_t used_pages = PagesFor(tokens, page_tokens);
      // A pool with spare pages, the sequence's pages in shuffled order.
      PagedCache cache = MakeEmptyCache(*this, used_pages + 3, layers, page_tokens, kv_cols);
      const std::vector<int32_t> table = ShuffledPages(cache.pages, used_pages);

      // The sequence's keys and values in order; earlier tokens written in
      // one call, then the new ones at `start`.
      const std::vector<float> keys = Random(tokens * kv_cols, dtype(), -2.0f, 2.0f);
      const std::vector<float> values = Random(tokens * kv_cols, dtype());
      const Tensor tk = Put(keys, tokens, kv_cols), tv = Put(values, tokens, kv_cols);
      if (c.start > 0) {
        backend().WriteKv(tk.Rows(0, c.start), tv.Rows(0, c.start), cache.device, layer,
                          PutInts(Destinations(table, page_tokens, 0, c.start), c.start, 1));
      }
      backend().WriteKv(tk.Rows(c.start, c.n), tv.Rows(c.start, c.n), cache.device, layer,
                        PutInts(Destinations(table, page_tokens, c.start, c.n), c.n, 1));
      // Token t is at page table[t / page_tokens], row t % page_tokens of
      // `layer`; everything else is untouched.
      const std::vector<float> pool = Get(cache.pool);
      for (int64_t page = 0; page < cache.pages; ++page) {
        const auto in_table = std::find(table.begin(), table.end(), page);
        for (int64_t l = 0; l < layers; ++l) {
          for (int64_t row = 0; row < page_tokens; ++row) {
            const int64_t token = in_table == table.end() ? -1 : (in_table - table.begin()) * page_tokens + row;
            const bool written = l == layer && token >= 0 && token < tokens;
            for (int which = 0; which < 2; ++which) {
              const float* got = pool.data() + cache.RowOffset(page, l, which == 1, row);
              const std::vector<float>& want = which == 0 ? keys : values;
              for (int64_t i = 0; i < kv_cols; ++i) {
                if (written) {
                  ASSERT_EQ(got[i], want[token * kv_cols + i]) << "token " << token;
                } else {
                  ASSERT_TRUE(std::isnan(got[i])) << "page " << page << " layer " << l << " row " << row << " written";
                }
              }
            }
          }
        }
      }

      const AttentionShape shape{c.heads, c.kv_heads, c.head_dim};
      const std::vector<float> q = Random(c.n * q_cols, dtype(), -2.0f, 2.0f);
      GuardedScratch scratch(*this, shape, c.n, tokens);
      const Tensor out = Poisoned(c.n, q_cols);
      backend().PrefillAttention(Put(q, c.n, q_cols), cache.device, layer, PutInts(table, 1, used_pages), c.start,
                                 shape, scratch.tensor(), out);
      EXPECT_TRUE(scratch.GuardIntact());
      std::vector<double> ref;
      for (int64_t t = 0; t < c.n; ++t) {
        const std::vector<double> row = ReferenceAttention(q, keys, values, shape, c.start, t);
        ref.insert(ref.end(), row.begin(), row.end());
      }
      // A convex combination of values in [-1, 1]: the bound is absolute.
      ExpectNear("prefill", Get(out), ref, {}, Tolerance(dtype()));
    }
  }
}

TEST_P(AttentionOpsTest, AttentionOfOneKeyReturnsItsValue) {
  const int64_t heads = 4, kv_heads = 2, d = 4, kv_cols = kv_heads * d;
  PagedCache cache = MakeEmptyCache(*this, 2, 1, 2, kv_cols);
  const std::vector<float> value = Random(kv_cols, dtype());
  backend().WriteKv(Put(Random(kv_cols, dtype()), 1, kv_cols), Put(value, 1, kv_cols), cache.device, 0,
                    PutInts({2}, 1, 1));  // page 1, row 0
  const AttentionShape shape{heads, kv_heads, d};
  GuardedScratch scratch(*this, shape, 1, 1);
  const Tensor out = Poisoned(1, heads * d);
  backend().PrefillAttention(Put(Random(heads * d, dtype()), 1, heads * d), cache.device, 0, PutInts({1}, 1, 1), 0,
                             shape, scratch.tensor(), out);
  // Heads 0, 1 read kv head 0; heads 2, 3 read kv head 1.
  const std::vector<float> got = Get(out);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < d; ++i) EXPECT_EQ(got[h * d + i], value[(h / 2) * d + i]) << "head " << h;
  }
}

// One sequence's keys and values ([tokens, kv_dim] in backend memory)
// written through `table`.
void WriteSequence(BackendFixture& test, PagedCache& cache, int64_t layer, const std::vector<int32_t>& table,
                   const Tensor& keys, const Tensor& values) {
  const std::vector<int32_t> destinations = Destinations(table, cache.page_tokens, 0, keys.rows);
  test.backend().WriteKv(keys, values, cache.device, layer, test.PutInts(destinations, keys.rows, 1));
}

// A prompt processed in two chunks attends as in one.
TEST_P(AttentionOpsTest, AttentionChunkedEqualsOneShot) {
  const int64_t heads = 8, kv_heads = 2, d = 16, n = 10, page_tokens = 4;
  const int64_t kv_cols = kv_heads * d, q_cols = heads * d;
  const AttentionShape shape{heads, kv_heads, d};
  PagedCache cache = MakeEmptyCache(*this, 5, 1, page_tokens, kv_cols);
  const std::vector<int32_t> table = ShuffledPages(5, 3);
  WriteSequence(*this, cache, 0, table, Put(Random(n * kv_cols, dtype()), n, kv_cols),
                Put(Random(n * kv_cols, dtype()), n, kv_cols));
  const Tensor q = Put(Random(n * q_cols, dtype()), n, q_cols), gtable = PutInts(table, 1, 3);
  GuardedScratch scratch(*this, shape, n, n);
  const Tensor whole = Poisoned(n, q_cols), parts = Poisoned(n, q_cols);
  backend().PrefillAttention(q, cache.device, 0, gtable, 0, shape, scratch.tensor(), whole);
  const int64_t split = 6;
  backend().PrefillAttention(q.Rows(0, split), cache.device, 0, gtable, 0, shape, scratch.tensor(),
                             parts.Rows(0, split));
  backend().PrefillAttention(q.Rows(split, n - split), cache.device, 0, gtable, split, shape, scratch.tensor(),
                             parts.Rows(split, n - split));
  ExpectEquivalent("chunked", Get(parts), Get(whole));
  EXPECT_TRUE(scratch.GuardIntact());
}

// Paging changes where keys live, not the order they are summed in.
TEST_P(AttentionOpsTest, SmallShuffledPagesEqualOneBigPage) {
  const int64_t heads = 6, kv_heads = 3, d = 12, tokens = 23, n = 9, start = tokens - n;
  const int64_t kv_cols = kv_heads * d, q_cols = heads * d;
  const AttentionShape shape{heads, kv_heads, d};
  const Tensor k = Put(Random(tokens * kv_cols, dtype()), tokens, kv_cols);
  const Tensor v = Put(Random(tokens * kv_cols, dtype()), tokens, kv_cols);
  const Tensor q = Put(Random(n * q_cols, dtype(), -3.0f, 3.0f), n, q_cols);

  PagedCache big = MakeEmptyCache(*this, 1, 2, 32, kv_cols);
  const std::vector<int32_t> one_page = {0};
  WriteSequence(*this, big, 1, one_page, k, v);
  PagedCache small = MakeEmptyCache(*this, 11, 2, 4, kv_cols);
  const std::vector<int32_t> shuffled = ShuffledPages(11, PagesFor(tokens, 4));
  ASSERT_FALSE(std::is_sorted(shuffled.begin(), shuffled.end()));
  WriteSequence(*this, small, 1, shuffled, k, v);

  GuardedScratch scratch(*this, shape, n, tokens);
  const Tensor from_big = Poisoned(n, q_cols), from_small = Poisoned(n, q_cols);
  backend().PrefillAttention(q, big.device, 1, PutInts(one_page, 1, 1), start, shape, scratch.tensor(), from_big);
  backend().PrefillAttention(q, small.device, 1, PutInts(shuffled, 1, static_cast<int64_t>(shuffled.size())), start,
                             shape, scratch.tensor(), from_small);
  const std::vector<float> small_out = Get(from_small);
  ExpectEquivalent("paged", small_out, Get(from_big));
  for (float x : small_out) ASSERT_FALSE(std::isnan(x));
}

// q, k and v as column ranges of one fused projection, through Rope,
// WriteKv and PrefillAttention, against the same steps on dense copies.
TEST_P(AttentionOpsTest, StridedQkvEqualsDenseCopies) {
  const int64_t heads = 8, kv_heads = 2, d = 10, half = 5, n = 7, start = 5, tokens = start + n;
  const int64_t q_cols = heads * d, kv_cols = kv_heads * d, wide = q_cols + 2 * kv_cols;
  const AttentionShape shape{heads, kv_heads, d};
  std::vector<float> cos, sin;
  for (float a : Random(tokens * half, DType::kFloat32, -3.14f, 3.14f)) {
    cos.push_back(std::cos(a));
    sin.push_back(std::sin(a));
  }
  const Tensor tcos = Put(cos, tokens, half, DType::kFloat32), tsin = Put(sin, tokens, half, DType::kFloat32);
  std::vector<int32_t> positions(n);
  std::iota(positions.begin(), positions.end(), static_cast<int32_t>(start));
  const Tensor tpositions = PutInts(positions, n, 1);
  const std::vector<int32_t> table = ShuffledPages(6, PagesFor(tokens, 4));
  const Tensor destinations = PutInts(Destinations(table, 4, start, n), n, 1), ttable = PutInts(table, 1, 3);
  const Tensor earlier_k = Put(Random(start * kv_cols, dtype()), start, kv_cols);
  const Tensor earlier_v = Put(Random(start * kv_cols, dtype()), start, kv_cols);

  const std::vector<float> q = Random(n * q_cols, dtype(), -2.0f, 2.0f), k = Random(n * kv_cols, dtype(), -2.0f, 2.0f),
                           v = Random(n * kv_cols, dtype());
  std::vector<float> fused = Widen(q, n, q_cols, wide, 0, kNaN);
  for (int64_t t = 0; t < n; ++t) {
    std::copy_n(k.begin() + t * kv_cols, kv_cols, fused.begin() + t * wide + q_cols);
    std::copy_n(v.begin() + t * kv_cols, kv_cols, fused.begin() + t * wide + q_cols + kv_cols);
  }
  const Tensor qkv = Put(fused, n, wide);

  auto run = [&](const Tensor& tq, const Tensor& tk, const Tensor& tv, PagedCache& cache, const Tensor& out) {
    WriteSequence(*this, cache, 0, table, earlier_k, earlier_v);
    backend().Rope(tq, d, tpositions, tcos, tsin);
    backend().Rope(tk, d, tpositions, tcos, tsin);
    backend().WriteKv(tk, tv, cache.device, 0, destinations);
    GuardedScratch scratch(*this, shape, n, tokens);
    backend().PrefillAttention(tq, cache.device, 0, ttable, start, shape, scratch.tensor(), out);
    EXPECT_TRUE(scratch.GuardIntact());
  };
  PagedCache dense_cache = MakeEmptyCache(*this, 6, 1, 4, kv_cols);
  PagedCache strided_cache = MakeEmptyCache(*this, 6, 1, 4, kv_cols);
  const Tensor dense_q = Put(q, n, q_cols), dense_k = Put(k, n, kv_cols);
  const Tensor dense_out = Poisoned(n, q_cols), strided_out = Poisoned(n, q_cols);
  run(dense_q, dense_k, Put(v, n, kv_cols), dense_cache, dense_out);
  run(qkv.Cols(0, q_cols), qkv.Cols(q_cols, kv_cols), qkv.Cols(q_cols + kv_cols, kv_cols), strided_cache, strided_out);
  const std::vector<float> dense_result = Get(dense_out);
  ExpectEquivalent("attention", Get(strided_out), dense_result);
  // Unwritten rows are NaN in both caches.
  ExpectEquivalent("cache", Get(strided_cache.pool), Get(dense_cache.pool));
  for (float x : dense_result) ASSERT_FALSE(std::isnan(x));
  // The rotated q and k landed in their columns of the fused buffer.
  std::vector<float> rotated = Widen(Get(dense_q), n, q_cols, wide, 0, kNaN);
  const std::vector<float> rotated_k = Get(dense_k);
  for (int64_t t = 0; t < n; ++t) {
    std::copy_n(rotated_k.begin() + t * kv_cols, kv_cols, rotated.begin() + t * wide + q_cols);
    std::copy_n(v.begin() + t * kv_cols, kv_cols, rotated.begin() + t * wide + q_cols + kv_cols);
  }
  ExpectEquivalent("fused qkv", Get(qkv), rotated);
}

// Three sequences of different lengths in one pool of 4-token pages, each
// with its own shuffled pages; one query row each (strided, as from a fused
// qkv). Unused page-table entries name a page that is all NaN.
TEST_P(AttentionOpsTest, DecodeAttentionEqualsLastPrefillRow) {
  const int64_t heads = 8, kv_heads = 2, d = 16, page_tokens = 4, layers = 2, layer = 1;
  const int64_t q_cols = heads * d, kv_cols = kv_heads * d, max_seq_len = 16;
  const int64_t max_pages = max_seq_len / page_tokens;
  const AttentionShape shape{heads, kv_heads, d};
  const std::vector<int32_t> seq_lens = {1, 7, 13};
  const int64_t batch = static_cast<int64_t>(seq_lens.size());
  PagedCache cache = MakeEmptyCache(*this, 1 + batch * max_pages, layers, page_tokens, kv_cols);
  const int32_t never_written = 0;
  // Pages 1.. shuffled and dealt out to the sequences.
  std::vector<int32_t> pool = ShuffledPages(cache.pages - 1, cache.pages - 1);
  for (int32_t& p : pool) ++p;
  std::vector<int32_t> page_tables(batch * max_pages, never_written);
  std::vector<std::vector<float>> keys(batch), values(batch);
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<int32_t> table(pool.begin() + b * max_pages,
                                     pool.begin() + b * max_pages + PagesFor(seq_lens[b], page_tokens));
    std::copy(table.begin(), table.end(), page_tables.begin() + b * max_pages);
    keys[b] = Random(seq_lens[b] * kv_cols, dtype(), -2.0f, 2.0f);
    values[b] = Random(seq_lens[b] * kv_cols, dtype());
    WriteSequence(*this, cache, layer, table, Put(keys[b], seq_lens[b], kv_cols), Put(values[b], seq_lens[b], kv_cols));
  }
  const std::vector<float> q = Random(batch * q_cols, dtype(), -2.0f, 2.0f);
  const Tensor strided_q =
      Put(Widen(q, batch, q_cols, q_cols + 2 * kv_cols, 0, kNaN), batch, q_cols + 2 * kv_cols).Cols(0, q_cols);
  const Tensor tables = PutInts(page_tables, batch, max_pages);

  GuardedScratch scratch(*this, shape, batch, max_seq_len);
  const Tensor out = Poisoned(batch, q_cols);
  backend().DecodeAttention(strided_q, cache.device, layer, tables, PutInts(seq_lens, batch, 1), max_seq_len, shape,
                            scratch.tensor(), out);
  EXPECT_TRUE(scratch.GuardIntact());
  const std::vector<float> decoded = Get(out);

  for (int64_t b = 0; b < batch; ++b) {
    SCOPED_TRACE(::testing::Message() << "row " << b << ", " << seq_lens[b] << " keys");
    const int64_t position = seq_lens[b] - 1;
    const Tensor row = Poisoned(1, q_cols);
    GuardedScratch prefill_scratch(*this, shape, 1, seq_lens[b]);
    backend().PrefillAttention(strided_q.Rows(b, 1), cache.device, layer, tables.Rows(b, 1), position, shape,
                               prefill_scratch.tensor(), row);
    const std::vector<float> decoded_row(decoded.begin() + b * q_cols, decoded.begin() + (b + 1) * q_cols);
    ExpectEquivalent("decode vs prefill", decoded_row, Get(row));
    // And both are attention: against the double reference.
    const std::vector<float> q_row(q.begin() + b * q_cols, q.begin() + (b + 1) * q_cols);
    ExpectNear("decode", decoded_row, ReferenceAttention(q_row, keys[b], values[b], shape, position, 0), {},
               Tolerance(dtype()));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, AttentionOpsTest, DJINN_ALL_BACKENDS_AND_DTYPES);

// ------------------------------------------------------------ model-sized shapes against the CPU

class AttentionVersusCpuTest : public VersusCpuTest {
 protected:
  // q as the first q_dim columns of a fused [rows, q_dim + 2 kv_dim] tensor.
  struct Queries {
    std::vector<float> host;  // the fused tensor
    Tensor cpu, device;       // the q views
  };
  Queries MakeQueries(int64_t rows, int64_t q_dim, int64_t kv_dim) {
    Queries q;
    const int64_t cols = q_dim + 2 * kv_dim;
    q.host = Random(rows * cols, dtype(), -3.0f, 3.0f);
    q.cpu = HostView(q.host, rows, cols).Cols(0, q_dim);
    q.device = Put(q.host, rows, cols).Cols(0, q_dim);
    return q;
  }
  static Tensor CpuScratch(std::vector<float>& storage, uint64_t bytes) {
    storage.assign(bytes / 4 + 1, 0.0f);
    return HostView(storage, 1, static_cast<int64_t>(storage.size()));
  }
};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(AttentionVersusCpuTest);

TEST_P(AttentionVersusCpuTest, Prefill) {
  struct Case {
    int64_t n, start, heads, kv_heads, head_dim, page_tokens;
  };
  const std::vector<Case> cases = {
      {1, 0, 32, 8, 128, 16},      {64, 0, 32, 8, 128, 16},      {300, 0, 32, 8, 128, 16},
      {300, 700, 32, 8, 128, 16},  {1, 1000, 32, 8, 128, 16},    {2048, 0, 40, 40, 128, 16},  // Llama-2 13B
      {2048, 0, 32, 8, 128, 4096}, {2048, 1000, 32, 8, 128, 16},                              // one page; long start
      {64, 100, 8, 2, 64, 16},     {300, 37, 8, 8, 64, 1},       {1, 0, 8, 8, 64, 16},
      {7, 11, 6, 2, 80, 16},       {3, 300, 8, 1, 256, 16},      {70, 0, 4, 2, 32, 5},  // the simple kernel
  };
  for (const Case& c : cases) {
    const int64_t layers = 2, layer = 1;
    const int64_t q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim, len = c.start + c.n;
    const AttentionShape shape{c.heads, c.kv_heads, c.head_dim};
    FilledCache filled = MakeFilledCache(*this, layers, layer, c.page_tokens, kv_dim, {len}, len);
    Queries q = MakeQueries(c.n, q_dim, kv_dim);

    std::vector<float> ref(c.n * q_dim), cpu_scratch;
    std::vector<int32_t> table(filled.tables);
    cpu_.PrefillAttention(q.cpu, filled.cache.host_layout(), layer, HostInts(table, 1, filled.pages_per_sequence),
                          c.start, shape, CpuScratch(cpu_scratch, cpu_.AttentionScratchBytes(shape, c.n, len)),
                          HostView(ref, c.n, q_dim));

    GuardedScratch scratch(*this, shape, c.n, len);
    const Tensor out = Poisoned(c.n, q_dim);
    backend().PrefillAttention(q.device, filled.cache.device, layer, PutInts(table, 1, filled.pages_per_sequence),
                               c.start, shape, scratch.tensor(), out);
    EXPECT_TRUE(scratch.GuardIntact());
    Check("prefill",
          Shape({{"n", c.n},
                 {"start", c.start},
                 {"heads", c.heads},
                 {"kv", c.kv_heads},
                 {"d", c.head_dim},
                 {"page", c.page_tokens}}),
          Get(out), ref);
  }
}

TEST_P(AttentionVersusCpuTest, Decode) {
  struct Case {
    std::vector<int64_t> lens;
    int64_t max_seq_len, heads, kv_heads, head_dim, page_tokens;
  };
  const std::vector<int64_t> mixed16 = {1, 17, 1000, 4096, 4096, 1000, 17, 1, 333, 2048, 64, 65, 4000, 5, 129, 1024};
  const std::vector<Case> cases = {
      {{1}, 4096, 32, 8, 128, 16},
      {{17}, 4096, 32, 8, 128, 16},
      {{4096}, 4096, 32, 8, 128, 16},
      {{1000, 1, 4096}, 4096, 32, 8, 128, 16},
      {mixed16, 4096, 32, 8, 128, 16},
      {{4096}, 4096, 40, 40, 128, 16},  // Llama-2 13B
      {{1, 1000, 17}, 4096, 40, 40, 128, 16},
      {{1000}, 4096, 32, 8, 64, 16},
      {{17, 4096, 1000}, 4096, 32, 8, 64, 4096},  // one page per sequence
      {{1, 17, 1000}, 8192, 32, 8, 128, 16},      // max_seq_len past every sequence
      {{300, 7}, 512, 8, 8, 64, 1},
      {{129, 1000, 3}, 1024, 8, 1, 256, 16},  // group of 8, head_dim 256
      {{50, 200}, 256, 6, 2, 80, 16},         // head_dim 80
      {{33, 5}, 64, 4, 2, 6, 16},             // head_dim 6: the scalar kernel
  };
  for (const Case& c : cases) {
    const int64_t layers = c.lens.size() > 3 ? 1 : 2, layer = layers - 1;
    const int64_t batch = static_cast<int64_t>(c.lens.size());
    const int64_t q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;
    const AttentionShape shape{c.heads, c.kv_heads, c.head_dim};
    FilledCache filled = MakeFilledCache(*this, layers, layer, c.page_tokens, kv_dim, c.lens, c.max_seq_len);
    Queries q = MakeQueries(batch, q_dim, kv_dim);
    std::vector<int32_t> lens(c.lens.begin(), c.lens.end());

    std::vector<float> ref(batch * q_dim), cpu_scratch;
    cpu_.DecodeAttention(
        q.cpu, filled.cache.host_layout(), layer, HostInts(filled.tables, batch, filled.pages_per_sequence),
        HostInts(lens, batch, 1), c.max_seq_len, shape,
        CpuScratch(cpu_scratch, cpu_.AttentionScratchBytes(shape, batch, c.max_seq_len)), HostView(ref, batch, q_dim));

    // Scratch sized for a larger batch than this one, as the engine does.
    GuardedScratch scratch(*this, shape, batch + 5, c.max_seq_len);
    const Tensor out = Poisoned(batch, q_dim);
    backend().DecodeAttention(q.device, filled.cache.device, layer,
                              PutInts(filled.tables, batch, filled.pages_per_sequence), PutInts(lens, batch, 1),
                              c.max_seq_len, shape, scratch.tensor(), out);
    EXPECT_TRUE(scratch.GuardIntact());
    std::string lens_text;
    for (int64_t len : c.lens) {
      if (!lens_text.empty()) lens_text.append(",");
      lens_text.append(std::to_string(len));
    }
    if (lens_text.size() > 16) lens_text.replace(13, std::string::npos, "...");
    Check("decode",
          Shape({{"B", batch},
                 {"max", c.max_seq_len},
                 {"heads", c.heads},
                 {"kv", c.kv_heads},
                 {"d", c.head_dim},
                 {"page", c.page_tokens}}) +
              " lens=" + lens_text,
          Get(out), ref);
  }
}

// k and v as column ranges of one fused [n, 3 * kv_dim] projection into a
// pool of random rows, this sequence's pages shuffled among them.
TEST_P(AttentionVersusCpuTest, WriteKv) {
  struct Case {
    int64_t n, start, kv_dim, page_tokens;
  };
  const int64_t layers = 3, layer = 1, context = 512;
  for (const Case& c : {Case{1, 0, 1024, 16}, Case{1, 200, 1024, 16}, Case{64, 0, 1024, 16}, Case{64, 100, 1024, 16},
                        Case{5, 7, 13, 16}, Case{300, 37, 256, 1}, Case{64, 100, 1024, context}, Case{9, 3, 40, 7}}) {
    const int64_t pages = PagesFor(context, c.page_tokens) + 2;
    const int64_t page_elements = layers * 2 * c.page_tokens * c.kv_dim;
    const std::vector<int32_t> table = ShuffledPages(pages, pages);
    std::vector<int32_t> destinations = Destinations(table, c.page_tokens, c.start, c.n);
    std::vector<float> pool = Random(pages * page_elements, dtype());
    std::vector<float> qkv = Random(c.n * 3 * c.kv_dim, dtype());
    std::vector<float> pool_ref = pool;
    const KvCacheLayout cpu_cache{pool_ref.data(), DType::kFloat32, layers, c.page_tokens, c.kv_dim};
    const Tensor cpu_qkv = HostView(qkv, c.n, 3 * c.kv_dim);
    cpu_.WriteKv(cpu_qkv.Cols(c.kv_dim, c.kv_dim), cpu_qkv.Cols(2 * c.kv_dim, c.kv_dim), cpu_cache, layer,
                 HostInts(destinations, c.n, 1));

    const Tensor gpool = Put(pool, pages, page_elements);
    const KvCacheLayout device_cache{gpool.data, dtype(), layers, c.page_tokens, c.kv_dim};
    const Tensor gqkv = Put(qkv, c.n, 3 * c.kv_dim);
    backend().WriteKv(gqkv.Cols(c.kv_dim, c.kv_dim), gqkv.Cols(2 * c.kv_dim, c.kv_dim), device_cache, layer,
                      PutInts(destinations, c.n, 1));
    Check("writekv", Shape({{"n", c.n}, {"start", c.start}, {"kv_dim", c.kv_dim}, {"page_tokens", c.page_tokens}}),
          Get(gpool), pool_ref, 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, AttentionVersusCpuTest, DJINN_BACKENDS_AND_DTYPES_BESIDES_THE_REFERENCE);

}  // namespace
}  // namespace djinn::backendtest
