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
  absl::MutexLock lock(&mutex_);
  std::vector<std::pair<uint64_t, ResidencyMember*>> recent;
  for (auto& [member, state] : members_) recent.push_back({state.last_used, member});
  std::sort(recent.rbegin(), recent.rend());
  for (const auto& [last_used, member] : recent) member->Promote();  // nothing to do for a resident one
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
