// djinnctl generate NAME PROMPT: streams only the generated text to stdout,
// as it arrives, then the usage line to stderr. Ctrl-C cancels the stream.
// With --chat (and --system TEXT), PROMPT is a user message that the model's
// chat template renders.
// With --logprobs N, stderr also gets one line per generated token: its id
// and log-probability, then the N most likely ids with theirs.
#include <cstdio>
#include <optional>
#include <string>

#include "absl/strings/str_format.h"

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
  const bool chat = absl::GetFlag(FLAGS_chat);
  const std::optional<std::string> system = absl::GetFlag(FLAGS_system);
  if (system.has_value() && !chat) return "--system needs --chat";
  if (invocation.parsed.Has("token_ids")) {
    if (chat) return "give --chat or --token-ids, not both";
    if (invocation.args.size() > 1) return "give PROMPT or --token-ids, not both";
    auto ids = client::cli::ParseUint32List(absl::GetFlag(FLAGS_token_ids));
    if (!ids.ok()) return "--token-ids: " + std::string(ids.status().message());
    if (ids->empty()) return "--token-ids: no token ids given";
    request->mutable_token_ids()->mutable_ids()->Add(ids->begin(), ids->end());
  } else {
    if (invocation.args.size() < 2) return "missing PROMPT (or --token-ids)";
    if (chat) {
      v1::ChatPrompt* conversation = request->mutable_chat();
      if (system.has_value()) {
        v1::ChatMessage* message = conversation->add_messages();
        message->set_role("system");
        message->set_content(*system);
      }
      v1::ChatMessage* message = conversation->add_messages();
      message->set_role("user");
      message->set_content(invocation.args[1]);
    } else {
      request->set_text(invocation.args[1]);
    }
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
  if (auto logprobs = absl::GetFlag(FLAGS_logprobs); logprobs.has_value()) {
    request->set_logprobs(true);
    request->set_top_logprobs(*logprobs);  // the daemon refuses more than 20
  }
  return "";
}

// "logprob 3 id=17 -1.2345 | 17 -1.2345, 4 -2.0001": one generated token.
std::string DescribeLogprobs(int index, const v1::GeneratedTokenLogprobs& token) {
  std::string line = absl::StrFormat("logprob %d id=%u %.4f", index, token.token_id(), token.logprob());
  for (int i = 0; i < token.top_logprobs_size(); ++i) {
    const v1::TokenLogprob& top = token.top_logprobs(i);
    absl::StrAppendFormat(&line, "%s%u %.4f", i == 0 ? " | " : ", ", top.token_id(), top.logprob());
  }
  return line;
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
  for (int i = 0; i < result->logprobs_size(); ++i) {
    std::fprintf(stderr, "%s\n", DescribeLogprobs(i, result->logprobs(i)).c_str());
  }
  std::fprintf(stderr, "%s\n",
               client::cli::DescribeUsage(result->usage(), result->finish_reason()).c_str());
  return kExitOk;
}

}  // namespace djinn::djinnctl
