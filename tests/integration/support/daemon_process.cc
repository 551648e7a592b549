#include "tests/integration/support/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace djinn::testing {
namespace {

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

std::string ReadAll(int fd) {
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, n);
  return out;
}

int DecodeWait(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(const std::vector<std::string>& flags) {
  std::vector<std::string> args = {DJINND_PATH, "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDERR_FILENO);
    std::vector<char*> argv = Argv(args);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::unique_ptr<DaemonProcess> daemon(new DaemonProcess());
  daemon->pid_ = pid;

  // Read log lines until "ready" (or the daemon exits).
  FILE* stream = ::fdopen(pipe_fds[0], "r");
  char* line = nullptr;
  size_t capacity = 0;
  bool ready = false;
  while (::getline(&line, &capacity, stream) > 0) {
    daemon->log_ += line;
    const nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
    if (!entry.is_discarded() && entry.value("msg", "") == "ready") {
      daemon->grpc_port_ = entry.value("grpc_port", 0);
      daemon->metrics_port_ = entry.value("metrics_port", 0);
      ready = true;
      break;
    }
  }
  ::free(line);
  if (!ready) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    daemon->exited_ = true;
    ::fclose(stream);
    return absl::InternalError(absl::StrCat("djinnd exited (", DecodeWait(status), ") before ready:\n", daemon->log_));
  }
  // Keep draining stderr so the daemon never blocks on a full pipe.
  daemon->reader_ = std::thread([d = daemon.get(), stream] {
    char buffer[4096];
    size_t n;
    while ((n = ::fread(buffer, 1, sizeof buffer, stream)) > 0) {
      std::lock_guard<std::mutex> lock(d->mutex_);
      d->log_.append(buffer, n);
    }
    ::fclose(stream);
  });
  return daemon;
}

DaemonProcess::~DaemonProcess() {
  if (!exited_) StopWith(SIGKILL);
  if (reader_.joinable()) reader_.join();
}

int DaemonProcess::StopWith(int signal) {
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exited_ = true;
  if (reader_.joinable()) reader_.join();  // EOF once the daemon is gone
  return DecodeWait(status);
}

std::string DaemonProcess::Log() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return log_;
}

CommandResult RunCommand(const std::vector<std::string>& command) {
  int out_pipe[2], err_pipe[2];
  CommandResult result;
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return result;
  std::vector<std::string> args = command;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    std::vector<char*> argv = Argv(args);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  std::thread err_reader([&] { result.err = ReadAll(err_pipe[0]); });
  result.out = ReadAll(out_pipe[0]);
  err_reader.join();
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = DecodeWait(status);
  return result;
}

}  // namespace djinn::testing
