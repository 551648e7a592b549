// Translation between the public protobuf API and the engine's plain types.
// The server folder is the only part of the daemon that sees generated code.
#ifndef DJINN_DAEMON_SERVER_PROTO_CONVERT_H_
#define DJINN_DAEMON_SERVER_PROTO_CONVERT_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "daemon/engine/generation.h"
#include "daemon/engine/model_loader.h"
#include "daemon/core/model_registry.h"
#include "daemon/core/snapshot.h"
#include "djinn/v1/djinn.pb.h"

namespace djinn {

grpc::Status ToGrpcStatus(const absl::Status& status);

v1::DType ToProto(DType dtype);
v1::ModelState ToProto(ModelState state);
v1::FinishReason ToProto(FinishReason reason);
v1::LoadModelProgress::Phase ToProto(LoadPhase phase);
v1::ModelDescription ToProto(const ModelInfo& info);
void ToProto(const GenerationEvent& event, v1::GenerateResponse* response);
v1::StatsResponse ToProto(const CoreSnapshot& snapshot);

GenerationRequest FromProto(const v1::GenerateRequest& request);

}  // namespace djinn

#endif  // DJINN_DAEMON_SERVER_PROTO_CONVERT_H_
