// DjinnClient against an in-process fake djinnd: streams are read to the
// end, progress and tokens reach the callbacks, errors keep their code and
// message, and every way of stopping a stream (callback, token, deadline)
// cancels the call on the server.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cpp/djinn_client.h"
#include "gtest/gtest.h"

namespace djinn::client {
namespace {

using ::grpc::ServerContext;
using ::grpc::Status;
using ::grpc::StatusCode;

v1::ModelDescription TinyModel() {
  v1::ModelDescription model;
  model.set_name("tiny");
  model.set_architecture("LlamaForCausalLM");
  model.set_parameters(4'200'000);
  model.set_dtype(v1::DTYPE_FLOAT16);
  model.set_weight_bytes(8'400'000);
  model.set_context_length(2048);
  model.set_state(v1::MODEL_STATE_READY);
  return model;
}

class FakeDjinn final : public v1::Djinn::Service {
 public:
  Status LoadModel(ServerContext*, const v1::LoadModelRequest* request,
                   ::grpc::ServerWriter<v1::LoadModelProgress>* writer) override {
    if (request->name() == "forbidden") {
      return Status(StatusCode::PERMISSION_DENIED, "path outside the model root");
    }
    v1::LoadModelProgress progress;
    progress.set_phase(v1::LoadModelProgress::PHASE_READING_CONFIG);
    writer->Write(progress);
    progress.set_phase(v1::LoadModelProgress::PHASE_LOADING_WEIGHTS);
    progress.set_bytes_total(100);
    for (uint64_t done : {0, 50, 100}) {
      progress.set_bytes_loaded(done);
      writer->Write(progress);
    }
    if (request->name() == "no-ready") return Status::OK;
    progress.set_phase(v1::LoadModelProgress::PHASE_READY);
    *progress.mutable_model() = TinyModel();
    progress.mutable_model()->set_name(request->name());
    progress.mutable_model()->set_context_length(request->options().max_context_length());
    writer->Write(progress);
    return Status::OK;
  }

  Status UnloadModel(ServerContext*, const v1::UnloadModelRequest* request,
                     v1::UnloadModelResponse*) override {
    if (request->name() != "tiny") {
      return Status(StatusCode::NOT_FOUND, "no model named " + request->name());
    }
    return Status::OK;
  }

  Status ListModels(ServerContext*, const v1::ListModelsRequest*,
                    v1::ListModelsResponse* response) override {
    *response->add_models() = TinyModel();
    return Status::OK;
  }

  Status Generate(ServerContext* context, const v1::GenerateRequest* request,
                  ::grpc::ServerWriter<v1::GenerateResponse>* writer) override {
    {
      absl::MutexLock lock(&mu_);
      last_request_ = *request;
    }
    if (request->model() == "endless") {
      // Streams until the client goes away; records that it noticed.
      v1::GenerateResponse token;
      token.add_token_ids(7);
      token.set_text("x");
      const absl::Time give_up = absl::Now() + absl::Seconds(20);
      while (!context->IsCancelled() && absl::Now() < give_up) {
        writer->Write(token);
        absl::SleepFor(absl::Milliseconds(5));
      }
      if (context->IsCancelled()) saw_cancel_.Notify();
      return Status::OK;
    }
    const std::vector<std::string> pieces = {"Hel", "lo", " world"};
    for (size_t i = 0; i < pieces.size(); ++i) {
      v1::GenerateResponse response;
      response.add_token_ids(static_cast<uint32_t>(10 + i));
      response.set_text(pieces[i]);
      if (i + 1 == pieces.size()) {
        response.set_finish_reason(v1::FINISH_REASON_STOP);
        response.mutable_usage()->set_prompt_tokens(4);
        response.mutable_usage()->set_completion_tokens(3);
        response.mutable_usage()->set_seed(request->has_seed() ? request->seed() : 99);
      }
      writer->Write(response);
    }
    return Status::OK;
  }

  Status Stats(ServerContext*, const v1::StatsRequest*, v1::StatsResponse* response) override {
    response->set_version("test");
    response->mutable_memory()->set_budget_bytes(1 << 30);
    return Status::OK;
  }

  v1::GenerateRequest last_request() {
    absl::MutexLock lock(&mu_);
    return last_request_;
  }
  bool SawCancel(absl::Duration within) {
    return saw_cancel_.WaitForNotificationWithTimeout(within);
  }

 private:
  absl::Mutex mu_;
  v1::GenerateRequest last_request_ ABSL_GUARDED_BY(mu_);
  absl::Notification saw_cancel_;
};

class FakeHealth final : public ::grpc::health::v1::Health::Service {
 public:
  Status Check(ServerContext*, const ::grpc::health::v1::HealthCheckRequest* request,
               ::grpc::health::v1::HealthCheckResponse* response) override {
    if (request->service().empty() || request->service() == "djinn.v1.Djinn") {
      response->set_status(::grpc::health::v1::HealthCheckResponse::SERVING);
    } else if (request->service() == "draining") {
      response->set_status(::grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    } else {
      return Status(StatusCode::NOT_FOUND, "unknown service");
    }
    return Status::OK;
  }
};

class ClientFakeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", ::grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&djinn_);
    builder.RegisterService(&health_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    client_ = DjinnClient::Connect("127.0.0.1:" + std::to_string(port));
  }
  void TearDown() override { server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1))); }

  static v1::GenerateRequest Request(const std::string& model) {
    v1::GenerateRequest request;
    request.set_model(model);
    request.set_text("Hi");
    return request;
  }

  FakeDjinn djinn_;
  FakeHealth health_;
  std::unique_ptr<::grpc::Server> server_;
  std::unique_ptr<DjinnClient> client_;
};

TEST_F(ClientFakeServerTest, LoadStreamsProgressAndReturnsTheDescription) {
  std::vector<v1::LoadModelProgress::Phase> phases;
  std::vector<uint64_t> loaded;
  v1::LoadOptions options;
  options.set_max_context_length(512);
  auto model = client_->LoadModel("m1", "models/tiny", options,
                                  [&](const v1::LoadModelProgress& progress) {
                                    phases.push_back(progress.phase());
                                    loaded.push_back(progress.bytes_loaded());
                                  });
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->name(), "m1");
  EXPECT_EQ(model->context_length(), 512u);  // the options reached the server
  ASSERT_EQ(phases.size(), 5u);
  EXPECT_EQ(phases.front(), v1::LoadModelProgress::PHASE_READING_CONFIG);
  EXPECT_EQ(phases.back(), v1::LoadModelProgress::PHASE_READY);
  EXPECT_EQ(loaded[3], 100u);
}

TEST_F(ClientFakeServerTest, LoadWithoutReadyIsInternal) {
  auto model = client_->LoadModel("no-ready", "models/tiny");
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInternal);
}

TEST_F(ClientFakeServerTest, ErrorsKeepCodeAndMessage) {
  auto model = client_->LoadModel("forbidden", "/etc");
  EXPECT_EQ(model.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(model.status().message(), "path outside the model root");
  absl::Status unload = client_->UnloadModel("nope");
  EXPECT_EQ(unload.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unload.message(), "no model named nope");
  EXPECT_TRUE(client_->UnloadModel("tiny").ok());
}

TEST_F(ClientFakeServerTest, ListAndStats) {
  auto models = client_->ListModels();
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->models_size(), 1);
  EXPECT_EQ(models->models(0).architecture(), "LlamaForCausalLM");
  auto stats = client_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->version(), "test");
  EXPECT_EQ(stats->memory().budget_bytes(), 1u << 30);
}

TEST_F(ClientFakeServerTest, GenerateStreamsAndReturnsTheWholeCompletion) {
  v1::GenerateRequest request = Request("tiny");
  request.set_seed(5);
  request.add_stop("a,b");
  std::string streamed;
  int messages = 0;
  auto whole = client_->Generate(request, [&](const v1::GenerateResponse& response) {
    streamed += response.text();
    ++messages;
    return true;
  });
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(messages, 3);
  EXPECT_EQ(streamed, "Hello world");
  EXPECT_EQ(whole->text(), "Hello world");
  EXPECT_EQ(std::vector<uint32_t>(whole->token_ids().begin(), whole->token_ids().end()),
            (std::vector<uint32_t>{10, 11, 12}));
  EXPECT_EQ(whole->finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(whole->usage().completion_tokens(), 3u);
  EXPECT_EQ(whole->usage().seed(), 5u);
  const v1::GenerateRequest seen = djinn_.last_request();
  ASSERT_EQ(seen.stop_size(), 1);
  EXPECT_EQ(seen.stop(0), "a,b");
}

TEST_F(ClientFakeServerTest, GenerateWithoutCallback) {
  auto whole = client_->Generate(Request("tiny"));
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->text(), "Hello world");
}

TEST_F(ClientFakeServerTest, CallbackReturningFalseCancelsTheStream) {
  int messages = 0;
  auto whole = client_->Generate(Request("endless"), [&](const v1::GenerateResponse&) {
    return ++messages < 3;
  });
  EXPECT_EQ(whole.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(messages, 3);  // no callbacks after the one that said stop
  EXPECT_TRUE(djinn_.SawCancel(absl::Seconds(5)));
}

TEST_F(ClientFakeServerTest, CancelTokenStopsAStreamFromAnotherThread) {
  CancelToken token;
  CallOptions call;
  call.cancel = &token;
  std::atomic<int> messages{0};
  std::thread canceller([&] {
    while (messages.load() < 5) absl::SleepFor(absl::Milliseconds(1));
    token.Cancel();
  });
  auto whole = client_->Generate(
      Request("endless"),
      [&](const v1::GenerateResponse&) {
        ++messages;
        return true;
      },
      call);
  canceller.join();
  EXPECT_EQ(whole.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(djinn_.SawCancel(absl::Seconds(5)));
}

TEST_F(ClientFakeServerTest, DeadlineEndsAStream) {
  CallOptions call;
  call.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  auto whole = client_->Generate(Request("endless"), nullptr, call);
  EXPECT_EQ(whole.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(ClientFakeServerTest, Health) {
  auto serving = client_->Health();
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(*serving, ::grpc::health::v1::HealthCheckResponse::SERVING);
  auto draining = client_->Health("draining");
  ASSERT_TRUE(draining.ok());
  EXPECT_EQ(*draining, ::grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(client_->Health("other").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace djinn::client
