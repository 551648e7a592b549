// One line of progress for a terminal, redrawn in place with '\r':
// "[#############.................]  45% 1.2/2.6 GiB loading weights".
#ifndef DJINN_CLIENT_CPP_CLI_PROGRESS_BAR_H_
#define DJINN_CLIENT_CPP_CLI_PROGRESS_BAR_H_

#include <cstdint>
#include <string>

namespace djinn::client::cli {

// total == 0 (size not known yet) draws an empty bar with no byte counts.
// done beyond total counts as total. Has no '\r' or newline of its own.
std::string RenderProgressBar(uint64_t done, uint64_t total, const std::string& label,
                              int width = 30);

}  // namespace djinn::client::cli

#endif  // DJINN_CLIENT_CPP_CLI_PROGRESS_BAR_H_
