// djinnctl list [--json]
#include <cstdio>

#include "absl/flags/flag.h"
#include "client/cpp/cli/model_view.h"
#include "client/cpp/djinnctl/command.h"
#include "client/cpp/djinnctl/flags.h"
#include "client/cpp/djinnctl/json.h"

namespace djinn::djinnctl {

int RunList(const Invocation& invocation) {
  auto models = ConnectFromFlags(invocation)->ListModels(CallOptionsFromFlags());
  if (!models.ok()) return ReportError(models.status());
  if (absl::GetFlag(FLAGS_json)) return PrintJson(*models);
  std::fputs(client::cli::RenderModelTable(*models).c_str(), stdout);
  return kExitOk;
}

}  // namespace djinn::djinnctl
