// djinnctl load NAME PATH: streams the load, drawing a progress bar when
// stderr is a terminal, then prints a one-line description of the model.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "client/cpp/cli/format.h"
#include "client/cpp/cli/model_view.h"
#include "client/cpp/cli/progress_bar.h"
#include "client/cpp/djinnctl/command.h"
#include "client/cpp/djinnctl/flags.h"
#include "client/cpp/djinnctl/interrupt.h"

namespace djinn::djinnctl {

int RunLoad(const Invocation& invocation) {
  const std::string& name = invocation.args[0];
  const std::string& path = invocation.args[1];
  v1::LoadOptions options;
  options.set_max_context_length(absl::GetFlag(FLAGS_max_context));
  options.set_max_sequences(absl::GetFlag(FLAGS_max_sequences));

  // Progress is for people watching; logs and pipes get only the result.
  const bool draw = isatty(STDERR_FILENO) == 1;
  std::string drawn;  // the line on screen, so unchanged lines are not redrawn
  size_t widest = 0;  // columns to blank when erasing
  auto on_progress = [&](const v1::LoadModelProgress& progress) {
    if (!draw) return;
    std::string line = client::cli::RenderProgressBar(
        progress.bytes_loaded(), progress.bytes_total(),
        client::cli::PhaseName(progress.phase()));
    if (line == drawn) return;
    // Pad over what is left of a longer previous line.
    const size_t pad = drawn.size() > line.size() ? drawn.size() - line.size() : 0;
    std::fprintf(stderr, "\r%s%s", line.c_str(), std::string(pad, ' ').c_str());
    std::fflush(stderr);
    widest = std::max(widest, line.size());
    drawn = std::move(line);
  };

  auto client = ConnectFromFlags(invocation);
  client::CancelToken cancel;
  absl::StatusOr<v1::ModelDescription> model;
  bool interrupted = false;
  {
    InterruptWatcher watcher([&cancel] { cancel.Cancel(); });
    model = client->LoadModel(name, path, options, on_progress,
                              CallOptionsFromFlags(&cancel));
    interrupted = watcher.interrupted();
  }
  // The bar is transient: erase it, leaving the summary or the error alone on
  // screen (what the daemon reports in its last phases varies).
  if (!drawn.empty()) std::fprintf(stderr, "\r%s\r", std::string(widest, ' ').c_str());
  if (interrupted) {
    std::fprintf(stderr, "interrupted; the daemon may still finish loading %s\n",
                 name.c_str());
    return kExitInterrupted;
  }
  if (!model.ok()) return ReportError(model.status());
  std::printf("loaded %s\n", client::cli::DescribeModel(*model).c_str());
  return kExitOk;
}

}  // namespace djinn::djinnctl
