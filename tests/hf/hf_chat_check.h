// Chat prompts as transformers makes them, checked with GoogleTest
// expectations: Djinn's ChatTemplate and tokenizer.json Tokenizer against
// what tests/hf/hf_models.py recorded from transformers'
// apply_chat_template and HF tokenizers. Shared by the CPU test over the CI
// fixtures (tests/unit/hf_chat_test.cc) and the GPU check
// (tests/gpu/hf_models_test.cc, which also checks each model's own chat
// prompt). Header-only: test sources include it.
#ifndef DJINN_TESTS_HF_HF_CHAT_CHECK_H_
#define DJINN_TESTS_HF_HF_CHAT_CHECK_H_

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "common/chat_template.h"
#include "common/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace djinn::hf_check {

namespace fs = std::filesystem;

inline std::vector<ChatMessage> MessagesOf(const nlohmann::json& messages) {
  std::vector<ChatMessage> out;
  for (const auto& m : messages) out.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  return out;
}

// One recorded rendering {messages, add_generation_prompt, text, ids} or
// refusal {messages, add_generation_prompt, error}: Render gives exactly the
// text (or refuses with the template's own message) and Encode(text, false)
// exactly the ids: apply_chat_template tokenizes the rendering without
// adding special tokens (the template writes BOS itself). Returns whether
// the case rendered.
inline bool ExpectChatCaseMatches(const ChatTemplate& chat, const Tokenizer& tokenizer, const nlohmann::json& c,
                                  const std::string& where) {
  const bool generation_prompt = c.at("add_generation_prompt").get<bool>();
  absl::StatusOr<std::string> text = chat.Render(MessagesOf(c.at("messages")), generation_prompt);
  if (c.contains("error") && !c.at("error").is_null()) {
    // transformers: "TemplateError: <the template's raise_exception text>".
    const std::string hf_error = c.at("error").get<std::string>();
    const size_t colon = hf_error.find(": ");
    const std::string message = colon == std::string::npos ? hf_error : hf_error.substr(colon + 2);
    EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument) << where << ": " << text.status();
    EXPECT_TRUE(absl::StrContains(text.status().message(), message))
        << where << ": Djinn says '" << text.status().message() << "', transformers '" << hf_error << "'";
    return false;
  }
  EXPECT_TRUE(text.ok()) << where << ": " << text.status();
  if (!text.ok()) return false;
  EXPECT_EQ(*text, c.at("text").get<std::string>()) << where;
  EXPECT_EQ(tokenizer.Encode(c.at("text").get<std::string>(), false), c.at("ids").get<std::vector<int32_t>>())
      << where;
  return true;
}

// A chat fixture (hf_models.py chat: NAME.json) against the tokenizer files
// in `dir`: every conversation, and the plain texts' ids as HF tokenizers
// gives them (with and without special tokens).
inline void ExpectChatFixtureMatches(const nlohmann::json& fixture, const fs::path& dir) {
  const std::string name = fixture.at("tokenizer").get<std::string>();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load(dir.string());
  ASSERT_TRUE(tokenizer.ok()) << name << ": " << tokenizer.status();
  const nlohmann::json& cases = fixture.at("cases");
  absl::StatusOr<std::unique_ptr<ChatTemplate>> chat = ChatTemplate::Load(dir.string());
  if (cases.empty()) {
    // Files without a chat_template (Llama 2's): none is found, as transformers finds none.
    EXPECT_EQ(chat.status().code(), absl::StatusCode::kNotFound) << name << ": " << chat.status();
  } else {
    ASSERT_TRUE(chat.ok()) << name << ": " << chat.status();
    int rendered = 0, refused = 0;
    for (const auto& c : cases) {
      const std::string where = name + " conversation " + std::to_string(c.at("conversation").get<int>()) +
                                (c.at("add_generation_prompt").get<bool>() ? " +generation prompt" : "");
      (ExpectChatCaseMatches(**chat, **tokenizer, c, where) ? rendered : refused)++;
    }
    std::printf("%s: %d conversations rendered and tokenized as apply_chat_template, %d refused as it refuses\n",
                name.c_str(), rendered, refused);
    EXPECT_GE(rendered, 30) << name;
  }
  const nlohmann::json& encode = fixture.at("encode_cases");
  EXPECT_FALSE(encode.empty()) << name;
  for (const auto& c : encode) {
    const std::string text = c.at("text").get<std::string>();
    const bool special = c.at("add_special_tokens").get<bool>();
    EXPECT_EQ((*tokenizer)->Encode(text, special), c.at("tokenizers_ids").get<std::vector<int32_t>>())
        << name << ": \"" << text << "\" add_special_tokens=" << special;
  }
}

}  // namespace djinn::hf_check

#endif  // DJINN_TESTS_HF_HF_CHAT_CHECK_H_
