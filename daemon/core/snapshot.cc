#include "daemon/core/snapshot.h"

namespace djinn {

SnapshotTotals Totals(const CoreSnapshot& snapshot) {
  SnapshotTotals totals;
  for (const ModelInfo& info : snapshot.models) {
    if (info.state == ModelState::kReady) ++totals.ready_models;
    totals.kv_used_bytes += info.kv_used_bytes;
    totals.queued += info.counters.queued;
    totals.active += info.counters.active;
    totals.prompt_tokens += info.counters.prompt_tokens_total;
    totals.generated_tokens += info.counters.generated_tokens_total;
    totals.host_copy_bytes += info.residency.host_copy_bytes;
    totals.ring_capacity_bytes += info.residency.ring_bytes;
    totals.ring_slots += static_cast<uint32_t>(info.residency.ring_slots);
    totals.ring.bytes_copied += info.ring.bytes_copied;
    totals.ring.pass_seconds += info.ring.pass_seconds;
    totals.ring.timed_bytes += info.ring.timed_bytes;
    totals.ring.copy_seconds += info.ring.copy_seconds;
    totals.ring.compute_stalls += info.ring.compute_stalls;
    totals.ring.compute_stall_seconds += info.ring.compute_stall_seconds;
    totals.ring.copy_stalls += info.ring.copy_stalls;
    totals.ring.copy_stall_seconds += info.ring.copy_stall_seconds;
  }
  return totals;
}

}  // namespace djinn
