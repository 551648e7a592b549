// Without a daemon: every target form reaches "nothing listens" as
// UNAVAILABLE, quickly, and the call options (deadline, wait-for-ready,
// cancel token) behave as documented.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cpp/djinn_client.h"
#include "gtest/gtest.h"

namespace djinn::client {
namespace {

// A loopback port nothing listens on: bound once by the kernel's choice,
// then closed. (Another process could take it meanwhile; unlikely in a test.)
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool HaveIpv6Loopback() {
  const int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr = {};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

CallOptions Within(absl::Duration timeout) {
  CallOptions call;
  call.timeout = timeout;
  return call;
}

void ExpectUnavailableQuickly(const std::string& target) {
  auto client = DjinnClient::Connect(target);
  const absl::Time start = absl::Now();
  auto stats = client->Stats(Within(absl::Seconds(5)));
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kUnavailable)
      << target << ": " << stats.status();
  // Fail-fast: refused at once, not after the 5 s deadline.
  EXPECT_LT(absl::Now() - start, absl::Seconds(4)) << target;
}

TEST(Connect, ClosedPortIsUnavailable) {
  ExpectUnavailableQuickly("127.0.0.1:" + std::to_string(ClosedPort()));
}

TEST(Connect, HostnameTarget) {
  ExpectUnavailableQuickly("localhost:" + std::to_string(ClosedPort()));
}

TEST(Connect, DnsTargetWithRoundRobin) {
  ExpectUnavailableQuickly("dns:///localhost:" + std::to_string(ClosedPort()));
}

// The channel's load-balancing policy once it has resolved its target: a
// dns:/// target spreads calls over every address (round_robin); a plain
// host:port keeps gRPC's default.
std::string PolicyAfterOneCall(const std::string& target) {
  auto client = DjinnClient::Connect(target);
  EXPECT_EQ(client->Health("", Within(absl::Seconds(10))).status().code(), absl::StatusCode::kUnavailable) << target;
  return client->channel()->GetLoadBalancingPolicyName();
}

TEST(Connect, DnsTargetUsesRoundRobin) {
  EXPECT_EQ(PolicyAfterOneCall("dns:///localhost:" + std::to_string(ClosedPort())), "round_robin");
}

TEST(Connect, HostPortTargetsKeepPickFirst) {
  EXPECT_EQ(PolicyAfterOneCall("localhost:" + std::to_string(ClosedPort())), "pick_first");
  EXPECT_EQ(PolicyAfterOneCall("127.0.0.1:" + std::to_string(ClosedPort())), "pick_first");
}

TEST(Connect, BracketedIpv6Target) {
  if (!HaveIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback here";
  ExpectUnavailableQuickly("[::1]:" + std::to_string(ClosedPort()));
}

TEST(Connect, EveryMethodReportsUnavailable) {
  auto client = DjinnClient::Connect("127.0.0.1:" + std::to_string(ClosedPort()));
  const CallOptions call = Within(absl::Seconds(5));
  EXPECT_EQ(client->ListModels(call).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client->UnloadModel("m", call).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client->Health("", call).status().code(), absl::StatusCode::kUnavailable);
  bool progressed = false;
  EXPECT_EQ(client
                ->LoadModel("m", "/m", {}, [&](const v1::LoadModelProgress&) { progressed = true; },
                            call)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(progressed);
  v1::GenerateRequest request;
  request.set_model("m");
  request.set_text("hi");
  bool streamed = false;
  EXPECT_EQ(client
                ->Generate(request,
                           [&](const v1::GenerateResponse&) {
                             streamed = true;
                             return true;
                           },
                           call)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(streamed);
}

TEST(Connect, WaitForReadyRunsIntoTheDeadline) {
  auto client = DjinnClient::Connect("127.0.0.1:" + std::to_string(ClosedPort()));
  CallOptions call = Within(absl::Milliseconds(300));
  call.wait_for_ready = true;
  EXPECT_EQ(client->Stats(call).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(Connect, TokenCancelledBeforeTheCallCancelsIt) {
  auto client = DjinnClient::Connect("127.0.0.1:" + std::to_string(ClosedPort()));
  CancelToken token;
  token.Cancel();
  EXPECT_TRUE(token.cancelled());
  CallOptions call = Within(absl::Seconds(5));
  call.wait_for_ready = true;  // would otherwise wait the full 5 s
  call.cancel = &token;
  const absl::Time start = absl::Now();
  EXPECT_EQ(client->Stats(call).status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
}

}  // namespace
}  // namespace djinn::client
