// djinnctl make-test-model: writes a random-weight Llama model directory
// (common/testmodel) for tests and benchmarks. Needs no daemon.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "client/cpp/cli/format.h"
#include "client/cpp/cli/progress_bar.h"
#include "client/cpp/djinnctl/command.h"
#include "client/cpp/djinnctl/flags.h"
#include "common/testmodel/test_model.h"

namespace djinn::djinnctl {

int RunMakeTestModel(const Invocation& invocation) {
  testmodel::TestModelOptions options;
  options.preset = absl::GetFlag(FLAGS_preset);
  options.out_dir = absl::GetFlag(FLAGS_out);
  options.seed = absl::GetFlag(FLAGS_seed).value_or(0);
  options.dtype = absl::GetFlag(FLAGS_dtype);

  // Bad arguments are usage errors (exit 2), caught before anything is written.
  if (options.out_dir.empty()) return UsageError(invocation, "--out DIR is required");
  const std::vector<std::string> presets = testmodel::PresetNames();
  if (std::find(presets.begin(), presets.end(), options.preset) == presets.end()) {
    return UsageError(invocation, "unknown preset '" + options.preset +
                                      "'; presets: " + absl::StrJoin(presets, ", "));
  }
  if (!options.dtype.empty() && options.dtype != "float32" && options.dtype != "float16" &&
      options.dtype != "bfloat16") {
    return UsageError(invocation, "--dtype must be float32, float16 or bfloat16");
  }

  std::string drawn;
  size_t widest = 0;
  if (isatty(STDERR_FILENO) == 1) {
    options.on_progress = [&drawn, &widest](uint64_t done, uint64_t total) {
      std::string line = client::cli::RenderProgressBar(done, total, "writing");
      if (line == drawn) return;
      std::fprintf(stderr, "\r%s", line.c_str());
      std::fflush(stderr);
      widest = std::max(widest, line.size());
      drawn = std::move(line);
    };
  }
  absl::Status status = testmodel::WriteTestModel(options);
  // The bar is transient: erase it before the listing.
  if (!drawn.empty()) std::fprintf(stderr, "\r%s\r", std::string(widest, ' ').c_str());
  if (!status.ok()) return ReportError(status);

  std::printf("wrote preset %s (seed %llu, dtype %s) to %s\n", options.preset.c_str(),
              static_cast<unsigned long long>(options.seed),
              options.dtype.empty() ? "default" : options.dtype.c_str(),
              options.out_dir.c_str());
  // List the directory: what a later `djinnctl load` will read.
  std::vector<std::filesystem::directory_entry> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(options.out_dir, error)) {
    if (entry.is_regular_file()) files.push_back(entry);
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::printf("  %-40s %10s\n", file.path().filename().string().c_str(),
                client::cli::HumanBytes(file.file_size(error)).c_str());
  }
  return kExitOk;
}

}  // namespace djinn::djinnctl
