// Reading a live /metrics scrape in tests: the body of the response, the
// value of one series, the metric families and their types, and Prometheus's
// own linter on it.
#ifndef DJINN_TESTS_INTEGRATION_SUPPORT_PROMETHEUS_TEXT_H_
#define DJINN_TESTS_INTEGRATION_SUPPORT_PROMETHEUS_TEXT_H_

#include <map>
#include <optional>
#include <string>

namespace djinn::testing {

// The body of GET /metrics from 127.0.0.1:`port`; "" unless the answer was
// 200 in the Prometheus text format.
std::string ScrapeMetrics(int port);

// The value of the sample line whose series (name and labels, exactly as
// written: `djinn_x{model="tiny"}`) is `series`; nullopt when absent.
std::optional<double> SampleValue(const std::string& exposition, const std::string& series);

// Every family's name and type ("counter", "gauge", "histogram", ...) from
// its "# TYPE" line.
std::map<std::string, std::string> MetricTypes(const std::string& exposition);

struct LintResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};
// `promtool check metrics` on `exposition`.
LintResult PromtoolCheckMetrics(const std::string& exposition);

}  // namespace djinn::testing

#endif  // DJINN_TESTS_INTEGRATION_SUPPORT_PROMETHEUS_TEXT_H_
