// Djinn's chat template rendering against Jinja2 as transformers runs it
// and @huggingface/jinja, on the real templates of the models Djinn serves
// (render_reference.mjs and render_jinja2.py write the cases; run.sh runs
// all three). Every render must be byte for byte the reference's, and a
// conversation the reference refuses must be refused too, with the
// template's own message when it raised one.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "common/chat_template.h"
#include "common/jinja/interpreter.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace djinn {
namespace {

nlohmann::json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

// One reference's result for a case: {"output": …} or {"error": …, "raised": bool}.
struct Outcome {
  bool ok = false;
  std::string text;  // the output, or the error
  bool raised = false;
};

Outcome FromJson(const nlohmann::json& j) {
  if (j.contains("output")) return {true, j["output"].get<std::string>(), false};
  return {false, j["error"].get<std::string>(), j.value("raised", false)};
}

bool SameOutcome(const Outcome& a, const Outcome& b) {
  if (a.ok != b.ok) return false;
  if (a.ok) return a.text == b.text;
  return a.raised == b.raised && (!a.raised || a.text == b.text);
}

std::string Describe(const Outcome& o) {
  if (o.ok) return "renders:\n" + o.text;
  return std::string(o.raised ? "raises: " : "fails: ") + o.text;
}

// Jinja2 in transformers' environment (render_jinja2.py) is the reference:
// it is what apply_chat_template runs. @huggingface/jinja
// (render_reference.mjs) is the second: Djinn equals it wherever it agrees
// with Jinja2, and the cases where the two references disagree are listed.
TEST(ChatTemplateConformance, RendersAsTransformersAndHuggingFaceJinja) {
  const char* dir = std::getenv("DJINN_CHAT_TEMPLATE_CASES");
  ASSERT_NE(dir, nullptr) << "run through tests/conformance/chat_template/run.sh (DJINN_CHAT_TEMPLATE_CASES unset)";
  const std::filesystem::path root(dir);
  nlohmann::json manifest = ReadJson(root / "manifest.json");
  const nlohmann::json& now = manifest["now"];
  const absl::CivilSecond fixed_now(now["year"].get<int>(), now["month"].get<int>(), now["day"].get<int>(),
                                    now["hour"].get<int>(), now["minute"].get<int>(), now["second"].get<int>());
  int models = 0;
  int renders = 0;
  int refusals = 0;
  int equal_to_hf = 0;
  int references_disagree = 0;
  for (const auto& name : manifest["models"]) {
    SCOPED_TRACE(name.get<std::string>());
    const std::filesystem::path model_dir = root / name.get<std::string>();
    absl::StatusOr<std::unique_ptr<ChatTemplate>> chat = ChatTemplate::Load(model_dir.string());
    ASSERT_TRUE(chat.ok()) << chat.status();
    ++models;
    nlohmann::json cases = ReadJson(model_dir / "cases.json");
    ASSERT_FALSE(cases.empty());
    for (size_t i = 0; i < cases.size(); ++i) {
      const nlohmann::json& c = cases[i];
      ASSERT_TRUE(c.contains("jinja2")) << "render_jinja2.py did not run";
      std::vector<ChatMessage> messages;
      for (const auto& m : c["messages"]) {
        messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
      }
      const bool add_generation_prompt = c["add_generation_prompt"].get<bool>();
      absl::StatusOr<std::string> rendered = (*chat)->Render(messages, add_generation_prompt, fixed_now);
      Outcome djinn;
      if (rendered.ok()) {
        djinn = {true, *rendered, false};
      } else {
        EXPECT_EQ(rendered.status().code(), absl::StatusCode::kInvalidArgument);
        std::string message(rendered.status().message());
        const std::string prefix = "chat template: ";
        djinn = {false, message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message,
                 rendered.status().GetPayload(jinja::kRaisedPayloadUrl).has_value()};
      }
      const Outcome jinja2 = FromJson(c["jinja2"]);
      const Outcome hf = FromJson(c);
      ASSERT_TRUE(SameOutcome(djinn, jinja2))
          << "case " << i << " add_generation_prompt=" << add_generation_prompt
          << "\nmessages: " << c["messages"].dump() << "\nJinja2 (transformers) " << Describe(jinja2)
          << "\nDjinn " << Describe(djinn) << "\n@huggingface/jinja " << Describe(hf);
      jinja2.ok ? ++renders : ++refusals;
      if (SameOutcome(hf, jinja2)) {
        ++equal_to_hf;
      } else {
        ++references_disagree;
        std::printf("references disagree (Djinn = Jinja2): %s case %zu messages %s\n  Jinja2 %s\n  "
                    "@huggingface/jinja %s\n",
                    name.get<std::string>().c_str(), i, c["messages"].dump().c_str(), Describe(jinja2).c_str(),
                    Describe(hf).c_str());
      }
    }
  }
  // The corpus must exercise both outcomes on every template set.
  EXPECT_GE(models, 12);
  EXPECT_GT(renders, 2000);
  EXPECT_GT(refusals, 50);
  EXPECT_GT(equal_to_hf, 2400);
  std::printf("chat template conformance: %d templates, %d renders and %d refusals equal to Jinja2; %d equal to "
              "@huggingface/jinja too, %d where the references disagree\n",
              models, renders, refusals, equal_to_hf, references_disagree);
}

}  // namespace
}  // namespace djinn
