#include "daemon/djinnd/daemon_flags.h"

#include <algorithm>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC listen address, host:port (port 0: pick a free one)");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9400",
          "Prometheus /metrics listen address, host:port; empty to disable");
ABSL_FLAG(std::string, device, "auto", "auto | cpu | cuda (auto: the GPU when there is one)");
ABSL_FLAG(std::string, vram_budget, "auto",
          "Device memory the daemon may use, e.g. 16GiB or 512MiB; auto: on the CPU backend half the RAM, "
          "at most 4GiB");
ABSL_FLAG(std::string, model_root, "", "Loads are refused outside this directory (default: the working directory)");
ABSL_FLAG(std::vector<std::string>, model, {}, "NAME=PATH of a model to load at start-up; repeatable");
ABSL_FLAG(bool, resident_host_copies, true,
          "Keep a pinned host copy of resident layers too, so that loaded models can share device memory "
          "(false: host copies of streamed layers only; resident layers never give way)");
ABSL_FLAG(int64_t, preload_max_context, 0,
          "Context length of every --model preload, at most (a model with a shorter one keeps its own; "
          "0: the model's own)");
ABSL_FLAG(int, preload_max_sequences, 0,
          "KV-cache sequences of every --model preload (LoadOptions.max_sequences; 0: the default, 8)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM, how long in-flight streams may run before they are cancelled");
ABSL_FLAG(int, threads, 0, "CPU backend threads (0: one per core)");
ABSL_FLAG(int, max_queued_requests, 1024,
          "Generate requests a model may have waiting for KV-cache pages; more are refused with RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, log_level, "info", "debug | info | warning | error");

namespace djinn {
namespace {

// Two spellings absl does not take on its own: dashes in flag names
// (`--vram-budget`, the form our docs use; absl names are `vram_budget`), and
// a repeated `--model a=x --model b=y` (absl keeps only the last value of a
// flag, so the occurrences are merged into one comma list).
std::vector<std::string> NormalizeArgs(int argc, char** argv, std::vector<std::string>* storage) {
  std::vector<std::string> models, rest;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && absl::StartsWith(arg, "--") && arg.size() > 2) {
      const size_t end = std::min(arg.find('='), arg.size());
      std::replace(arg.begin() + 2, arg.begin() + end, '-', '_');
    }
    if (absl::StartsWith(arg, "--model=")) {
      models.push_back(arg.substr(8));
    } else if (arg == "--model" && i + 1 < argc) {
      models.push_back(argv[++i]);
    } else {
      rest.push_back(arg);
    }
  }
  if (!models.empty()) rest.push_back(absl::StrCat("--model=", absl::StrJoin(models, ",")));
  *storage = std::move(rest);
  return *storage;
}

}  // namespace

absl::StatusOr<DaemonOptions> ParseDaemonFlags(int argc, char** argv) {
  absl::SetProgramUsageMessage("serves Llama-family models over gRPC.\n  djinnd [--listen=HOST:PORT] "
                               "[--device=auto|cpu|cuda] [--vram-budget=16GiB] [--model-root=DIR] [--model NAME=PATH]...");
  // absl lists only flags defined in a file named after the program; ours
  // live here.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) { return absl::StrContains(file, "daemon_flags"); };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  std::vector<std::string> storage;
  NormalizeArgs(argc, argv, &storage);
  std::vector<char*> merged;
  for (std::string& s : storage) merged.push_back(s.data());
  const std::vector<char*> positional = absl::ParseCommandLine(static_cast<int>(merged.size()), merged.data());
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument: ", positional[1]));
  }

  DaemonOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.device = absl::GetFlag(FLAGS_device);
  options.vram_budget = absl::GetFlag(FLAGS_vram_budget);
  options.model_root = absl::GetFlag(FLAGS_model_root);
  if (options.model_root.empty()) options.model_root = std::filesystem::current_path().string();
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.max_queued_requests = absl::GetFlag(FLAGS_max_queued_requests);
  if (options.max_queued_requests < 1) return absl::InvalidArgumentError("--max-queued-requests must be at least 1");
  options.log_level = absl::GetFlag(FLAGS_log_level);
  if (options.log_level != "debug" && options.log_level != "info" && options.log_level != "warning" &&
      options.log_level != "error") {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level must be debug, info, warning or error, not ", options.log_level));
  }
  if (options.device != "auto" && options.device != "cpu" && options.device != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat("--device must be auto, cpu or cuda, not ", options.device));
  }
  for (const std::string& spec : absl::GetFlag(FLAGS_model)) {
    std::pair<std::string, std::string> parts = absl::StrSplit(spec, absl::MaxSplits('=', 1));
    if (parts.first.empty() || parts.second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--model wants NAME=PATH, got \"", spec, "\""));
    }
    options.preload.push_back(std::move(parts));
  }
  options.resident_host_copies = absl::GetFlag(FLAGS_resident_host_copies);
  options.preload_max_context = absl::GetFlag(FLAGS_preload_max_context);
  options.preload_max_sequences = absl::GetFlag(FLAGS_preload_max_sequences);
  if (options.preload_max_context < 0 || options.preload_max_sequences < 0) {
    return absl::InvalidArgumentError("--preload-max-context and --preload-max-sequences must be 0 or more");
  }
  return options;
}

}  // namespace djinn
