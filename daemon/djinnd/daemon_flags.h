// djinnd's command-line flags, parsed into one plain struct.
#ifndef DJINN_DAEMON_DJINND_DAEMON_FLAGS_H_
#define DJINN_DAEMON_DJINND_DAEMON_FLAGS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace djinn {

struct DaemonOptions {
  std::string listen;          // gRPC, host:port
  std::string metrics_listen;  // HTTP /metrics; empty: off
  std::string device;          // auto | cpu | cuda
  std::string vram_budget;     // bytes with optional unit, or "auto"
  std::string model_root;
  std::vector<std::pair<std::string, std::string>> preload;  // name, path
  // LoadOptions of every preload (0: as LoadModel's defaults): a big model's
  // own context (Llama 3.1: 131072 tokens) would leave room for one sequence.
  int64_t preload_max_context = 0;
  int preload_max_sequences = 0;
  bool resident_host_copies = true;
  absl::Duration shutdown_grace;
  int threads = 0;
  int max_queued_requests = 1024;
  std::string log_level;
};

// Parses argv (exits on --help and on malformed flags, as absl does).
// INVALID_ARGUMENT for values that parse but make no sense.
absl::StatusOr<DaemonOptions> ParseDaemonFlags(int argc, char** argv);

}  // namespace djinn

#endif  // DJINN_DAEMON_DJINND_DAEMON_FLAGS_H_
