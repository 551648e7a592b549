#include "daemon/server/metrics_endpoint.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <CivetServer.h>

#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace djinn {
namespace {

// Request-head and response-write limit: a client that connects and stays
// silent holds one civetweb thread this long at most.
constexpr char kRequestTimeoutMs[] = "10000";
// Connections served at once (civetweb worker threads); scrapes are short.
constexpr char kThreads[] = "4";

// GET / and /healthz: 200 "ok"; methods other than GET and HEAD: 405. Runs
// before civetweb's handlers; returning 0 hands every other request on to
// them (/metrics, or 404).
int AnswerHealth(mg_connection* connection) {
  const mg_request_info* request = mg_get_request_info(connection);
  if (std::strcmp(request->request_method, "GET") != 0 && std::strcmp(request->request_method, "HEAD") != 0) {
    mg_printf(connection,
              "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n"
              "Connection: close\r\n\r\n");
    return 405;
  }
  if (std::strcmp(request->request_method, "GET") != 0) return 0;
  if (std::strcmp(request->local_uri, "/") != 0 && std::strcmp(request->local_uri, "/healthz") != 0) return 0;
  mg_printf(connection,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n"
            "Connection: close\r\n\r\nok\n");
  return 200;  // non-zero: handled
}

}  // namespace

absl::StatusOr<std::string> CivetwebListeningPort(const std::string& address) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("metrics listen address \"", address, "\": ", why));
  };
  if (!address.empty() && address[0] == '[') {
    return bad("IPv6 addresses are not supported (the metrics server, Debian's civetweb, is built without IPv6)");
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return bad("expected host:port");
  const std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.find(':') != std::string::npos) return bad("IPv6 addresses are not supported");
  int number = -1;
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(port, &number) || number > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  if (host.empty()) return port;  // every IPv4 interface
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  const int gai = getaddrinfo(host.c_str(), nullptr, &hints, &results);
  if (gai != 0 || results == nullptr) return bad(absl::StrCat("cannot resolve to IPv4: ", gai_strerror(gai)));
  char numeric[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(results->ai_addr)->sin_addr, numeric, sizeof(numeric));
  freeaddrinfo(results);
  return absl::StrCat(numeric, ":", port);
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& listen_address, const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  absl::StatusOr<std::string> ports = CivetwebListeningPort(listen_address);
  if (!ports.ok()) return ports.status();
  CivetCallbacks callbacks;
  callbacks.begin_request = AnswerHealth;
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // civetweb copies the callbacks when it starts; they need not outlive this.
    exposer = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", *ports, "num_threads", kThreads, "request_timeout_ms",
                                 kRequestTimeoutMs},
        &callbacks);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on \"", listen_address, "\": ", e.what()));
  }
  const std::vector<int> bound = exposer->GetListeningPorts();
  if (bound.empty()) return absl::UnavailableError(absl::StrCat("cannot serve metrics on \"", listen_address, "\""));
  for (const std::weak_ptr<prometheus::Collectable>& collectable : collectables) {
    exposer->RegisterCollectable(collectable);
  }
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(exposer), bound.front()));
}

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port)
    : exposer_(std::move(exposer)), port_(port) {}

}  // namespace djinn
