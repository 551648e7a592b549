// The one-line usage report `djinnctl generate` prints after the text:
// "prompt 5 tokens, completion 20 tokens, first token 120.0 ms, total 1.23 s,
//  16.3 tokens/s, finish length, seed 42".
#ifndef DJINN_CLIENT_CPP_CLI_USAGE_VIEW_H_
#define DJINN_CLIENT_CPP_CLI_USAGE_VIEW_H_

#include <string>

#include "djinn/v1/djinn.pb.h"

namespace djinn::client::cli {

// tokens/s is completion tokens over the whole call (queueing and prefill
// included), which is what a caller experiences. Queue time shows when > 0.
std::string DescribeUsage(const v1::Usage& usage, v1::FinishReason finish_reason);

}  // namespace djinn::client::cli

#endif  // DJINN_CLIENT_CPP_CLI_USAGE_VIEW_H_
