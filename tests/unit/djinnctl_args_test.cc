// Argument parsing for djinnctl: comma lists of token ids, and the flag
// parser (dashed names, repeatable flags, errors instead of exits).
#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "client/cpp/cli/command_line.h"
#include "client/cpp/cli/list_args.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int32_t, test_count, 0, "an integer");
ABSL_FLAG(bool, test_verbose, false, "a boolean");
ABSL_FLAG(std::string, test_name, "", "a string");
ABSL_FLAG(std::string, test_stop, "", "a repeatable string");

namespace djinn::client::cli {
namespace {

using ::testing::HasSubstr;

std::vector<uint32_t> Ids(const std::string& text) {
  auto ids = ParseUint32List(text);
  EXPECT_TRUE(ids.ok()) << text << ": " << ids.status();
  return ids.ok() ? *ids : std::vector<uint32_t>{};
}

TEST(ParseUint32List, CommaSeparated) {
  EXPECT_EQ(Ids("1,2,3"), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(Ids(" 1, 2 ,3 "), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(Ids("4294967295"), (std::vector<uint32_t>{4294967295u}));
  EXPECT_EQ(Ids(""), std::vector<uint32_t>{});
  EXPECT_EQ(Ids("  "), std::vector<uint32_t>{});
}

TEST(ParseUint32List, RejectsWhatIsNotAnId) {
  for (const char* bad : {"1,,2", "1,", ",1", "-1", "+1", "4294967296", "a", "1.5", "1 2"}) {
    auto ids = ParseUint32List(bad);
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

ParsedCommandLine Parse(const std::vector<std::string>& args) {
  auto parsed = ParseCommandLine(args);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : ParsedCommandLine{};
}

absl::Status ParseError(const std::vector<std::string>& args) {
  return ParseCommandLine(args).status();
}

TEST(ParseCommandLine, FlagsAndPositionalsInterleave) {
  absl::FlagSaver saver;
  auto parsed = Parse({"generate", "--test-count", "5", "model", "--test-name=a b", "prompt"});
  EXPECT_EQ(parsed.positional, (std::vector<std::string>{"generate", "model", "prompt"}));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_count), 5);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_name), "a b");
  EXPECT_TRUE(parsed.Has("test_count"));
  EXPECT_FALSE(parsed.Has("test_verbose"));
  EXPECT_FALSE(parsed.help);
}

TEST(ParseCommandLine, UnderscoresAndSingleDashWorkToo) {
  absl::FlagSaver saver;
  Parse({"--test_count=3"});
  EXPECT_EQ(absl::GetFlag(FLAGS_test_count), 3);
  Parse({"-test-count", "4"});
  EXPECT_EQ(absl::GetFlag(FLAGS_test_count), 4);
}

TEST(ParseCommandLine, Booleans) {
  absl::FlagSaver saver;
  auto parsed = Parse({"--test-verbose", "x"});
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_verbose));
  EXPECT_EQ(parsed.positional, std::vector<std::string>{"x"});  // bools take no next arg
  Parse({"--notest-verbose"});
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_verbose));
  Parse({"--test-verbose=true"});
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_verbose));
  Parse({"--test-verbose=false"});
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_verbose));
  EXPECT_EQ(ParseError({"--notest-verbose=1"}).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseCommandLine, RepeatedFlagKeepsEveryValue) {
  absl::FlagSaver saver;
  auto parsed = Parse({"--test-stop", "a", "--test-stop=b,c", "--test-stop", ""});
  EXPECT_EQ(parsed.Values("test_stop"), (std::vector<std::string>{"a", "b,c", ""}));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_stop), "");  // absl keeps the last one
}

TEST(ParseCommandLine, DoubleDashEndsFlags) {
  absl::FlagSaver saver;
  auto parsed = Parse({"gen", "--", "--test-count", "-x", "--help"});
  EXPECT_EQ(parsed.positional,
            (std::vector<std::string>{"gen", "--test-count", "-x", "--help"}));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_count), 0);
  EXPECT_FALSE(parsed.help);
}

TEST(ParseCommandLine, HelpAndLoneDash) {
  EXPECT_TRUE(Parse({"--help"}).help);
  EXPECT_TRUE(Parse({"load", "-h"}).help);
  EXPECT_EQ(Parse({"-"}).positional, std::vector<std::string>{"-"});
}

TEST(ParseCommandLine, ErrorsComeBackInsteadOfExiting) {
  absl::FlagSaver saver;
  absl::Status unknown = ParseError({"--no-such-flag"});
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("--no-such-flag"));
  absl::Status missing = ParseError({"x", "--test-count"});
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("missing value for --test-count"));
  absl::Status bad = ParseError({"--test-count", "many"});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("--test-count"));
}

TEST(FlagSpelling, DashesForUnderscores) {
  EXPECT_EQ(FlagSpelling("max_tokens"), "--max-tokens");
}

}  // namespace
}  // namespace djinn::client::cli
