#include "client/cpp/djinnctl/interrupt.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

namespace djinn::djinnctl {
namespace {

// Self-pipe: the handler writes a byte, the watcher thread blocks reading.
// Only async-signal-safe work (an atomic store, write()) happens in the handler.
int g_pipe[2] = {-1, -1};
std::atomic<bool> g_interrupted{false};
struct sigaction g_previous;

constexpr char kInterrupt = 'i';
constexpr char kQuit = 'q';

void OnSigint(int) {
  const int saved_errno = errno;
  g_interrupted.store(true);
  const char byte = kInterrupt;
  [[maybe_unused]] ssize_t n = write(g_pipe[1], &byte, 1);
  errno = saved_errno;
}

}  // namespace

InterruptWatcher::InterruptWatcher(std::function<void()> on_interrupt)
    : on_interrupt_(std::move(on_interrupt)) {
  if (pipe(g_pipe) != 0) {
    std::perror("djinnctl: pipe");
    std::abort();
  }
  g_interrupted.store(false);
  thread_ = std::thread([this] {
    char byte = 0;
    while (true) {
      const ssize_t n = read(g_pipe[0], &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || byte == kQuit) return;
      if (on_interrupt_) on_interrupt_();
    }
  });
  struct sigaction action = {};
  action.sa_handler = OnSigint;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &action, &g_previous);
}

InterruptWatcher::~InterruptWatcher() {
  sigaction(SIGINT, &g_previous, nullptr);
  const char byte = kQuit;
  [[maybe_unused]] ssize_t n = write(g_pipe[1], &byte, 1);
  thread_.join();
  close(g_pipe[0]);
  close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
}

bool InterruptWatcher::interrupted() const { return g_interrupted.load(); }

}  // namespace djinn::djinnctl
