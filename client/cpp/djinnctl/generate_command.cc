// djinnctl generate NAME PROMPT: streams only the generated text to stdout,
// as it arrives, then the usage line to stderr. Ctrl-C cancels the stream.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "client/cpp/cli/list_args.h"
#include "client/cpp/cli/usage_view.h"
#include "client/cpp/djinnctl/command.h"
#include "client/cpp/djinnctl/flags.h"
#include "client/cpp/djinnctl/interrupt.h"

namespace djinn::djinnctl {
namespace {

// Fills the request from the arguments; a non-empty result is a usage error.
std::string BuildRequest(const Invocation& invocation, v1::GenerateRequest* request) {
  request->set_model(invocation.args[0]);
  if (invocation.parsed.Has("token_ids")) {
    if (invocation.args.size() > 1) return "give PROMPT or --token-ids, not both";
    auto ids = client::cli::ParseUint32List(absl::GetFlag(FLAGS_token_ids));
    if (!ids.ok()) return "--token-ids: " + std::string(ids.status().message());
    if (ids->empty()) return "--token-ids: no token ids given";
    request->mutable_token_ids()->mutable_ids()->Add(ids->begin(), ids->end());
  } else {
    if (invocation.args.size() < 2) return "missing PROMPT (or --token-ids)";
    request->set_text(invocation.args[1]);
  }
  request->set_max_tokens(absl::GetFlag(FLAGS_max_tokens));
  request->set_temperature(absl::GetFlag(FLAGS_temperature));
  request->set_top_k(absl::GetFlag(FLAGS_top_k));
  request->set_top_p(absl::GetFlag(FLAGS_top_p));
  if (auto seed = absl::GetFlag(FLAGS_seed); seed.has_value()) request->set_seed(*seed);
  // Every occurrence, whole: stop strings may well contain commas.
  for (const std::string& stop : invocation.parsed.Values("stop")) request->add_stop(stop);
  auto stop_ids = client::cli::ParseUint32List(absl::GetFlag(FLAGS_stop_token_ids));
  if (!stop_ids.ok()) return "--stop-token-ids: " + std::string(stop_ids.status().message());
  request->mutable_stop_token_ids()->Add(stop_ids->begin(), stop_ids->end());
  request->set_ignore_eos(absl::GetFlag(FLAGS_ignore_eos));
  request->set_priority(absl::GetFlag(FLAGS_priority));
  return "";
}

}  // namespace

int RunGenerate(const Invocation& invocation) {
  v1::GenerateRequest request;
  if (std::string problem = BuildRequest(invocation, &request); !problem.empty()) {
    return UsageError(invocation, problem);
  }

  bool wrote = false;
  auto on_response = [&wrote](const v1::GenerateResponse& response) {
    if (!response.text().empty()) {
      std::fwrite(response.text().data(), 1, response.text().size(), stdout);
      std::fflush(stdout);  // text appears as it is generated, even through a pipe
      wrote = true;
    }
    return true;
  };

  auto client = ConnectFromFlags(invocation);
  client::CancelToken cancel;
  absl::StatusOr<v1::GenerateResponse> result;
  bool interrupted = false;
  {
    InterruptWatcher watcher([&cancel] { cancel.Cancel(); });
    result = client->Generate(request, on_response, CallOptionsFromFlags(&cancel));
    interrupted = watcher.interrupted();
  }
  if (wrote || result.ok()) {
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  if (interrupted) {
    std::fputs("cancelled\n", stderr);
    return kExitInterrupted;
  }
  if (!result.ok()) return ReportError(result.status());
  std::fprintf(stderr, "%s\n",
               client::cli::DescribeUsage(result->usage(), result->finish_reason()).c_str());
  return kExitOk;
}

}  // namespace djinn::djinnctl
