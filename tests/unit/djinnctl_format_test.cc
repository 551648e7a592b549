// The text djinnctl shows people: human units, tables, the progress bar and
// the views of models, usage and stats.
#include <cstdint>
#include <string>

#include "client/cpp/cli/format.h"
#include "client/cpp/cli/model_view.h"
#include "client/cpp/cli/progress_bar.h"
#include "client/cpp/cli/stats_view.h"
#include "client/cpp/cli/table.h"
#include "client/cpp/cli/usage_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace djinn::client::cli {
namespace {

using ::testing::HasSubstr;

TEST(HumanBytes, BinaryUnitsOneDecimal) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(512), "512 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1024), "1.0 KiB");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(uint64_t{3} << 29), "1.5 GiB");
  EXPECT_EQ(HumanBytes(uint64_t{80} << 30), "80.0 GiB");
  EXPECT_EQ(HumanBytes(uint64_t{2} << 40), "2.0 TiB");
  EXPECT_EQ(HumanBytes(UINT64_MAX), "16.0 EiB");
}

TEST(HumanBytes, RoundingUpMovesToTheNextUnit) {
  EXPECT_EQ(HumanBytes((1 << 20) - 1), "1.0 MiB");  // not "1024.0 KiB"
}

TEST(HumanBytesOf, UsesTheUnitOfTheTotal) {
  EXPECT_EQ(HumanBytesOf(1288490189, 2791728742), "1.2/2.6 GiB");
  EXPECT_EQ(HumanBytesOf(512 << 10, uint64_t{2} << 30), "0.0/2.0 GiB");
  EXPECT_EQ(HumanBytesOf(45, 100), "45/100 B");
}

TEST(HumanCount, DecimalSuffixes) {
  EXPECT_EQ(HumanCount(0), "0");
  EXPECT_EQ(HumanCount(999), "999");
  EXPECT_EQ(HumanCount(1000), "1.0K");
  EXPECT_EQ(HumanCount(4600), "4.6K");
  EXPECT_EQ(HumanCount(999'950), "1.0M");
  EXPECT_EQ(HumanCount(124'440'000), "124.4M");
  EXPECT_EQ(HumanCount(1'100'048'384), "1.1B");
  EXPECT_EQ(HumanCount(70'553'706'496), "70.6B");
}

TEST(HumanDuration, PicksAReadableUnit) {
  EXPECT_EQ(HumanDuration(0), "0 us");
  EXPECT_EQ(HumanDuration(0.00085), "850 us");
  EXPECT_EQ(HumanDuration(0.12), "120.0 ms");
  EXPECT_EQ(HumanDuration(1.234), "1.23 s");
  EXPECT_EQ(HumanDuration(245), "4m 05s");
  EXPECT_EQ(HumanDuration(7384), "2h 03m 04s");
  EXPECT_EQ(HumanDuration(-1), "-");
}

TEST(Percent, OfAWhole) {
  EXPECT_EQ(Percent(45, 100), "45.0%");
  EXPECT_EQ(Percent(1, 3), "33.3%");
  EXPECT_EQ(Percent(1, 0), "-");
}

TEST(EnumNames, LowercaseAndDashForUnspecified) {
  EXPECT_EQ(DTypeName(v1::DTYPE_BFLOAT16), "bfloat16");
  EXPECT_EQ(DTypeName(v1::DTYPE_UNSPECIFIED), "-");
  EXPECT_EQ(ModelStateName(v1::MODEL_STATE_READY), "ready");
  EXPECT_EQ(FinishReasonName(v1::FINISH_REASON_LENGTH), "length");
  EXPECT_EQ(PhaseName(v1::LoadModelProgress::PHASE_LOADING_WEIGHTS), "loading weights");
}

TEST(Table, PadsColumnsAndAlignsNumbersRight) {
  Table table({"NAME", "SIZE"}, {Table::Align::kLeft, Table::Align::kRight});
  table.AddRow({"a", "1"});
  table.AddRow({"long-name", "123"});
  EXPECT_EQ(table.Render(),
            "NAME       SIZE\n"
            "a             1\n"
            "long-name   123\n");
}

TEST(Table, NoTrailingSpacesAndIndent) {
  Table table({"A", "B"});
  table.AddRow({"xyz", "yyyy"});
  table.AddRow({"x"});  // missing cells are empty
  EXPECT_EQ(table.Render("  "),
            "  A    B\n"
            "  xyz  yyyy\n"
            "  x\n");
}

TEST(Table, MultiByteCharactersCountOnce) {
  Table table({"K", "V"});
  table.AddRow({"µs", "1"});
  table.AddRow({"ab", "2"});
  EXPECT_EQ(table.Render(),
            "K   V\n"
            "µs  1\n"
            "ab  2\n");
}

TEST(ProgressBar, FillsByFraction) {
  EXPECT_EQ(RenderProgressBar(45, 100, "loading weights", 20),
            "[#########...........]  45% 45/100 B loading weights");
  EXPECT_EQ(RenderProgressBar(1288490189, 2791728742, "loading weights", 10),
            "[####......]  46% 1.2/2.6 GiB loading weights");
  EXPECT_EQ(RenderProgressBar(7, 7, "", 4), "[####] 100% 7/7 B");
}

TEST(ProgressBar, UnknownTotalShowsNoBytes) {
  EXPECT_EQ(RenderProgressBar(0, 0, "reading config", 5), "[.....]   0% reading config");
  EXPECT_EQ(RenderProgressBar(9, 5, "x", 5), "[#####] 100% 5/5 B x");  // clamped
}

v1::ModelDescription Tiny() {
  v1::ModelDescription model;
  model.set_name("tiny");
  model.set_architecture("LlamaForCausalLM");
  model.set_parameters(4'200'000);
  model.set_dtype(v1::DTYPE_FLOAT16);
  model.set_compute_dtype(v1::DTYPE_FLOAT32);
  model.set_weight_bytes(8 << 20);
  model.set_context_length(2048);
  model.set_max_sequences(8);
  model.set_state(v1::MODEL_STATE_READY);
  return model;
}

TEST(ModelView, OneLineDescription) {
  EXPECT_EQ(DescribeModel(Tiny()),
            "tiny: LlamaForCausalLM, 4.2M params, float16 (computed as float32), "
            "8.0 MiB weights, context 2048, 8 sequences");
  v1::ModelDescription same = Tiny();
  same.set_compute_dtype(v1::DTYPE_FLOAT16);
  same.set_max_sequences(0);
  EXPECT_EQ(DescribeModel(same),
            "tiny: LlamaForCausalLM, 4.2M params, float16, 8.0 MiB weights, context 2048");
}

TEST(ModelView, Table) {
  v1::ListModelsResponse models;
  EXPECT_EQ(RenderModelTable(models), "NAME  STATE  ARCH  PARAMS  DTYPE  WEIGHTS  CONTEXT\n");
  *models.add_models() = Tiny();
  EXPECT_EQ(RenderModelTable(models),
            "NAME  STATE  ARCH              PARAMS  DTYPE    WEIGHTS  CONTEXT\n"
            "tiny  ready  LlamaForCausalLM    4.2M  float16  8.0 MiB     2048\n");
}

TEST(UsageView, OneLine) {
  v1::Usage usage;
  usage.set_prompt_tokens(5);
  usage.set_completion_tokens(20);
  usage.set_time_to_first_token_seconds(0.12);
  usage.set_total_seconds(2.0);
  usage.set_seed(42);
  EXPECT_EQ(DescribeUsage(usage, v1::FINISH_REASON_LENGTH),
            "prompt 5 tokens, completion 20 tokens, first token 120.0 ms, total 2.00 s, "
            "10.0 tokens/s, finish length, seed 42");
  usage.set_queue_seconds(0.5);
  usage.set_total_seconds(0);
  EXPECT_EQ(DescribeUsage(usage, v1::FINISH_REASON_STOP),
            "prompt 5 tokens, completion 20 tokens, queued 500.0 ms, first token 120.0 ms, "
            "total 0 us, - tokens/s, finish stop, seed 42");
}

TEST(StatsView, ShowsTheSplitOfTheBudget) {
  v1::StatsResponse stats;
  stats.set_version("0.1.0");
  stats.set_uptime_seconds(3723);
  stats.mutable_device()->set_kind("cuda");
  stats.mutable_device()->set_name("NVIDIA H100");
  stats.mutable_device()->set_total_memory_bytes(uint64_t{80} << 30);
  auto* memory = stats.mutable_memory();
  memory->set_budget_bytes(uint64_t{8} << 30);
  memory->set_resident_weight_bytes(uint64_t{4} << 30);
  memory->set_ring_buffer_bytes(uint64_t{1} << 30);
  memory->set_kv_cache_bytes(uint64_t{2} << 30);
  memory->set_kv_cache_used_bytes(uint64_t{512} << 20);
  memory->set_workspace_bytes(uint64_t{256} << 20);
  memory->set_free_bytes(uint64_t{768} << 20);
  stats.mutable_ring_buffer()->set_capacity_bytes(uint64_t{1} << 30);
  stats.mutable_ring_buffer()->set_slots(4);
  stats.mutable_requests()->set_generate_started(10);
  stats.mutable_pcie()->set_achieved_gb_per_second(12.5);

  std::string text = RenderStats(stats);
  EXPECT_THAT(text, HasSubstr("djinnd 0.1.0, up 1h 02m 03s\n"));
  EXPECT_THAT(text, HasSubstr("device: cuda NVIDIA H100, 80.0 GiB total\n"));
  EXPECT_THAT(text, HasSubstr("memory: budget 8.0 GiB\n"));
  EXPECT_THAT(text, HasSubstr("  resident weights    4.0 GiB   50.0%\n"));
  EXPECT_THAT(text, HasSubstr("  free              768.0 MiB    9.4%\n"));
  EXPECT_THAT(text, HasSubstr("models: none loaded\n"));
  EXPECT_THAT(text, HasSubstr("generate: 10 started, 0 completed"));
  EXPECT_THAT(text, HasSubstr("0 B used of 1.0 GiB (0.0%), 4 slots"));
  EXPECT_THAT(text, HasSubstr("12.50 GB/s"));

  auto* model = stats.add_models();
  model->set_name("tiny");
  model->set_state(v1::MODEL_STATE_READY);
  model->set_weight_bytes(uint64_t{4} << 30);
  model->set_resident_bytes(uint64_t{1} << 30);
  model->set_streamed_bytes(uint64_t{3} << 30);
  model->set_resident_layers(8);
  model->set_streamed_layers(24);
  text = RenderStats(stats);
  EXPECT_THAT(text, HasSubstr("1.0 GiB (25.0%)"));
  EXPECT_THAT(text, HasSubstr("8/24"));
}

}  // namespace
}  // namespace djinn::client::cli
