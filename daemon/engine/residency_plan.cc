#include "daemon/engine/residency_plan.h"

#include <algorithm>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/byte_size.h"

namespace djinn {
namespace {

// Every product and sum below is at most the all-resident total with the
// wanted KV sequences, which PlanResidency checks fits in 64 bits first.
bool AllResidentTotalFits(const PlanInputs& in) {
  uint64_t layers = 0, kv = 0, total = 0;
  return !__builtin_mul_overflow(static_cast<uint64_t>(in.layers), in.layer_bytes, &layers) &&
         !__builtin_mul_overflow(static_cast<uint64_t>(in.wanted_sequences), in.kv_bytes_per_sequence, &kv) &&
         !__builtin_add_overflow(in.fixed_weight_bytes, in.workspace_bytes, &total) &&
         !__builtin_add_overflow(total, layers, &total) && !__builtin_add_overflow(total, kv, &total);
}

int64_t RingBlocks(const PlanInputs& in, int64_t resident, int ring_capacity) {
  return std::min<int64_t>(in.layers - resident, ring_capacity);
}

// Bytes of a plan with `resident` layers (0..L), a ring of `ring_capacity`
// slots at most and `sequences` KV sequences. Non-decreasing in `resident`.
uint64_t Cost(const PlanInputs& in, int64_t resident, int ring_capacity, int sequences) {
  const uint64_t blocks = static_cast<uint64_t>(resident + RingBlocks(in, resident, ring_capacity));
  return in.fixed_weight_bytes + in.workspace_bytes + static_cast<uint64_t>(sequences) * in.kv_bytes_per_sequence +
         blocks * in.layer_bytes;
}

// The most resident layers that fit, or nullopt when not even r = 0 does.
std::optional<int64_t> MostResident(const PlanInputs& in, int ring_capacity, int sequences) {
  if (Cost(in, 0, ring_capacity, sequences) > in.budget_free_bytes) return std::nullopt;
  int64_t lo = 0, hi = in.layers;  // Cost(lo) fits; find the largest such
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (Cost(in, mid, ring_capacity, sequences) <= in.budget_free_bytes) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

std::string Sequences(int n) { return n == 1 ? "1 sequence" : absl::StrCat(n, " sequences"); }

std::string LayerRange(int64_t first, int64_t last) {
  return first == last ? absl::StrCat("layer ", first) : absl::StrCat("layers ", first, "-", last);
}

// "570.00 MiB", or "570.00 MiB = 597688320 B" where two sizes in one message would
// otherwise print the same.
std::string Distinct(uint64_t bytes, uint64_t other) {
  std::string text = FormatBytes(bytes);
  if (bytes != other && text == FormatBytes(other)) {  // never below 1 KiB: those print exactly
    absl::StrAppend(&text, " = ", bytes, " B");
  }
  return text;
}

// The minimum that has to fit: fixed weights, workspace, one KV sequence and
// either the smallest ring (streaming) or every layer.
absl::Status Exhausted(const PlanInputs& in) {
  const uint64_t kv = in.kv_bytes_per_sequence;
  const uint64_t fixed = in.fixed_weight_bytes;
  const uint64_t workspace = in.workspace_bytes;
  std::string layers_part;
  uint64_t layer_blocks_bytes = 0;
  constexpr int kRing = ResidencyPlan::kRingSlots;
  if (in.allow_streaming && in.layers > kRing) {
    layer_blocks_bytes = static_cast<uint64_t>(kRing) * in.layer_bytes;
    layers_part = absl::StrCat("ring of ", kRing, " layers ", FormatBytes(layer_blocks_bytes));
  } else {
    layer_blocks_bytes = static_cast<uint64_t>(in.layers) * in.layer_bytes;
    layers_part = in.layers == 1 ? absl::StrCat("its one layer ", FormatBytes(layer_blocks_bytes))
                                 : absl::StrCat("all ", in.layers, " layers ", FormatBytes(layer_blocks_bytes));
  }
  const uint64_t minimum = fixed + workspace + kv + layer_blocks_bytes;
  const uint64_t free = in.budget_free_bytes;
  return absl::ResourceExhaustedError(absl::StrCat(
      "model needs at least ", Distinct(minimum, free), " (fixed weights ", FormatBytes(fixed), ", workspace ",
      FormatBytes(workspace), ", one KV sequence ", FormatBytes(kv), ", ", layers_part, ") but only ",
      Distinct(free, minimum), " of the budget is free",
      in.allow_streaming ? "" : "; streaming is off, so every layer must be resident"));
}

ResidencyPlan Build(const PlanInputs& in, int64_t resident, int ring_capacity, int sequences) {
  ResidencyPlan plan;
  const int64_t streamed = in.layers - resident;
  plan.layers.assign(static_cast<size_t>(in.layers), LayerPlacement::kStreamed);
  std::fill(plan.layers.begin(), plan.layers.begin() + resident, LayerPlacement::kResident);
  plan.resident_layers = resident;
  plan.streamed_layers = streamed;
  plan.ring_slots = static_cast<int>(RingBlocks(in, resident, ring_capacity));
  plan.ring_bytes = static_cast<uint64_t>(plan.ring_slots) * in.layer_bytes;
  plan.layer_bytes = in.layer_bytes;
  const uint64_t resident_layer_bytes = static_cast<uint64_t>(resident) * in.layer_bytes;
  plan.resident_weight_bytes = in.fixed_weight_bytes + resident_layer_bytes;
  plan.streamed_weight_bytes = static_cast<uint64_t>(streamed) * in.layer_bytes;
  plan.kv_sequences = sequences;
  plan.kv_bytes = static_cast<uint64_t>(sequences) * in.kv_bytes_per_sequence;
  plan.workspace_bytes = in.workspace_bytes;

  const std::string layer = FormatBytes(in.layer_bytes);
  std::vector<std::string>& out = plan.explanation;
  out.push_back(absl::StrCat("fixed weights ", FormatBytes(in.fixed_weight_bytes),
                             " (embedding, final norm, lm_head) + workspace ", FormatBytes(in.workspace_bytes), " = ",
                             FormatBytes(in.fixed_weight_bytes + in.workspace_bytes), ", always resident"));

  std::string kv = absl::StrCat("KV cache: ", Sequences(sequences), " x ", FormatBytes(in.kv_bytes_per_sequence), " = ",
                                FormatBytes(plan.kv_bytes), " (", in.wanted_sequences, " wanted");
  if (sequences < in.wanted_sequences) {
    if (in.contiguous_sequences > 0 && sequences == in.contiguous_sequences) {
      absl::StrAppend(&kv, "; the largest free range the budget can offer holds no more");
    } else if (plan.ring_slots == 0) {
      absl::StrAppend(&kv, "; no more fit beside the fixed weights, the workspace and ",
                      in.layers == 1 ? "the one layer" : absl::StrCat("all ", in.layers, " layers"));
    } else {
      absl::StrAppend(&kv, "; no more fit beside the fixed weights, the workspace and the ring, ", plan.ring_slots,
                      plan.ring_slots == 1 ? " layer" : " layers");
    }
  }
  absl::StrAppend(&kv, ")");
  if (streamed > 0 && in.layer_bytes > 0 && plan.kv_bytes > 0) {
    // The trade: every KV byte is a byte of weights that streams instead.
    absl::StrAppend(&kv, absl::StrFormat(": the room of %.1f layers, which stream instead",
                                         static_cast<double>(plan.kv_bytes) / static_cast<double>(in.layer_bytes)));
  }
  out.push_back(std::move(kv));

  if (plan.ring_slots == 0) {
    out.push_back("no ring buffer: no layer streams");
  } else {
    std::string ring = absl::StrCat("ring buffer: ", plan.ring_slots, plan.ring_slots == 1 ? " slot x " : " slots x ",
                                    layer, " = ", FormatBytes(plan.ring_bytes));
    if (plan.ring_slots == streamed) absl::StrAppend(&ring, " (one slot per streamed layer)");
    out.push_back(std::move(ring));
  }

  if (resident == in.layers) {
    out.push_back(absl::StrCat(LayerRange(0, in.layers - 1), " resident (all ", in.layers, " x ", layer, " = ",
                               FormatBytes(resident_layer_bytes), ")"));
  } else if (resident == 0) {
    const uint64_t left = in.budget_free_bytes - plan.total_bytes();
    out.push_back(absl::StrCat("no layer resident: ", FormatBytes(left),
                               " left after the fixed weights, workspace, KV cache and ring; a layer needs ", layer));
  } else {
    out.push_back(absl::StrCat(LayerRange(0, resident - 1), " resident (", resident, " x ", layer, " = ",
                               FormatBytes(resident_layer_bytes),
                               "): as many as fit after the fixed weights, workspace, KV cache and ring"));
  }

  if (streamed == 0) {
    out.push_back("no layer streamed");
  } else {
    out.push_back(absl::StrCat(LayerRange(resident, in.layers - 1), " streamed from host memory (", streamed, " x ",
                               layer, "): ", FormatBytes(plan.streamed_weight_bytes), " copied per forward pass"));
  }

  out.push_back(absl::StrCat("total ", FormatBytes(plan.total_bytes()), " of ", FormatBytes(in.budget_free_bytes),
                             " free, ", FormatBytes(in.budget_free_bytes - plan.total_bytes()), " unused"));
  return plan;
}

}  // namespace

absl::StatusOr<ResidencyPlan> PlanResidency(const PlanInputs& in) {
  if (in.layers < 1) {
    return absl::InvalidArgumentError(absl::StrCat("a model needs at least one layer, got ", in.layers));
  }
  if (in.wanted_sequences < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("wanted_sequences must be at least 1, got ", in.wanted_sequences));
  }
  if (!AllResidentTotalFits(in)) {
    return absl::InvalidArgumentError("the model's sizes add up to more than 2^64 bytes");
  }
  const int wanted = in.contiguous_sequences > 0 ? std::min(in.wanted_sequences, in.contiguous_sequences)
                                                 : in.wanted_sequences;
  const uint64_t kv = in.kv_bytes_per_sequence;

  // Steps 2 and 3: every layer resident.
  if (!in.allow_streaming) {
    const uint64_t all_layers = Cost(in, in.layers, 0, 0);
    if (all_layers > in.budget_free_bytes) return Exhausted(in);
    const uint64_t room = in.budget_free_bytes - all_layers;
    const int sequences = kv == 0 ? wanted : static_cast<int>(std::min<uint64_t>(wanted, room / kv));
    if (sequences < 1) return Exhausted(in);
    return Build(in, in.layers, 0, sequences);
  }

  // Steps 2 and 4: the wanted KV sequences and a ring (all layers resident
  // is the r = L case: it costs the same as with any ring).
  constexpr int kRing = ResidencyPlan::kRingSlots;
  if (std::optional<int64_t> resident = MostResident(in, kRing, wanted)) return Build(in, *resident, kRing, wanted);

  // Step 5: fewer KV sequences beside the ring, then layers.
  const uint64_t floor = Cost(in, 0, kRing, 0);
  if (kv > 0 && floor <= in.budget_free_bytes) {
    const int sequences =
        static_cast<int>(std::min<uint64_t>(wanted - 1, (in.budget_free_bytes - floor) / kv));
    if (sequences >= 1) {
      std::optional<int64_t> resident = MostResident(in, kRing, sequences);
      if (resident) return Build(in, *resident, kRing, sequences);
    }
  }
  return Exhausted(in);  // step 6
}

}  // namespace djinn
