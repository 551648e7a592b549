#include "common/byte_size.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace djinn {
namespace {

struct Unit {
  const char* name;
  double multiplier;
};

// Plain byte counts ("" or "B") are parsed exactly in ParseByteSize.
constexpr Unit kUnits[] = {
    {"k", 1024.0},    {"kib", 1024.0},  {"kb", 1e3},
    {"m", 1048576.0}, {"mib", 1048576.0}, {"mb", 1e6},
    {"g", 1073741824.0}, {"gib", 1073741824.0}, {"gb", 1e9},
    {"t", 1099511627776.0}, {"tib", 1099511627776.0}, {"tb", 1e12},
};

}  // namespace

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  std::string s(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return absl::InvalidArgumentError(absl::StrFormat("not a byte size: \"%s\"", text));
  char* end = nullptr;
  const std::string number = s.substr(0, i);
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) {
    return absl::InvalidArgumentError(absl::StrFormat("not a byte size: \"%s\"", text));
  }
  const std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(s.substr(i)));
  if (unit.empty() || unit == "b") {
    // Plain byte counts are parsed exactly (a double loses integers above 2^53).
    if (number.find('.') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrFormat("a byte count must be whole: \"%s\"", text));
    }
    errno = 0;
    const unsigned long long exact = std::strtoull(number.c_str(), nullptr, 10);
    if (errno == ERANGE) return absl::InvalidArgumentError(absl::StrFormat("byte size too large: \"%s\"", text));
    return static_cast<uint64_t>(exact);
  }
  for (const Unit& u : kUnits) {
    if (unit == u.name) {
      const double bytes = std::floor(value * u.multiplier);
      if (bytes >= 1.8e19) return absl::InvalidArgumentError(absl::StrFormat("byte size too large: \"%s\"", text));
      return static_cast<uint64_t>(bytes);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown unit \"%s\" in \"%s\" (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", unit, text));
}

std::string FormatBytes(uint64_t bytes) {
  constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return absl::StrFormat("%d B", bytes);
  return absl::StrFormat("%.2f %s", value, kNames[unit]);
}

}  // namespace djinn
