// djinn_bench, the load generator the serving benchmarks use, against a real
// djinnd on loopback: every request's tokens arrive, and the latency
// percentiles it reports are consistent with what it measured.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

namespace fs = std::filesystem;

#ifndef DJINN_BENCH_PATH
#error "djinn_bench is built with the tests"
#endif

TEST(DjinnBenchTest, ConcurrentRequestsReportTokensAndPercentiles) {
  TestModel("tiny");
  auto daemon = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=256MiB"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = Connect((*daemon)->address());
  ASSERT_TRUE(Load(*stub, "m", "tiny").status.ok());

  const fs::path dir = fs::path(::testing::TempDir()) / "djinn_bench_test";
  fs::create_directories(dir);
  const fs::path prompts = dir / "prompts.txt", out = dir / "out.json";
  {
    std::ofstream file(prompts);
    file << "# three prompts, used in turn\n1 17 42 99 5\n1, 300, 301, 302\n1 7 7 7 7 7 7 7 7 7 7 7\n";
  }
  constexpr int kClients = 5, kTokens = 9;
  const CommandResult run = RunCommand({DJINN_BENCH_PATH, "--addr=" + (*daemon)->address(), "--model=m",
                                        "--prompt-file=" + prompts.string(), "--concurrency=" + std::to_string(kClients),
                                        "--max-tokens=" + std::to_string(kTokens), "--repeat=1", "--warmup=0",
                                        "--out=" + out.string()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::ifstream in(out);
  const nlohmann::json report = nlohmann::json::parse(in);
  const nlohmann::json& round = report["summary"];
  EXPECT_EQ(round["tokens"].get<int>(), kClients * kTokens);
  EXPECT_EQ(round["decode_steps"].get<int>(), kClients * (kTokens - 1));
  for (const char* what : {"ttft", "itl"}) {
    const double p50 = round[std::string(what) + "_p50_s"].get<double>();
    const double p99 = round[std::string(what) + "_p99_s"].get<double>();
    EXPECT_GT(p50, 0) << what;
    EXPECT_LE(p50, p99) << what;
  }
  // Nearest rank over 5 requests: p99 is the slowest first token.
  EXPECT_DOUBLE_EQ(round["ttft_p99_s"].get<double>(), round["ttft_max_s"].get<double>());
  EXPECT_GT(round["aggregate_tokens_per_s"].get<double>(), 0);
}

}  // namespace
}  // namespace djinn::testing
