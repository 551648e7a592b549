// A test suite whose tests share one djinnd: starting a daemon (and loading
// its models) takes far longer than most tests, so a suite starts it once.
#ifndef DJINN_TESTS_INTEGRATION_SUPPORT_SHARED_DAEMON_TEST_H_
#define DJINN_TESTS_INTEGRATION_SUPPORT_SHARED_DAEMON_TEST_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"

namespace djinn::testing {

// `Suite` (the class deriving from this one, so that each suite has a daemon
// of its own) defines SetUpTestSuite(): it writes the models the daemon
// serves, then calls StartDaemon with the daemon's flags. Each test gets
// stub_, connected to that daemon.
template <typename Suite>
class SharedDaemonTest : public ::testing::Test {
 protected:
  static void StartDaemon(const std::vector<std::string>& flags) {
    auto daemon = DaemonProcess::Start(flags);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = daemon->release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(daemon_, nullptr);  // StartDaemon failed: its failure says why
    stub_ = Connect(daemon_->address());
  }

  static inline DaemonProcess* daemon_ = nullptr;
  std::unique_ptr<v1::Djinn::Stub> stub_;
};

}  // namespace djinn::testing

#endif  // DJINN_TESTS_INTEGRATION_SUPPORT_SHARED_DAEMON_TEST_H_
