// djinnctl plan NAME: where each part of a loaded model lives and why
// (the daemon's residency plan, from Stats).
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/cpp/cli/format.h"
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
    std::printf("residency map:\n");
    for (const auto& layer : model.layers()) {
      if (layer.resident()) {
        std::printf("  layer %u  resident  %s in device memory\n", layer.layer(), client::cli::HumanBytes(layer.bytes()).c_str());
      } else {
        std::printf("  layer %u  streamed  %s in host memory, copied into ring slot %d every pass\n", layer.layer(),
                    client::cli::HumanBytes(layer.bytes()).c_str(), layer.ring_slot());
      }
    }
    return kExitOk;
  }
  return ReportError(absl::NotFoundError(absl::StrCat("no model named ", name)));
}

}  // namespace djinn::djinnctl
