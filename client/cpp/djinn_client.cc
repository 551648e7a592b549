#include "client/cpp/djinn_client.h"

#include <chrono>
#include <optional>
#include <utility>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/match.h"
#include "client/cpp/grpc_status.h"

namespace djinn::client {

void CancelToken::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

bool CancelToken::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

// Attaches a call's context to its CancelToken for the call's lifetime, so
// Cancel() from another thread reaches exactly the call that is running.
class ScopedCancelBinding {
 public:
  ScopedCancelBinding(CancelToken* token, ::grpc::ClientContext* context)
      : token_(token) {
    if (token_ == nullptr) return;
    absl::MutexLock lock(&token_->mu_);
    token_->context_ = context;
    // TryCancel before the call starts is kept and applied when it does.
    if (token_->cancelled_) context->TryCancel();
  }
  ~ScopedCancelBinding() {
    if (token_ == nullptr) return;
    absl::MutexLock lock(&token_->mu_);
    token_->context_ = nullptr;
  }
  ScopedCancelBinding(const ScopedCancelBinding&) = delete;
  ScopedCancelBinding& operator=(const ScopedCancelBinding&) = delete;

 private:
  CancelToken* token_;
};

namespace {

void ApplyCallOptions(const CallOptions& call, ::grpc::ClientContext* context) {
  if (call.timeout != absl::InfiniteDuration()) {
    context->set_deadline(std::chrono::system_clock::now() +
                          absl::ToChronoNanoseconds(call.timeout));
  }
  context->set_wait_for_ready(call.wait_for_ready);
}

}  // namespace

std::unique_ptr<DjinnClient> DjinnClient::Connect(const std::string& target) {
  ::grpc::ChannelArguments args;
  // With the default pick_first policy a dns:/// name resolving to several
  // replicas would send every call to the first one.
  if (absl::StartsWith(target, "dns:///")) {
    args.SetLoadBalancingPolicyName("round_robin");
  }
  return std::make_unique<DjinnClient>(::grpc::CreateCustomChannel(
      target, ::grpc::InsecureChannelCredentials(), args));
}

DjinnClient::DjinnClient(std::shared_ptr<::grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(v1::Djinn::NewStub(channel_)),
      health_stub_(::grpc::health::v1::Health::NewStub(channel_)) {}

absl::StatusOr<v1::ModelDescription> DjinnClient::LoadModel(
    const std::string& name, const std::string& path,
    const v1::LoadOptions& options, const LoadProgressCallback& on_progress,
    const CallOptions& call) {
  v1::LoadModelRequest request;
  request.set_name(name);
  request.set_path(path);
  *request.mutable_options() = options;

  ::grpc::ClientContext context;
  ApplyCallOptions(call, &context);
  ScopedCancelBinding binding(call.cancel, &context);
  auto reader = stub_->LoadModel(&context, request);
  v1::LoadModelProgress progress;
  std::optional<v1::ModelDescription> description;
  while (reader->Read(&progress)) {
    if (on_progress) on_progress(progress);
    if (progress.phase() == v1::LoadModelProgress::PHASE_READY) {
      description = progress.model();
    }
  }
  absl::Status status = ToAbslStatus(reader->Finish());
  if (!status.ok()) return status;
  if (!description.has_value()) {
    return absl::InternalError("LoadModel stream ended without a READY message");
  }
  return *std::move(description);
}

absl::Status DjinnClient::UnloadModel(const std::string& name,
                                      const CallOptions& call) {
  v1::UnloadModelRequest request;
  request.set_name(name);
  v1::UnloadModelResponse response;
  ::grpc::ClientContext context;
  ApplyCallOptions(call, &context);
  ScopedCancelBinding binding(call.cancel, &context);
  return ToAbslStatus(stub_->UnloadModel(&context, request, &response));
}

absl::StatusOr<v1::ListModelsResponse> DjinnClient::ListModels(
    const CallOptions& call) {
  v1::ListModelsResponse response;
  ::grpc::ClientContext context;
  ApplyCallOptions(call, &context);
  ScopedCancelBinding binding(call.cancel, &context);
  absl::Status status = ToAbslStatus(
      stub_->ListModels(&context, v1::ListModelsRequest(), &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::GenerateResponse> DjinnClient::Generate(
    const v1::GenerateRequest& request, const GenerateCallback& on_response,
    const CallOptions& call) {
  ::grpc::ClientContext context;
  ApplyCallOptions(call, &context);
  ScopedCancelBinding binding(call.cancel, &context);
  auto reader = stub_->Generate(&context, request);

  v1::GenerateResponse message;
  v1::GenerateResponse whole;
  bool stopped_by_caller = false;
  while (reader->Read(&message)) {
    whole.mutable_token_ids()->Add(message.token_ids().begin(),
                                   message.token_ids().end());
    whole.mutable_text()->append(message.text());
    whole.mutable_logprobs()->Add(message.logprobs().begin(), message.logprobs().end());
    if (message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      whole.set_finish_reason(message.finish_reason());
    }
    if (message.has_usage()) *whole.mutable_usage() = message.usage();
    if (on_response && !stopped_by_caller && !on_response(message)) {
      // Keep reading until the stream closes: Finish() must only be called
      // once every message has been read or the call is done.
      stopped_by_caller = true;
      context.TryCancel();
    }
  }
  absl::Status status = ToAbslStatus(reader->Finish());
  // Whether the cancel or the end of the stream reached the daemon first,
  // the caller asked to stop: report it the same way every time.
  if (stopped_by_caller) {
    return absl::CancelledError("generation cancelled by the caller");
  }
  if (!status.ok()) return status;
  return whole;
}

absl::StatusOr<v1::StatsResponse> DjinnClient::Stats(const CallOptions& call) {
  v1::StatsResponse response;
  ::grpc::ClientContext context;
  ApplyCallOptions(call, &context);
  ScopedCancelBinding binding(call.cancel, &context);
  absl::Status status =
      ToAbslStatus(stub_->Stats(&context, v1::StatsRequest(), &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<HealthStatus> DjinnClient::Health(const std::string& service,
                                                 const CallOptions& call) {
  ::grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  ::grpc::health::v1::HealthCheckResponse response;
  ::grpc::ClientContext context;
  ApplyCallOptions(call, &context);
  ScopedCancelBinding binding(call.cancel, &context);
  absl::Status status =
      ToAbslStatus(health_stub_->Check(&context, request, &response));
  if (!status.ok()) return status;
  return response.status();
}

}  // namespace djinn::client
