// Small helpers for talking to a test daemon with the generated gRPC stubs.
#ifndef DJINN_TESTS_INTEGRATION_SUPPORT_CLIENT_H_
#define DJINN_TESTS_INTEGRATION_SUPPORT_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "djinn/v1/djinn.grpc.pb.h"

namespace djinn::testing {

std::unique_ptr<v1::Djinn::Stub> Connect(const std::string& address);

struct LoadResult {
  grpc::Status status;
  std::vector<v1::LoadModelProgress> progress;  // every message, in order
};
LoadResult Load(v1::Djinn::Stub& stub, const std::string& name, const std::string& path,
                const v1::LoadOptions& options = {});

struct GenerateResult {
  grpc::Status status;
  std::vector<v1::GenerateResponse> messages;
  std::vector<uint32_t> token_ids;  // all messages' ids, concatenated
  std::string text;                 // all messages' text, concatenated
  v1::GenerateResponse last() const { return messages.empty() ? v1::GenerateResponse() : messages.back(); }
};
GenerateResult Generate(v1::Djinn::Stub& stub, const v1::GenerateRequest& request);

// A greedy request for `model` with `prompt` text and ignore_eos set.
v1::GenerateRequest GreedyRequest(const std::string& model, const std::string& prompt, uint32_t max_tokens);

v1::StatsResponse Stats(v1::Djinn::Stub& stub);

grpc::Status Unload(v1::Djinn::Stub& stub, const std::string& name);

// GET `path` from 127.0.0.1:`port` over a plain TCP connection; returns the
// whole HTTP response ("" when the connection fails).
std::string HttpGet(int port, const std::string& path);

}  // namespace djinn::testing

#endif  // DJINN_TESTS_INTEGRATION_SUPPORT_CLIENT_H_
