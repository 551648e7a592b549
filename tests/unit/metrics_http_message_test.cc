// Parsing of HTTP request heads and formatting of responses, on strings.
#include <string>

#include "common/metrics/http_message.h"
#include "gtest/gtest.h"

namespace djinn::metrics {
namespace {

TEST(MetricsHttpMessage, FindsTheEndOfTheHead) {
  EXPECT_EQ(FindRequestHeadEnd("GET / HTTP/1.1\r\nHost: x\r\n"), std::string::npos);
  EXPECT_EQ(FindRequestHeadEnd("GET / HTTP/1.1\r\n\r\nbody"), 18u);
  EXPECT_EQ(FindRequestHeadEnd("GET / HTTP/1.0\n\n"), 16u);
  EXPECT_EQ(FindRequestHeadEnd(""), std::string::npos);
}

TEST(MetricsHttpMessage, ParsesAScrape) {
  auto head = ParseRequestHead(
      "GET /metrics?name[]=x HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAccept: text/plain\r\n"
      "User-Agent: Prometheus/2.42.0\r\n\r\n");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->method, "GET");
  EXPECT_EQ(head->path, "/metrics");
  EXPECT_EQ(head->version, "HTTP/1.1");
}

TEST(MetricsHttpMessage, AcceptsAbsoluteFormAndBareLf) {
  auto head = ParseRequestHead("GET http://host:9/healthz HTTP/1.0\n\n");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->path, "/healthz");
  auto bare = ParseRequestHead("GET http://host HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->path, "/");
}

TEST(MetricsHttpMessage, KeepsOtherMethodsForTheCallerToRefuse) {
  auto head = ParseRequestHead("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->method, "POST");
}

TEST(MetricsHttpMessage, RejectsMalformedHeads) {
  for (const char* bad : {
           "\r\n\r\n",
           "GET\r\n\r\n",
           "GET /metrics\r\n\r\n",
           "GET  /metrics HTTP/1.1\r\n\r\n",
           "GET /metrics HTTP/2.0\r\n\r\n",
           "GET /metrics HTTP/1.x\r\n\r\n",
           "GET metrics HTTP/1.1\r\n\r\n",
           "G(T /metrics HTTP/1.1\r\n\r\n",
           "GET /metrics HTTP/1.1 extra\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
           "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
           "GET /metrics HTTP/1.1\r\n folded: header\r\n\r\n",
       }) {
    auto head = ParseRequestHead(bad);
    EXPECT_FALSE(head.ok()) << bad;
    EXPECT_EQ(head.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(MetricsHttpMessage, FormatsACompleteResponse) {
  EXPECT_EQ(FormatHttpResponse(405, "Method Not Allowed", "text/plain", "no\n", "Allow: GET\r\n"),
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 3\r\n"
            "Connection: close\r\n"
            "Allow: GET\r\n"
            "\r\n"
            "no\n");
}

}  // namespace
}  // namespace djinn::metrics
