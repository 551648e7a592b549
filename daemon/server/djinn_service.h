// The djinn.v1.Djinn gRPC service: a thin translation between the protobuf
// API and the core (daemon/core/core.h). It validates nothing the core does
// not, holds no engine state, and streams the core's events back. Every
// error leaves as the canonical gRPC code of its absl::Status.
#ifndef DJINN_DAEMON_SERVER_DJINN_SERVICE_H_
#define DJINN_DAEMON_SERVER_DJINN_SERVICE_H_

#include "daemon/core/core.h"
#include "djinn/v1/djinn.grpc.pb.h"

namespace djinn {

class DjinnService final : public v1::Djinn::Service {
 public:
  explicit DjinnService(Core* core);

  grpc::Status LoadModel(grpc::ServerContext* context, const v1::LoadModelRequest* request,
                         grpc::ServerWriter<v1::LoadModelProgress>* writer) override;
  grpc::Status UnloadModel(grpc::ServerContext* context, const v1::UnloadModelRequest* request,
                           v1::UnloadModelResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status Stats(grpc::ServerContext* context, const v1::StatsRequest* request,
                     v1::StatsResponse* response) override;

 private:
  Core* const core_;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_SERVER_DJINN_SERVICE_H_
