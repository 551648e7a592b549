#include "common/metrics/fatal.h"

#include <cstdio>
#include <cstdlib>

namespace djinn::metrics::internal {

void Fatal(absl::string_view message) {
  std::fprintf(stderr, "djinn::metrics: %.*s\n", static_cast<int>(message.size()),
               message.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace djinn::metrics::internal
