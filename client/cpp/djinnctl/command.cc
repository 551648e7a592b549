#include "client/cpp/djinnctl/command.h"

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "client/cpp/djinnctl/flags.h"

namespace djinn::djinnctl {

int ReportError(const absl::Status& status) {
  std::fprintf(stderr, "error: %s: %s\n",
               absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
  return kExitFailure;
}

int UsageError(const Invocation& invocation, const std::string& message) {
  std::fprintf(stderr, "djinnctl %s: %s\nrun 'djinnctl %s --help' for usage\n",
               invocation.command.c_str(), message.c_str(), invocation.command.c_str());
  return kExitUsage;
}

std::unique_ptr<client::DjinnClient> ConnectFromFlags(const Invocation& invocation) {
  return client::DjinnClient::Connect(invocation.addr);
}

client::CallOptions CallOptionsFromFlags(client::CancelToken* cancel) {
  client::CallOptions call;
  const double timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout > 0) call.timeout = absl::Seconds(timeout);
  call.wait_for_ready = absl::GetFlag(FLAGS_wait);
  call.cancel = cancel;
  return call;
}

}  // namespace djinn::djinnctl
