#include "common/metrics/registry.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/fatal.h"

namespace djinn::metrics {
namespace {

// The sample names a family emits in the text format.
std::vector<std::string> SampleNames(const std::string& name, MetricType type) {
  if (type == MetricType::kHistogram) {
    return {name + "_bucket", name + "_sum", name + "_count"};
  }
  return {name};
}

}  // namespace

FamilyBase& Registry::RegisterFamily(const std::string& name, const std::string& help,
                                     MetricType type, const Labels& constant_labels,
                                     const std::function<std::unique_ptr<FamilyBase>()>& make) {
  if (!IsValidMetricName(name)) {
    internal::Fatal(absl::StrCat("invalid metric name \"", name, "\""));
  }
  // Prometheus convention (and a promtool lint): counters end in _total, so
  // that a reader knows to rate() them.
  if (type == MetricType::kCounter && !absl::EndsWith(name, "_total")) {
    internal::Fatal(absl::StrCat("counter name \"", name, "\" must end in \"_total\""));
  }

  absl::MutexLock lock(&families_mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    FamilyBase& existing = *it->second;
    if (existing.type() != type) {
      internal::Fatal(absl::StrCat("metric \"", name, "\" registered as ", MetricTypeName(type),
                                   " but already registered as ",
                                   MetricTypeName(existing.type())));
    }
    if (existing.constant_labels() != constant_labels) {
      internal::Fatal(
          absl::StrCat("metric \"", name, "\" registered again with different constant labels"));
    }
    return existing;
  }

  const std::vector<std::string> samples = SampleNames(name, type);
  for (const std::string& sample : samples) {
    auto owner = sample_owners_.find(sample);
    if (owner != sample_owners_.end()) {
      internal::Fatal(absl::StrCat("metric \"", name, "\" would emit samples named \"", sample,
                                   "\", which metric \"", owner->second, "\" already emits"));
    }
  }
  // A histogram's own name must not be another family's sample either.
  if (type == MetricType::kHistogram && sample_owners_.count(name) > 0) {
    internal::Fatal(absl::StrCat("histogram \"", name, "\" collides with metric \"",
                                 sample_owners_[name], "\""));
  }
  for (const std::string& sample : samples) sample_owners_[sample] = name;

  std::unique_ptr<FamilyBase> family = make();
  FamilyBase& ref = *family;
  families_.emplace(name, std::move(family));
  return ref;
}

Registry::CallbackId Registry::AddCollectCallback(std::function<void()> callback) {
  absl::MutexLock lock(&collect_mu_);
  const CallbackId id = next_callback_id_++;
  callbacks_.emplace(id, std::move(callback));
  return id;
}

void Registry::RemoveCollectCallback(CallbackId id) {
  absl::MutexLock lock(&collect_mu_);
  callbacks_.erase(id);
}

std::vector<FamilySnapshot> Registry::Collect() {
  absl::MutexLock collect_lock(&collect_mu_);
  for (auto& [id, callback] : callbacks_) callback();

  // Families are never removed, so the pointers outlive the lock; reading
  // each family under only its own lock lets Register() proceed meanwhile.
  std::vector<const FamilyBase*> families;
  {
    absl::MutexLock lock(&families_mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  std::vector<FamilySnapshot> out;
  out.reserve(families.size());
  for (const FamilyBase* family : families) out.push_back(family->Collect());
  return out;
}

}  // namespace djinn::metrics
