#include "client/cpp/cli/list_args.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace djinn::client::cli {

absl::StatusOr<std::vector<uint32_t>> ParseUint32List(const std::string& text) {
  std::vector<uint32_t> values;
  if (absl::StripAsciiWhitespace(text).empty()) return values;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    uint32_t value = 0;
    // SimpleAtoi accepts a leading '+' (and '-0'); ids are plain digits.
    const bool digits_only =
        !item.empty() && item.find_first_not_of("0123456789") == absl::string_view::npos;
    if (!digits_only || !absl::SimpleAtoi(item, &value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", item, "' in '", text, "' is not an unsigned 32-bit integer"));
    }
    values.push_back(value);
  }
  return values;
}

}  // namespace djinn::client::cli
