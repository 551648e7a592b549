// The paged KV cache: sequences reserve the pages their tokens need, give
// them back on release, and never share a page.
#include "daemon/engine/kv_cache.h"

#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace djinn {
namespace {

constexpr int64_t kPage = KvCache::kPageTokens;

struct Pool {
  // Room for `pages` pages of a 2-layer, kv_dim 8, float32 cache.
  explicit Pool(int64_t pages, int max_sequences = 4) : memory(pages * shape.BytesPerPage()) {
    cache = std::make_unique<KvCache>(shape, max_sequences, ArenaBlock{memory.data(), 0, memory.size(), MemoryCategory::kKvCache});
  }
  KvCache::Shape shape{2, 10 * kPage, 8, DType::kFloat32};
  std::vector<std::byte> memory;
  std::unique_ptr<KvCache> cache;
};

TEST(KvCacheTest, ASequenceGetsThePagesItsTokensNeed) {
  Pool pool(20);
  EXPECT_EQ(pool.cache->pages_total(), 20);
  for (int64_t tokens : {int64_t{1}, kPage, kPage + 1, 3 * kPage, 10 * kPage}) {
    std::optional<int> s = pool.cache->Acquire(tokens);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(static_cast<int64_t>(pool.cache->Pages(*s).size()), (tokens + kPage - 1) / kPage) << tokens;
    EXPECT_EQ(pool.cache->used_bytes(), pool.cache->Pages(*s).size() * pool.shape.BytesPerPage());
    pool.cache->Release(*s);
    EXPECT_EQ(pool.cache->pages_free(), 20);
    EXPECT_EQ(pool.cache->used_bytes(), 0u);
  }
  // Beyond the context: capped at a whole context's pages.
  std::optional<int> s = pool.cache->Acquire(100 * kPage);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(static_cast<int64_t>(pool.cache->Pages(*s).size()), pool.shape.PagesPerSequence());
}

TEST(KvCacheTest, SequencesNeverSharePagesAndWaitWhenTheyRunOut) {
  Pool pool(10, /*max_sequences=*/4);
  std::optional<int> a = pool.cache->Acquire(4 * kPage);
  std::optional<int> b = pool.cache->Acquire(5 * kPage);
  ASSERT_TRUE(a.has_value() && b.has_value());
  std::set<int32_t> seen;
  for (int s : {*a, *b}) {
    for (int32_t page : pool.cache->Pages(s)) {
      EXPECT_TRUE(seen.insert(page).second) << "page " << page << " given twice";
      EXPECT_GE(page, 0);
      EXPECT_LT(page, 10);
    }
  }
  EXPECT_FALSE(pool.cache->Acquire(2 * kPage).has_value());  // one page left
  std::optional<int> c = pool.cache->Acquire(kPage);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(pool.cache->pages_free(), 0);
  EXPECT_EQ(pool.cache->active(), 3);
  pool.cache->Release(*a);
  EXPECT_EQ(pool.cache->pages_free(), 4);
  EXPECT_TRUE(pool.cache->Acquire(4 * kPage).has_value());
}

TEST(KvCacheTest, AtMostMaxSequencesHoldPages) {
  Pool pool(100, /*max_sequences=*/2);
  ASSERT_TRUE(pool.cache->Acquire(1).has_value());
  ASSERT_TRUE(pool.cache->Acquire(1).has_value());
  EXPECT_FALSE(pool.cache->Acquire(1).has_value());
  EXPECT_EQ(pool.cache->slots(), 2);
}

TEST(KvCacheTest, LayoutAddressesPagesOfKPageTokens) {
  Pool pool(3);
  const KvCacheLayout layout = pool.cache->layout();
  EXPECT_EQ(layout.base, pool.memory.data());
  EXPECT_EQ(layout.page_tokens, kPage);
  EXPECT_EQ(layout.layers, 2);
  EXPECT_EQ(layout.kv_dim, 8);
  EXPECT_EQ(static_cast<uint64_t>(layout.page_elements()) * DTypeSize(layout.dtype), pool.shape.BytesPerPage());
}

}  // namespace
}  // namespace djinn
