#include "client/cpp/cli/usage_view.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cpp/cli/format.h"

namespace djinn::client::cli {

std::string DescribeUsage(const v1::Usage& usage, v1::FinishReason finish_reason) {
  std::string line = absl::StrCat("prompt ", usage.prompt_tokens(), " tokens, completion ",
                                  usage.completion_tokens(), " tokens");
  if (usage.queue_seconds() > 0) {
    absl::StrAppend(&line, ", queued ", HumanDuration(usage.queue_seconds()));
  }
  absl::StrAppend(&line, ", first token ", HumanDuration(usage.time_to_first_token_seconds()),
                  ", total ", HumanDuration(usage.total_seconds()), ", ");
  if (usage.total_seconds() > 0) {
    absl::StrAppend(&line, absl::StrFormat("%.1f", usage.completion_tokens() /
                                                       usage.total_seconds()));
  } else {
    absl::StrAppend(&line, "-");
  }
  absl::StrAppend(&line, " tokens/s, finish ", FinishReasonName(finish_reason), ", seed ",
                  usage.seed());
  return line;
}

}  // namespace djinn::client::cli
