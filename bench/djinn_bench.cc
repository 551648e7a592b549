// djinn_bench: latency and throughput of a running djinnd, measured from the
// client side over gRPC.
//
//   djinn_bench --addr HOST:PORT --model NAME --prompt-file FILE
//               [--concurrency N] [--max-tokens M] [--repeat R] [--warmup W]
//               [--label TEXT] [--out FILE.json]
//
// FILE holds prompts as token ids, one prompt per line (ids separated by
// commas and/or spaces; '#' starts a comment line). Request i of a round uses
// line i mod the number of lines, sent verbatim (no BOS is added), with
// temperature 0 (greedy), ignore_eos and max_tokens M, so every request
// generates exactly M tokens.
//
// A round sends N Generate calls at once (one thread each, released together)
// and waits for all. Per request it records the client-side time of every
// streamed message:
//   ttft            first message carrying a token − the call's start
//   decode steps    the gaps between later token-carrying messages, each
//                   divided by the tokens it carried (normally 1)
// Per round:
//   ttft_s                 median over the round's requests (and min, max)
//   decode_s_per_token     median over every decode step of every request in
//                          the round (steps after the first token): for N > 1
//                          this is the time a sequence waits for its next
//                          token, i.e. one step of the whole batch
//   decode_mean_s_per_token mean over requests of (last − first token time) /
//                          (tokens − 1)
//   aggregate_tokens_per_s all generated tokens / (last finish − first start)
//   decode_tokens_per_s    tokens after each request's first / (last token −
//                          earliest first token)
//   server_ttft_s          median of the daemon's own usage.time_to_first_token
//   ttft_p50_s, ttft_p99_s the round's time to first token at those
//                          percentiles (nearest rank)
//   itl_p50_s, itl_p99_s   the same over every inter-token gap of the round
// R rounds are measured after W warm-up rounds (same shape, not recorded);
// the summary is the MEDIAN over the R rounds of each figure, and "best" the
// minimum time (maximum rate) over them. Prints one JSON object (and writes
// it to --out).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "client/cpp/djinn_client.h"

ABSL_FLAG(std::string, addr, "localhost:50051", "djinnd's gRPC address");
ABSL_FLAG(std::string, model, "m", "loaded model name");
ABSL_FLAG(std::string, prompt_file, "", "token ids, one prompt per line");
ABSL_FLAG(int, concurrency, 1, "requests sent at once per round");
ABSL_FLAG(int, max_tokens, 128, "tokens generated per request (ignore_eos: exactly this many)");
ABSL_FLAG(int, repeat, 3, "measured rounds; the summary is the median over them");
ABSL_FLAG(int, warmup, 1, "unrecorded rounds first");
ABSL_FLAG(std::string, label, "", "free text recorded in the JSON");
ABSL_FLAG(std::string, out, "", "also write the JSON here");
ABSL_FLAG(double, timeout_s, 600, "deadline of each Generate call");

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// The q-th quantile (0..1) by the nearest-rank rule: the smallest value
// with at least q of the values at or below it.
double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[rank == 0 ? 0 : rank - 1];
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<std::vector<uint32_t>> ReadPrompts(const std::string& path) {
  std::vector<std::vector<uint32_t>> prompts;
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "djinn_bench: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream ids(line);
    std::vector<uint32_t> prompt;
    long long id;
    while (ids >> id) {
      if (id < 0) {
        std::fprintf(stderr, "djinn_bench: negative token id in %s\n", path.c_str());
        std::exit(2);
      }
      prompt.push_back(static_cast<uint32_t>(id));
    }
    if (!prompt.empty()) prompts.push_back(std::move(prompt));
  }
  if (prompts.empty()) {
    std::fprintf(stderr, "djinn_bench: no prompts in %s\n", path.c_str());
    std::exit(2);
  }
  return prompts;
}

struct RequestResult {
  bool ok = false;
  std::string error;
  size_t prompt_tokens = 0;
  size_t tokens = 0;
  Clock::time_point start, first_token, last_token, end;
  std::vector<double> steps;  // seconds per token after the first
  double server_ttft = 0;
};

RequestResult RunOne(djinn::client::DjinnClient& client, const std::vector<uint32_t>& prompt, int max_tokens,
                     Clock::time_point start) {
  RequestResult r;
  r.prompt_tokens = prompt.size();
  djinn::v1::GenerateRequest request;
  request.set_model(absl::GetFlag(FLAGS_model));
  request.mutable_token_ids()->mutable_ids()->Add(prompt.begin(), prompt.end());
  request.set_max_tokens(static_cast<uint32_t>(max_tokens));
  request.set_temperature(0);
  request.set_ignore_eos(true);
  djinn::client::CallOptions call;
  call.timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout_s));
  r.start = start;
  Clock::time_point previous;
  auto on_response = [&](const djinn::v1::GenerateResponse& message) {
    const Clock::time_point now = Clock::now();
    const size_t k = static_cast<size_t>(message.token_ids_size());
    if (k == 0) return true;
    if (r.tokens == 0) {
      r.first_token = now;
    } else {
      const double gap = Seconds(previous, now) / double(k);
      for (size_t i = 0; i < k; ++i) r.steps.push_back(gap);
    }
    r.tokens += k;
    previous = now;
    r.last_token = now;
    return true;
  };
  absl::StatusOr<djinn::v1::GenerateResponse> whole = client.Generate(request, on_response, call);
  r.end = Clock::now();
  if (!whole.ok()) {
    r.error = whole.status().ToString();
    return r;
  }
  r.server_ttft = whole->usage().time_to_first_token_seconds();
  if (r.tokens != static_cast<size_t>(max_tokens)) {
    r.error = absl::StrCat("got ", r.tokens, " tokens, expected ", max_tokens);
    return r;
  }
  r.ok = true;
  return r;
}

// One round: `concurrency` requests released at once.
std::vector<RequestResult> RunRound(djinn::client::DjinnClient& client,
                                    const std::vector<std::vector<uint32_t>>& prompts, int concurrency,
                                    int max_tokens) {
  std::vector<RequestResult> results(concurrency);
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  Clock::time_point start;
  std::vector<std::thread> threads;
  for (int i = 0; i < concurrency; ++i) {
    threads.emplace_back([&, i] {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
      }
      results[i] = RunOne(client, prompts[i % prompts.size()], max_tokens, start);
    });
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    start = Clock::now();
    go = true;
  }
  cv.notify_all();
  for (std::thread& t : threads) t.join();
  return results;
}

json Summarise(const std::vector<RequestResult>& results) {
  std::vector<double> ttft, server_ttft, steps, means;
  Clock::time_point first_start = results[0].start, last_end = results[0].end;
  Clock::time_point earliest_first = results[0].first_token, latest_last = results[0].last_token;
  size_t tokens = 0, decode_tokens = 0;
  for (const RequestResult& r : results) {
    ttft.push_back(Seconds(r.start, r.first_token));
    server_ttft.push_back(r.server_ttft);
    steps.insert(steps.end(), r.steps.begin(), r.steps.end());
    if (r.tokens > 1) means.push_back(Seconds(r.first_token, r.last_token) / double(r.tokens - 1));
    first_start = std::min(first_start, r.start);
    last_end = std::max(last_end, r.end);
    earliest_first = std::min(earliest_first, r.first_token);
    latest_last = std::max(latest_last, r.last_token);
    tokens += r.tokens;
    decode_tokens += r.tokens - 1;
  }
  double mean = 0;
  for (double m : means) mean += m;
  if (!means.empty()) mean /= double(means.size());
  const double wall = Seconds(first_start, last_end);
  const double decode_span = Seconds(earliest_first, latest_last);
  return {
      {"ttft_s", Median(ttft)},
      {"ttft_min_s", *std::min_element(ttft.begin(), ttft.end())},
      {"ttft_max_s", *std::max_element(ttft.begin(), ttft.end())},
      {"ttft_p50_s", Percentile(ttft, 0.50)},
      {"ttft_p99_s", Percentile(ttft, 0.99)},
      {"server_ttft_s", Median(server_ttft)},
      {"itl_p50_s", Percentile(steps, 0.50)},
      {"itl_p99_s", Percentile(steps, 0.99)},
      {"decode_s_per_token", Median(steps)},
      {"decode_mean_s_per_token", mean},
      {"decode_steps", steps.size()},
      {"wall_s", wall},
      {"tokens", tokens},
      {"aggregate_tokens_per_s", wall > 0 ? double(tokens) / wall : 0.0},
      {"decode_tokens_per_s", decode_span > 0 ? double(decode_tokens) / decode_span : 0.0},
  };
}

// Dashes in flag names, as djinnctl and djinnd accept them: --max-tokens.
std::vector<char*> NormaliseFlags(int argc, char** argv, std::vector<std::string>* storage) {
  storage->reserve(argc);
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && arg.rfind("--", 0) == 0) {
      const size_t end = std::min(arg.find('='), arg.size());
      std::replace(arg.begin() + 2, arg.begin() + static_cast<std::ptrdiff_t>(end), '-', '_');
    }
    storage->push_back(std::move(arg));
  }
  std::vector<char*> out;
  for (std::string& s : *storage) out.push_back(s.data());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "djinn_bench --addr HOST:PORT --model NAME --prompt-file FILE [--concurrency N] [--max-tokens M] "
      "[--repeat R] [--warmup W] [--label TEXT] [--out FILE.json]");
  std::vector<std::string> storage;
  std::vector<char*> args = NormaliseFlags(argc, argv, &storage);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  const std::string prompt_file = absl::GetFlag(FLAGS_prompt_file);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const int max_tokens = absl::GetFlag(FLAGS_max_tokens);
  const int repeat = absl::GetFlag(FLAGS_repeat);
  const int warmup = absl::GetFlag(FLAGS_warmup);
  if (prompt_file.empty() || concurrency < 1 || max_tokens < 1 || repeat < 1 || warmup < 0) {
    std::fprintf(stderr, "usage: %s\n", absl::ProgramUsageMessage().data());
    return 2;
  }
  const std::vector<std::vector<uint32_t>> prompts = ReadPrompts(prompt_file);
  auto client = djinn::client::DjinnClient::Connect(absl::GetFlag(FLAGS_addr));

  for (int w = 0; w < warmup; ++w) {
    for (const RequestResult& r : RunRound(*client, prompts, concurrency, max_tokens)) {
      if (!r.ok) {
        std::fprintf(stderr, "djinn_bench: warm-up request failed: %s\n", r.error.c_str());
        return 1;
      }
    }
  }
  json rounds = json::array();
  for (int i = 0; i < repeat; ++i) {
    std::vector<RequestResult> results = RunRound(*client, prompts, concurrency, max_tokens);
    for (const RequestResult& r : results) {
      if (!r.ok) {
        std::fprintf(stderr, "djinn_bench: request failed: %s\n", r.error.c_str());
        return 1;
      }
    }
    rounds.push_back(Summarise(results));
    std::fprintf(stderr, "round %d/%d: ttft %.4f s, decode %.5f s/token, %.1f tokens/s\n", i + 1, repeat,
                 rounds.back()["ttft_s"].get<double>(), rounds.back()["decode_s_per_token"].get<double>(),
                 rounds.back()["aggregate_tokens_per_s"].get<double>());
  }
  json summary, best;
  for (const auto& [key, value] : rounds[0].items()) {
    std::vector<double> v;
    for (const json& r : rounds) v.push_back(r[key].get<double>());
    summary[key] = Median(v);
    const bool rate = key.size() > 6 && key.compare(key.size() - 6, 6, "_per_s") == 0;
    best[key] = rate ? *std::max_element(v.begin(), v.end()) : *std::min_element(v.begin(), v.end());
  }
  size_t prompt_tokens = 0;
  for (size_t i = 0; i < static_cast<size_t>(concurrency); ++i) prompt_tokens += prompts[i % prompts.size()].size();
  const json out = {
      {"tool", "djinn_bench"},
      {"label", absl::GetFlag(FLAGS_label)},
      {"addr", absl::GetFlag(FLAGS_addr)},
      {"model", absl::GetFlag(FLAGS_model)},
      {"prompt_file", prompt_file},
      {"prompt_tokens_mean", double(prompt_tokens) / concurrency},
      {"concurrency", concurrency},
      {"max_tokens", max_tokens},
      {"warmup", warmup},
      {"repeat", repeat},
      {"summary_rule", "median over repeats; best = min time / max rate over repeats"},
      {"summary", summary},
      {"best", best},
      {"rounds", rounds},
  };
  const std::string text = out.dump(1);
  std::printf("%s\n", text.c_str());
  if (const std::string path = absl::GetFlag(FLAGS_out); !path.empty()) {
    std::ofstream file(path);
    file << text << "\n";
    if (!file) {
      std::fprintf(stderr, "djinn_bench: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return 0;
}
