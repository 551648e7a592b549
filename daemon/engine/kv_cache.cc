#include "daemon/engine/kv_cache.h"

#include <algorithm>

namespace djinn {

uint64_t KvCache::Shape::BytesPerSequence() const {
  return static_cast<uint64_t>(layers) * 2 * context_length * kv_dim * DTypeSize(dtype);
}

KvCache::KvCache(const Shape& shape, int slots, const ArenaBlock& block)
    : shape_(shape), block_(block), in_use_(slots, false), page_ids_(slots) {
  for (int s = 0; s < slots; ++s) page_ids_[s] = s;
}

std::optional<int> KvCache::Acquire() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < in_use_.size(); ++i) {
    if (!in_use_[i]) {
      in_use_[i] = true;
      return static_cast<int>(i);
    }
  }
  return std::nullopt;
}

void KvCache::Release(int slot) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_use_[slot] = false;
}

int KvCache::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(std::count(in_use_.begin(), in_use_.end(), true));
}

KvCacheLayout KvCache::layout() const {
  return KvCacheLayout{block_.data, shape_.dtype, shape_.layers, shape_.context_length, shape_.kv_dim};
}

}  // namespace djinn
