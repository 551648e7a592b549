// The registry: owns every metric family of a process (or of a test) and
// produces one consistent snapshot of them per scrape.
//
//   Registry registry;
//   auto& requests = BuildCounter().Name("djinn_requests_total")
//                        .Help("Requests served.").Register(registry);
//   requests.Add({{"model", "llama"}}).Increment();
//
// Families live as long as the registry; there is no unregistering.
#ifndef DJINN_COMMON_METRICS_REGISTRY_H_
#define DJINN_COMMON_METRICS_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics/family.h"
#include "common/metrics/labels.h"
#include "common/metrics/snapshot.h"

namespace djinn::metrics {

class Registry {
 public:
  using CallbackId = uint64_t;

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the family `name`, creating it on first use. Registering an
  // existing name with the same type and constant labels returns the
  // existing family (the first help text wins). Aborts on: an invalid name;
  // a counter whose name does not end in "_total"; an existing name with a
  // different type or constant labels; a name whose samples would collide
  // with another family's (a histogram "x" owns x_bucket, x_sum, x_count).
  template <typename T>
  Family<T>& Register(const std::string& name, const std::string& help,
                      const Labels& constant_labels = {}) {
    FamilyBase& family = RegisterFamily(name, help, T::kType, constant_labels, [&] {
      return std::unique_ptr<FamilyBase>(new Family<T>(name, help, constant_labels));
    });
    return static_cast<Family<T>&>(family);
  }

  // `callback` runs at the start of every Collect(), before any value is
  // read, so that its owner can refresh gauges from one consistent snapshot
  // of its own state. Callbacks run serially, in the order added, under a
  // lock that serialises whole collections: they may update metrics and
  // register families, but must not call Collect(), AddCollectCallback() or
  // RemoveCollectCallback().
  CallbackId AddCollectCallback(std::function<void()> callback);
  // Once this returns the callback is not running and will not run again.
  void RemoveCollectCallback(CallbackId id);

  // Runs the collect callbacks, then snapshots every family, sorted by name.
  std::vector<FamilySnapshot> Collect();

 private:
  FamilyBase& RegisterFamily(const std::string& name, const std::string& help, MetricType type,
                             const Labels& constant_labels,
                             const std::function<std::unique_ptr<FamilyBase>()>& make);

  // Held for a whole Collect(), so that callbacks and reads of one scrape do
  // not interleave with another's.
  absl::Mutex collect_mu_ ABSL_ACQUIRED_BEFORE(families_mu_);
  std::map<CallbackId, std::function<void()>> callbacks_ ABSL_GUARDED_BY(collect_mu_);
  CallbackId next_callback_id_ ABSL_GUARDED_BY(collect_mu_) = 1;

  absl::Mutex families_mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(families_mu_);
  // Sample name -> family that emits it, to catch collisions such as a
  // counter "x_count" beside a histogram "x".
  std::map<std::string, std::string> sample_owners_ ABSL_GUARDED_BY(families_mu_);
};

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_REGISTRY_H_
