#include "daemon/server/djinn_service.h"

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "daemon/server/proto_convert.h"

namespace djinn {
namespace {

// How often a waiting Generate handler checks whether its client went away.
// gRPC's synchronous API has no cancellation callback, so we poll; the engine
// is never blocked by it.
constexpr absl::Duration kCancellationPoll = absl::Milliseconds(20);

}  // namespace

DjinnService::DjinnService(Core* core) : core_(core) {}

grpc::Status DjinnService::LoadModel(grpc::ServerContext* context, const v1::LoadModelRequest* request,
                                     grpc::ServerWriter<v1::LoadModelProgress>* writer) {
  LoadSettings settings;
  settings.max_context_length = request->options().max_context_length();
  settings.max_sequences = static_cast<int>(request->options().max_sequences());
  settings.cancelled = [context] { return context->IsCancelled(); };
  settings.on_progress = [writer](const LoadProgress& progress) {
    if (progress.phase == LoadPhase::kReady) return;  // the final message carries the description
    v1::LoadModelProgress message;
    message.set_phase(ToProto(progress.phase));
    message.set_bytes_loaded(progress.bytes_loaded);
    message.set_bytes_total(progress.bytes_total);
    writer->Write(message);  // a vanished client shows up as IsCancelled()
  };
  absl::StatusOr<ModelInfo> info = core_->LoadModel(request->name(), request->path(), settings);
  if (!info.ok()) return ToGrpcStatus(info.status());
  v1::LoadModelProgress done;
  done.set_phase(v1::LoadModelProgress::PHASE_READY);
  done.set_bytes_loaded(info->weight_bytes);
  done.set_bytes_total(info->weight_bytes);
  *done.mutable_model() = ToProto(*info);
  writer->Write(done);
  return grpc::Status::OK;
}

grpc::Status DjinnService::UnloadModel(grpc::ServerContext*, const v1::UnloadModelRequest* request,
                                       v1::UnloadModelResponse*) {
  return ToGrpcStatus(core_->UnloadModel(request->name()));
}

grpc::Status DjinnService::ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                                      v1::ListModelsResponse* response) {
  for (const ModelInfo& info : core_->ListModels()) *response->add_models() = ToProto(info);
  return grpc::Status::OK;
}

grpc::Status DjinnService::Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                    grpc::ServerWriter<v1::GenerateResponse>* writer) {
  GenerationRequest generation = FromProto(*request);
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    generation.deadline = absl::FromChrono(context->deadline());
  }
  absl::StatusOr<std::unique_ptr<GenerateCall>> call = core_->Generate(request->model(), generation);
  if (!call.ok()) return ToGrpcStatus(call.status());
  auto end = [&](RequestOutcome outcome, grpc::Status status) {
    (*call)->Finish(outcome);
    return status;
  };
  GenerationEvent event;
  for (;;) {
    if (!(*call)->Next(&event, kCancellationPoll)) {
      if (context->IsCancelled()) {
        (*call)->Cancel();  // the runner frees the KV slot at its next step
        return end(RequestOutcome::kCancelled, grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled"));
      }
      continue;
    }
    if (!event.error.ok()) return end(RequestOutcome::kFailed, ToGrpcStatus(event.error));
    v1::GenerateResponse response;
    ToProto(event, &response);
    if (!writer->Write(response)) {
      (*call)->Cancel();
      return end(RequestOutcome::kCancelled, grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    }
    (*call)->Delivered(event, absl::Now());
    if (event.finish == FinishReason::kCancelled) return end(RequestOutcome::kCancelled, grpc::Status::OK);
    if (event.finish != FinishReason::kNone) return end(RequestOutcome::kCompleted, grpc::Status::OK);
  }
}

grpc::Status DjinnService::Stats(grpc::ServerContext*, const v1::StatsRequest*, v1::StatsResponse* response) {
  *response = ToProto(core_->Snapshot());
  return grpc::Status::OK;
}

}  // namespace djinn
