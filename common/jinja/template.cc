#include "common/jinja/template.h"

#include "common/jinja/interpreter.h"
#include "common/jinja/lexer.h"
#include "common/jinja/parser.h"

namespace djinn::jinja {

absl::StatusOr<Template> Template::Parse(absl::string_view source) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(source);
  if (!tokens.ok()) return tokens.status();
  absl::StatusOr<Body> body = jinja::Parse(*tokens);
  if (!body.ok()) return body.status();
  return Template(std::make_shared<const Body>(*std::move(body)));
}

absl::StatusOr<std::string> Template::Render(const Dict& variables, absl::CivilSecond now) const {
  return jinja::Render(*body_, variables, now);
}

}  // namespace djinn::jinja
