#include "common/metrics/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/http_message.h"
#include "common/metrics/text_serializer.h"

namespace djinn::metrics {
namespace {

struct HostPort {
  std::string host;  // empty: all interfaces
  std::string port;
};

absl::StatusOr<HostPort> SplitHostPort(const std::string& address) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address \"", address, "\": ", why));
  };
  HostPort out;
  size_t port_start;
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return bad("expected [ipv6]:port");
    }
    out.host = address.substr(1, close - 1);
    port_start = close + 2;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) return bad("expected host:port");
    out.host = address.substr(0, colon);
    if (out.host.find(':') != std::string::npos) return bad("IPv6 addresses need brackets");
    port_start = colon + 1;
  }
  out.port = address.substr(port_start);
  int port = -1;
  if (out.port.empty() || out.port.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(out.port, &port) || port > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  return out;
}

// Binds and listens on the first address `hp` resolves to that accepts it.
absl::StatusOr<int> Listen(const std::string& address, const HostPort& hp) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* results = nullptr;
  const int gai =
      getaddrinfo(hp.host.empty() ? nullptr : hp.host.c_str(), hp.port.c_str(), &hints, &results);
  if (gai != 0) {
    return absl::InvalidArgumentError(absl::StrCat("metrics listen address \"", address,
                                                   "\": cannot resolve: ", gai_strerror(gai)));
  }
  int last_errno = 0;
  int fd = -1;
  for (addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    const int one = 1;
    const int zero = 0;
    // Restarting the daemon must not fail on the previous one's TIME_WAITs.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // "[::]:p" serves IPv4 too, as it does for Go exporters.
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) break;
    last_errno = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(results);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("metrics server cannot listen on ", address, ": ",
                                               std::strerror(last_errno)));
  }
  return fd;
}

enum class Wait { kReady, kTimeout, kStopped, kError };

// Waits until `fd` has `events`, the deadline passes or the wake pipe fires.
Wait WaitFor(int fd, short events, int wake_fd, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return Wait::kTimeout;
    pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    // Round up so that a sub-millisecond remainder does not spin.
    const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    const int n = poll(fds, 2, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Wait::kError;
    }
    if (fds[1].revents != 0) return Wait::kStopped;
    if (fds[0].revents != 0) return Wait::kReady;  // includes POLLHUP/POLLERR: recv/send says
  }
}

// false if the peer went away, the deadline passed or the server stopped.
bool WriteAll(int fd, absl::string_view data, int wake_fd, absl::Time deadline) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (WaitFor(fd, POLLOUT, wake_fd, deadline) != Wait::kReady) return false;
      continue;
    }
    return false;
  }
  return true;
}

// Closing a socket with unread input makes the kernel send RST, which can
// destroy the response before the client reads it (e.g. after a 400 for an
// oversized head). So: half-close, then discard input until the client
// closes too, briefly.
void LingeringClose(int fd, int wake_fd, absl::Duration max_wait) {
  shutdown(fd, SHUT_WR);
  const absl::Time deadline = absl::Now() + max_wait;
  char buf[4096];
  while (WaitFor(fd, POLLIN, wake_fd, deadline) == Wait::kReady) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) break;
  }
  close(fd);
}

constexpr char kPlainText[] = "text/plain; charset=utf-8";

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen_address, Registry* registry, MetricsHttpServerOptions options) {
  if (registry == nullptr) return absl::InvalidArgumentError("metrics server needs a registry");
  absl::StatusOr<HostPort> hp = SplitHostPort(listen_address);
  if (!hp.ok()) return hp.status();
  absl::StatusOr<int> listen_fd = Listen(listen_address, *hp);
  if (!listen_fd.ok()) return listen_fd.status();

  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  int port = 0;
  if (getsockname(*listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    port = bound.ss_family == AF_INET6
               ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
               : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    const int err = errno;
    close(*listen_fd);
    return absl::InternalError(absl::StrCat("metrics server: pipe: ", std::strerror(err)));
  }
  // Not make_unique: the constructor is private.
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(
      *listen_fd, pipe_fds[0], pipe_fds[1], port, registry, std::move(options)));
}

MetricsHttpServer::MetricsHttpServer(int listen_fd, int wake_read_fd, int wake_write_fd, int port,
                                     Registry* registry, MetricsHttpServerOptions options)
    : listen_fd_(listen_fd),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd),
      port_(port),
      registry_(registry),
      options_(std::move(options)) {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  const char byte = 1;
  while (write(wake_write_fd_, &byte, 1) < 0 && errno == EINTR) {
  }
  accept_thread_.join();
  close(listen_fd_);
  for (auto& connection : connections_) connection->thread.join();
  connections_.clear();
  close(wake_read_fd_);
  close(wake_write_fd_);
}

void MetricsHttpServer::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;

    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors or memory: the pending connection stays
        // readable, so back off (still waking for Stop) rather than spin.
        pollfd wake = {wake_read_fd_, POLLIN, 0};
        if (poll(&wake, 1, 100) > 0) return;
      }
      continue;  // EAGAIN (the client gave up), ECONNABORTED, EINTR, ...
    }
    ReapConnections();
    if (static_cast<int>(connections_.size()) >= options_.max_connections) {
      // Fits in the socket buffer, so a non-blocking send suffices.
      const std::string busy =
          FormatHttpResponse(503, "Service Unavailable", kPlainText, "too many connections\n");
      send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    auto connection = std::make_unique<Connection>();
    Connection* raw = connection.get();
    raw->thread = std::thread([this, fd, raw] {
      Serve(fd);
      raw->done.store(true, std::memory_order_release);
    });
    connections_.push_back(std::move(connection));
  }
}

void MetricsHttpServer::ReapConnections() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->done.load(std::memory_order_acquire)) {
      (*it)->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void MetricsHttpServer::Serve(int fd) {
  const absl::Time read_deadline = absl::Now() + options_.read_timeout;
  std::string data;
  std::string response;
  char buf[4096];
  while (response.empty()) {
    const size_t head_end = FindRequestHeadEnd(data);
    if (head_end != absl::string_view::npos) {
      response = head_end > kMaxRequestHeadBytes
                     ? FormatHttpResponse(400, "Bad Request", kPlainText, "request too large\n")
                     : Respond(data.substr(0, head_end));
      break;
    }
    if (data.size() >= kMaxRequestHeadBytes) {
      response = FormatHttpResponse(400, "Bad Request", kPlainText, "request too large\n");
      break;
    }
    const Wait wait = WaitFor(fd, POLLIN, wake_read_fd_, read_deadline);
    if (wait == Wait::kTimeout) {
      response = FormatHttpResponse(408, "Request Timeout", kPlainText, "request timeout\n");
      break;
    }
    if (wait != Wait::kReady) {
      close(fd);
      return;
    }
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      data.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      // The client half-closed mid-head; it may still read an answer.
      if (data.empty()) {
        close(fd);
        return;
      }
      response = FormatHttpResponse(400, "Bad Request", kPlainText, "incomplete request\n");
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      close(fd);
      return;
    }
  }
  if (!WriteAll(fd, response, wake_read_fd_, absl::Now() + options_.write_timeout)) {
    close(fd);
    return;
  }
  LingeringClose(fd, wake_read_fd_, std::min(options_.read_timeout, absl::Seconds(1)));
}

std::string MetricsHttpServer::Respond(const std::string& head) {
  absl::StatusOr<HttpRequestHead> request = ParseRequestHead(head);
  if (!request.ok()) {
    return FormatHttpResponse(400, "Bad Request", kPlainText,
                              absl::StrCat(request.status().message(), "\n"));
  }
  if (request->method != "GET") {
    return FormatHttpResponse(405, "Method Not Allowed", kPlainText, "only GET is supported\n",
                              "Allow: GET\r\n");
  }
  if (request->path == "/metrics") {
    return FormatHttpResponse(200, "OK", kTextContentType, SerializeText(*registry_));
  }
  if (request->path == "/" || request->path == "/healthz") {
    return FormatHttpResponse(200, "OK", kPlainText, "ok\n");
  }
  return FormatHttpResponse(404, "Not Found", kPlainText, "not found\n");
}

}  // namespace djinn::metrics
