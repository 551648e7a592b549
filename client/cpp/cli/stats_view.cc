#include "client/cpp/cli/stats_view.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cpp/cli/format.h"
#include "client/cpp/cli/table.h"

namespace djinn::client::cli {
namespace {

using Align = Table::Align;

std::string RenderHeader(const v1::StatsResponse& stats) {
  const auto& device = stats.device();
  std::string out = absl::StrCat(
      "djinnd ", stats.version().empty() ? "?" : stats.version(), ", up ",
      HumanDuration(stats.uptime_seconds()), "\n", "device: ",
      device.kind().empty() ? "-" : device.kind());
  if (!device.name().empty()) absl::StrAppend(&out, " ", device.name());
  if (device.total_memory_bytes() > 0) {
    absl::StrAppend(&out, ", ", HumanBytes(device.total_memory_bytes()), " total");
  }
  absl::StrAppend(&out, "\n");
  return out;
}

std::string RenderMemory(const v1::MemorySplit& memory) {
  const uint64_t budget = memory.budget_bytes();
  Table table({"PART", "BYTES", "BUDGET"}, {Align::kLeft, Align::kRight, Align::kRight});
  auto row = [&](const std::string& part, uint64_t bytes) {
    table.AddRow({part, HumanBytes(bytes), Percent(bytes, budget)});
  };
  row("resident weights", memory.resident_weight_bytes());
  row("ring buffer", memory.ring_buffer_bytes());
  row("KV cache", memory.kv_cache_bytes());
  row("  in use", memory.kv_cache_used_bytes());
  row("workspace", memory.workspace_bytes());
  row("free", memory.free_bytes());
  // Pinned host memory holds streamed weights; it is not part of the budget,
  // so it has no share of it.
  table.AddRow({"host copies", HumanBytes(memory.host_pinned_bytes()), "-"});
  return absl::StrCat("\nmemory: budget ", HumanBytes(budget), "\n", table.Render("  "));
}

std::string RenderModels(const v1::StatsResponse& stats) {
  std::string out = "\nmodels:";
  if (stats.models().empty()) return out + " none loaded\n";
  out += "\n";
  Table table({"NAME", "STATE", "WEIGHTS", "RESIDENT", "STREAMED", "LAYERS RES/STR", "PROMOTED/EVICTED",
               "KV SEQS ACT/TOTAL", "KV USED/RESERVED", "REQUESTS", "TOKENS"},
              {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
               Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  for (const auto& model : stats.models()) {
    table.AddRow({model.name(), ModelStateName(model.state()),
                  HumanBytes(model.weight_bytes()),
                  absl::StrCat(HumanBytes(model.resident_bytes()), " (",
                               Percent(model.resident_bytes(), model.weight_bytes()), ")"),
                  HumanBytes(model.streamed_bytes()),
                  absl::StrCat(model.resident_layers(), "/", model.streamed_layers()),
                  absl::StrCat(model.residency_promotions(), "/", model.residency_evictions()),
                  absl::StrCat(model.kv_sequences_active(), "/", model.kv_sequences_total()),
                  absl::StrCat(HumanBytes(model.kv_cache_used_bytes()), " / ",
                               HumanBytes(model.kv_cache_bytes())),
                  absl::StrCat(model.requests_total()),
                  absl::StrCat(model.generated_tokens_total())});
  }
  return out + table.Render("  ");
}

std::string RenderCounters(const v1::StatsResponse& stats) {
  const auto& r = stats.requests();
  const auto& ring = stats.ring_buffer();
  const auto& pcie = stats.pcie();
  std::string out = absl::StrCat(
      "\nrequests:\n",
      absl::StrFormat("  generate: %d started, %d completed, %d cancelled, %d failed, "
                      "%d active, %d queued\n",
                      r.generate_started(), r.generate_completed(), r.generate_cancelled(),
                      r.generate_failed(), r.generate_active(), r.generate_queued()),
      absl::StrFormat("  tokens: %d prompt, %d generated\n", r.prompt_tokens_total(),
                      r.generated_tokens_total()));
  absl::StrAppend(
      &out, "\nring buffer:\n",
      absl::StrFormat("  %s used of %s (%s), %d slots\n", HumanBytes(ring.used_bytes()),
                      HumanBytes(ring.capacity_bytes()), Percent(ring.used_bytes(), ring.capacity_bytes()),
                      ring.slots()),
      absl::StrFormat("  stalls: compute waited for %d blocks (%s), copies waited for a slot %d times (%s)\n",
                      ring.compute_stalls(), HumanDuration(ring.compute_stall_seconds()), ring.copy_stalls(),
                      HumanDuration(ring.copy_stall_seconds())));
  absl::StrAppend(&out, "\npcie:\n",
                  absl::StrFormat("  host to device: %s in passes of %s, copying for %s, %.2f GB/s achieved\n",
                                  HumanBytes(pcie.h2d_bytes_total()), HumanDuration(pcie.h2d_seconds_total()),
                                  HumanDuration(pcie.h2d_copy_seconds_total()), pcie.achieved_gb_per_second()));
  return out;
}

}  // namespace

std::string RenderStats(const v1::StatsResponse& stats) {
  return absl::StrCat(RenderHeader(stats), RenderMemory(stats.memory()), RenderModels(stats),
                      RenderCounters(stats));
}

}  // namespace djinn::client::cli
