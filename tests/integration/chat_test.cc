// Chat over real gRPC on the CPU backend: a GenerateRequest with `chat`
// messages is rendered with the model's chat template (here Llama 2's real
// one) and tokenized without added special tokens; a model without a
// template refuses chats; one whose template Djinn cannot run is refused at
// load; generation_config.json's EOS ids stop a generation; djinnctl --chat.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/chat_template.h"
#include "common/model_config.h"
#include "common/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tests/integration/support/client.h"
#include "tests/integration/support/daemon_process.h"
#include "tests/integration/support/shared_daemon_test.h"
#include "tests/integration/support/test_models.h"

namespace djinn::testing {
namespace {

using ::testing::HasSubstr;

// meta-llama/Llama-2-7b-chat-hf's chat_template, as published.
constexpr char kLlama2Template[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
    "{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}";

void WriteJson(const std::string& path, const nlohmann::json& json) { std::ofstream(path) << json.dump(2); }

class ChatTest : public SharedDaemonTest<ChatTest> {
 protected:
  static void SetUpTestSuite() {
    TestModel("tiny");
    const std::string chat = CopyOfTestModel("tiny", "chat");
    WriteJson(chat + "/tokenizer_config.json",
              {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"chat_template", kLlama2Template}});
    StartDaemon({"--model-root=" + ModelRoot(), "--vram-budget=512MiB", "--model=chat=chat", "--model=plain=tiny"});
  }

  static v1::GenerateRequest ChatRequest(const std::string& model, const std::vector<ChatMessage>& messages,
                                         uint32_t max_tokens) {
    v1::GenerateRequest request;
    request.set_model(model);
    request.mutable_chat();  // a chat even with no messages
    for (const ChatMessage& m : messages) {
      v1::ChatMessage* message = request.mutable_chat()->add_messages();
      message->set_role(m.role);
      message->set_content(m.content);
    }
    request.set_max_tokens(max_tokens);
    request.set_ignore_eos(true);
    return request;
  }

  // What the daemon must have tokenized: Encode(Render(messages)) with the
  // model directory's own template and tokenizer.
  static std::vector<int32_t> ExpectedPrompt(const std::string& model_dir, const std::vector<ChatMessage>& messages) {
    auto chat_template = ChatTemplate::Load(model_dir);
    EXPECT_TRUE(chat_template.ok()) << chat_template.status();
    auto tokenizer = Tokenizer::Load(model_dir);
    EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
    if (!chat_template.ok() || !tokenizer.ok()) return {};
    absl::StatusOr<std::string> text = (*chat_template)->Render(messages, /*add_generation_prompt=*/true);
    EXPECT_TRUE(text.ok()) << text.status();
    EXPECT_THAT(*text, HasSubstr("[INST]"));
    return (*tokenizer)->Encode(*text, /*add_special_tokens=*/false);
  }
};

TEST_F(ChatTest, PromptIsTheRenderedTemplateTokenized) {
  const std::string dir = ModelRoot() + "/chat";
  for (const std::vector<ChatMessage>& messages : std::vector<std::vector<ChatMessage>>{
           {{"user", "Hello there"}},
           {{"system", "You are terse."}, {"user", "Name a colour. {{ not a template }}"}},
           {{"system", "S"}, {"user", "one"}, {"assistant", "two"}, {"user", "three, héllo 🌍"}}}) {
    const std::vector<int32_t> expected = ExpectedPrompt(dir, messages);
    ASSERT_FALSE(expected.empty());
    const GenerateResult result = Generate(*stub_, ChatRequest("chat", messages, 4));
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_EQ(result.last().usage().prompt_tokens(), expected.size());
    EXPECT_EQ(result.token_ids.size(), 4u);
    // The same ids sent as token_ids generate the same tokens: the chat
    // prompt was exactly these ids.
    v1::GenerateRequest by_ids;
    by_ids.set_model("chat");
    by_ids.mutable_token_ids()->mutable_ids()->Add(expected.begin(), expected.end());
    by_ids.set_max_tokens(4);
    by_ids.set_ignore_eos(true);
    const GenerateResult same = Generate(*stub_, by_ids);
    ASSERT_TRUE(same.status.ok()) << same.status.error_message();
    EXPECT_EQ(same.token_ids, result.token_ids);
  }
}

TEST_F(ChatTest, ConversationTheTemplateRefusesIsInvalidArgument) {
  const GenerateResult result = Generate(*stub_, ChatRequest("chat", {{"user", "a"}, {"user", "b"}}, 4));
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.status.error_message(),
            "chat template: Conversation roles must alternate user/assistant/user/assistant/...");
  const GenerateResult empty = Generate(*stub_, ChatRequest("chat", {}, 4));
  EXPECT_EQ(empty.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(empty.status.error_message(), HasSubstr("no messages"));
}

TEST_F(ChatTest, ModelWithoutTemplateRefusesChatsButServesText) {
  const GenerateResult chat = Generate(*stub_, ChatRequest("plain", {{"user", "hi"}}, 4));
  EXPECT_EQ(chat.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(chat.status.error_message(), HasSubstr("no chat template"));
  const GenerateResult text = Generate(*stub_, GreedyRequest("plain", "hi", 4));
  EXPECT_TRUE(text.status.ok()) << text.status.error_message();
}

TEST_F(ChatTest, UnsupportedTemplateIsRefusedAtLoadNamingTheConstruct) {
  const std::string dir = CopyOfTestModel("tiny", "bad-template");
  WriteJson(dir + "/tokenizer_config.json",
            {{"chat_template", "{% for m in messages %}\n{{ m.content | wordcount }}\n{% endfor %}"}});
  const LoadResult load = Load(*stub_, "bad", dir);
  EXPECT_EQ(load.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(load.status.error_message(), HasSubstr("filter \"wordcount\" is not supported (line 2)"));
}

TEST_F(ChatTest, GenerationConfigEosTokenIdsStopGeneration) {
  // Greedy tokens of the chat model; then a copy whose generation_config.json
  // names the second of them as an EOS: the generation must stop there.
  const std::vector<ChatMessage> messages = {{"user", "Count: one two three"}};
  const GenerateResult free_run = Generate(*stub_, ChatRequest("chat", messages, 8));
  ASSERT_TRUE(free_run.status.ok()) << free_run.status.error_message();
  ASSERT_EQ(free_run.token_ids.size(), 8u);
  const uint32_t eos = free_run.token_ids[1];
  const std::string dir = CopyOfTestModel("tiny", "chat-eos");
  WriteJson(dir + "/tokenizer_config.json",
            {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"chat_template", kLlama2Template}});
  WriteJson(dir + "/generation_config.json", {{"bos_token_id", 1}, {"eos_token_id", {eos}}});
  const LoadResult load = Load(*stub_, "chat-eos", dir);
  ASSERT_TRUE(load.status.ok()) << load.status.error_message();
  // Where it must stop: the first generated token that is an EOS of
  // config.json or of generation_config.json.
  std::vector<int64_t> stops = LoadModelConfig(dir)->eos_token_ids;
  stops.push_back(eos);
  size_t expected = 0;
  while (std::find(stops.begin(), stops.end(), free_run.token_ids[expected]) == stops.end()) ++expected;
  v1::GenerateRequest request = ChatRequest("chat-eos", messages, 8);
  request.set_ignore_eos(false);
  const GenerateResult stopped = Generate(*stub_, request);
  ASSERT_TRUE(stopped.status.ok()) << stopped.status.error_message();
  EXPECT_EQ(stopped.last().finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(stopped.token_ids,
            std::vector<uint32_t>(free_run.token_ids.begin(), free_run.token_ids.begin() + expected + 1));
  EXPECT_TRUE(Unload(*stub_, "chat-eos").ok());
}

TEST_F(ChatTest, DjinnctlSendsAChat) {
  const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "What is 2+2?"}};
  const std::vector<int32_t> expected = ExpectedPrompt(ModelRoot() + "/chat", messages);
  const CommandResult run = RunCommand({DJINNCTL_PATH, "--addr=" + daemon_->address(), "generate", "chat",
                                        "What is 2+2?", "--chat", "--system", "Be brief.", "--max-tokens", "3",
                                        "--ignore-eos"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("prompt " + std::to_string(expected.size()) + " tokens, completion 3 tokens"));
  const CommandResult misuse = RunCommand(
      {DJINNCTL_PATH, "--addr=" + daemon_->address(), "generate", "chat", "hi", "--system", "S"});
  EXPECT_EQ(misuse.exit_code, 2);
  EXPECT_THAT(misuse.err, HasSubstr("--system needs --chat"));
}

}  // namespace
}  // namespace djinn::testing
