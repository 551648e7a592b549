// Where every byte of a model lives when it is loaded under a budget: which
// decoder layers stay resident in backend memory, which stream from host
// memory through the ring buffer, how big the ring is, how many KV-cache
// sequences fit, and why. Pure arithmetic over sizes: no memory is touched,
// so the plan can be computed, shown (djinnctl) and tested before a load.
//
// Notation: L layers of layer_bytes each, r resident, s = L - r streamed,
// n KV sequences (wanted: m). Resident layers are always layers 0..r-1 and
// streamed ones r..L-1: the resident layers' compute hides the first copies
// of every pass. A ring of c slots with s streamed layers holds min(s, c)
// layer blocks, so the plan costs
//   fixed_weight_bytes + workspace_bytes + n * kv_bytes_per_sequence
//     + layer_bytes * (r + min(s, c))
// which never decreases as r grows. When s <= c the ring holds every
// streamed layer and costs exactly what keeping them resident would, so a
// plan never streams s <= ring_slots layers (with layer_bytes > 0): making
// them resident costs nothing more and removes the ring.
//
// Why KV comes before resident layers: with streamed layers a pass costs
// about its streamed bytes over the PCIe rate whatever its batch, so b
// sequences get b tokens per (S0 + b * kv) / bandwidth, S0 the bytes that
// stream with no KV reserved and kv one sequence's KV bytes (each displaces
// that many bytes of resident weights). That grows with b: up to the
// configured max_sequences, KV room is worth more than the weights it
// displaces, for throughput. What it costs per token is shown: the plan's KV
// line names the layers its room would otherwise hold.
//
// Policy, in order (the first step that fits is the plan):
//  1. Always resident: the embedding, the final norm, the lm_head (when not
//     tied) and the workspace. Every forward pass touches them.
//  2. All L layers resident with the m wanted KV sequences, no ring.
//  3. allow_streaming = false: all L layers resident with as many of the m
//     wanted KV sequences as fit (at least one), else RESOURCE_EXHAUSTED.
//     This is the loader's behaviour before streaming.
//  4. Keep the m wanted KV sequences and stream through a ring of
//     c = kRingSlots (2) slots: r is the largest number of layers the cost
//     above allows, ring_slots = min(s, c).
//  5. Shrink KV: n = as many sequences (< m, >= 1) as fit beside the fixed
//     weights, the workspace and min(L, c) layer blocks; then r = the
//     largest number of layers the rest holds. This may be all L layers
//     (L <= c, or a large leftover): then no layer streams and there is no
//     ring.
//  6. RESOURCE_EXHAUSTED, naming the bytes needed and the bytes free, when
//     even fixed weights + workspace + one KV sequence + min(L, c) layer
//     blocks (the ring, or every layer when L <= c) do not fit.
//
// INVALID_ARGUMENT: layers < 1, wanted_sequences < 1, or sizes whose
// all-resident total (fixed + workspace + L * layer_bytes + m * kv) does not
// fit in 64 bits.
#ifndef DJINN_DAEMON_ENGINE_RESIDENCY_PLAN_H_
#define DJINN_DAEMON_ENGINE_RESIDENCY_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn {

struct PlanInputs {
  uint64_t budget_free_bytes = 0;   // what the arena has free for this model
  int64_t layers = 0;               // >= 1
  uint64_t layer_bytes = 0;         // one decoder layer's weights, in the compute dtype, aligned
  uint64_t fixed_weight_bytes = 0;  // embedding + final norm + lm_head (untied), aligned
  uint64_t workspace_bytes = 0;
  uint64_t kv_bytes_per_sequence = 0;
  int wanted_sequences = 1;         // >= 1
  bool allow_streaming = true;      // false: all resident or RESOURCE_EXHAUSTED
  // The KV cache is one block: no more sequences than the largest free
  // range the budget can offer holds (other models' layers give way in
  // pieces). 0: no such limit.
  int contiguous_sequences = 0;
};

enum class LayerPlacement { kResident, kStreamed };

// Invariants of every plan PlanResidency returns:
//   layers.size() == resident_layers + streamed_layers == inputs.layers,
//   layers[i] is kResident for i < resident_layers, kStreamed after;
//   ring_slots == 0 iff streamed_layers == 0, else 1 <= ring_slots <=
//   min(streamed_layers, kRingSlots) (and < streamed_layers when layer_bytes > 0);
//   1 <= kv_sequences <= wanted_sequences; total_bytes() <= budget_free_bytes.
struct ResidencyPlan {
  // Ring capacity in layer blocks, at most. Two suffice: one block arrives
  // while compute reads the other, and on PCIe a block takes far longer to
  // copy than to compute with (a 13B layer: 11.8 ms at 54 GB/s against
  // under 3 ms for a 2048-token prompt on an H100). Every further slot
  // would take a resident layer's room and add a block to every pass's copy.
  static constexpr int kRingSlots = 2;

  std::vector<LayerPlacement> layers;  // index = layer
  int64_t resident_layers = 0;
  int64_t streamed_layers = 0;
  int ring_slots = 0;                   // layer blocks the ring holds (0: no streaming)
  uint64_t ring_bytes = 0;              // ring_slots * layer_bytes
  uint64_t layer_bytes = 0;             // one layer's block
  uint64_t resident_weight_bytes = 0;   // fixed + resident layers
  uint64_t streamed_weight_bytes = 0;   // streamed layers (host memory), = bytes copied per forward pass
  int kv_sequences = 0;
  uint64_t kv_bytes = 0;                // kv_sequences * kv_bytes_per_sequence
  uint64_t workspace_bytes = 0;
  uint64_t total_bytes() const { return resident_weight_bytes + ring_bytes + kv_bytes + workspace_bytes; }

  // One line per decision, for people, always these six in this order
  // (sizes by FormatBytes; e.g. a 40-layer model of 634 MiB layers):
  //   "fixed weights 1.00 GiB (embedding, final norm, lm_head) + workspace 200.00 MiB = 1.20 GiB, always resident"
  //   "KV cache: 8 sequences x 200.00 MiB = 1.56 GiB (8 wanted)"
  //       when layers stream: "...(8 wanted): the room of 2.5 layers, which stream instead"
  //       fewer: "(8 wanted; no more fit beside the fixed weights, the workspace and the ring, 2 layers)"
  //   "ring buffer: 2 slots x 634.00 MiB = 1.24 GiB"   or "no ring buffer: no layer streams"
  //   "layers 0-29 resident (30 x 634.00 MiB = 18.57 GiB): as many as fit after the fixed weights,
  //    workspace, KV cache and ring"   (one line)
  //       or "layers 0-39 resident (all 40 x 634.00 MiB = 24.77 GiB)", or "no layer resident: ..."
  //   "layers 30-39 streamed from host memory (10 x 634.00 MiB): 6.19 GiB copied per forward pass"
  //       or "no layer streamed"
  //   "total 23.81 GiB of 24.00 GiB free, 196.00 MiB unused"
  std::vector<std::string> explanation;
};

absl::StatusOr<ResidencyPlan> PlanResidency(const PlanInputs& inputs);

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_RESIDENCY_PLAN_H_
