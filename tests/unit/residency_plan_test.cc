// PlanResidency: which layers stay resident, which stream, the ring and the
// KV cache under a budget. Expected counts are computed here from the sizes
// the tests pick, not taken from the implementation.
#include "daemon/engine/residency_plan.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr int kRing = ResidencyPlan::kRingSlots;

// A 40-layer model: 100 MiB layers, 300 MiB fixed weights, 50 MiB
// workspace, 20 MiB per KV sequence, 8 sequences wanted.
constexpr int64_t kLayers = 40;
constexpr uint64_t kLayer = 100 * kMiB;
constexpr uint64_t kFixed = 300 * kMiB;
constexpr uint64_t kWorkspace = 50 * kMiB;
constexpr uint64_t kKv = 20 * kMiB;
constexpr int kWanted = 8;
constexpr uint64_t kBase = kFixed + kWorkspace;
constexpr uint64_t kAllResident = kBase + kLayers * kLayer + kWanted * kKv;  // 4510 MiB

PlanInputs Model(uint64_t budget) {
  PlanInputs in;
  in.budget_free_bytes = budget;
  in.layers = kLayers;
  in.layer_bytes = kLayer;
  in.fixed_weight_bytes = kFixed;
  in.workspace_bytes = kWorkspace;
  in.kv_bytes_per_sequence = kKv;
  in.wanted_sequences = kWanted;
  return in;
}

// What every plan must satisfy, whatever the inputs.
void ExpectInvariants(const PlanInputs& in, const ResidencyPlan& p) {
  SCOPED_TRACE(absl::StrCat("budget ", in.budget_free_bytes, " layers ", in.layers, " wanted ", in.wanted_sequences));
  ASSERT_EQ(static_cast<int64_t>(p.layers.size()), in.layers);
  EXPECT_EQ(p.resident_layers + p.streamed_layers, in.layers);
  EXPECT_GE(p.resident_layers, 0);
  EXPECT_GE(p.streamed_layers, 0);
  for (int64_t i = 0; i < in.layers; ++i) {
    EXPECT_EQ(p.layers[i], i < p.resident_layers ? LayerPlacement::kResident : LayerPlacement::kStreamed)
        << "layer " << i;
  }
  if (p.streamed_layers == 0) {
    EXPECT_EQ(p.ring_slots, 0);
  } else {
    EXPECT_GE(p.ring_slots, 1);
    EXPECT_LE(p.ring_slots, std::min<int64_t>(p.streamed_layers, kRing));
    // A ring holding every streamed layer would cost what keeping them does.
    if (in.layer_bytes > 0) {
      EXPECT_LT(p.ring_slots, p.streamed_layers);
    }
  }
  EXPECT_EQ(p.ring_bytes, static_cast<uint64_t>(p.ring_slots) * in.layer_bytes);
  EXPECT_EQ(p.resident_weight_bytes, in.fixed_weight_bytes + static_cast<uint64_t>(p.resident_layers) * in.layer_bytes);
  EXPECT_EQ(p.streamed_weight_bytes, static_cast<uint64_t>(p.streamed_layers) * in.layer_bytes);
  EXPECT_GE(p.kv_sequences, 1);
  EXPECT_LE(p.kv_sequences, in.wanted_sequences);
  EXPECT_EQ(p.kv_bytes, static_cast<uint64_t>(p.kv_sequences) * in.kv_bytes_per_sequence);
  EXPECT_EQ(p.workspace_bytes, in.workspace_bytes);
  EXPECT_EQ(p.total_bytes(), p.resident_weight_bytes + p.ring_bytes + p.kv_bytes + p.workspace_bytes);
  EXPECT_LE(p.total_bytes(), in.budget_free_bytes);
  EXPECT_EQ(p.explanation.size(), 6u);
  if (!in.allow_streaming) {
    EXPECT_EQ(p.streamed_layers, 0);
  }
}

const std::string& Line(const ResidencyPlan& p, const std::string& prefix) {
  static const std::string kNone = "<no such line>";
  for (const std::string& line : p.explanation) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return kNone;
}

TEST(ResidencyPlanTest, EverythingFitsStreamsNothing) {
  for (uint64_t budget : {kAllResident, kAllResident + 1, uint64_t{64} << 30}) {
    const PlanInputs in = Model(budget);
    absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectInvariants(in, *p);
    EXPECT_EQ(p->resident_layers, kLayers);
    EXPECT_EQ(p->streamed_layers, 0);
    EXPECT_EQ(p->ring_slots, 0);
    EXPECT_EQ(p->ring_bytes, 0u);
    EXPECT_EQ(p->streamed_weight_bytes, 0u);
    EXPECT_EQ(p->kv_sequences, kWanted);
    EXPECT_EQ(p->total_bytes(), kAllResident);
  }
}

TEST(ResidencyPlanTest, OneByteShortOfAllResidentStreams) {
  const PlanInputs in = Model(kAllResident - 1);
  absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectInvariants(in, *p);
  // Wanted KV and a ring of 2 leave room for 40 - 1 layer blocks in total: 37 resident.
  EXPECT_EQ(p->kv_sequences, kWanted);
  EXPECT_EQ(p->ring_slots, kRing);
  EXPECT_EQ(p->resident_layers, (kAllResident - 1 - kBase - kWanted * kKv) / kLayer - kRing);
  EXPECT_EQ(p->resident_layers, 37);
  EXPECT_EQ(p->streamed_layers, 3);
}

// Budgets under which about 10%, 50% and 90% of the layers must stream.
class StreamedFractionTest : public ::testing::TestWithParam<int> {};

TEST_P(StreamedFractionTest, StreamsTheLastLayers) {
  const int percent = GetParam();
  // 4, 20, 36 (never kRing or fewer: streaming 2 layers through a 2-slot
  // ring would cost what keeping them does).
  const int64_t streamed = std::max<int64_t>(kLayers * percent / 100, kRing + 1);
  ASSERT_EQ(streamed, percent == 10 ? 4 : percent == 50 ? 20 : 36);
  // Room for the wanted KV, a full ring and (L - streamed) layers, plus half a layer.
  const uint64_t budget = kBase + kWanted * kKv + (kLayers - streamed + kRing) * kLayer + kLayer / 2;
  const PlanInputs in = Model(budget);
  absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectInvariants(in, *p);
  EXPECT_EQ(p->streamed_layers, streamed);
  EXPECT_EQ(p->resident_layers, kLayers - streamed);
  EXPECT_EQ(p->ring_slots, kRing);
  EXPECT_EQ(p->ring_bytes, kRing * kLayer);
  EXPECT_EQ(p->kv_sequences, kWanted);
  EXPECT_EQ(p->streamed_weight_bytes, streamed * kLayer);
  for (int64_t i = kLayers - streamed; i < kLayers; ++i) EXPECT_EQ(p->layers[i], LayerPlacement::kStreamed);
  EXPECT_EQ(p->layers[kLayers - streamed - 1], LayerPlacement::kResident);
  EXPECT_EQ(budget - p->total_bytes(), kLayer / 2);

  // One byte less than those layers need: one more layer streams.
  const PlanInputs tighter = Model(budget - kLayer / 2 - 1);
  absl::StatusOr<ResidencyPlan> q = PlanResidency(tighter);
  ASSERT_TRUE(q.ok()) << q.status();
  ExpectInvariants(tighter, *q);
  EXPECT_EQ(q->streamed_layers, streamed + 1);
  EXPECT_EQ(q->ring_slots, kRing);
  EXPECT_EQ(q->kv_sequences, kWanted);
}

INSTANTIATE_TEST_SUITE_P(Percent, StreamedFractionTest, ::testing::Values(10, 50, 90));

TEST(ResidencyPlanTest, KvShrinksBeforeFailing) {
  // Below the wanted KV beside the smallest ring: KV shrinks, the ring stays at 2.
  for (int n = kWanted - 1; n >= 1; --n) {
    SCOPED_TRACE(n);
    const uint64_t budget = kBase + 2 * kLayer + n * kKv + kKv / 2;
    const PlanInputs in = Model(budget);
    absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectInvariants(in, *p);
    EXPECT_EQ(p->kv_sequences, n);
    EXPECT_EQ(p->ring_slots, 2);
    EXPECT_EQ(p->resident_layers, 0);  // the half sequence left over is no layer
    const std::string& kv = Line(*p, "KV cache:");
    EXPECT_THAT(kv, StartsWith(absl::StrCat("KV cache: ", n, n == 1 ? " sequence x " : " sequences x ")));
    EXPECT_THAT(kv, HasSubstr("(8 wanted; no more fit beside"));
    EXPECT_THAT(kv, HasSubstr("the workspace and the ring, 2 layers"));
    EXPECT_EQ(Line(*p, "ring buffer:"), "ring buffer: 2 slots x 100.00 MiB = 200.00 MiB");
  }
}

TEST(ResidencyPlanTest, AfterKvShrinksLayersFillWhatIsLeft) {
  // KV sequences larger than layers: 300 MiB each, 4 wanted.
  PlanInputs in = Model(0);
  in.kv_bytes_per_sequence = 300 * kMiB;
  in.wanted_sequences = 4;
  // Two sequences, the smallest ring and 250 MiB: two resident layers.
  in.budget_free_bytes = kBase + 2 * in.kv_bytes_per_sequence + 2 * kLayer + 250 * kMiB;
  absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectInvariants(in, *p);
  EXPECT_EQ(p->kv_sequences, 2);
  EXPECT_EQ(p->ring_slots, 2);
  EXPECT_EQ(p->resident_layers, 2);
  EXPECT_EQ(p->streamed_layers, kLayers - 2);
  EXPECT_EQ(in.budget_free_bytes - p->total_bytes(), 50 * kMiB);
}

TEST(ResidencyPlanTest, OneByteBelowTheMinimumIsResourceExhausted) {
  const uint64_t minimum = kBase + kKv + 2 * kLayer;  // 570 MiB
  {
    const PlanInputs in = Model(minimum);
    absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectInvariants(in, *p);
    EXPECT_EQ(p->kv_sequences, 1);
    EXPECT_EQ(p->ring_slots, 2);
    EXPECT_EQ(p->resident_layers, 0);
    EXPECT_EQ(p->total_bytes(), minimum);
  }
  absl::StatusOr<ResidencyPlan> p = PlanResidency(Model(minimum - 1));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(p.status().message());
  // 570 MiB and 570 MiB - 1 B print alike, so both come with exact counts too.
  EXPECT_THAT(message, HasSubstr(absl::StrCat("needs at least ", FormatBytes(minimum), " = ", minimum, " B (fixed")));
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat("only ", FormatBytes(minimum - 1), " = ", minimum - 1, " B of the budget is free")));
  EXPECT_THAT(message, HasSubstr("fixed weights 300.00 MiB"));
  EXPECT_THAT(message, HasSubstr("workspace 50.00 MiB"));
  EXPECT_THAT(message, HasSubstr("one KV sequence 20.00 MiB"));
  EXPECT_THAT(message, HasSubstr("ring of 2 layers 200.00 MiB"));

  absl::StatusOr<ResidencyPlan> small = PlanResidency(Model(100 * kMiB));
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(small.status().message()),
              HasSubstr("needs at least 570.00 MiB (fixed weights 300.00 MiB, workspace 50.00 MiB, one KV sequence "
                        "20.00 MiB, ring of 2 layers 200.00 MiB) but only 100.00 MiB of the budget is free"));
}

TEST(ResidencyPlanTest, WithoutStreamingEveryLayerIsResident) {
  PlanInputs in = Model(kAllResident);
  in.allow_streaming = false;
  {
    absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectInvariants(in, *p);
    EXPECT_EQ(p->resident_layers, kLayers);
    EXPECT_EQ(p->kv_sequences, kWanted);
  }
  // Room for all layers and 3.5 sequences: 3 sequences, nothing streams.
  in.budget_free_bytes = kBase + kLayers * kLayer + 3 * kKv + kKv / 2;
  {
    absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectInvariants(in, *p);
    EXPECT_EQ(p->resident_layers, kLayers);
    EXPECT_EQ(p->streamed_layers, 0);
    EXPECT_EQ(p->ring_slots, 0);
    EXPECT_EQ(p->kv_sequences, 3);
    EXPECT_THAT(Line(*p, "KV cache:"),
                HasSubstr("(8 wanted; no more fit beside the fixed weights, the workspace and all 40 layers)"));
  }
  // The same budget with streaming keeps the 8 wanted sequences and streams.
  {
    PlanInputs streaming = in;
    streaming.allow_streaming = true;
    absl::StatusOr<ResidencyPlan> p = PlanResidency(streaming);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectInvariants(streaming, *p);
    EXPECT_EQ(p->kv_sequences, kWanted);
    EXPECT_EQ(p->ring_slots, kRing);
    EXPECT_EQ(p->streamed_layers, 3);  // the 90 MiB more KV: 37 resident layers and a 2-slot ring
  }
  // One byte short of all layers and one sequence.
  in.budget_free_bytes = kBase + kLayers * kLayer + kKv - 1;
  absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(p.status().message());
  EXPECT_THAT(message, HasSubstr(absl::StrCat("needs at least ", FormatBytes(in.budget_free_bytes + 1))));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(" = ", in.budget_free_bytes + 1, " B (fixed")));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(" = ", in.budget_free_bytes, " B of the budget is free")));
  EXPECT_THAT(message, HasSubstr("all 40 layers 3.91 GiB"));
  EXPECT_THAT(message, HasSubstr("one KV sequence 20.00 MiB"));
  EXPECT_THAT(message, HasSubstr("streaming is off"));
  // With streaming the same budget is plenty.
  in.allow_streaming = true;
  EXPECT_TRUE(PlanResidency(in).ok());
}

TEST(ResidencyPlanTest, OneLayerModel) {
  PlanInputs in = Model(0);
  in.layers = 1;
  in.budget_free_bytes = kBase + kLayer + kWanted * kKv;
  {
    absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectInvariants(in, *p);
    EXPECT_EQ(p->resident_layers, 1);
    EXPECT_EQ(p->ring_slots, 0);
    EXPECT_EQ(p->kv_sequences, kWanted);
    EXPECT_EQ(Line(*p, "layer 0 resident"), "layer 0 resident (all 1 x 100.00 MiB = 100.00 MiB)");
  }
  // Streaming one layer through a one-slot ring saves nothing: KV shrinks instead.
  in.budget_free_bytes = kBase + kLayer + 2 * kKv;
  {
    absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectInvariants(in, *p);
    EXPECT_EQ(p->resident_layers, 1);
    EXPECT_EQ(p->streamed_layers, 0);
    EXPECT_EQ(p->ring_slots, 0);
    EXPECT_EQ(p->kv_sequences, 2);
  }
  in.budget_free_bytes = kBase + kLayer + kKv - 1;
  absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("its one layer 100.00 MiB"));
}

TEST(ResidencyPlanTest, WhenTheLastStreamedLayersFitTheRingDisappears) {
  // Two layers: the smallest ring is both of them, so after KV shrinks they are resident.
  PlanInputs in = Model(0);
  in.layers = 2;
  in.budget_free_bytes = kBase + 2 * kLayer + 3 * kKv;
  absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectInvariants(in, *p);
  EXPECT_EQ(p->resident_layers, 2);
  EXPECT_EQ(p->ring_slots, 0);
  EXPECT_EQ(p->kv_sequences, 3);
  EXPECT_EQ(p->total_bytes(), in.budget_free_bytes);
}

TEST(ResidencyPlanTest, FewLayersNeverStreamThroughARingAsLargeAsThem) {
  const uint64_t with_kv = kBase + kWanted * kKv;
  struct Case {
    int64_t layers;
    uint64_t budget;
    int64_t resident;
    int ring;
  };
  for (const Case& c : {
           Case{40, with_kv + 40 * kLayer - 1, 37, 2},  // not 38 + 2 streamed in 2 slots: that is 40 blocks
           Case{40, with_kv + 40 * kLayer + kLayer / 2, 40, 0},
           Case{4, with_kv + 4 * kLayer, 4, 0},      // all fit
           Case{4, with_kv + 4 * kLayer - 1, 1, 2},  // 3 stream through 2 slots
           Case{3, with_kv + 3 * kLayer - 1, 0, 2},
           Case{2, with_kv + 2 * kLayer, 2, 0},      // all fit
           Case{5, with_kv + 5 * kLayer - 1, 2, 2},  // layers 0-1 resident, 3 stream through 2 slots
           Case{6, with_kv + 6 * kLayer - 1, 3, 2},  // 4 resident would leave 2 streamed in 2 slots: no gain
       }) {
    SCOPED_TRACE(absl::StrCat(c.layers, " layers, budget ", c.budget));
    PlanInputs in = Model(c.budget);
    in.layers = c.layers;
    absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectInvariants(in, *p);
    EXPECT_EQ(p->resident_layers, c.resident);
    EXPECT_EQ(p->ring_slots, c.ring);
    EXPECT_EQ(p->kv_sequences, kWanted);
  }
}

TEST(ResidencyPlanTest, ExplanationNamesEveryDecision) {
  const uint64_t budget = kBase + kWanted * kKv + (35 + kRing) * kLayer + 50 * kMiB;
  absl::StatusOr<ResidencyPlan> p = PlanResidency(Model(budget));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->resident_layers, 35);
  EXPECT_THAT(p->explanation,
              ::testing::ElementsAre(
                  "fixed weights 300.00 MiB (embedding, final norm, lm_head) + workspace 50.00 MiB = 350.00 MiB, "
                  "always resident",
                  "KV cache: 8 sequences x 20.00 MiB = 160.00 MiB (8 wanted): the room of 1.6 layers, which stream "
                  "instead",
                  "ring buffer: 2 slots x 100.00 MiB = 200.00 MiB",
                  "layers 0-34 resident (35 x 100.00 MiB = 3.42 GiB): as many as fit after the fixed weights, "
                  "workspace, KV cache and ring",
                  "layers 35-39 streamed from host memory (5 x 100.00 MiB): 500.00 MiB copied per forward pass",
                  "total 4.11 GiB of 4.16 GiB free, 50.00 MiB unused"));

  absl::StatusOr<ResidencyPlan> all = PlanResidency(Model(kAllResident));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(Line(*all, "ring"), "<no such line>");
  EXPECT_EQ(Line(*all, "no ring buffer"), "no ring buffer: no layer streams");
  EXPECT_EQ(Line(*all, "no layer streamed"), "no layer streamed");
  EXPECT_EQ(Line(*all, "layers 0-39"), "layers 0-39 resident (all 40 x 100.00 MiB = 3.91 GiB)");
  EXPECT_THAT(Line(*all, "total"), HasSubstr("0 B unused"));

  absl::StatusOr<ResidencyPlan> none = PlanResidency(Model(kBase + kWanted * kKv + 2 * kLayer + 60 * kMiB));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(Line(*none, "no layer resident"),
            "no layer resident: 60.00 MiB left after the fixed weights, workspace, KV cache and ring; a layer needs "
            "100.00 MiB");
  EXPECT_EQ(Line(*none, "layers 0-39 streamed"),
            "layers 0-39 streamed from host memory (40 x 100.00 MiB): 3.91 GiB copied per forward pass");
}

// Every budget from below the minimum to above all-resident, for several
// shapes: the invariants hold, the plan is as large as the budget allows,
// and it fails exactly below the minimum.
TEST(ResidencyPlanTest, SweepOfBudgets) {
  for (int64_t layers : {1, 2, 3, 4, 5, 6, 9, 40}) {
    for (int wanted : {1, 3, 8}) {
      for (uint64_t kv : {20 * kMiB, 300 * kMiB}) {
        for (bool streaming : {true, false}) {
          PlanInputs in = Model(0);
          in.layers = layers;
          in.wanted_sequences = wanted;
          in.kv_bytes_per_sequence = kv;
          in.allow_streaming = streaming;
          const uint64_t min_layers = streaming ? std::min<int64_t>(layers, 2) : layers;
          const uint64_t minimum = kBase + kv + min_layers * kLayer;
          const uint64_t all = kBase + layers * kLayer + wanted * kv;
          int previous_kv = 0;
          for (uint64_t budget = kBase; budget <= all + kLayer; budget += 7 * kMiB + 3) {
            in.budget_free_bytes = budget;
            SCOPED_TRACE(absl::StrCat(layers, " layers, ", wanted, " wanted, kv ", kv, ", streaming ", streaming,
                                      ", budget ", budget));
            absl::StatusOr<ResidencyPlan> p = PlanResidency(in);
            if (budget < minimum) {
              ASSERT_FALSE(p.ok());
              EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
              continue;
            }
            ASSERT_TRUE(p.ok()) << p.status();
            ExpectInvariants(in, *p);
            const uint64_t unused = budget - p->total_bytes();
            EXPECT_EQ(p->resident_layers == layers, budget >= kBase + layers * kLayer + p->kv_sequences * kv);
            if (budget >= all) {
              EXPECT_EQ(p->resident_layers, layers);
            }
            if (p->streamed_layers > 0) {
              EXPECT_LT(unused, kLayer);  // no layer or ring slot more would fit
            }
            if (p->kv_sequences < wanted) {
              EXPECT_LT(unused, kv);                     // no sequence more would fit
              EXPECT_LE(p->ring_slots, kRing);
            }
            if (p->ring_slots > 0 && p->ring_slots < kRing) {
              EXPECT_TRUE(p->resident_layers == 0 || p->kv_sequences < wanted);
            }
            EXPECT_GE(p->kv_sequences, previous_kv);  // more budget never means fewer sequences
            previous_kv = p->kv_sequences;
          }
        }
      }
    }
  }
}

TEST(ResidencyPlanTest, InvalidInputs) {
  PlanInputs in = Model(kAllResident);
  in.layers = 0;
  EXPECT_EQ(PlanResidency(in).status().code(), absl::StatusCode::kInvalidArgument);
  in = Model(kAllResident);
  in.wanted_sequences = 0;
  EXPECT_EQ(PlanResidency(in).status().code(), absl::StatusCode::kInvalidArgument);
  in = Model(std::numeric_limits<uint64_t>::max());
  in.layer_bytes = std::numeric_limits<uint64_t>::max() / 8;  // 40 layers overflow 64 bits
  EXPECT_EQ(PlanResidency(in).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace djinn
