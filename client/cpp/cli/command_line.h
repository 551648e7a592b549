// Command-line parsing against the flags registered with absl::flags, for
// CLIs with subcommands. Accepts "--name=value", "--name value", "--bool",
// "--nobool", a single leading dash, and dashes in names ("--max-tokens" sets
// the flag max_tokens); "--" ends the flags. Flags and positional arguments
// may be interleaved. Unlike absl::ParseCommandLine it never exits the
// process: problems come back as INVALID_ARGUMENT so the CLI picks its own
// exit code and message.
#ifndef DJINN_CLIENT_CPP_CLI_COMMAND_LINE_H_
#define DJINN_CLIENT_CPP_CLI_COMMAND_LINE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn::client::cli {

struct ParsedCommandLine {
  std::vector<std::string> positional;
  // Every flag occurrence in order: (registered name, value as given; "true"
  // or "false" for bare booleans). absl keeps only a flag's last value, so
  // repeatable flags are read back from here.
  std::vector<std::pair<std::string, std::string>> flags;
  bool help = false;  // --help, -h or -help was given

  // Values of every occurrence of the flag, in order.
  std::vector<std::string> Values(const std::string& name) const;
  bool Has(const std::string& name) const;
};

// args: the arguments after the program name. Sets the flags it meets.
absl::StatusOr<ParsedCommandLine> ParseCommandLine(const std::vector<std::string>& args);

// "max_tokens" -> "--max-tokens", the spelling shown to users.
std::string FlagSpelling(const std::string& name);

}  // namespace djinn::client::cli

#endif  // DJINN_CLIENT_CPP_CLI_COMMAND_LINE_H_
