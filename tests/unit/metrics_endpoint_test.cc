// The /metrics endpoint (prometheus-cpp's exposer), driven by curl: the
// collectables at /metrics, liveness at / and /healthz, 404 and 405, and
// addresses refused by name.
#include "daemon/server/metrics_endpoint.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace djinn {
namespace {

struct Response {
  int status = 0;
  std::string body;
};

// curl's view of METHOD http://127.0.0.1:port/path.
Response Fetch(int port, const std::string& path, const std::string& method = "GET") {
  const std::string command = absl::StrCat("curl -s -X ", method, " -w '\\n%{http_code}' http://127.0.0.1:", port, path);
  Response response;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return response;
  char buffer[4096];
  size_t n;
  std::string out;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  const size_t last = out.rfind('\n');
  if (last == std::string::npos) return response;
  response.status = std::atoi(out.c_str() + last + 1);
  response.body = out.substr(0, last);
  return response;
}

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prometheus::BuildCounter().Name("djinn_test_total").Help("A test counter.").Register(*registry_).Add({}).Increment(7);
  }
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
};

TEST_F(MetricsEndpointTest, ServesMetricsAndLiveness) {
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint = MetricsEndpoint::Start("127.0.0.1:0", {registry_});
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  const int port = (*endpoint)->port();
  ASSERT_GT(port, 0);
  const Response metrics = Fetch(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_TRUE(absl::StrContains(metrics.body, "\ndjinn_test_total 7\n")) << metrics.body;
  EXPECT_TRUE(absl::StrContains(metrics.body, "exposer_scrapes_total")) << metrics.body;
  for (const char* path : {"/", "/healthz"}) {
    const Response health = Fetch(port, path);
    EXPECT_EQ(health.status, 200) << path;
    EXPECT_EQ(health.body, "ok\n") << path;
  }
  EXPECT_EQ(Fetch(port, "/nope").status, 404);
  EXPECT_EQ(Fetch(port, "/metrics", "POST").status, 405);
  EXPECT_EQ(Fetch(port, "/healthz", "DELETE").status, 405);
}

TEST_F(MetricsEndpointTest, AnyInterfaceAndNamesResolveToIPv4) {
  EXPECT_EQ(CivetwebListeningPort(":9400").value_or(""), "9400");
  EXPECT_EQ(CivetwebListeningPort("localhost:0").value_or(""), "127.0.0.1:0");
  EXPECT_EQ(CivetwebListeningPort("0.0.0.0:1").value_or(""), "0.0.0.0:1");
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> any = MetricsEndpoint::Start(":0", {registry_});
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(Fetch((*any)->port(), "/healthz").status, 200);
}

TEST_F(MetricsEndpointTest, BadAddressesAreInvalidArgumentByName) {
  for (const char* address : {"", "9090", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536",
                              "127.0.0.1:-1", "::1:9090", "[::1]:9090", "[::]:0", "not an address:0"}) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint = MetricsEndpoint::Start(address, {registry_});
    ASSERT_FALSE(endpoint.ok()) << address;
    EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_TRUE(absl::StrContains(endpoint.status().message(), absl::StrCat("\"", address, "\"")))
        << endpoint.status();
  }
}

TEST_F(MetricsEndpointTest, APortInUseIsUnavailable) {
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> first = MetricsEndpoint::Start("127.0.0.1:0", {registry_});
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> second = MetricsEndpoint::Start(address, {registry_});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(second.status().message(), address)) << second.status();
}

}  // namespace
}  // namespace djinn
