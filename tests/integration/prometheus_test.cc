// deploy/prometheus against the real things: Debian's `prometheus` scrapes a
// real djinnd (CPU backend) with the configuration of
// deploy/prometheus/prometheus.yml (its target, scrape and evaluation
// intervals replaced: the daemon's metrics port, 1 s) and its rule files. The
// test drives generations through a resident and a streamed model and reads
// what Prometheus stored through its HTTP API (/api/v1/query, /api/v1/rules),
// polling each condition with a deadline: the series Prometheus scraped match
// what the clients received and what Stats says, the recording rules compute
// on them, every rule evaluates without an error, and the alerts select the
// scrape job (DjinnNoModelsLoaded before a model is loaded, DjinnDown once the
// daemon is gone, both pending: their `for` is longer than the test).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;

// Every wait on Prometheus (start-up, a scrape, a rule evaluation) is bounded
// by this; with 1 s intervals each normally takes one to three seconds.
constexpr auto kDeadline = std::chrono::seconds(60);
constexpr auto kPollInterval = std::chrono::milliseconds(200);

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(std::string(dir)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Replaces every `from` in `text` by `to`; returns how many there were.
int ReplaceAll(std::string* text, const std::string& from, const std::string& to) {
  int count = 0;
  for (size_t at = text->find(from); at != std::string::npos; at = text->find(from, at + to.size())) {
    text->replace(at, from.size(), to);
    ++count;
  }
  return count;
}

// A port nobody listens on now (Prometheus cannot be told to pick one and
// report it); Start() retries with another when it was taken meanwhile.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "djinn-prometheus-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// deploy/prometheus/prometheus.yml for this test: its djinnd target replaced
// by 127.0.0.1:`metrics_port`, scraping and evaluating every second, its rule
// files by their absolute paths. Each edit must find exactly what it expects,
// so a change of the file's shape fails here rather than testing something
// else.
absl::StatusOr<std::string> TestConfig(int metrics_port) {
  const fs::path deploy = fs::path(DJINN_SOURCE_DIR) / "deploy" / "prometheus";
  std::string config = ReadFile(deploy / "prometheus.yml");
  if (config.empty()) return absl::NotFoundError("cannot read " + (deploy / "prometheus.yml").string());
  int rule_files = 0;
  for (const auto& entry : fs::directory_iterator(deploy / "rules")) {
    rule_files += entry.path().extension() == ".yml" ? 1 : 0;
  }
  const struct {
    std::string from, to;
    int expected;
  } edits[] = {
      {"scrape_interval: 15s", "scrape_interval: 1s", 1},
      {"evaluation_interval: 15s", "evaluation_interval: 1s", 1},
      {"\"localhost:9400\"", absl::StrCat("\"127.0.0.1:", metrics_port, "\""), 1},
      // Every rule file of deploy/prometheus/rules, by its absolute path.
      {"  - rules/", "  - " + (deploy / "rules").string() + "/", rule_files},
  };
  for (const auto& edit : edits) {
    const int found = ReplaceAll(&config, edit.from, edit.to);
    if (found != edit.expected) {
      return absl::FailedPreconditionError(absl::StrCat("prometheus.yml: expected ", edit.expected, " of '", edit.from,
                                                        "', found ", found, ":\n", config));
    }
  }
  return config;
}

// Debian's prometheus binary, run as a child process with its storage and log
// in `dir`. Start() returns once /-/ready answers 200.
class PrometheusProcess {
 public:
  static absl::StatusOr<std::unique_ptr<PrometheusProcess>> Start(const std::string& binary, const fs::path& dir,
                                                                  const std::string& config) {
    const fs::path config_file = dir / "prometheus.yml";
    std::ofstream(config_file) << config;
    std::string log;
    for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take the free port first
      std::unique_ptr<PrometheusProcess> process(new PrometheusProcess());
      process->port_ = FreePort();
      process->log_file_ = dir / absl::StrCat("prometheus-", attempt, ".log");
      const std::vector<std::string> args = {
          binary,
          "--config.file=" + config_file.string(),
          "--storage.tsdb.path=" + (dir / absl::StrCat("data-", attempt)).string(),
          absl::StrCat("--web.listen-address=127.0.0.1:", process->port_),
          "--log.level=info",
      };
      process->pid_ = ::fork();
      if (process->pid_ < 0) return absl::InternalError("fork failed");
      if (process->pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive a test that crashed
        const int fd = ::open(process->log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        std::vector<char*> argv;
        for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
      }
      const auto deadline = Clock::now() + kDeadline;
      while (Clock::now() < deadline) {
        if (HttpGet(process->port_, "/-/ready").rfind("HTTP/1.1 200", 0) == 0) return process;
        int status = 0;
        if (::waitpid(process->pid_, &status, WNOHANG) == process->pid_) {
          process->pid_ = -1;  // exited: its log says why
          break;
        }
        std::this_thread::sleep_for(kPollInterval);
      }
      log = process->Log();
      if (log.find("address already in use") == std::string::npos) break;
    }
    return absl::InternalError("prometheus did not become ready:\n" + log);
  }

  ~PrometheusProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  int port() const { return port_; }
  std::string Log() const { return ReadFile(log_file_); }

 private:
  PrometheusProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  fs::path log_file_;
};

struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Prometheus's HTTP API through curl (which deals with URL encoding and
// chunked responses).
class PrometheusApi {
 public:
  PrometheusApi(std::string curl, int port) : curl_(std::move(curl)), port_(port) {}

  // GET /api/v1/`path` with `params`; the response's "data", or why not.
  absl::StatusOr<nlohmann::json> Get(const std::string& path,
                                     const std::vector<std::pair<std::string, std::string>>& params = {}) const {
    std::vector<std::string> argv = {curl_, "-sS", "--max-time", "10", "-G",
                                     absl::StrCat("http://127.0.0.1:", port_, "/api/v1/", path)};
    for (const auto& [key, value] : params) {
      argv.push_back("--data-urlencode");
      argv.push_back(key + "=" + value);
    }
    const CommandResult result = RunCommand(argv);
    if (result.exit_code != 0) return absl::UnavailableError("curl: " + result.err);
    const nlohmann::json response = nlohmann::json::parse(result.out, nullptr, false);
    if (response.is_discarded() || response.value("status", "") != "success") {
      return absl::InternalError(absl::StrCat(path, ": ", result.out));
    }
    return response["data"];
  }

  // The instant vector `expr` evaluates to now.
  absl::StatusOr<std::vector<Sample>> Query(const std::string& expr) const {
    absl::StatusOr<nlohmann::json> data = Get("query", {{"query", expr}});
    if (!data.ok()) return data.status();
    if ((*data)["resultType"] != "vector") return absl::InternalError(expr + ": not a vector: " + data->dump());
    std::vector<Sample> samples;
    for (const nlohmann::json& series : (*data)["result"]) {
      Sample sample;
      for (const auto& [name, value] : series["metric"].items()) sample.labels[name] = value.get<std::string>();
      sample.value = std::stod(series["value"][1].get<std::string>());  // "NaN" and "+Inf" included
      samples.push_back(std::move(sample));
    }
    return samples;
  }

  // The value of `expr` when it is exactly one series.
  std::optional<double> Value(const std::string& expr) const {
    absl::StatusOr<std::vector<Sample>> samples = Query(expr);
    if (!samples.ok() || samples->size() != 1) return std::nullopt;
    return (*samples)[0].value;
  }

 private:
  std::string curl_;
  int port_;
};

// Polls `condition` until it holds or kDeadline passes; false then.
bool WaitFor(const std::function<bool()>& condition) {
  const auto deadline = Clock::now() + kDeadline;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Polls until `expr` is one series whose value is `expected`; returns the
// last value seen (nullopt: never one series) for the assertion's message.
std::optional<double> WaitForValue(const PrometheusApi& api, const std::string& expr, double expected) {
  std::optional<double> last;
  WaitFor([&] {
    last = api.Value(expr);
    return last.has_value() && *last == expected;
  });
  return last;
}

std::string Describe(const std::optional<double>& value) {
  return value.has_value() ? absl::StrCat(*value) : "no single series";
}

uint64_t CountRules(const std::string& rule_file, const std::string& kind) {
  const std::string text = ReadFile(fs::path(DJINN_SOURCE_DIR) / "deploy" / "prometheus" / "rules" / rule_file);
  uint64_t count = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const size_t start = line.find_first_not_of(' ');
    count += start != absl::string_view::npos && absl::StartsWith(line.substr(start), "- " + kind + ":") ? 1 : 0;
  }
  return count;
}

constexpr uint64_t kProbeBudget = 256ull << 20;

// A budget that holds tiny and most of tiny-deep, loaded in that order, so
// that tiny-deep streams its last layers (about seven of them) through the
// ring: measured, like streaming_test, with a daemon that holds both.
uint64_t StreamingBudget() {
  auto probe = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=" + std::to_string(kProbeBudget)});
  if (!probe.ok()) {
    ADD_FAILURE() << probe.status();
    return 0;
  }
  auto stub = Connect((*probe)->address());
  for (const auto& [name, preset] : {std::pair{"tiny", "tiny"}, std::pair{"deep", "tiny-deep"}}) {
    const LoadResult load = Load(*stub, name, preset);
    if (!load.status.ok()) {
      ADD_FAILURE() << name << ": " << load.status.error_message();
      return 0;
    }
  }
  const v1::StatsResponse stats = Stats(*stub);
  const uint64_t used = stats.memory().budget_bytes() - stats.memory().free_bytes();
  for (const v1::ModelStats& model : stats.models()) {
    if (model.name() != "deep") continue;
    const uint64_t per_layer = model.weight_bytes() / (model.resident_layers() + 2);  // an underestimate
    return used - 7 * per_layer;
  }
  ADD_FAILURE() << "no model deep in Stats";
  return 0;
}

TEST(PrometheusTest, ScrapesDjinndAndEvaluatesTheDeployedRulesOnItsMetrics) {
  const std::string prometheus_binary = FindOnPath("prometheus");
  const std::string curl = FindOnPath("curl");
  ASSERT_FALSE(prometheus_binary.empty()) << "prometheus is not on PATH (Debian's package prometheus; "
                                             "scripts/install-deps.sh installs it)";
  ASSERT_FALSE(curl.empty()) << "curl is not on PATH";
  TestModel("tiny");
  TestModel("tiny-deep");
  const uint64_t budget = StreamingBudget();
  ASSERT_GT(budget, 0u);

  auto started = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=" + std::to_string(budget)});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<DaemonProcess> daemon = *std::move(started);
  const std::string instance = absl::StrCat("127.0.0.1:", daemon->metrics_port());
  const std::string at = "instance=\"" + instance + "\"";

  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<std::string> config = TestConfig(daemon->metrics_port());
  ASSERT_TRUE(config.ok()) << config.status();
  auto prometheus = PrometheusProcess::Start(prometheus_binary, dir.path(), *config);
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  const PrometheusApi api(curl, (*prometheus)->port());

  // Prometheus scrapes the daemon as job "djinnd", the job the alerts select.
  std::optional<double> up = WaitForValue(api, "up{job=\"djinnd\"," + at + "}", 1);
  ASSERT_EQ(up, 1.0) << "up: " << Describe(up) << "\n" << (*prometheus)->Log();

  // No model yet: DjinnNoModelsLoaded evaluates true on the daemon's own
  // djinn_models_loaded and goes pending.
  const std::string no_models = "ALERTS{alertname=\"DjinnNoModelsLoaded\",alertstate=\"pending\"," + at + "}";
  std::optional<double> pending = WaitForValue(api, no_models, 1);
  EXPECT_EQ(pending, 1.0) << "DjinnNoModelsLoaded pending: " << Describe(pending);

  // A resident model and one that streams its last layers.
  auto stub = Connect(daemon->address());
  for (const auto& [name, preset] : {std::pair{"tiny", "tiny"}, std::pair{"deep", "tiny-deep"}}) {
    const LoadResult load = Load(*stub, name, preset);
    ASSERT_TRUE(load.status.ok()) << name << ": " << load.status.error_message();
  }
  const v1::StatsResponse loaded = Stats(*stub);
  ASSERT_EQ(loaded.models_size(), 2);
  for (const v1::ModelStats& model : loaded.models()) {
    ASSERT_EQ(model.streamed_layers() > 0, model.name() == "deep") << model.name() << " streams "
                                                                   << model.streamed_layers() << " layers";
  }
  std::optional<double> models = WaitForValue(api, "djinn_models_loaded{" + at + "}", 2);
  EXPECT_EQ(models, 2.0) << "djinn_models_loaded: " << Describe(models);
  EXPECT_TRUE(WaitFor([&] {
    absl::StatusOr<std::vector<Sample>> alerts = api.Query(no_models);
    return alerts.ok() && alerts->empty();
  })) << "DjinnNoModelsLoaded still pending with two models loaded";

  // Traffic in two rounds, each seen by a scrape, so that every counter has
  // increased inside the rules' rate windows.
  std::map<std::string, double> tokens, completed;
  auto generate = [&](const std::string& model, const std::string& prompt, uint32_t max_tokens) {
    const GenerateResult result = Generate(*stub, GreedyRequest(model, prompt, max_tokens));
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    ASSERT_EQ(result.token_ids.size(), max_tokens);
    tokens[model] += static_cast<double>(result.token_ids.size());
    completed[model] += 1;
  };
  auto scraped = [&](const std::string& model) {
    const std::string series = "djinn_generated_tokens_total{model=\"" + model + "\"," + at + "}";
    std::optional<double> seen = WaitForValue(api, series, tokens[model]);
    EXPECT_EQ(seen, tokens[model]) << series << ": " << Describe(seen) << ", the clients received "
                                   << tokens[model];
  };
  generate("tiny", "Once upon a time", 8);
  generate("tiny", "The quick brown fox", 5);
  generate("deep", "Once upon a time", 6);
  // Refused at validation (more tokens than the context): outcome "rejected".
  EXPECT_EQ(Generate(*stub, GreedyRequest("tiny", "x", 100000)).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  scraped("tiny");
  scraped("deep");
  generate("tiny", "A second round", 12);
  generate("deep", "A second round", 7);
  scraped("tiny");
  scraped("deep");
  if (HasFailure()) return;

  // Request counters by outcome, and one first-token observation per
  // completed request.
  for (const std::string model : {"tiny", "deep"}) {
    const std::string labels = "model=\"" + model + "\"," + at;
    EXPECT_EQ(api.Value("djinn_generate_requests_total{outcome=\"completed\"," + labels + "}"), completed[model])
        << model;
    EXPECT_EQ(api.Value("djinn_time_to_first_token_seconds_count{" + labels + "}"), completed[model]) << model;
    EXPECT_EQ(api.Value("djinn_request_duration_seconds_count{" + labels + "}"), completed[model]) << model;
    EXPECT_EQ(api.Value("sum(djinn_generate_requests_total{outcome=\"failed\"," + labels + "}) or vector(0)"), 0.0)
        << model;
  }
  EXPECT_EQ(api.Value("djinn_generate_requests_total{outcome=\"rejected\",model=\"tiny\"," + at + "}"), 1.0);
  EXPECT_EQ(api.Value("djinn_model_loads_total{outcome=\"ok\"," + at + "}"), 2.0);
  EXPECT_EQ(api.Value("djinn_generate_requests_in_flight{model=\"tiny\"," + at + "}"), 0.0);

  // The memory split: five categories that sum to the budget (the arena's
  // size: the flag's value rounded down to the arena's alignment).
  const double arena = static_cast<double>(loaded.memory().budget_bytes());
  EXPECT_GT(arena, 0.99 * static_cast<double>(budget));
  EXPECT_LE(arena, static_cast<double>(budget));
  EXPECT_EQ(api.Value("djinn_memory_budget_bytes{" + at + "}"), arena);
  EXPECT_EQ(api.Value("sum(djinn_memory_bytes{" + at + "})"), arena);
  absl::StatusOr<std::vector<Sample>> split = api.Query("djinn_memory_bytes{" + at + "}");
  ASSERT_TRUE(split.ok()) << split.status();
  std::map<std::string, double> categories;
  for (const Sample& sample : *split) categories[sample.labels.at("category")] = sample.value;
  EXPECT_THAT(categories, ::testing::ElementsAre(::testing::Key("free"), ::testing::Key("kv_cache"),
                                                 ::testing::Key("resident_weights"), ::testing::Key("ring_buffer"),
                                                 ::testing::Key("workspace")));
  EXPECT_GT(categories["resident_weights"], 0);
  EXPECT_GT(categories["ring_buffer"], 0);  // deep streams
  EXPECT_GT(categories["kv_cache"], 0);

  // What Prometheus stored of the streamed weights is what Stats reports
  // (polled: the ring may still prefetch the next pass after the last request).
  const std::string h2d = "djinn_h2d_bytes_total{model=\"deep\"," + at + "}";
  double stats_bytes = -1;
  std::optional<double> stored;
  WaitFor([&] {
    const v1::StatsResponse stats = Stats(*stub);
    for (const v1::ModelStats& model : stats.models()) {
      if (model.name() == "deep") stats_bytes = static_cast<double>(model.h2d_bytes_total());
    }
    stored = api.Value(h2d);
    return stored == stats_bytes;
  });
  EXPECT_GT(stats_bytes, 0);
  EXPECT_EQ(stored, stats_bytes) << h2d << ": " << Describe(stored);

  // The recording rules on this data.
  std::optional<double> value;
  const std::string tokens_rate = "model:djinn_generated_tokens:rate1m{model=\"tiny\"," + at + "}";
  EXPECT_TRUE(WaitFor([&] { return (value = api.Value(tokens_rate)).value_or(0) > 0; }))
      << tokens_rate << ": " << Describe(value);
  const std::string ttft = "model:djinn_time_to_first_token_seconds:p99_5m{model=\"tiny\"," + at + "}";
  EXPECT_TRUE(WaitFor([&] {
    value = api.Value(ttft);
    return value.has_value() && !std::isnan(*value);
  })) << ttft << ": " << Describe(value);
  EXPECT_GT(value.value_or(0), 0);
  EXPECT_LE(value.value_or(1e9), 65.536);  // the largest finite bucket
  const std::string achieved = "model:djinn_h2d_achieved_bytes_per_second:rate5m{model=\"deep\"," + at + "}";
  EXPECT_TRUE(WaitFor([&] { return (value = api.Value(achieved)).value_or(0) > 0; }))
      << achieved << ": " << Describe(value);
  const std::string stalls = "model_waiting:djinn_ring_stall_seconds:ratio_rate5m{model=\"deep\"," + at + "}";
  absl::StatusOr<std::vector<Sample>> fractions;
  EXPECT_TRUE(WaitFor([&] {
    fractions = api.Query(stalls);
    return fractions.ok() && fractions->size() == 2;
  })) << stalls << ": " << (fractions.ok() ? absl::StrCat(fractions->size(), " series") : fractions.status().ToString());
  if (fractions.ok()) {
    for (const Sample& fraction : *fractions) {
      EXPECT_GE(fraction.value, 0) << fraction.labels.at("waiting");
      if (fraction.labels.at("waiting") == "compute") {
        EXPECT_LE(fraction.value, 1);
      }
    }
  }
  // The resident model streams nothing: no rate for it (not NaN).
  absl::StatusOr<std::vector<Sample>> resident =
      api.Query("model:djinn_h2d_achieved_bytes_per_second:rate5m{model=\"tiny\"," + at + "}");
  ASSERT_TRUE(resident.ok()) << resident.status();
  EXPECT_TRUE(resident->empty());
  EXPECT_EQ(api.Value("instance:djinn_kv_cache_used_bytes:ratio{" + at + "}"), 0.0);  // idle

  // Both rule files loaded as their groups, every rule evaluated, none with
  // an error.
  absl::StatusOr<nlohmann::json> rules;
  std::vector<std::string> unevaluated;
  EXPECT_TRUE(WaitFor([&] {
    rules = api.Get("rules");
    unevaluated.clear();
    if (!rules.ok()) return false;
    for (const nlohmann::json& group : (*rules)["groups"]) {
      for (const nlohmann::json& rule : group["rules"]) {
        if (rule.value("health", "") == "unknown") unevaluated.push_back(rule.value("name", ""));
      }
    }
    return unevaluated.empty();
  })) << "not evaluated: " << absl::StrJoin(unevaluated, ", ");
  ASSERT_TRUE(rules.ok()) << rules.status();
  std::map<std::string, uint64_t> groups;
  for (const nlohmann::json& group : (*rules)["groups"]) {
    const std::string name = group.value("name", "");
    groups[name] = group["rules"].size();
    EXPECT_THAT(group.value("file", ""), HasSubstr("deploy/prometheus/rules/djinn-")) << name;
    for (const nlohmann::json& rule : group["rules"]) {
      EXPECT_EQ(rule.value("health", ""), "ok") << name << " / " << rule.value("name", "") << ": "
                                               << rule.value("lastError", "");
      EXPECT_EQ(rule.value("lastError", ""), "") << rule.value("name", "");
    }
  }
  EXPECT_EQ(groups, (std::map<std::string, uint64_t>{{"djinn.alerts", CountRules("djinn-alerts.yml", "alert")},
                                                     {"djinn.recording", CountRules("djinn-recording.yml", "record")}}));
  EXPECT_GT(groups["djinn.alerts"], 0u);
  EXPECT_GT(groups["djinn.recording"], 0u);

  // A healthy daemon that served every request: none of these is even pending.
  absl::StatusOr<std::vector<Sample>> active = api.Query(
      "ALERTS{" + at +
      ",alertname=~\"DjinnDown|DjinnNoModelsLoaded|RequestErrors|QueueBacklog|KvCacheFull|HighTimeToFirstToken\"}");
  ASSERT_TRUE(active.ok()) << active.status();
  for (const Sample& alert : *active) ADD_FAILURE() << "active: " << alert.labels.at("alertname");

  // The daemon goes away: up drops to 0 and DjinnDown goes pending.
  daemon->StopWith(SIGKILL);
  up = WaitForValue(api, "up{job=\"djinnd\"," + at + "}", 0);
  EXPECT_EQ(up, 0.0) << "up: " << Describe(up);
  pending = WaitForValue(api, "ALERTS{alertname=\"DjinnDown\",alertstate=\"pending\",job=\"djinnd\"," + at + "}", 1);
  EXPECT_EQ(pending, 1.0) << "DjinnDown pending: " << Describe(pending);
}

}  // namespace
}  // namespace djinn::testing
