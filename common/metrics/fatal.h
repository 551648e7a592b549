// Aborting on programming errors in metric definitions (bad names, a name
// registered twice with different types). These are bugs in the caller's
// code, caught on the first run, so the library dies loudly instead of
// threading a Status through every Add() on the hot path.
#ifndef DJINN_COMMON_METRICS_FATAL_H_
#define DJINN_COMMON_METRICS_FATAL_H_

#include "absl/strings/string_view.h"

namespace djinn::metrics::internal {

// Writes "djinn::metrics: <message>" to stderr and aborts.
[[noreturn]] void Fatal(absl::string_view message);

}  // namespace djinn::metrics::internal

#endif  // DJINN_COMMON_METRICS_FATAL_H_
