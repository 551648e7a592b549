// generation_config.json's eos_token_id (an int or a list) and the union
// with config.json's that a generation stops on.
#include "common/generation_config.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(GenerationConfigTest, EosTokenIdIntOrList) {
  // Llama 3.1 Instruct's generation_config.json.
  absl::StatusOr<std::vector<int64_t>> list = ParseGenerationEosTokenIds(
      R"({"bos_token_id": 128000, "do_sample": true, "eos_token_id": [128001, 128008, 128009],
          "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.42.3"})");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(*list, ElementsAre(128001, 128008, 128009));
  absl::StatusOr<std::vector<int64_t>> one = ParseGenerationEosTokenIds(R"({"eos_token_id": 2})");
  ASSERT_TRUE(one.ok());
  EXPECT_THAT(*one, ElementsAre(2));
  EXPECT_THAT(*ParseGenerationEosTokenIds(R"({"eos_token_id": null})"), IsEmpty());
  EXPECT_THAT(*ParseGenerationEosTokenIds(R"({"max_length": 4096})"), IsEmpty());
}

TEST(GenerationConfigTest, MalformedIsRefused) {
  EXPECT_THAT(ParseGenerationEosTokenIds(R"({"eos_token_id": "2"})").status().message(),
              HasSubstr("eos_token_id must be an int or a list of ints"));
  EXPECT_THAT(ParseGenerationEosTokenIds(R"({"eos_token_id": [1, 2.5]})").status().message(),
              HasSubstr("eos_token_id"));
  EXPECT_EQ(ParseGenerationEosTokenIds("[1]").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GenerationConfigTest, LoadFromDirectory) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "generation_config_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<std::vector<int64_t>> none = LoadGenerationEosTokenIds(dir.string());
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());  // no file: nothing to add
  std::ofstream(dir / "generation_config.json") << R"({"eos_token_id": [7, 9]})";
  absl::StatusOr<std::vector<int64_t>> ids = LoadGenerationEosTokenIds(dir.string());
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(7, 9));
  std::filesystem::remove_all(dir);
}

TEST(GenerationConfigTest, UnionKeepsOrderWithoutDuplicates) {
  EXPECT_THAT(UnionOfTokenIds({128009}, {128001, 128008, 128009}), ElementsAre(128009, 128001, 128008));
  EXPECT_THAT(UnionOfTokenIds({}, {2}), ElementsAre(2));
  EXPECT_THAT(UnionOfTokenIds({2}, {}), ElementsAre(2));
}

}  // namespace
}  // namespace djinn
