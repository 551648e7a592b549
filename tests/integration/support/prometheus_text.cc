#include "tests/integration/support/prometheus_text.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tests/integration/support/client.h"

namespace djinn::testing {

std::string ScrapeMetrics(int port) {
  const std::string response = HttpGet(port, "/metrics");
  const size_t body = response.find("\r\n\r\n");
  // The text format: prometheus-cpp's exposer says "text/plain;
  // charset=utf-8", which Prometheus reads as text format 0.0.4 (what it
  // assumes for text/plain without a version).
  if (response.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos ||
      response.find("Content-Type: text/plain") > body) {
    return "";
  }
  return response.substr(body + 4);
}

std::optional<double> SampleValue(const std::string& exposition, const std::string& series) {
  const std::string key = series + " ";
  size_t at = exposition.rfind(key, 0) == 0 ? 0 : exposition.find("\n" + key);
  if (at == std::string::npos) return std::nullopt;
  if (exposition[at] == '\n') ++at;
  return std::strtod(exposition.c_str() + at + key.size(), nullptr);
}

std::map<std::string, std::string> MetricTypes(const std::string& exposition) {
  std::map<std::string, std::string> types;
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream fields(line.substr(7));
    std::string name, type;
    fields >> name >> type;
    types[name] = type;
  }
  return types;
}

// The text goes through a temporary file so that one pipe carries the
// output and writing stdin cannot deadlock against reading stdout.
LintResult PromtoolCheckMetrics(const std::string& exposition) {
  LintResult result;
  char path[] = "/tmp/djinn_scrape_XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return result;
  FILE* file = ::fdopen(fd, "w");
  std::fwrite(exposition.data(), 1, exposition.size(), file);
  std::fclose(file);
  FILE* pipe = ::popen(("promtool check metrics < " + std::string(path) + " 2>&1").c_str(), "r");
  if (pipe != nullptr) {
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
    const int status = ::pclose(pipe);
    if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  }
  ::unlink(path);
  return result;
}

}  // namespace djinn::testing
