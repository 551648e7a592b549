// One consistent-enough view of the whole daemon at one moment: the device,
// the memory budget's split, every model with its residency and counters,
// and the request counts. Both front-end views are built from it: the Stats
// RPC (server/proto_convert.cc) and the engine-derived /metrics series
// (snapshot_metrics.cc), so that the two never disagree about a number.
#ifndef DJINN_DAEMON_CORE_SNAPSHOT_H_
#define DJINN_DAEMON_CORE_SNAPSHOT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/backend/backend.h"
#include "daemon/core/model_registry.h"
#include "daemon/memory/arena.h"

namespace djinn {

// Generate requests that were admitted (started) and how each one ended.
struct RequestCounts {
  uint64_t started = 0;
  uint64_t completed = 0;
  uint64_t cancelled = 0;
  uint64_t failed = 0;
};

struct CoreSnapshot {
  std::string version;    // djinnd's
  absl::Time started;     // when the core was created
  absl::Duration uptime;  // now - started
  DeviceDescription device;
  // The driver's view of the device (every process); may fail, and the
  // failure must not fail a Stats call or a scrape.
  absl::StatusOr<DeviceMemoryUsage> device_memory = absl::UnavailableError("device memory not read");
  ArenaUsage memory;              // the budget by category
  std::vector<ModelInfo> models;  // every model, loading ones included
  RequestCounts requests;
};

// Sums over the models of a snapshot, as Stats reports them for the daemon.
struct SnapshotTotals {
  uint64_t kv_used_bytes = 0;
  uint64_t queued = 0;
  uint64_t active = 0;
  uint64_t prompt_tokens = 0;
  uint64_t generated_tokens = 0;
  uint64_t host_copy_bytes = 0;
  uint64_t ring_capacity_bytes = 0;
  uint32_t ring_slots = 0;
  RingCounters ring;  // every model's ring counters added up
  int ready_models = 0;
};
SnapshotTotals Totals(const CoreSnapshot& snapshot);

}  // namespace djinn

#endif  // DJINN_DAEMON_CORE_SNAPSHOT_H_
