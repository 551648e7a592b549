#include "daemon/engine/kv_cache.h"

#include <algorithm>

namespace djinn {

uint64_t KvCache::Shape::BytesPerPage() const {
  return static_cast<uint64_t>(layers) * 2 * kPageTokens * kv_dim * DTypeSize(dtype);
}

KvCache::KvCache(const Shape& shape, int max_sequences, const ArenaBlock& block)
    : shape_(shape), block_(block), tables_(max_sequences), in_use_(max_sequences, false) {
  const int64_t pages = static_cast<int64_t>(block.size / shape.BytesPerPage());
  free_pages_.reserve(pages);
  // Popped from the back: page 0 first.
  for (int64_t p = pages - 1; p >= 0; --p) free_pages_.push_back(static_cast<int32_t>(p));
  for (auto& table : tables_) table.reserve(shape.PagesPerSequence());
}

std::optional<int> KvCache::Acquire(int64_t tokens) {
  const int64_t needed = (std::clamp<int64_t>(tokens, 1, shape_.context_length) + kPageTokens - 1) / kPageTokens;
  std::lock_guard<std::mutex> lock(mutex_);
  if (static_cast<int64_t>(free_pages_.size()) < needed) return std::nullopt;
  for (size_t s = 0; s < in_use_.size(); ++s) {
    if (in_use_[s]) continue;
    in_use_[s] = true;
    for (int64_t i = 0; i < needed; ++i) {
      tables_[s].push_back(free_pages_.back());
      free_pages_.pop_back();
    }
    return static_cast<int>(s);
  }
  return std::nullopt;
}

void KvCache::Release(int sequence) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int32_t>& table = tables_[sequence];
  free_pages_.insert(free_pages_.end(), table.rbegin(), table.rend());
  table.clear();
  in_use_[sequence] = false;
}

std::span<const int32_t> KvCache::Pages(int sequence) const {
  // The runner thread reads the table of a sequence it holds; nobody else
  // changes it meanwhile.
  return tables_[sequence];
}

int KvCache::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(std::count(in_use_.begin(), in_use_.end(), true));
}

int64_t KvCache::pages_free() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(free_pages_.size());
}

uint64_t KvCache::used_bytes() const {
  return static_cast<uint64_t>(pages_total() - pages_free()) * shape_.BytesPerPage();
}

KvCacheLayout KvCache::layout() const {
  return KvCacheLayout{block_.data, shape_.dtype, shape_.layers, kPageTokens, shape_.kv_dim};
}

}  // namespace djinn
