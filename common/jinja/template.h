// A Jinja template: the subset of Jinja2 that chat templates use, parsed
// and rendered as transformers' apply_chat_template does (Jinja2 with
// trim_blocks and lstrip_blocks, transformers' tojson, raise_exception and
// strftime_now). There is no C++ Jinja in Debian 12, hence this one.
//
// Supported: text, {{ }}, {# #}, whitespace control, {% if/elif/else %},
// {% for %} (loop.*, loop filters, unpacking, else, break/continue),
// {% set %} (names, tuples, namespace attributes), transformers'
// {% generation %} (renders its body), literals (str, int,
// float, list, dict, tuple), Python operators, slicing, `a if b else c`, and
// the filters, tests, methods and functions listed in builtins.h.
// Everything else (macros, includes, other filters …) is refused by Parse
// with the construct named: `filter "wordcount" is not supported (line 3)`.
#ifndef DJINN_COMMON_JINJA_TEMPLATE_H_
#define DJINN_COMMON_JINJA_TEMPLATE_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "common/jinja/ast.h"
#include "common/jinja/value.h"

namespace djinn::jinja {

class Template {
 public:
  // INVALID_ARGUMENT for syntax errors and constructs outside the subset.
  static absl::StatusOr<Template> Parse(absl::string_view source);

  // `variables` are the template's globals; `now` is the time strftime_now()
  // formats (passed in, so that a render is a function of its inputs).
  // Errors: INVALID_ARGUMENT; raise_exception's carries kRaisedPayloadUrl
  // (interpreter.h) and exactly the template's message.
  absl::StatusOr<std::string> Render(const Dict& variables, absl::CivilSecond now) const;

 private:
  explicit Template(std::shared_ptr<const Body> body) : body_(std::move(body)) {}
  std::shared_ptr<const Body> body_;
};

}  // namespace djinn::jinja

#endif  // DJINN_COMMON_JINJA_TEMPLATE_H_
