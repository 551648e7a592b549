// The Grafana dashboard (deploy/grafana/dashboards/djinn.json) and the
// Prometheus rules (deploy/prometheus/rules/*.yml) against a real djinnd: every
// metric family any panel, template variable or rule expression names is one
// the daemon exports, with the type the expression assumes. Recording-rule
// outputs (names with a ':') come from the rules, not the daemon, and are left
// out. Also checks the dashboard's own shape (panels, data source, variables)
// and that it covers what an operator looks at.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kDeploy = fs::path(DJINN_SOURCE_DIR) / "deploy";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json Dashboard() {
  return nlohmann::json::parse(ReadFile(kDeploy / "grafana" / "dashboards" / "djinn.json"), nullptr, false);
}

// Every panel, rows' nested panels included.
void CollectPanels(const nlohmann::json& panels, std::vector<nlohmann::json>* out) {
  for (const nlohmann::json& panel : panels) {
    out->push_back(panel);
    if (panel.contains("panels")) CollectPanels(panel["panels"], out);
  }
}

struct Expr {
  std::string where;  // for messages: "dashboard panel 'X' target A", "djinn-alerts.yml rule Y"
  std::string text;
};

// Panel targets' `expr` and query variables' queries.
std::vector<Expr> DashboardExprs(const nlohmann::json& dashboard) {
  std::vector<Expr> exprs;
  std::vector<nlohmann::json> panels;
  CollectPanels(dashboard.value("panels", nlohmann::json::array()), &panels);
  for (const nlohmann::json& panel : panels) {
    for (const nlohmann::json& target : panel.value("targets", nlohmann::json::array())) {
      if (target.contains("expr")) {
        exprs.push_back({absl::StrCat("dashboard panel '", panel.value("title", ""), "' target ",
                                      target.value("refId", "")),
                         target["expr"].get<std::string>()});
      }
    }
  }
  for (const nlohmann::json& variable : dashboard["templating"].value("list", nlohmann::json::array())) {
    if (variable.value("type", "") != "query") continue;
    const nlohmann::json& query = variable["query"];
    exprs.push_back({"dashboard variable " + variable.value("name", ""),
                     query.is_object() ? query.value("query", "") : query.get<std::string>()});
  }
  return exprs;
}

// The `expr` of every rule in a rule file written in the shape
// deploy/prometheus uses: `expr: ...` on one line, or a block scalar
// (`expr: |`) whose lines are indented deeper than the key.
std::vector<Expr> RuleExprs(const fs::path& file) {
  std::vector<Expr> exprs;
  const std::vector<std::string> lines = absl::StrSplit(ReadFile(file), '\n');
  std::string rule;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos) continue;
    absl::string_view content = absl::string_view(line).substr(indent);
    if (absl::ConsumePrefix(&content, "- record:") || absl::ConsumePrefix(&content, "- alert:")) {
      rule = std::string(absl::StripAsciiWhitespace(content));
      continue;
    }
    if (!absl::ConsumePrefix(&content, "expr:")) continue;
    const std::string where = absl::StrCat(file.filename().string(), " rule ", rule);
    content = absl::StripAsciiWhitespace(content);
    if (!content.empty() && content[0] != '|' && content[0] != '>') {
      exprs.push_back({where, std::string(content)});
      continue;
    }
    std::string block;
    for (; i + 1 < lines.size(); ++i) {
      const std::string& next = lines[i + 1];
      const size_t next_indent = next.find_first_not_of(' ');
      if (next_indent != std::string::npos && next_indent <= indent) break;
      absl::StrAppend(&block, next, "\n");
    }
    exprs.push_back({where, block});
  }
  return exprs;
}

// The metric names an expression refers to: identifiers starting with
// djinn_, outside string literals (label values), without a ':' (recording
// rules' outputs).
std::set<std::string> MetricNames(const std::string& expr) {
  static const std::regex kString(R"("(?:[^"\\]|\\.)*")");
  static const std::regex kIdentifier(R"([A-Za-z_:][A-Za-z0-9_:]*)");
  const std::string code = std::regex_replace(expr, kString, "\"\"");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(code.begin(), code.end(), kIdentifier); it != std::sregex_iterator(); ++it) {
    const std::string name = it->str();
    if (absl::StartsWith(name, "djinn_") && !absl::StrContains(name, ':')) names.insert(name);
  }
  return names;
}

// A referenced name's family: a histogram's _bucket, _sum and _count series
// belong to the histogram (a _sum or _count name the daemon exports as a family
// of its own stays itself).
std::string Family(const std::string& name, const std::map<std::string, std::string>& exported) {
  if (exported.count(name) != 0) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) return name.substr(0, name.size() - std::string(suffix).size());
  }
  return name;
}

// "# TYPE name type" lines of a scrape: the families with at least one sample
// (the daemon writes no TYPE line for a family without any).
std::map<std::string, std::string> ExportedFamilies(const std::string& exposition) {
  std::map<std::string, std::string> families;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::ConsumePrefix(&line, "# TYPE ")) continue;
    const std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() == 2) families[parts[0]] = parts[1];
  }
  return families;
}

std::vector<Expr> AllExprs() {
  std::vector<Expr> exprs = DashboardExprs(Dashboard());
  for (const auto& entry : fs::directory_iterator(kDeploy / "prometheus" / "rules")) {
    if (entry.path().extension() != ".yml") continue;
    std::vector<Expr> rules = RuleExprs(entry.path());
    exprs.insert(exprs.end(), rules.begin(), rules.end());
  }
  return exprs;
}

uint64_t CountRules(const fs::path& file) {
  uint64_t count = 0;
  for (absl::string_view line : absl::StrSplit(ReadFile(file), '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    count += absl::StartsWith(line, "- record:") || absl::StartsWith(line, "- alert:") ? 1 : 0;
  }
  return count;
}

TEST(DashboardMetricsTest, ExtractsEveryExpressionOfTheDashboardAndTheRules) {
  // The extraction itself: an expression per rule, none empty, and the names
  // found where they are (a broken extractor would pass the live check below
  // vacuously).
  uint64_t rules = 0, rule_exprs = 0;
  for (const auto& entry : fs::directory_iterator(kDeploy / "prometheus" / "rules")) {
    if (entry.path().extension() != ".yml") continue;
    rules += CountRules(entry.path());
    const std::vector<Expr> exprs = RuleExprs(entry.path());
    rule_exprs += exprs.size();
    for (const Expr& expr : exprs) EXPECT_FALSE(absl::StripAsciiWhitespace(expr.text).empty()) << expr.where;
  }
  EXPECT_GT(rules, 0u);
  EXPECT_EQ(rule_exprs, rules);
  EXPECT_EQ(MetricNames(R"(sum by (model) (rate(djinn_a_total{x="djinn_not_a_metric"}[5m])) / )"
                        R"(model:djinn_recorded:rate5m + djinn:constant + djinn_b_bucket)"),
            (std::set<std::string>{"djinn_a_total", "djinn_b_bucket"}));
  const std::map<std::string, std::string> exported = {{"djinn_b", "histogram"}, {"djinn_c_count", "gauge"}};
  EXPECT_EQ(Family("djinn_b_bucket", exported), "djinn_b");
  EXPECT_EQ(Family("djinn_b_sum", exported), "djinn_b");
  EXPECT_EQ(Family("djinn_c_count", exported), "djinn_c_count");
  EXPECT_EQ(Family("djinn_d_total", exported), "djinn_d_total");
}

TEST(DashboardMetricsTest, DashboardIsAWellFormedGrafanaDashboard) {
  const nlohmann::json dashboard = Dashboard();
  ASSERT_FALSE(dashboard.is_discarded()) << "djinn.json is not valid JSON";
  EXPECT_FALSE(dashboard.value("uid", "").empty());
  EXPECT_FALSE(dashboard.value("title", "").empty());
  EXPECT_GE(dashboard.value("schemaVersion", 0), 36);
  EXPECT_LE(dashboard.value("schemaVersion", 0), 41);

  // Variables: the data source (DS_PROMETHEUS, whose default is the
  // provisioned data source's uid) and the models of label_values().
  std::map<std::string, nlohmann::json> variables;
  for (const nlohmann::json& variable : dashboard["templating"]["list"]) variables[variable["name"]] = variable;
  ASSERT_EQ(variables.count("DS_PROMETHEUS"), 1u);
  EXPECT_EQ(variables["DS_PROMETHEUS"].value("type", ""), "datasource");
  EXPECT_EQ(variables["DS_PROMETHEUS"].value("query", ""), "prometheus");
  const std::string datasources = ReadFile(kDeploy / "grafana" / "provisioning" / "datasources" / "djinn-prometheus.yml");
  std::smatch uid;
  ASSERT_TRUE(std::regex_search(datasources, uid, std::regex(R"(\n\s+uid:\s*(\S+))")));
  EXPECT_EQ(variables["DS_PROMETHEUS"]["current"].value("value", ""), uid[1].str());
  ASSERT_EQ(variables.count("model"), 1u);
  const std::string model_query = variables["model"]["query"].value("query", "");
  EXPECT_TRUE(std::regex_match(model_query, std::regex(R"(label_values\(djinn_model_weight_bytes(\{.*\})?, model\))")))
      << model_query;
  EXPECT_TRUE(variables["model"].value("includeAll", false));
  // The dashboards provider reads a directory.
  EXPECT_THAT(ReadFile(kDeploy / "grafana" / "provisioning" / "dashboards" / "djinn.yml"), HasSubstr("path: /"));

  // Panels: unique ids, inside the 24-column grid without overlapping, every
  // query through ${DS_PROMETHEUS} with a unique refId.
  std::vector<nlohmann::json> panels;
  CollectPanels(dashboard["panels"], &panels);
  std::set<int> ids;
  std::vector<std::array<int, 4>> boxes;
  int queries = 0;
  for (const nlohmann::json& panel : panels) {
    const std::string title = panel.value("title", "");
    EXPECT_TRUE(ids.insert(panel.value("id", -1)).second) << "duplicate id: " << title;
    const nlohmann::json& grid = panel["gridPos"];
    const int x = grid.value("x", -1), y = grid.value("y", -1), w = grid.value("w", 0), h = grid.value("h", 0);
    EXPECT_TRUE(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24) << title << ": " << grid.dump();
    for (const auto& [bx, by, bw, bh] : boxes) {
      EXPECT_FALSE(x < bx + bw && bx < x + w && y < by + bh && by < y + h) << title << " overlaps another panel";
    }
    boxes.push_back({x, y, w, h});
    if (panel.value("type", "") == "row") continue;
    EXPECT_FALSE(title.empty());
    EXPECT_EQ(panel["datasource"].value("uid", ""), "${DS_PROMETHEUS}") << title;
    ASSERT_FALSE(panel.value("targets", nlohmann::json::array()).empty()) << title;
    std::set<std::string> ref_ids;
    for (const nlohmann::json& target : panel["targets"]) {
      EXPECT_TRUE(ref_ids.insert(target.value("refId", "")).second) << title;
      EXPECT_FALSE(target.value("expr", "").empty()) << title;
      EXPECT_EQ(target["datasource"].value("uid", ""), "${DS_PROMETHEUS}") << title;
      ++queries;
    }
  }
  EXPECT_GE(queries, 30);
}

TEST(DashboardMetricsTest, DashboardCoversWhatOperatorsLookAt) {
  std::set<std::string> names;
  std::string all;
  for (const Expr& expr : DashboardExprs(Dashboard())) {
    const std::set<std::string> found = MetricNames(expr.text);
    names.insert(found.begin(), found.end());
    absl::StrAppend(&all, expr.text, "\n");
  }
  const std::map<std::string, std::vector<std::string>> sections = {
      {"ring buffer", {"djinn_ring_buffer_capacity_bytes", "djinn_ring_buffer_used_bytes",
                       "djinn_ring_buffer_utilization_ratio", "djinn_ring_stalls_total",
                       "djinn_ring_stall_seconds_total"}},
      {"PCIe", {"djinn_h2d_bytes_total", "djinn_h2d_copy_seconds_total", "djinn_h2d_achieved_bytes_per_second"}},
      {"memory split", {"djinn_memory_bytes", "djinn_memory_budget_bytes", "djinn_kv_cache_used_bytes"}},
      {"residency", {"djinn_model_weight_bytes", "djinn_residency_promotions_total",
                     "djinn_residency_evictions_total", "djinn_residency_promoted_bytes_total"}},
      {"latency", {"djinn_time_to_first_token_seconds_bucket", "djinn_inter_token_latency_seconds_bucket",
                   "djinn_request_duration_seconds_bucket"}},
      {"throughput", {"djinn_generated_tokens_total"}},
      {"queue", {"djinn_generate_requests_queued", "djinn_running_sequences", "djinn_generate_requests_in_flight"}},
      {"errors", {"djinn_generate_requests_total"}},
      {"device memory", {"djinn_device_memory_total_bytes", "djinn_device_memory_used_bytes"}},
  };
  for (const auto& [section, wanted] : sections) {
    for (const std::string& name : wanted) EXPECT_EQ(names.count(name), 1u) << section << ": no panel uses " << name;
  }
  // Percentiles from the histograms, p50 and p99 of each.
  for (const char* histogram : {"djinn_time_to_first_token_seconds", "djinn_inter_token_latency_seconds",
                                "djinn_request_duration_seconds"}) {
    for (const char* quantile : {"0.5", "0.99"}) {
      EXPECT_THAT(all, HasSubstr(absl::StrCat("histogram_quantile(", quantile, ", sum by (model, le) (rate(",
                                              histogram, "_bucket")))
          << histogram << " p" << quantile;
    }
  }
}

TEST(DashboardMetricsTest, EveryMetricTheDashboardAndTheRulesUseIsExported) {
  // Which names are referenced where.
  std::map<std::string, std::set<std::string>> referenced;  // name -> where
  for (const Expr& expr : AllExprs()) {
    for (const std::string& name : MetricNames(expr.text)) referenced[name].insert(expr.where);
  }
  ASSERT_GE(referenced.size(), 20u);

  // A live daemon with a model loaded and a generation done, so that every
  // per-model series and every histogram has been created.
  TestModel("tiny");
  auto daemon = DaemonProcess::Start({"--model-root=" + ModelRoot(), "--vram-budget=512MiB", "--model=tiny=tiny"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = Connect((*daemon)->address());
  const GenerateResult generated = Generate(*stub, GreedyRequest("tiny", "Once upon a time", 8));
  ASSERT_TRUE(generated.status.ok()) << generated.status.error_message();
  const std::string response = HttpGet((*daemon)->metrics_port(), "/metrics");
  ASSERT_THAT(response, HasSubstr("HTTP/1.1 200"));
  const std::map<std::string, std::string> exported = ExportedFamilies(response.substr(response.find("\r\n\r\n")));
  ASSERT_GT(exported.count("djinn_generated_tokens_total"), 0u) << response;

  std::map<std::string, std::set<std::string>> missing;  // family -> where
  for (const auto& [name, where] : referenced) {
    const std::string family = Family(name, exported);
    auto type = exported.find(family);
    if (type == exported.end()) {
      missing[family].insert(where.begin(), where.end());
      continue;
    }
    // The type the expression assumes.
    if (family != name) {
      EXPECT_EQ(type->second, "histogram") << name << " is used as a histogram's series, but " << family << " is a "
                                           << type->second << " (" << absl::StrJoin(where, "; ") << ")";
    }
    if (absl::EndsWith(name, "_total")) {
      EXPECT_EQ(type->second, "counter") << name << " (" << absl::StrJoin(where, "; ") << ")";
    }
  }
  for (const auto& [family, where] : missing) {
    ADD_FAILURE() << "not exported by djinnd: " << family << "\n  used by: " << absl::StrJoin(where, "\n           ");
  }
}

}  // namespace
}  // namespace djinn::testing
