#include "tests/integration/support/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace djinn::testing {

std::unique_ptr<v1::Djinn::Stub> Connect(const std::string& address) {
  return v1::Djinn::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

LoadResult Load(v1::Djinn::Stub& stub, const std::string& name, const std::string& path,
                const v1::LoadOptions& options) {
  grpc::ClientContext context;
  v1::LoadModelRequest request;
  request.set_name(name);
  request.set_path(path);
  *request.mutable_options() = options;
  LoadResult result;
  auto reader = stub.LoadModel(&context, request);
  v1::LoadModelProgress progress;
  while (reader->Read(&progress)) result.progress.push_back(progress);
  result.status = reader->Finish();
  return result;
}

GenerateResult Generate(v1::Djinn::Stub& stub, const v1::GenerateRequest& request) {
  grpc::ClientContext context;
  GenerateResult result;
  auto reader = stub.Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    result.messages.push_back(response);
    result.token_ids.insert(result.token_ids.end(), response.token_ids().begin(), response.token_ids().end());
    result.text += response.text();
  }
  result.status = reader->Finish();
  return result;
}

v1::GenerateRequest GreedyRequest(const std::string& model, const std::string& prompt, uint32_t max_tokens) {
  v1::GenerateRequest request;
  request.set_model(model);
  request.set_text(prompt);
  request.set_max_tokens(max_tokens);
  request.set_ignore_eos(true);
  return request;
}

v1::StatsResponse Stats(v1::Djinn::Stub& stub) {
  grpc::ClientContext context;
  v1::StatsResponse response;
  stub.Stats(&context, v1::StatsRequest(), &response);
  return response;
}

grpc::Status Unload(v1::Djinn::Stub& stub, const std::string& name) {
  grpc::ClientContext context;
  v1::UnloadModelRequest request;
  request.set_name(name);
  v1::UnloadModelResponse response;
  return stub.UnloadModel(&context, request, &response);
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  ::send(fd, request.data(), request.size(), 0);
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) response.append(buffer, n);
  ::close(fd);
  return response;
}

}  // namespace djinn::testing
