#include "daemon/engine/model_residency.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace djinn {

ModelResidency::ModelResidency(Backend* backend, Arena* arena, int64_t layers, uint64_t layer_bytes, int ring_slots)
    : backend_(backend),
      arena_(arena),
      layer_bytes_(layer_bytes),
      ring_slots_(std::max(1, static_cast<int>(std::min<int64_t>(ring_slots, layers)))),
      layers_(layers),
      idle_(backend->CreateEvent()),
      promoted_(backend->CreateEvent()) {}

ModelResidency::~ModelResidency() {
  Quiesce();  // a failed load may leave copies from the host copies in flight
  ring_.reset();
  for (Layer& layer : layers_) {
    arena_->Free(layer.device);
    if (layer.host != nullptr) backend_->FreeHostMemory(layer.host, layer_bytes_);
  }
  for (const ArenaBlock& slot : slots_) arena_->Free(slot);
}

absl::StatusOr<std::byte*> ModelResidency::AllocateHostCopy(int64_t layer) {
  absl::StatusOr<std::byte*> host = backend_->AllocateHostMemory(layer_bytes_);
  if (host.ok()) layers_[layer].host = *host;
  return host;
}

absl::StatusOr<std::byte*> ModelResidency::AllocateDeviceBlock(int64_t layer) {
  absl::StatusOr<ArenaBlock> block = arena_->Allocate(layer_bytes_, MemoryCategory::kWeights);
  if (!block.ok()) return block.status();
  layers_[layer].device = *block;
  return block->data;
}

absl::Status ModelResidency::Attach(LlamaModel* model) {
  resident_ = 0;
  while (resident_ < layers() && layers_[resident_].device.size > 0) ++resident_;
  for (int64_t l = resident_; l < layers(); ++l) {
    if (layers_[l].device.size > 0 || layers_[l].host == nullptr) {
      return absl::InternalError(absl::StrCat("layer ", l, " breaks the resident prefix of ", resident_, " layers"));
    }
  }
  if (resident_ < layers()) {
    for (int s = 0; s < ring_slots_; ++s) {
      absl::StatusOr<ArenaBlock> slot = arena_->Allocate(layer_bytes_, MemoryCategory::kRingBuffer);
      if (slot.ok()) {
        slots_.push_back(*slot);
        continue;
      }
      // No block left for the ring: the top resident layer's becomes a
      // slot, and that layer streams too.
      if (resident_ == 0 || layers_[resident_ - 1].host == nullptr) return slot.status();
      Layer& top = layers_[--resident_];
      slots_.push_back(arena_->Recategorize(top.device, MemoryCategory::kRingBuffer));
      top.device = ArenaBlock{};
    }
  }
  model_ = model;
  Place();
  return absl::OkStatus();
}

void ModelResidency::Quiesce() {
  for (Queue queue : {Queue::kCompute, Queue::kCopy}) {
    backend_->RecordEvent(idle_.get(), queue);
    backend_->Synchronize(idle_.get());
  }
}

void ModelResidency::Place() {
  std::vector<std::byte*> device(layers(), nullptr);
  std::vector<const std::byte*> streamed;
  for (int64_t l = 0; l < layers(); ++l) {
    if (l < resident_) {
      device[l] = layers_[l].device.data;
    } else {
      streamed.push_back(layers_[l].host);
    }
  }
  RingCounters counters = ring_counters();
  ring_.reset();
  retired_ring_counters_ = counters;
  if (!streamed.empty()) {
    std::vector<std::byte*> slots;
    for (const ArenaBlock& slot : slots_) slots.push_back(slot.data);
    ring_ = std::make_unique<WeightRing>(backend_, std::move(slots), layer_bytes_, std::move(streamed), counters);
  }
  model_->SetPlacement(std::move(device), ring_.get());
}

RingCounters ModelResidency::ring_counters() const { return ring_ ? ring_->counters() : retired_ring_counters_; }

int64_t ModelResidency::EvictableLayers() const {
  int64_t n = 0;
  while (n < resident_ && layers_[resident_ - 1 - n].host != nullptr) ++n;
  // Evicting no more layers than a new ring keeps gains nothing.
  if (n <= BlocksForNewRing()) return 0;
  return n;
}

std::vector<ArenaBlock> ModelResidency::EvictableBlocks() const {
  const int64_t n = EvictableLayers();
  std::vector<ArenaBlock> blocks;
  for (int64_t i = 0; i < n - BlocksForNewRing(); ++i) blocks.push_back(layers_[resident_ - 1 - i].device);
  return blocks;
}

uint64_t ModelResidency::Evict(uint64_t bytes) {
  const int64_t evictable = EvictableLayers();
  if (evictable == 0 || bytes == 0) return 0;
  const int64_t for_ring = BlocksForNewRing();
  const int64_t wanted = for_ring + static_cast<int64_t>((bytes + layer_bytes_ - 1) / layer_bytes_);
  const int64_t n = std::min(evictable, wanted);
  Quiesce();
  uint64_t freed = 0;
  for (int64_t i = 0; i < n; ++i) {
    Layer& layer = layers_[--resident_];
    // The lowest evicted blocks become the ring: the top layers' blocks,
    // the last this model took, are the likeliest to join a free range.
    if (i >= n - for_ring) {
      slots_.push_back(arena_->Recategorize(layer.device, MemoryCategory::kRingBuffer));
    } else {
      arena_->Free(layer.device);
      freed += layer_bytes_;
    }
    layer.device = ArenaBlock{};
  }
  counters_.evictions += static_cast<uint64_t>(n);
  Place();
  return freed;
}

uint64_t ModelResidency::WantedBytes() const {
  const int64_t streamed = layers() - resident_;
  return streamed == 0 ? 0 : static_cast<uint64_t>(streamed - static_cast<int64_t>(slots_.size())) * layer_bytes_;
}

int64_t ModelResidency::Promote() {
  const int64_t streamed = layers() - resident_;
  if (streamed == 0) return 0;
  // New blocks for all but as many layers as the ring has slots; those
  // take the slots' blocks, once every other streamed layer has one.
  std::vector<ArenaBlock> blocks;
  const int64_t need_new = streamed - static_cast<int64_t>(slots_.size());
  while (static_cast<int64_t>(blocks.size()) < need_new) {
    absl::StatusOr<ArenaBlock> block = arena_->Allocate(layer_bytes_, MemoryCategory::kWeights);
    if (!block.ok()) break;
    blocks.push_back(*block);
  }
  if (blocks.empty()) return 0;
  Quiesce();
  if (static_cast<int64_t>(blocks.size()) == need_new) {
    for (const ArenaBlock& slot : slots_) blocks.push_back(arena_->Recategorize(slot, MemoryCategory::kWeights));
    slots_.clear();
  }
  for (const ArenaBlock& block : blocks) {
    Layer& layer = layers_[resident_++];
    layer.device = block;
    backend_->CopyToDevice(layer.host, block.data, layer_bytes_);
  }
  // Compute reads the promoted blocks only once they have arrived.
  backend_->RecordEvent(promoted_.get(), Queue::kCopy);
  backend_->WaitForEvent(Queue::kCompute, promoted_.get());
  counters_.promotions += blocks.size();
  counters_.promoted_bytes += blocks.size() * layer_bytes_;
  Place();
  return static_cast<int64_t>(blocks.size());
}

ResidencySnapshot ModelResidency::Snapshot() const {
  ResidencySnapshot s;
  s.resident_layers = resident_;
  s.streamed_layers = layers() - resident_;
  s.ring_slots = static_cast<int>(slots_.size());
  s.ring_bytes = slots_.size() * layer_bytes_;
  s.layer_bytes = layer_bytes_;
  s.resident_layer_bytes = static_cast<uint64_t>(resident_) * layer_bytes_;
  s.streamed_bytes = static_cast<uint64_t>(s.streamed_layers) * layer_bytes_;
  for (const Layer& layer : layers_) {
    if (layer.host != nullptr) s.host_copy_bytes += layer_bytes_;
  }
  s.evictable_layers = EvictableLayers();
  s.counters = counters_;
  return s;
}

}  // namespace djinn
