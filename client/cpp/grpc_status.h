// Translation of grpc::Status into absl::Status at the client's edge. Both
// use the canonical codes with the same numbers, so the code and the message
// carry over unchanged (a daemon that cannot be reached reads UNAVAILABLE).
#ifndef DJINN_CLIENT_CPP_GRPC_STATUS_H_
#define DJINN_CLIENT_CPP_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace djinn::client {

absl::Status ToAbslStatus(const ::grpc::Status& status);

}  // namespace djinn::client

#endif  // DJINN_CLIENT_CPP_GRPC_STATUS_H_
