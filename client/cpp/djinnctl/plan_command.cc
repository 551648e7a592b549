// djinnctl plan NAME: where each part of a loaded model lives and why
// (the daemon's residency plan, from Stats).
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/cpp/djinnctl/command.h"

namespace djinn::djinnctl {

int RunPlan(const Invocation& invocation) {
  auto stats = ConnectFromFlags(invocation)->Stats(CallOptionsFromFlags());
  if (!stats.ok()) return ReportError(stats.status());
  const std::string& name = invocation.args[0];
  for (const auto& model : stats->models()) {
    if (model.name() != name) continue;
    std::printf("%s: %u layers resident, %u streamed\n", name.c_str(), model.resident_layers(),
                model.streamed_layers());
    for (const std::string& line : model.plan()) std::printf("  %s\n", line.c_str());
    return kExitOk;
  }
  return ReportError(absl::NotFoundError(absl::StrCat("no model named ", name)));
}

}  // namespace djinn::djinnctl
