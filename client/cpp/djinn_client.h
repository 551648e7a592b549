// DjinnClient: a thin synchronous C++ client of djinnd's gRPC API
// (djinn.v1.Djinn and grpc.health.v1.Health). One object owns one channel and
// may be used from several threads at once. Every method returns absl::Status
// with the canonical code the daemon sent; a daemon that cannot be reached
// reads UNAVAILABLE. The API's protobuf messages are used as they are.
#ifndef DJINN_CLIENT_CPP_DJINN_CLIENT_H_
#define DJINN_CLIENT_CPP_DJINN_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "djinn/v1/djinn.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace djinn::client {

using HealthStatus = ::grpc::health::v1::HealthCheckResponse::ServingStatus;

// Cancels a call in flight from another thread, e.g. on Ctrl-C. A token can
// serve one call at a time. Cancel() before the call starts makes it fail at
// once with CANCELLED.
class CancelToken {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class ScopedCancelBinding;  // attaches the running call's context
  mutable absl::Mutex mu_;
  ::grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

struct CallOptions {
  // Deadline, counted from the start of the call. Infinite: none.
  absl::Duration timeout = absl::InfiniteDuration();
  // Wait for the daemon to come up instead of failing fast with UNAVAILABLE.
  bool wait_for_ready = false;
  // Not owned; may be null.
  CancelToken* cancel = nullptr;
};

class DjinnClient {
 public:
  using LoadProgressCallback = std::function<void(const v1::LoadModelProgress&)>;
  // Return false to stop: the call is cancelled and Generate returns CANCELLED.
  using GenerateCallback = std::function<bool(const v1::GenerateResponse&)>;

  // "host:port", "[::1]:port", "unix:/path" or "dns:///host:port". A dns:///
  // target uses round_robin load balancing, so the calls of one client spread
  // over every address the name resolves to (replicas behind a headless
  // Kubernetes Service). Connecting is lazy: this never fails.
  static std::unique_ptr<DjinnClient> Connect(const std::string& target);

  explicit DjinnClient(std::shared_ptr<::grpc::Channel> channel);

  // Streams progress to on_progress (may be null) and returns the
  // description carried by the final READY message.
  absl::StatusOr<v1::ModelDescription> LoadModel(
      const std::string& name, const std::string& path,
      const v1::LoadOptions& options = {},
      const LoadProgressCallback& on_progress = nullptr,
      const CallOptions& call = {});

  absl::Status UnloadModel(const std::string& name, const CallOptions& call = {});

  absl::StatusOr<v1::ListModelsResponse> ListModels(const CallOptions& call = {});

  // Calls on_response (may be null) for every streamed message. Returns the
  // whole completion as one message: token_ids, text and logprobs of all
  // messages concatenated, finish_reason and usage of the last.
  absl::StatusOr<v1::GenerateResponse> Generate(
      const v1::GenerateRequest& request,
      const GenerateCallback& on_response = nullptr,
      const CallOptions& call = {});

  absl::StatusOr<v1::StatsResponse> Stats(const CallOptions& call = {});

  // grpc.health.v1.Health/Check. service "" is the server as a whole.
  absl::StatusOr<HealthStatus> Health(const std::string& service = "",
                                      const CallOptions& call = {});

  const std::shared_ptr<::grpc::Channel>& channel() const { return channel_; }

 private:
  std::shared_ptr<::grpc::Channel> channel_;
  std::unique_ptr<v1::Djinn::Stub> stub_;
  std::unique_ptr<::grpc::health::v1::Health::Stub> health_stub_;
};

}  // namespace djinn::client

#endif  // DJINN_CLIENT_CPP_DJINN_CLIENT_H_
