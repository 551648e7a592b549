// Runs a real djinnd as a child process for integration tests. Start() waits
// (by reading its structured log, not by sleeping) until the daemon logs
// "ready", and learns the ports it bound. The destructor stops it.
#ifndef DJINN_TESTS_INTEGRATION_SUPPORT_DAEMON_PROCESS_H_
#define DJINN_TESTS_INTEGRATION_SUPPORT_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn::testing {

class DaemonProcess {
 public:
  // Extra flags are appended to: --listen=127.0.0.1:0 --metrics-listen=127.0.0.1:0.
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(const std::vector<std::string>& flags);
  ~DaemonProcess();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits for the exit status (the code, or 128 + signal).
  int StopWith(int signal);
  // Everything the daemon wrote to stderr so far.
  std::string Log() const;

 private:
  DaemonProcess() = default;
  void ReadLog(int fd);

  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  mutable std::mutex mutex_;
  std::string log_;
  std::thread reader_;
  bool exited_ = false;
};

// Runs a command to completion; returns its exit code, stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv);

}  // namespace djinn::testing

#endif  // DJINN_TESTS_INTEGRATION_SUPPORT_DAEMON_PROCESS_H_
