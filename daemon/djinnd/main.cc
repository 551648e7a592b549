// djinnd: owns one device and its memory budget, loads models into it and
// serves them over gRPC (djinn.v1.Djinn, grpc.health.v1.Health, reflection),
// with Prometheus metrics on a separate HTTP port.
//
// Start-up: flags -> backend -> one arena for the whole budget -> gRPC and
// metrics listeners (health NOT_SERVING) -> preloads -> SERVING.
// SIGTERM/SIGINT: health NOT_SERVING, stop accepting calls, let in-flight
// streams run for --shutdown-grace, cancel what is left, exit 0.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <cstdlib>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/byte_size.h"
#include "common/logging.h"
#include "common/metrics/http_server.h"
#include "common/metrics/registry.h"
#include "daemon/backend/create_backend.h"
#include "daemon/djinnd/daemon_flags.h"
#include "daemon/memory/arena.h"
#include "daemon/server/djinn_service.h"
#include "daemon/server/model_registry.h"
#include "daemon/server/server_metrics.h"

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

  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(options->device, options->threads);
  if (!backend.ok()) return Fail("no backend", backend.status());
  uint64_t budget = DefaultBudget(**backend);
  if (options->vram_budget != "auto") {
    absl::StatusOr<uint64_t> parsed = ParseByteSize(options->vram_budget);
    if (!parsed.ok()) return Fail("bad --vram-budget", parsed.status());
    budget = *parsed;
  }
  absl::StatusOr<std::byte*> base = (*backend)->ReserveArena(budget);
  if (!base.ok()) return Fail("cannot reserve the memory budget", base.status());
  Arena arena(*base, budget);
  const DeviceDescription device = (*backend)->Describe();
  LogInfo("device", {{"kind", device.kind}, {"name", device.name}, {"budget_bytes", budget}});

  absl::StatusOr<std::unique_ptr<ModelRegistry>> registry =
      ModelRegistry::Create(options->model_root, backend->get(), &arena);
  if (!registry.ok()) return Fail("bad --model-root", registry.status());
  (*registry)->set_max_queued(options->max_queued_requests);
  (*registry)->set_resident_host_copies(options->resident_host_copies);

  metrics::Registry metrics_registry;
  ServerMetrics server_metrics(&metrics_registry);
  DjinnService service(registry->get(), backend->get(), &arena, &server_metrics);

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

  std::unique_ptr<metrics::MetricsHttpServer> metrics_server;
  int metrics_port = 0;
  if (!options->metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<metrics::MetricsHttpServer>> started =
        metrics::MetricsHttpServer::Start(options->metrics_listen, &metrics_registry);
    if (!started.ok()) return Fail("cannot serve metrics", started.status());
    metrics_server = *std::move(started);
    metrics_port = metrics_server->port();
  }
  LogInfo("listening", {{"grpc_port", grpc_port}, {"metrics_port", metrics_port}, {"model_root", (*registry)->model_root()}});

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
    absl::StatusOr<ModelInfo> info = (*registry)->Load(name, path, settings);
    server_metrics.LoadFinished(info.ok());
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
    (*registry)->CancelAll();
  }
  shutdown_thread.join();
  server->Wait();
  if (metrics_server) metrics_server->Stop();
  (*registry)->Clear();
  (*backend)->ReleaseArena(*base, budget);
  LogInfo("stopped", {{"exit_code", exit_code}});
  return exit_code;
}

}  // namespace
}  // namespace djinn

int main(int argc, char** argv) { return djinn::Run(argc, argv); }
