#include "client/cpp/cli/command_line.h"

#include <algorithm>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace djinn::client::cli {

std::vector<std::string> ParsedCommandLine::Values(const std::string& name) const {
  std::vector<std::string> values;
  for (const auto& [flag, value] : flags) {
    if (flag == name) values.push_back(value);
  }
  return values;
}

bool ParsedCommandLine::Has(const std::string& name) const {
  return std::any_of(flags.begin(), flags.end(),
                     [&](const auto& entry) { return entry.first == name; });
}

std::string FlagSpelling(const std::string& name) {
  return absl::StrCat("--", absl::StrReplaceAll(name, {{"_", "-"}}));
}

absl::StatusOr<ParsedCommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  ParsedCommandLine parsed;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_ended || arg.size() < 2 || arg[0] != '-') {
      parsed.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    absl::string_view body = arg;
    body.remove_prefix(absl::StartsWith(body, "--") ? 2 : 1);
    if (body == "help" || body == "h") {
      parsed.help = true;
      continue;
    }
    const size_t eq = body.find('=');
    const bool has_value = eq != absl::string_view::npos;
    std::string name = absl::StrReplaceAll(body.substr(0, eq), {{"-", "_"}});
    std::string value = has_value ? std::string(body.substr(eq + 1)) : "";

    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool negated = false;
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      absl::CommandLineFlag* positive = absl::FindCommandLineFlag(name.substr(2));
      if (positive != nullptr && positive->IsOfType<bool>()) {
        flag = positive;
        negated = true;
        name = name.substr(2);
      }
    }
    if (flag == nullptr || flag->IsRetired()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
    }
    if (flag->IsOfType<bool>()) {
      if (negated) {
        if (has_value) {
          return absl::InvalidArgumentError(
              absl::StrCat(arg, ": a negated flag takes no value"));
        }
        value = "false";
      } else if (!has_value) {
        value = "true";
      }
    } else if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("missing value for ", FlagSpelling(name)));
      }
      value = args[++i];
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat(FlagSpelling(name), ": ", error));
    }
    parsed.flags.emplace_back(std::move(name), std::move(value));
  }
  return parsed;
}

}  // namespace djinn::client::cli
