#include "client/cpp/grpc_status.h"

namespace djinn::client {

absl::Status ToAbslStatus(const ::grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // grpc::StatusCode and absl::StatusCode are both the canonical code space
  // (OK = 0 ... UNAUTHENTICATED = 16); anything outside it is UNKNOWN, as
  // gRPC itself would report it.
  const int code = static_cast<int>(status.error_code());
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(status.error_message());
  }
  return absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
}

}  // namespace djinn::client
