// djinnctl health [--service NAME]: grpc.health.v1 Check. Exits 0 only when
// the answer is SERVING, so it can serve as a readiness probe.
#include <cstdio>

#include "absl/flags/flag.h"
#include "client/cpp/djinnctl/command.h"
#include "client/cpp/djinnctl/flags.h"

namespace djinn::djinnctl {

int RunHealth(const Invocation& invocation) {
  auto status = ConnectFromFlags(invocation)->Health(absl::GetFlag(FLAGS_service),
                                                     CallOptionsFromFlags());
  if (!status.ok()) return ReportError(status.status());
  std::printf("%s\n",
              ::grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*status).c_str());
  return *status == ::grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk
                                                                     : kExitFailure;
}

}  // namespace djinn::djinnctl
