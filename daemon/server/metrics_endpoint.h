// The HTTP endpoint Prometheus scrapes: prometheus-cpp's Exposer (civetweb)
// serving the core's collectables at GET /metrics, plus GET / and /healthz
// answering 200 "ok" (liveness only; readiness is the gRPC health service).
// Other paths are 404. The exposer adds its own series to every scrape
// (exposer_transferred_bytes_total, exposer_scrapes_total,
// exposer_request_latencies); docs/metrics.md lists them.
#ifndef DJINN_DAEMON_SERVER_METRICS_ENDPOINT_H_
#define DJINN_DAEMON_SERVER_METRICS_ENDPOINT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"

namespace djinn {

class MetricsEndpoint {
 public:
  // Binds `listen_address` ("host:port" with an IPv4 address or a name that
  // resolves to one, or ":port" for every interface; port 0 picks a free
  // one) and serves `collectables`, which must outlive the endpoint.
  // INVALID_ARGUMENT for an address that does not parse or resolve, or an
  // IPv6 one (Debian's civetweb has no IPv6); UNAVAILABLE when it cannot be
  // bound. Both name the address.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& listen_address, const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);

  // The bound port (the picked one when started with port 0).
  int port() const { return port_; }

 private:
  MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port);

  const std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
};

// "host:port" -> civetweb's listening_ports value ("127.0.0.1:9400", "9400"
// for every interface). Exposed for tests.
absl::StatusOr<std::string> CivetwebListeningPort(const std::string& listen_address);

}  // namespace djinn

#endif  // DJINN_DAEMON_SERVER_METRICS_ENDPOINT_H_
