// djinnctl unload NAME
#include <cstdio>

#include "client/cpp/djinnctl/command.h"

namespace djinn::djinnctl {

int RunUnload(const Invocation& invocation) {
  const std::string& name = invocation.args[0];
  absl::Status status = ConnectFromFlags(invocation)->UnloadModel(name, CallOptionsFromFlags());
  if (!status.ok()) return ReportError(status);
  std::printf("unloaded %s\n", name.c_str());
  return kExitOk;
}

}  // namespace djinn::djinnctl
