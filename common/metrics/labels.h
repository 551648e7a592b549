// Label sets and the naming rules of the Prometheus data model.
#ifndef DJINN_COMMON_METRICS_LABELS_H_
#define DJINN_COMMON_METRICS_LABELS_H_

#include <map>
#include <string>

#include "absl/strings/string_view.h"

namespace djinn::metrics {

// Label name -> value. An ordered map, so that one label set has one spelling
// and children sort the same way in every scrape.
using Labels = std::map<std::string, std::string>;

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(absl::string_view name);

// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved for
// Prometheus' internal labels).
bool IsValidLabelName(absl::string_view name);

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_LABELS_H_
