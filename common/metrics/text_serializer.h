// The Prometheus text exposition format, version 0.0.4: what a scrape of
// /metrics returns.
#ifndef DJINN_COMMON_METRICS_TEXT_SERIALIZER_H_
#define DJINN_COMMON_METRICS_TEXT_SERIALIZER_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/metrics/registry.h"
#include "common/metrics/snapshot.h"

namespace djinn::metrics {

// The Content-Type that goes with SerializeText's output.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Collects `registry` (running its collect callbacks) and formats it.
std::string SerializeText(Registry& registry);

// Formats families in the given order (Registry::Collect sorts them by name):
// "# HELP" (omitted when the help is empty), "# TYPE", then one line per
// sample; histograms as cumulative _bucket{le=...} lines ending in
// le="+Inf", then _sum and _count. Families without children emit nothing.
std::string SerializeText(const std::vector<FamilySnapshot>& families);

// A sample value as Prometheus' Go client writes it (strconv 'g', shortest
// round-trip): "0.005", "1", "123456", "1.234567e+06", "NaN", "+Inf", "-Inf".
std::string FormatValue(double v);

// Label value escaping: backslash, double quote and newline.
std::string EscapeLabelValue(absl::string_view value);
// HELP escaping: backslash and newline.
std::string EscapeHelp(absl::string_view help);

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_TEXT_SERIALIZER_H_
