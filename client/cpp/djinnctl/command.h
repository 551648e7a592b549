// What every djinnctl command shares: the invocation it runs with, the exit
// codes, and how errors are reported.
//   0 success, 1 the operation failed ("error: CODE: message" on stderr),
//   2 usage error, 130 interrupted by Ctrl-C.
#ifndef DJINN_CLIENT_CPP_DJINNCTL_COMMAND_H_
#define DJINN_CLIENT_CPP_DJINNCTL_COMMAND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/cpp/cli/command_line.h"
#include "client/cpp/djinn_client.h"

namespace djinn::djinnctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as shells report it

struct Invocation {
  std::string command;
  std::vector<std::string> args;     // positional arguments after the command
  client::cli::ParsedCommandLine parsed;  // every flag occurrence (repeatable flags)
  std::string addr;                  // resolved --addr
};

// "error: NOT_FOUND: no model named x" on stderr; returns kExitFailure.
int ReportError(const absl::Status& status);

// "djinnctl COMMAND: message" and a pointer to --help on stderr; returns kExitUsage.
int UsageError(const Invocation& invocation, const std::string& message);

std::unique_ptr<client::DjinnClient> ConnectFromFlags(const Invocation& invocation);

// --timeout and --wait, and the token that lets Ctrl-C cancel the call.
client::CallOptions CallOptionsFromFlags(client::CancelToken* cancel = nullptr);

// The commands, one file each.
int RunLoad(const Invocation& invocation);
int RunUnload(const Invocation& invocation);
int RunList(const Invocation& invocation);
int RunGenerate(const Invocation& invocation);
int RunStats(const Invocation& invocation);
int RunPlan(const Invocation& invocation);
int RunHealth(const Invocation& invocation);
int RunMakeTestModel(const Invocation& invocation);

}  // namespace djinn::djinnctl

#endif  // DJINN_CLIENT_CPP_DJINNCTL_COMMAND_H_
