#include "common/metrics/family.h"

#include "absl/strings/str_cat.h"
#include "common/metrics/fatal.h"

namespace djinn::metrics {

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       Labels constant_labels)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      constant_labels_(std::move(constant_labels)) {
  for (const auto& [label, value] : constant_labels_) {
    if (!IsValidLabelName(label)) {
      internal::Fatal(absl::StrCat("metric ", name_, ": invalid constant label name \"", label,
                                   "\""));
    }
    if (type_ == MetricType::kHistogram && label == "le") {
      internal::Fatal(absl::StrCat("histogram ", name_, ": label name \"le\" is reserved"));
    }
  }
}

void FamilyBase::ValidateChildLabels(const Labels& labels) const {
  for (const auto& [label, value] : labels) {
    if (!IsValidLabelName(label)) {
      internal::Fatal(absl::StrCat("metric ", name_, ": invalid label name \"", label, "\""));
    }
    if (type_ == MetricType::kHistogram && label == "le") {
      internal::Fatal(absl::StrCat("histogram ", name_, ": label name \"le\" is reserved"));
    }
    if (constant_labels_.count(label) > 0) {
      internal::Fatal(absl::StrCat("metric ", name_, ": label \"", label,
                                   "\" is already a constant label of the family"));
    }
  }
}

Labels FamilyBase::FullLabels(const Labels& labels) const {
  if (constant_labels_.empty()) return labels;
  Labels full = constant_labels_;
  full.insert(labels.begin(), labels.end());
  return full;
}

}  // namespace djinn::metrics
