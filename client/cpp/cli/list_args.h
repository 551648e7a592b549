// Parsing of comma-separated lists given on the command line, such as
// "--token-ids 1,2,3" and "--stop-token-ids 2,32000".
#ifndef DJINN_CLIENT_CPP_CLI_LIST_ARGS_H_
#define DJINN_CLIENT_CPP_CLI_LIST_ARGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn::client::cli {

// "1,2, 3" -> {1, 2, 3}; "" -> {}. Spaces around items are allowed; an empty
// item, a sign, or a value above 2^32-1 is INVALID_ARGUMENT.
absl::StatusOr<std::vector<uint32_t>> ParseUint32List(const std::string& text);

}  // namespace djinn::client::cli

#endif  // DJINN_CLIENT_CPP_CLI_LIST_ARGS_H_
