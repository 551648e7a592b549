// The text view `djinnctl stats` prints: device, how the memory budget is
// split (human units and share of the budget), per-model residency and KV
// cache, request counters, ring buffer and PCIe transfer figures.
#ifndef DJINN_CLIENT_CPP_CLI_STATS_VIEW_H_
#define DJINN_CLIENT_CPP_CLI_STATS_VIEW_H_

#include <string>

#include "djinn/v1/djinn.pb.h"

namespace djinn::client::cli {

std::string RenderStats(const v1::StatsResponse& stats);

}  // namespace djinn::client::cli

#endif  // DJINN_CLIENT_CPP_CLI_STATS_VIEW_H_
