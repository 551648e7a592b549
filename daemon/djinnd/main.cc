// djinnd: owns one device and its memory budget, loads models into it and
// serves them over gRPC (djinn.v1.Djinn, grpc.health.v1.Health, reflection),
// with Prometheus metrics on a separate HTTP port.
//
// Start-up: flags -> the core (backend, one arena for the whole budget, model
// registry) -> gRPC and metrics listeners (health NOT_SERVING) -> preloads ->
// SERVING.
// SIGTERM/SIGINT: health NOT_SERVING, stop accepting calls, let in-flight
// streams run for --shutdown-grace, cancel what is left, exit 0.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <cstdlib>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "daemon/core/core.h"
#include "daemon/djinnd/daemon_flags.h"
#include "daemon/server/djinn_service.h"
#include "daemon/server/metrics_endpoint.h"

namespace djinn {
namespace {

// Health is reported for the whole server ("") and for the API service by name.
constexpr char kServiceName[] = "djinn.v1.Djinn";

int Fail(const std::string& message, const absl::Status& status) {
  LogError(message, {{"error", status.ToString()}});
  return 1;
}

LogLevel ParseLogLevel(const std::string& name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

int Run(int argc, char** argv) {
  // Signals are taken by one thread with sigwait; block them everywhere else
  // (threads inherit the mask, so do it before any are created).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<DaemonOptions> options = ParseDaemonFlags(argc, argv);
  if (!options.ok()) return Fail("bad flags", options.status());
  SetMinLogLevel(ParseLogLevel(options->log_level));

  CoreOptions core_options;
  core_options.device = options->device;
  core_options.cpu_threads = options->threads;
  core_options.memory_budget = options->vram_budget;
  core_options.model_root = options->model_root;
  core_options.max_queued_requests = options->max_queued_requests;
  core_options.resident_host_copies = options->resident_host_copies;
  absl::StatusOr<std::unique_ptr<Core>> core = Core::Create(core_options);
  if (!core.ok()) return Fail("cannot start", core.status());
  DjinnService service(core->get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  // Without this, gRPC binds with SO_REUSEPORT and a second djinnd on the
  // same port would silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options->listen, grpc::InsecureServerCredentials(), &grpc_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0) {
    return Fail("cannot listen", absl::UnavailableError("cannot bind gRPC address " + options->listen));
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  auto set_serving = [health](bool serving) {
    health->SetServingStatus(serving);
    health->SetServingStatus(kServiceName, serving);
  };
  set_serving(false);

  std::unique_ptr<MetricsEndpoint> metrics_endpoint;
  int metrics_port = 0;
  if (!options->metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> started =
        MetricsEndpoint::Start(options->metrics_listen, (*core)->MetricsCollectables());
    if (!started.ok()) return Fail("cannot serve metrics", started.status());
    metrics_endpoint = *std::move(started);
    metrics_port = metrics_endpoint->port();
  }
  LogInfo("listening", {{"grpc_port", grpc_port}, {"metrics_port", metrics_port}, {"model_root", (*core)->model_root()}});

  // The signal thread starts before preloading so that a SIGTERM during a
  // long load still shuts down cleanly.
  absl::Notification stop;
  std::thread signal_thread([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    LogInfo("shutting down", {{"signal", signal}});
    stop.Notify();
  });

  bool preload_failed = false;
  for (const auto& [name, path] : options->preload) {
    if (stop.HasBeenNotified()) break;
    LoadSettings settings;
    settings.max_context_length = options->preload_max_context;
    settings.context_is_cap = true;  // one flag for every preload: a shorter model keeps its own
    settings.max_sequences = options->preload_max_sequences;
    settings.cancelled = [&stop] { return stop.HasBeenNotified(); };
    absl::StatusOr<ModelInfo> info = (*core)->LoadModel(name, path, settings);
    if (!info.ok()) {
      LogError("preload failed", {{"model", name}, {"error", info.status().ToString()}});
      // Without its preloaded models the daemon must not report ready.
      preload_failed = true;
      ::kill(::getpid(), SIGTERM);
      break;
    }
  }
  int exit_code = 0;
  if (preload_failed) {
    exit_code = 1;
  } else if (!stop.HasBeenNotified()) {
    set_serving(true);
    LogInfo("ready", {{"grpc_port", grpc_port}, {"metrics_port", metrics_port}});
  }

  stop.WaitForNotification();
  signal_thread.join();
  set_serving(false);
  const absl::Duration grace = options->shutdown_grace;
  // Let streams finish until shortly before the deadline, then end them with
  // FINISH_REASON_CANCELLED so clients get a final message, not an abort.
  absl::Notification drained;
  std::thread shutdown_thread([&] {
    server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    drained.Notify();
  });
  if (!drained.WaitForNotificationWithTimeout(grace * 0.8)) {
    LogWarning("grace period ending; cancelling in-flight requests");
    (*core)->CancelAll();
  }
  shutdown_thread.join();
  server->Wait();
  metrics_endpoint.reset();
  core->reset();  // unloads every model, gives the budget back
  LogInfo("stopped", {{"exit_code", exit_code}});
  return exit_code;
}

}  // namespace
}  // namespace djinn

int main(int argc, char** argv) { return djinn::Run(argc, argv); }
