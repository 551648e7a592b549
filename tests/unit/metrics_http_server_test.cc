// MetricsHttpServer over real loopback sockets, with a raw TCP client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/metrics/builder.h"
#include "common/metrics/http_server.h"
#include "common/metrics/registry.h"
#include "common/metrics/text_serializer.h"
#include "gtest/gtest.h"

namespace djinn::metrics {
namespace {

// Bounds every blocking read of the test client, so that a server bug fails
// the test instead of hanging it.
constexpr int kClientTimeoutSeconds = 10;

// A connected TCP socket to 127.0.0.1:port, or -1 with errno set.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{kClientTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// Reads until EOF. Sets *timed_out if the server neither answered nor
// closed within the client timeout.
std::string ReadToEof(int fd, bool* timed_out = nullptr) {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && timed_out != nullptr) {
      *timed_out = true;
    }
    return out;
  }
}

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string raw;

  // "" when absent.
  std::string header(const std::string& lower_case_name) const {
    auto it = headers.find(lower_case_name);
    return it == headers.end() ? "" : it->second;
  }
};

HttpResponse ParseResponse(const std::string& raw) {
  HttpResponse r;
  r.raw = raw;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  r.body = raw.substr(end + 4);
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, end), "\r\n");
  const std::vector<std::string> status = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status.size() < 2 || status[0] != "HTTP/1.1" || !absl::SimpleAtoi(status[1], &r.status)) {
    return r;
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    std::string name = lines[i].substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  return r;
}

// Sends `request` verbatim and reads the response to EOF.
HttpResponse Exchange(int port, const std::string& request) {
  const int fd = Connect(port);
  if (fd < 0) return {};
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  HttpResponse r = ParseResponse(ReadToEof(fd));
  close(fd);
  return r;
}

HttpResponse Get(int port, const std::string& path) {
  return Exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& requests = BuildCounter().Name("djinn_requests_total").Help("Requests.").Register(registry_);
    requests.Add({{"model", "m\"1"}}).Increment(3);
  }

  std::unique_ptr<MetricsHttpServer> StartServer(MetricsHttpServerOptions options = {}) {
    auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry_, options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    EXPECT_GT((*server)->port(), 0);
    return std::move(*server);
  }

  Registry registry_;
};

TEST_F(MetricsHttpServerTest, ServesMetrics) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const HttpResponse r = Get(server->port(), "/metrics");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_TRUE(absl::StartsWith(r.raw, "HTTP/1.1 200 OK\r\n")) << r.raw;
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_EQ(r.body,
            "# HELP djinn_requests_total Requests.\n"
            "# TYPE djinn_requests_total counter\n"
            "djinn_requests_total{model=\"m\\\"1\"} 3\n");
}

TEST_F(MetricsHttpServerTest, EachScrapeRunsTheCollectCallbacks) {
  Gauge& g = BuildGauge().Name("djinn_scrapes").Help("h").Register(registry_).Add({});
  int calls = 0;
  registry_.AddCollectCallback([&] { g.Set(++calls); });
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_NE(Get(server->port(), "/metrics").body.find("djinn_scrapes 1\n"), std::string::npos);
  EXPECT_NE(Get(server->port(), "/metrics").body.find("djinn_scrapes 2\n"), std::string::npos);
}

TEST_F(MetricsHttpServerTest, HealthAndRootAnswerOk) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  for (const char* path : {"/", "/healthz"}) {
    const HttpResponse r = Get(server->port(), path);
    EXPECT_EQ(r.status, 200) << path << "\n" << r.raw;
    EXPECT_EQ(r.body, "ok\n") << path;
  }
}

TEST_F(MetricsHttpServerTest, QueryStringIsIgnored) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const HttpResponse r = Get(server->port(), "/metrics?format=text");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_TRUE(absl::StrContains(r.body, "djinn_requests_total")) << r.body;
}

TEST_F(MetricsHttpServerTest, UnknownPathIs404) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const HttpResponse r = Get(server->port(), "/metricsz");
  EXPECT_EQ(r.status, 404) << r.raw;
  EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
}

TEST_F(MetricsHttpServerTest, NonGetIs405) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  for (const char* method : {"POST", "HEAD", "PUT", "DELETE"}) {
    const HttpResponse r = Exchange(
        server->port(), std::string(method) + " /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(r.status, 405) << method << "\n" << r.raw;
    EXPECT_EQ(r.header("allow"), "GET") << method;
  }
}

TEST_F(MetricsHttpServerTest, MalformedRequestIs400) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Exchange(server->port(), "hello there\r\n\r\n").status, 400);
  EXPECT_EQ(Exchange(server->port(), "GET /metrics HTTP/1.1\r\nbroken header\r\n\r\n").status,
            400);
  // A head that stops half way, then the client half-closes.
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "GET /met", 8, MSG_NOSIGNAL), 8);
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(ParseResponse(ReadToEof(fd)).status, 400);
  close(fd);
}

TEST_F(MetricsHttpServerTest, OversizedHeadIs400) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  // Never terminated: the server must give up at 16 KiB rather than wait.
  const std::string endless = "GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(20 * 1024, 'a');
  const HttpResponse r = Exchange(server->port(), endless);
  EXPECT_EQ(r.status, 400) << r.raw.substr(0, 200);
  // Terminated, but too long all the same.
  const HttpResponse r2 = Exchange(server->port(), endless + "\r\n\r\n");
  EXPECT_EQ(r2.status, 400) << r2.raw.substr(0, 200);
  // Just under the limit is fine.
  const std::string fits = "GET /healthz HTTP/1.1\r\nX-Filler: " + std::string(16000, 'a') + "\r\n\r\n";
  EXPECT_EQ(Exchange(server->port(), fits).status, 200);
}

TEST_F(MetricsHttpServerTest, SilentClientTimesOutWith408) {
  MetricsHttpServerOptions options;
  options.read_timeout = absl::Milliseconds(200);
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  bool timed_out = false;
  const HttpResponse r = ParseResponse(ReadToEof(fd, &timed_out));
  close(fd);
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(r.status, 408) << r.raw;
}

TEST_F(MetricsHttpServerTest, SilentClientDoesNotBlockScrapesAndStopIsPrompt) {
  MetricsHttpServerOptions options;
  options.read_timeout = absl::Seconds(60);  // far longer than the test may take
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  const int silent = Connect(port);
  ASSERT_GE(silent, 0);
  // The server accepts in order, so by the time these are answered the
  // silent connection has its own handler, blocked reading.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Get(port, "/metrics").status, 200);

  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2));

  // The silent client was disconnected rather than left hanging.
  bool timed_out = false;
  ReadToEof(silent, &timed_out);
  EXPECT_FALSE(timed_out);
  close(silent);

  // And the port is closed.
  EXPECT_EQ(Connect(port), -1);
  EXPECT_EQ(errno, ECONNREFUSED);

  server->Stop();  // idempotent
  server.reset();  // and the destructor after Stop() is fine
}

TEST_F(MetricsHttpServerTest, DestructorStopsTheServer) {
  int port = 0;
  {
    auto server = StartServer();
    ASSERT_NE(server, nullptr);
    port = server->port();
    EXPECT_EQ(Get(port, "/healthz").status, 200);
  }
  EXPECT_EQ(Connect(port), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

TEST_F(MetricsHttpServerTest, ConcurrentScrapesAllSucceed) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const HttpResponse r = Get(server->port(), "/metrics");
        if (r.status == 200 && absl::StrContains(r.body, "djinn_requests_total")) ++ok[t];
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(ok[t], 20) << "thread " << t;
}

TEST_F(MetricsHttpServerTest, ConnectionsBeyondTheLimitGet503) {
  MetricsHttpServerOptions options;
  options.max_connections = 1;
  options.read_timeout = absl::Seconds(60);
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int silent = Connect(server->port());
  ASSERT_GE(silent, 0);
  // Accepted after the silent one, which holds the only slot. This client
  // sends nothing, so the server's immediate close cannot turn into a reset.
  const int second = Connect(server->port());
  ASSERT_GE(second, 0);
  const HttpResponse r = ParseResponse(ReadToEof(second));
  close(second);
  EXPECT_EQ(r.status, 503) << r.raw;
  close(silent);
}

TEST_F(MetricsHttpServerTest, AnyAddressListensToo) {
  for (const char* address : {"0.0.0.0:0", "[::]:0", ":0"}) {
    auto server = MetricsHttpServer::Start(address, &registry_);
    ASSERT_TRUE(server.ok()) << address << ": " << server.status();
    // Reachable over IPv4 loopback, also when bound to IPv6 any (dual stack).
    EXPECT_EQ(Get((*server)->port(), "/healthz").status, 200) << address;
  }
}

TEST_F(MetricsHttpServerTest, BadAddressesAreInvalidArgument) {
  for (const char* address :
       {"", "9090", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536",
        "127.0.0.1:-1", "::1:9090", "[::1:9090", "[::1]9090", "not an address:0"}) {
    auto server = MetricsHttpServer::Start(address, &registry_);
    ASSERT_FALSE(server.ok()) << address;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_TRUE(absl::StrContains(server.status().message(), address)) << server.status();
  }
  EXPECT_EQ(MetricsHttpServer::Start("127.0.0.1:0", nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MetricsHttpServerTest, PortInUseIsUnavailable) {
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  const std::string address = "127.0.0.1:" + std::to_string(first->port());
  auto second = MetricsHttpServer::Start(address, &registry_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(second.status().message(), address)) << second.status();
}

}  // namespace
}  // namespace djinn::metrics
