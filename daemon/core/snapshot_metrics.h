// The engine-derived Prometheus series (memory split, rings, residency,
// PCIe, queues, device memory, build info), computed from one CoreSnapshot
// at every scrape. A prometheus::Collectable rather than registered gauges:
// the values live in the engine and are read when asked for, a model's
// series exist exactly while it is listed (nothing to drop on unload), and
// the engine's running totals are exported as counters as they are.
#ifndef DJINN_DAEMON_CORE_SNAPSHOT_METRICS_H_
#define DJINN_DAEMON_CORE_SNAPSHOT_METRICS_H_

#include <atomic>
#include <functional>
#include <vector>

#include "daemon/core/snapshot.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace djinn {

class SnapshotMetrics : public prometheus::Collectable {
 public:
  // `snapshot` is called once per scrape (the core's Snapshot).
  explicit SnapshotMetrics(std::function<CoreSnapshot()> snapshot);

  std::vector<prometheus::MetricFamily> Collect() const override;

  // The families of one snapshot: what Collect returns (and tests read).
  std::vector<prometheus::MetricFamily> Families(const CoreSnapshot& snapshot) const;

 private:
  const std::function<CoreSnapshot()> snapshot_;
  // A device that cannot report its memory is logged once, not every scrape.
  mutable std::atomic<bool> device_memory_error_logged_{false};
};

}  // namespace djinn

#endif  // DJINN_DAEMON_CORE_SNAPSHOT_METRICS_H_
