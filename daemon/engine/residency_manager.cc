#include "daemon/engine/residency_manager.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace djinn {

void ResidencyManager::Add(ResidencyMember* member) {
  absl::MutexLock lock(&mutex_);
  members_[member] = State{false, ++tick_};
}

void ResidencyManager::Remove(ResidencyMember* member) {
  absl::MutexLock lock(&mutex_);
  // A Rebalance may be promoting it outside the lock; it leaves only after.
  auto not_pinned = [this, member]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    auto it = members_.find(member);
    return it == members_.end() || it->second.pinned == 0;
  };
  mutex_.Await(absl::Condition(&not_pinned));
  members_.erase(member);
}

void ResidencyManager::Activate(ResidencyMember* member) {
  absl::MutexLock lock(&mutex_);
  auto it = members_.find(member);
  if (it == members_.end()) return;
  it->second.active = true;
  it->second.last_used = ++tick_;
  const uint64_t wanted = member->WantedBytes();
  if (wanted == 0) return;
  // Free memory in pieces smaller than the member's layers does not count.
  const uint64_t layer = member->LayerBytes();
  const uint64_t usable = arena_->BlocksThatFit(layer) * layer;
  if (wanted > usable) ReclaimFromIdle(wanted - usable, member);
  member->Promote();
}

void ResidencyManager::Deactivate(ResidencyMember* member) {
  absl::MutexLock lock(&mutex_);
  auto it = members_.find(member);
  if (it == members_.end()) return;
  it->second.active = false;
  it->second.last_used = ++tick_;
}

std::vector<ArenaBlock> ResidencyManager::IdleEvictableBlocks() {
  std::vector<ArenaBlock> blocks;
  for (auto& [member, state] : members_) {
    if (state.active) continue;
    for (const ArenaBlock& block : member->EvictableBlocks()) blocks.push_back(block);
  }
  return blocks;
}

uint64_t ResidencyManager::ReclaimableBytes() {
  absl::MutexLock lock(&mutex_);
  uint64_t bytes = 0;
  for (const ArenaBlock& block : IdleEvictableBlocks()) bytes += block.size;
  return bytes;
}

uint64_t ResidencyManager::LargestReclaimableRange() {
  absl::MutexLock lock(&mutex_);
  return arena_->LargestFreeRangeWith(IdleEvictableBlocks());
}

void ResidencyManager::Reclaim(uint64_t bytes) {
  absl::MutexLock lock(&mutex_);
  ReclaimFromIdle(bytes, nullptr);
}

void ResidencyManager::Rebalance() {
  std::vector<std::pair<uint64_t, ResidencyMember*>> recent;
  {
    absl::MutexLock lock(&mutex_);
    for (auto& [member, state] : members_) {
      recent.push_back({state.last_used, member});
      ++state.pinned;  // stays a member until its turn below is over
    }
  }
  std::sort(recent.rbegin(), recent.rend());
  // The promotions run without the manager's lock: each waits for its
  // model's current pass and copies layers, and meanwhile a busy model's
  // Activate (its next request) must not wait for them. A member promotes
  // under its own compute lock, so a concurrent Activate that evicts it
  // runs before or after, never during, the promotion.
  for (const auto& [last_used, member] : recent) {
    member->Promote();  // nothing to do for a resident one
    absl::MutexLock lock(&mutex_);
    --members_[member].pinned;
  }
}

void ResidencyManager::ReclaimFromIdle(uint64_t bytes, const ResidencyMember* except) {
  std::vector<std::pair<uint64_t, ResidencyMember*>> idle;
  for (auto& [member, state] : members_) {
    if (!state.active && member != except) idle.push_back({state.last_used, member});
  }
  std::sort(idle.begin(), idle.end());
  uint64_t given = 0;
  for (const auto& [last_used, member] : idle) {
    if (given >= bytes) break;
    given += member->Evict(bytes - given);
  }
}

}  // namespace djinn
