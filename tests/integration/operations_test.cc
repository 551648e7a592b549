// What operators rely on, against a real djinnd: health checking, server
// reflection, the Prometheus endpoint, preloading and graceful shutdown.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "common/model_config.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/prometheus_text.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

using ::testing::HasSubstr;


// Value of the sample line of `series` (name + labels); -1 when absent.
double Sample(const std::string& exposition, const std::string& series) {
  return SampleValue(exposition, series).value_or(-1);
}

std::unique_ptr<DaemonProcess> StartWithTiny(std::vector<std::string> extra = {}) {
  TestModel("tiny");
  std::vector<std::string> flags = {"--model-root=" + ModelRoot(), "--vram-budget=512MiB", "--model=tiny=tiny"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  auto daemon = DaemonProcess::Start(flags);
  EXPECT_TRUE(daemon.ok()) << daemon.status();
  return daemon.ok() ? *std::move(daemon) : nullptr;
}

TEST(OperationsTest, HealthIsServingOncePreloadedModelsAreReady) {
  auto daemon = StartWithTiny();
  ASSERT_NE(daemon, nullptr);
  auto channel = grpc::CreateChannel(daemon->address(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string service : {"", "djinn.v1.Djinn"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  // The preloaded model is there and usable.
  auto stub = Connect(daemon->address());
  EXPECT_TRUE(Generate(*stub, GreedyRequest("tiny", "ready?", 3)).status.ok());
}

// The one model a daemon preloaded.
v1::ModelDescription OnlyModel(v1::Djinn::Stub& stub) {
  grpc::ClientContext context;
  v1::ListModelsResponse list;
  EXPECT_TRUE(stub.ListModels(&context, v1::ListModelsRequest(), &list).ok());
  EXPECT_EQ(list.models_size(), 1);
  return list.models_size() > 0 ? list.models(0) : v1::ModelDescription();
}

// A deployment's flags set the load options of its preloads: the context
// and KV sequences a big model's own context would otherwise swamp.
TEST(OperationsTest, PreloadsTakeTheirLoadOptionsFromFlags) {
  auto daemon = StartWithTiny({"--preload-max-context=64", "--preload-max-sequences=3"});
  ASSERT_NE(daemon, nullptr);
  auto stub = Connect(daemon->address());
  const v1::ModelDescription model = OnlyModel(*stub);
  EXPECT_EQ(model.context_length(), 64u);
  EXPECT_EQ(model.max_sequences(), 3u);
  // A request longer than that context is refused as one.
  v1::GenerateRequest request = GreedyRequest("tiny", "fits", 80);
  EXPECT_EQ(Generate(*stub, request).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// The context flag is a cap: a model whose own context is shorter keeps it.
TEST(OperationsTest, PreloadContextIsACap) {
  auto daemon = StartWithTiny({"--preload-max-context=1000000"});
  ASSERT_NE(daemon, nullptr);
  auto stub = Connect(daemon->address());
  EXPECT_EQ(OnlyModel(*stub).context_length(), LoadModelConfig(TestModel("tiny"))->max_position_embeddings);
}

TEST(OperationsTest, ReflectionListsTheServices) {
  auto daemon = StartWithTiny();
  ASSERT_NE(daemon, nullptr);
  auto channel = grpc::CreateChannel(daemon->address(), grpc::InsecureChannelCredentials());
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) names.push_back(service.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"djinn.v1.Djinn", "grpc.health.v1.Health"}));
  // And it can describe the API to a client that has no .proto files.
  request.set_file_containing_symbol("djinn.v1.Djinn");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_GT(response.file_descriptor_response().file_descriptor_proto_size(), 0);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST(OperationsTest, MetricsEndpointServesRequestTokenAndLatencyMetrics) {
  auto daemon = StartWithTiny();
  ASSERT_NE(daemon, nullptr);
  auto stub = Connect(daemon->address());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Generate(*stub, GreedyRequest("tiny", "metrics", 10)).status.ok());
  EXPECT_EQ(Generate(*stub, GreedyRequest("tiny", "x", 1000)).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  const std::string response = HttpGet(daemon->metrics_port(), "/metrics");
  ASSERT_THAT(response, HasSubstr("HTTP/1.1 200"));
  // prometheus-cpp says "text/plain; charset=utf-8": text format 0.0.4 to Prometheus.
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain"));
  const std::string body = response.substr(response.find("\r\n\r\n") + 4);
  EXPECT_EQ(Sample(body, R"(djinn_generate_requests_total{model="tiny",outcome="completed"})"), 3);
  EXPECT_EQ(Sample(body, R"(djinn_generate_requests_total{model="tiny",outcome="rejected"})"), 1);
  EXPECT_EQ(Sample(body, R"(djinn_generated_tokens_total{model="tiny"})"), 30);
  EXPECT_GT(Sample(body, R"(djinn_prompt_tokens_total{model="tiny"})"), 3);
  EXPECT_EQ(Sample(body, R"(djinn_time_to_first_token_seconds_count{model="tiny"})"), 3);
  EXPECT_EQ(Sample(body, R"(djinn_request_duration_seconds_count{model="tiny"})"), 3);
  EXPECT_GT(Sample(body, R"(djinn_request_duration_seconds_sum{model="tiny"})"), 0);
  EXPECT_EQ(Sample(body, R"(djinn_generate_requests_in_flight{model="tiny"})"), 0);
  EXPECT_EQ(Sample(body, R"(djinn_model_loads_total{outcome="ok"})"), 1);
  EXPECT_EQ(Sample(body, "djinn_memory_budget_bytes"), 512.0 * 1024 * 1024);
  EXPECT_GT(Sample(body, R"(djinn_memory_bytes{category="resident_weights"})"), 0);
  EXPECT_EQ(Sample(body, "djinn_models_loaded"), 1);
  // Every gap between two tokens of a stream: 9 per 10-token request.
  EXPECT_EQ(Sample(body, R"(djinn_inter_token_latency_seconds_count{model="tiny"})"), 27);
  EXPECT_GT(Sample(body, R"(djinn_inter_token_latency_seconds_sum{model="tiny"})"), 0);
  EXPECT_EQ(Sample(body, R"(djinn_time_per_output_token_seconds_count{model="tiny"})"), 3);
  // Nothing waits or runs once every stream has ended.
  EXPECT_EQ(Sample(body, R"(djinn_generate_requests_queued{model="tiny"})"), 0);
  EXPECT_EQ(Sample(body, R"(djinn_running_sequences{model="tiny"})"), 0);
  // A resident model has no ring to fill.
  EXPECT_EQ(Sample(body, R"(djinn_ring_buffer_used_bytes{model="tiny"})"), 0);
  // The CPU backend's device is the host: its RAM, part of it in use (this
  // daemon's committed pages among it), all of it more than the budget.
  const double total = Sample(body, R"(djinn_device_memory_total_bytes{device="cpu"})");
  const double used = Sample(body, R"(djinn_device_memory_used_bytes{device="cpu"})");
  EXPECT_GT(used, 0);
  EXPECT_GT(total, used);
  EXPECT_GT(total, 512.0 * 1024 * 1024);
  EXPECT_EQ(total, static_cast<double>(Stats(*stub).device().total_memory_bytes()));

  // Valid exposition format, as Prometheus's own linter sees it.
  const LintResult lint = PromtoolCheckMetrics(body);
  EXPECT_EQ(lint.exit_code, 0) << lint.output << "\n--- scrape ---\n" << body;
  EXPECT_EQ(lint.output, "") << body;
}

TEST(OperationsTest, SigtermCancelsInFlightStreamsWithinTheGraceAndExitsZero) {
  LongContextTestModel();
  auto daemon = StartWithTiny({"--model=long=long", "--shutdown-grace=2s"});
  ASSERT_NE(daemon, nullptr);
  auto stub = Connect(daemon->address());
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, GreedyRequest("long", "never ends", 16000));
  v1::GenerateResponse message;
  ASSERT_TRUE(reader->Read(&message));  // streaming
  std::thread stopper([&] { EXPECT_EQ(daemon->StopWith(SIGTERM), 0) << daemon->Log(); });
  v1::GenerateResponse last;
  while (reader->Read(&message)) last = message;
  const grpc::Status status = reader->Finish();
  stopper.join();
  // The client got a proper ending, not a dropped connection.
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_CANCELLED);
  EXPECT_LT(last.usage().completion_tokens(), 16000u);
  EXPECT_THAT(daemon->Log(), HasSubstr("\"msg\":\"stopped\""));
}

TEST(OperationsTest, IdleDaemonExitsZeroOnSigterm) {
  auto daemon = StartWithTiny();
  ASSERT_NE(daemon, nullptr);
  EXPECT_EQ(daemon->StopWith(SIGTERM), 0);
}

TEST(OperationsTest, ASecondDaemonCannotTakeAPortInUse) {
  auto first = StartWithTiny();
  ASSERT_NE(first, nullptr);
  auto second = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--listen=" + first->address()});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("cannot listen"));
}

TEST(OperationsTest, FailedPreloadExitsNonZeroWithoutBecomingReady) {
  auto daemon = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--model=broken=does-not-exist"});
  ASSERT_FALSE(daemon.ok());
  EXPECT_THAT(std::string(daemon.status().message()), HasSubstr("preload failed"));
}

}  // namespace
}  // namespace djinn::testing
