// ChatTemplate: where the template is read from (tokenizer_config.json as a
// string or a named list, chat_template.jinja), the variables it sees, and
// its errors. Whole real templates are checked against Jinja2 and
// @huggingface/jinja by tests/conformance/chat_template.
#include "common/chat_template.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/jinja/interpreter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

using ::testing::HasSubstr;

const absl::CivilSecond kNow(2024, 9, 7, 13, 5, 9);

class ChatTemplateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("chat_template_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream out(dir_ / name, std::ios::binary);
    out << text;
  }

  std::unique_ptr<ChatTemplate> LoadOk() {
    absl::StatusOr<std::unique_ptr<ChatTemplate>> t = ChatTemplate::Load(dir_.string());
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *std::move(t) : nullptr;
  }

  std::filesystem::path dir_;
};

TEST_F(ChatTemplateTest, StringTemplateSeesMessagesAndSpecialTokens) {
  Write("tokenizer_config.json", R"({
    "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
    "eos_token": "</s>",
    "pad_token": null,
    "chat_template": "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}|{{ eos_token }}|{{ pad_token is defined }}|{{ tools is none }}|{{ documents is none }}"
  })");
  std::unique_ptr<ChatTemplate> t = LoadOk();
  ASSERT_NE(t, nullptr);
  std::vector<ChatMessage> messages = {{"system", "S"}, {"user", "héllo {{ x }}"}};
  absl::StatusOr<std::string> with = t->Render(messages, true, kNow);
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(*with, "<s>[system]S[user]héllo {{ x }}[assistant]|</s>|False|True|True");
  absl::StatusOr<std::string> without = t->Render(messages, false, kNow);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(*without, "<s>[system]S[user]héllo {{ x }}|</s>|False|True|True");
}

TEST_F(ChatTemplateTest, NamedListUsesDefault) {
  Write("tokenizer_config.json", R"({"chat_template": [
    {"name": "tool_use", "template": "tools"},
    {"name": "default", "template": "default:{{ messages | length }}"}]})");
  std::unique_ptr<ChatTemplate> t = LoadOk();
  ASSERT_NE(t, nullptr);
  std::vector<ChatMessage> messages = {{"user", "a"}};
  EXPECT_EQ(*t->Render(messages, false, kNow), "default:1");
}

TEST_F(ChatTemplateTest, NamedListWithoutDefaultIsRefused) {
  Write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "x"}]})");
  absl::StatusOr<std::unique_ptr<ChatTemplate>> t = ChatTemplate::Load(dir_.string());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("no template named \"default\" (it has: tool_use)"));
}

TEST_F(ChatTemplateTest, ChatTemplateJinjaFileWins) {
  Write("tokenizer_config.json", R"({"eos_token": "</s>", "chat_template": "from config"})");
  Write("chat_template.jinja", "from file {{ eos_token }}\n");
  std::unique_ptr<ChatTemplate> t = LoadOk();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(*t->Render({}, false, kNow), "from file </s>");
}

TEST_F(ChatTemplateTest, NoTemplateIsNotFound) {
  Write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  absl::StatusOr<std::unique_ptr<ChatTemplate>> t = ChatTemplate::Load(dir_.string());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(), HasSubstr("no chat template"));
  std::filesystem::remove(dir_ / "tokenizer_config.json");
  EXPECT_EQ(ChatTemplate::Load(dir_.string()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ChatTemplateTest, UnsupportedConstructIsRefusedAtLoadNamingIt) {
  Write("tokenizer_config.json",
        R"({"chat_template": "{% for m in messages %}\n{{ m.content | wordcount }}\n{% endfor %}"})");
  absl::StatusOr<std::unique_ptr<ChatTemplate>> t = ChatTemplate::Load(dir_.string());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("tokenizer_config.json: chat template: filter \"wordcount\" is not "
                                              "supported (line 2)"));
}

TEST_F(ChatTemplateTest, MalformedConfigIsRefused) {
  Write("tokenizer_config.json", R"({"chat_template": 7})");
  EXPECT_THAT(ChatTemplate::Load(dir_.string()).status().message(), HasSubstr("must be a string or a list"));
  Write("tokenizer_config.json", R"({"chat_template": "x", "bos_token": 5})");
  EXPECT_THAT(ChatTemplate::Load(dir_.string()).status().message(), HasSubstr("\"bos_token\" is neither"));
  Write("tokenizer_config.json", "{not json");
  EXPECT_EQ(ChatTemplate::Load(dir_.string()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ChatTemplateTest, RaisedErrorIsInvalidArgumentWithTheTemplatesMessage) {
  // Llama 2's rule, as its template writes it.
  Write("tokenizer_config.json", R"({"chat_template": "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ message['content'] }}{% endfor %}"})");
  std::unique_ptr<ChatTemplate> t = LoadOk();
  ASSERT_NE(t, nullptr);
  std::vector<ChatMessage> good = {{"user", "a"}, {"assistant", "b"}};
  EXPECT_EQ(*t->Render(good, false, kNow), "ab");
  std::vector<ChatMessage> bad = {{"user", "a"}, {"user", "b"}};
  absl::StatusOr<std::string> out = t->Render(bad, true, kNow);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(),
            "chat template: Conversation roles must alternate user/assistant/user/assistant/...");
  EXPECT_TRUE(out.status().GetPayload(jinja::kRaisedPayloadUrl).has_value());
}

TEST_F(ChatTemplateTest, StrftimeNowUsesTheGivenTimeOrTheClock) {
  Write("tokenizer_config.json", R"({"chat_template": "{{ strftime_now('%d %b %Y') }}"})");
  std::unique_ptr<ChatTemplate> t = LoadOk();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(*t->Render({}, true, kNow), "07 Sep 2024");
  absl::StatusOr<std::string> today = t->Render({}, true);
  ASSERT_TRUE(today.ok());
  EXPECT_EQ(today->size(), std::string("07 Sep 2024").size());
}

}  // namespace
}  // namespace djinn
