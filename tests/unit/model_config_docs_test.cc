// docs/models.md lists every config.json key with what Djinn does with it per
// architecture; the code's table (common/config_keys.cc) is what the parser
// acts on. The two must agree both ways: every documented key is in the
// code with the same classification, and every key in the code is
// documented.
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config_keys.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

using Table = std::map<std::string, std::vector<std::string>>;  // key -> uses, in column order

std::string ReadDoc() {
  std::ifstream in(std::string(DJINN_SOURCE_DIR) + "/docs/models.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The rows of the markdown table between <!-- name:begin --> and
// <!-- name:end -->: "| `key` | use | ... | notes |" -> key and the first
// `columns` cells after it.
Table DocTable(const std::string& doc, const std::string& name, size_t columns) {
  Table table;
  const size_t begin = doc.find("<!-- " + name + ":begin -->");
  const size_t end = doc.find("<!-- " + name + ":end -->");
  EXPECT_NE(begin, std::string::npos) << name;
  EXPECT_NE(end, std::string::npos) << name;
  if (begin == std::string::npos || end == std::string::npos) return table;
  for (absl::string_view line : absl::StrSplit(doc.substr(begin, end - begin), '\n')) {
    if (!absl::ConsumePrefix(&line, "| `")) continue;  // header, separator, markers
    std::vector<std::string> cells = absl::StrSplit(line, " | ");
    EXPECT_GE(cells.size(), columns + 1) << line;
    if (cells.size() < columns + 1) continue;
    std::string key(absl::StripSuffix(cells[0], "`"));
    EXPECT_EQ(table.count(key), 0u) << "documented twice: " << key;
    table[key] = std::vector<std::string>(cells.begin() + 1, cells.begin() + 1 + columns);
  }
  return table;
}

Table CodeTable(std::span<const ConfigKey> keys, size_t columns) {
  Table table;
  for (const ConfigKey& key : keys) {
    std::vector<std::string>& uses = table[std::string(key.name)];
    for (size_t a = 0; a < columns; ++a) uses.push_back(std::string(KeyUseName(key.use[a])));
  }
  return table;
}

void ExpectSame(const Table& doc, const Table& code) {
  for (const auto& [key, uses] : code) {
    auto it = doc.find(key);
    if (it == doc.end()) {
      ADD_FAILURE() << "\"" << key << "\" is in common/config_keys.cc but not in docs/models.md";
      continue;
    }
    EXPECT_EQ(it->second, uses) << key;
  }
  for (const auto& [key, uses] : doc) {
    EXPECT_TRUE(code.contains(key)) << "\"" << key << "\" is in docs/models.md but not in common/config_keys.cc";
  }
}

TEST(ModelConfigDocsTest, TopLevelKeysAgree) {
  const std::string doc = ReadDoc();
  ASSERT_FALSE(doc.empty());
  const Table documented = DocTable(doc, "config-keys", kArchitectureCount);
  EXPECT_GT(documented.size(), 20u);
  ExpectSame(documented, CodeTable(ConfigKeys(), kArchitectureCount));
}

TEST(ModelConfigDocsTest, RopeKeysAgree) {
  const Table documented = DocTable(ReadDoc(), "rope-keys", 1);
  EXPECT_GT(documented.size(), 5u);
  ExpectSame(documented, CodeTable(RopeKeys(), 1));
}

// The table's header names the architectures in Architecture's order.
TEST(ModelConfigDocsTest, ColumnsAreTheArchitectures) {
  const std::string doc = ReadDoc();
  const size_t begin = doc.find("<!-- config-keys:begin -->");
  ASSERT_NE(begin, std::string::npos);
  const size_t header = doc.find("| key |", begin);
  ASSERT_NE(header, std::string::npos);
  const std::string line = doc.substr(header, doc.find('\n', header) - header);
  EXPECT_EQ(line, "| key | Llama | Mistral | Qwen2 | Qwen3 | notes |");
  EXPECT_EQ(ArchitectureName(kArchitectures[0]), "LlamaForCausalLM");
  EXPECT_EQ(ArchitectureName(kArchitectures[1]), "MistralForCausalLM");
  EXPECT_EQ(ArchitectureName(kArchitectures[2]), "Qwen2ForCausalLM");
  EXPECT_EQ(ArchitectureName(kArchitectures[3]), "Qwen3ForCausalLM");
}

}  // namespace
}  // namespace djinn
