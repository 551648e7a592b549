// djinnctl stats [--json]
#include <cstdio>

#include "absl/flags/flag.h"
#include "client/cpp/cli/stats_view.h"
#include "client/cpp/djinnctl/command.h"
#include "client/cpp/djinnctl/flags.h"
#include "client/cpp/djinnctl/json.h"

namespace djinn::djinnctl {

int RunStats(const Invocation& invocation) {
  auto stats = ConnectFromFlags(invocation)->Stats(CallOptionsFromFlags());
  if (!stats.ok()) return ReportError(stats.status());
  if (absl::GetFlag(FLAGS_json)) return PrintJson(*stats);
  std::fputs(client::cli::RenderStats(*stats).c_str(), stdout);
  return kExitOk;
}

}  // namespace djinn::djinnctl
