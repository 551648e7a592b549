// A minimal HTTP/1.1 server that exposes a Registry for Prometheus to scrape:
//   GET /metrics        -> 200, text exposition format 0.0.4
//   GET / and /healthz  -> 200 "ok"
//   other paths -> 404, other methods -> 405, malformed or > 16 KiB head -> 400,
//   head not received within read_timeout -> 408.
// Every response closes the connection. Plain POSIX sockets: one accept
// thread, and one short-lived thread per connection, so that a client that
// connects and stays silent delays nobody else's scrape.
#ifndef DJINN_COMMON_METRICS_HTTP_SERVER_H_
#define DJINN_COMMON_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics/registry.h"

namespace djinn::metrics {

struct MetricsHttpServerOptions {
  // The whole request head must arrive within this; the response must be
  // written within write_timeout.
  absl::Duration read_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  // Connections served at once; beyond this, new ones get a 503 at once.
  int max_connections = 32;
};

class MetricsHttpServer {
 public:
  // Binds `listen_address` ("host:port", "[v6]:port" or ":port" for all
  // interfaces; port 0 picks a free one) and starts serving `registry`,
  // which must outlive the server. InvalidArgument for an address that does
  // not parse or resolve, Unavailable when it cannot be bound; both name the
  // address.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen_address, Registry* registry,
      MetricsHttpServerOptions options = {});

  ~MetricsHttpServer();  // Stop()s
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port (the picked one when started with port 0).
  int port() const { return port_; }

  // Closes the listening socket and ends every connection in progress
  // (a scrape that is already collecting finishes first). Returns once all
  // threads are joined. Idempotent.
  void Stop();

 private:
  struct Connection {
    std::thread thread;
    std::atomic<bool> done{false};
  };

  MetricsHttpServer(int listen_fd, int wake_read_fd, int wake_write_fd, int port,
                    Registry* registry, MetricsHttpServerOptions options);

  void AcceptLoop();
  // Joins connection threads that have finished. Accept thread only.
  void ReapConnections();
  // Reads one request from `fd`, answers it and closes `fd`.
  void Serve(int fd);
  std::string Respond(const std::string& head);

  const int listen_fd_;
  // Self-pipe: Stop() writes one byte and never drains it, so every poll()
  // that includes wake_read_fd_ returns from then on.
  const int wake_read_fd_;
  const int wake_write_fd_;
  const int port_;
  Registry* const registry_;
  const MetricsHttpServerOptions options_;

  std::thread accept_thread_;
  // Touched only by the accept thread, and by Stop() after joining it.
  std::list<std::unique_ptr<Connection>> connections_;

  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_HTTP_SERVER_H_
