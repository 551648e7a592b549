#include "client/cpp/cli/progress_bar.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cpp/cli/format.h"

namespace djinn::client::cli {

std::string RenderProgressBar(uint64_t done, uint64_t total, const std::string& label,
                              int width) {
  width = std::max(width, 1);
  done = std::min(done, total);
  const double fraction =
      total == 0 ? 0.0 : static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(fraction * width);
  std::string line = absl::StrCat("[", std::string(filled, '#'),
                                  std::string(width - filled, '.'), "] ",
                                  absl::StrFormat("%3d%%", static_cast<int>(fraction * 100)));
  if (total > 0) absl::StrAppend(&line, " ", HumanBytesOf(done, total));
  if (!label.empty()) absl::StrAppend(&line, " ", label);
  return line;
}

}  // namespace djinn::client::cli
