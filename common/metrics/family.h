// A metric family: one name, help text and type, with one child metric per
// label set (djinn_requests_total{model="a"}, {model="b"}, ...).
//
// Add() takes the family's lock; hold on to the returned reference and call
// it on the hot path instead of looking the child up each time.
#ifndef DJINN_COMMON_METRICS_FAMILY_H_
#define DJINN_COMMON_METRICS_FAMILY_H_

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics/labels.h"
#include "common/metrics/snapshot.h"

namespace djinn::metrics {

// The type-independent part, which is what the registry and the serialiser
// see.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  // Labels attached to every child (given at registration).
  const Labels& constant_labels() const { return constant_labels_; }

  // Values of all children, sorted by their full label sets.
  virtual FamilySnapshot Collect() const = 0;

 protected:
  // Aborts on invalid constant label names.
  FamilyBase(std::string name, std::string help, MetricType type, Labels constant_labels);

  // Aborts if a child's label names are invalid, reserved ("le" for
  // histograms) or repeat a constant label.
  void ValidateChildLabels(const Labels& labels) const;

  // Child labels merged with the constant ones.
  Labels FullLabels(const Labels& labels) const;

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const Labels constant_labels_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, Labels constant_labels)
      : FamilyBase(std::move(name), std::move(help), T::kType, std::move(constant_labels)) {}

  // The child for `labels`, created on first use from `args` (the bucket
  // boundaries for a Histogram; later calls' args are ignored). The
  // reference stays valid until Remove() or the family's destruction.
  template <typename... Args>
  T& Add(const Labels& labels, Args&&... args) {
    absl::MutexLock lock(&mu_);
    auto it = children_.find(labels);
    if (it != children_.end()) return *it->second;
    ValidateChildLabels(labels);
    auto child = std::make_unique<T>(std::forward<Args>(args)...);
    T& ref = *child;
    children_.emplace(labels, std::move(child));
    return ref;
  }

  // Drops a child; references to it dangle afterwards. Unknown pointers are
  // ignored.
  void Remove(T* metric) {
    absl::MutexLock lock(&mu_);
    for (auto it = children_.begin(); it != children_.end(); ++it) {
      if (it->second.get() == metric) {
        children_.erase(it);
        return;
      }
    }
  }

  bool Has(const Labels& labels) const {
    absl::MutexLock lock(&mu_);
    return children_.count(labels) > 0;
  }

  FamilySnapshot Collect() const override {
    FamilySnapshot out;
    out.name = name();
    out.help = help();
    out.type = type();
    {
      absl::MutexLock lock(&mu_);
      out.metrics.reserve(children_.size());
      for (const auto& [labels, child] : children_) {
        MetricSnapshot& m = out.metrics.emplace_back();
        m.labels = FullLabels(labels);
        child->CollectInto(&m);
      }
    }
    // Merging in constant labels can change the order the map had.
    std::sort(out.metrics.begin(), out.metrics.end(),
              [](const MetricSnapshot& a, const MetricSnapshot& b) { return a.labels < b.labels; });
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<Labels, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_FAMILY_H_
