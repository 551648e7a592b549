// Turns Ctrl-C into a call on a helper thread, so the work a signal handler
// may not do (taking locks, cancelling a gRPC call) happens outside of it.
// The handler resets itself: a second Ctrl-C kills the process as usual.
// One watcher at a time per process.
#ifndef DJINN_CLIENT_CPP_DJINNCTL_INTERRUPT_H_
#define DJINN_CLIENT_CPP_DJINNCTL_INTERRUPT_H_

#include <functional>
#include <thread>

namespace djinn::djinnctl {

class InterruptWatcher {
 public:
  // on_interrupt runs on the watcher's thread, once, at the first SIGINT.
  explicit InterruptWatcher(std::function<void()> on_interrupt);
  // Stops the thread and restores the previous SIGINT disposition.
  ~InterruptWatcher();
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

  bool interrupted() const;

 private:
  std::function<void()> on_interrupt_;
  std::thread thread_;
};

}  // namespace djinn::djinnctl

#endif  // DJINN_CLIENT_CPP_DJINNCTL_INTERRUPT_H_
