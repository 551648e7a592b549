// djinnctl: the admin CLI of djinnd.
//   djinnctl [--addr HOST:PORT] COMMAND [ARGS...] [FLAGS...]
// Flags may come before or after the command; "--" ends them. The command
// table below says which positional arguments and flags each command takes.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cpp/cli/command_line.h"
#include "client/cpp/djinnctl/command.h"
#include "client/cpp/djinnctl/flags.h"

namespace djinn::djinnctl {
namespace {

struct FlagUse {
  const char* name;     // as registered: max_tokens
  const char* metavar;  // "N"; "" for booleans
};

struct CommandSpec {
  const char* name;
  const char* arguments;  // positional synopsis
  const char* summary;
  size_t min_args;
  size_t max_args;
  std::vector<FlagUse> flags;
  int (*run)(const Invocation&);
};

const std::vector<FlagUse>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagUse>{
      {"addr", "HOST:PORT"}, {"timeout", "SECONDS"}, {"wait", ""}};
  return *flags;
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {"load", "NAME PATH", "load a model directory, showing progress", 2, 2,
       {{"max_context", "N"}, {"max_sequences", "N"}}, RunLoad},
      {"unload", "NAME", "unload a model", 1, 1, {}, RunUnload},
      {"list", "", "list loaded models", 0, 0, {{"json", ""}}, RunList},
      {"generate", "NAME [PROMPT]",
       "stream a completion of PROMPT to stdout (usage on stderr; Ctrl-C cancels)", 1, 2,
       {{"max_tokens", "N"}, {"temperature", "T"}, {"top_k", "K"}, {"top_p", "P"},
        {"seed", "S"}, {"stop", "STR"}, {"stop_token_ids", "ID,ID"}, {"ignore_eos", ""},
        {"token_ids", "ID,ID"}, {"chat", ""}, {"system", "TEXT"}, {"priority", "N"}, {"logprobs", "N"}},
       RunGenerate},
      {"stats", "", "device, memory split, residency, counters", 0, 0, {{"json", ""}},
       RunStats},
      {"plan", "NAME", "where each part of a loaded model lives, and why", 1, 1, {}, RunPlan},
      {"health", "", "grpc.health.v1 check; exit 0 only when SERVING", 0, 0,
       {{"service", "NAME"}}, RunHealth},
      {"make-test-model", "", "write a random-weight test model (no daemon needed)", 0, 0,
       {{"preset", "P"}, {"out", "DIR"}, {"seed", "N"}, {"dtype", "DTYPE"}},
       RunMakeTestModel},
  };
  return *commands;
}

const CommandSpec* FindCommand(const std::string& name) {
  for (const auto& command : Commands()) {
    if (name == command.name) return &command;
  }
  return nullptr;
}

std::string Synopsis(const CommandSpec& command) {
  std::string line = absl::StrCat("djinnctl ", command.name);
  if (*command.arguments != '\0') absl::StrAppend(&line, " ", command.arguments);
  for (const auto& flag : command.flags) {
    absl::StrAppend(&line, " [", client::cli::FlagSpelling(flag.name),
                    *flag.metavar ? " " : "", flag.metavar, "]");
  }
  return line;
}

// Flag lines from the help text registered with absl, the single source.
std::string FlagHelp(const std::vector<FlagUse>& flags) {
  std::string out;
  for (const auto& use : flags) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(use.name);
    std::string left = absl::StrCat("  ", client::cli::FlagSpelling(use.name),
                                    *use.metavar ? " " : "", use.metavar);
    if (left.size() < 24) left.resize(24, ' ');
    absl::StrAppend(&out, left, " ", flag ? flag->Help() : "", "\n");
  }
  return out;
}

std::string MainUsage() {
  std::string out =
      "usage: djinnctl [--addr HOST:PORT] COMMAND [ARGS...] [FLAGS...]\n\n"
      "commands:\n";
  for (const auto& command : Commands()) {
    absl::StrAppendFormat(&out, "  %-16s %s\n", command.name, command.summary);
  }
  absl::StrAppend(&out, "\nflags for every command:\n", FlagHelp(GlobalFlags()),
                  "\n'djinnctl COMMAND --help' shows a command's arguments and flags.\n"
                  "exit status: 0 ok, 1 error (\"error: CODE: message\" on stderr), "
                  "2 usage, 130 interrupted\n");
  return out;
}

std::string CommandUsage(const CommandSpec& command) {
  std::string out = absl::StrCat("usage: ", Synopsis(command), "\n\n", command.summary, "\n");
  if (std::string(command.name) == "generate") {
    absl::StrAppend(&out,
                    "\nPROMPT is tokenized by the daemon (BOS prepended); with --token-ids "
                    "leave PROMPT out.\nWith --chat, PROMPT is one user message (after "
                    "--system TEXT, if given) rendered by the model's chat template.\n"
                    "--stop may be repeated; each value is one stop string, commas included.\n");
  }
  if (!command.flags.empty()) absl::StrAppend(&out, "\nflags:\n", FlagHelp(command.flags));
  absl::StrAppend(&out, "\nflags for every command:\n", FlagHelp(GlobalFlags()));
  return out;
}

bool Accepts(const std::vector<FlagUse>& flags, const std::string& name) {
  for (const auto& flag : flags) {
    if (name == flag.name) return true;
  }
  return false;
}

std::string ResolveAddr() {
  std::string addr = absl::GetFlag(FLAGS_addr);
  if (!addr.empty()) return addr;
  const char* env = std::getenv("DJINN_ADDR");
  if (env != nullptr && *env != '\0') return env;
  return "localhost:50051";
}

int Main(int argc, char** argv) {
  auto parsed = client::cli::ParseCommandLine(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.ok()) {
    std::fprintf(stderr, "djinnctl: %s\nrun 'djinnctl --help' for usage\n",
                 std::string(parsed.status().message()).c_str());
    return kExitUsage;
  }
  if (parsed->positional.empty()) {
    if (parsed->help) {
      std::fputs(MainUsage().c_str(), stdout);
      return kExitOk;
    }
    std::fputs(MainUsage().c_str(), stderr);
    return kExitUsage;
  }

  Invocation invocation;
  invocation.command = parsed->positional[0];
  const CommandSpec* command = FindCommand(invocation.command);
  if (command == nullptr) {
    std::fprintf(stderr, "djinnctl: unknown command '%s'\nrun 'djinnctl --help' for usage\n",
                 invocation.command.c_str());
    return kExitUsage;
  }
  if (parsed->help) {
    std::fputs(CommandUsage(*command).c_str(), stdout);
    return kExitOk;
  }
  invocation.args.assign(parsed->positional.begin() + 1, parsed->positional.end());
  for (const auto& [name, value] : parsed->flags) {
    if (!Accepts(GlobalFlags(), name) && !Accepts(command->flags, name)) {
      return UsageError(invocation, absl::StrCat(client::cli::FlagSpelling(name),
                                                 " is not a flag of this command"));
    }
  }
  if (invocation.args.size() < command->min_args ||
      invocation.args.size() > command->max_args) {
    return UsageError(invocation, absl::StrCat("expected: ", Synopsis(*command)));
  }
  invocation.parsed = *std::move(parsed);
  invocation.addr = ResolveAddr();
  return command->run(invocation);
}

}  // namespace
}  // namespace djinn::djinnctl

int main(int argc, char** argv) { return djinn::djinnctl::Main(argc, argv); }
