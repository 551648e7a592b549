// A model's chat template: turns a conversation (role, content) into the
// prompt text the model was trained on, as transformers'
// tokenizer.apply_chat_template(messages, tokenize=False,
// add_generation_prompt=…) does. The template is Jinja (common/jinja/); one
// Djinn cannot run is refused when it is loaded, naming the construct.
//
// Where the template comes from, as transformers reads it:
//   <directory>/chat_template.jinja (transformers >= 4.43 save_pretrained
//   writes it) or else tokenizer_config.json's "chat_template": a string, or
//   a list of {"name", "template"} of which "default" is used.
// What it sees: messages, add_generation_prompt, tools = none,
// documents = none, and the special tokens of tokenizer_config.json
// (bos_token, eos_token, unk_token, pad_token, sep_token, cls_token,
// mask_token: a string or an AddedToken object {"content": …}; absent or
// null ones are undefined), additional_special_tokens.
//
// strftime_now(): Llama 3.2's template prints today's date with it. Render
// formats the time it is given; the two-argument Render passes the local
// time now, as transformers does.
#ifndef DJINN_COMMON_CHAT_TEMPLATE_H_
#define DJINN_COMMON_CHAT_TEMPLATE_H_

#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "common/jinja/template.h"
#include "common/jinja/value.h"

namespace djinn {

struct ChatMessage {
  std::string role;
  std::string content;
};

class ChatTemplate {
 public:
  // NOT_FOUND when the directory has no template; INVALID_ARGUMENT naming
  // the file and the problem (unsupported construct and line, malformed
  // tokenizer_config.json, a template list without "default").
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> Load(const std::string& directory);

  // The template text and tokenizer_config.json's text ("" or "{}" when
  // there is none), as Load reads them. `origin` names the template in errors.
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> FromSource(const std::string& source,
                                                                   const std::string& tokenizer_config_json,
                                                                   const std::string& origin);

  // The prompt text. INVALID_ARGUMENT "chat template: …" when the template
  // refuses the conversation (raise_exception's message, e.g. roles that do
  // not alternate) or fails on it.
  absl::StatusOr<std::string> Render(std::span<const ChatMessage> messages, bool add_generation_prompt) const;
  absl::StatusOr<std::string> Render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                     absl::CivilSecond now) const;

  const std::string& source() const { return source_; }

 private:
  ChatTemplate(std::string source, jinja::Template parsed, jinja::Dict special_tokens)
      : source_(std::move(source)), parsed_(std::move(parsed)), special_tokens_(std::move(special_tokens)) {}

  std::string source_;
  jinja::Template parsed_;
  jinja::Dict special_tokens_;
};

}  // namespace djinn

#endif  // DJINN_COMMON_CHAT_TEMPLATE_H_
