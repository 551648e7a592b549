// Renders parsed statements (ast.h) with Jinja2's semantics: scopes (a for
// loop's body is its own scope, `if` is not), the `loop` variable, Python
// truthiness, operators and comparisons, Undefined (prints as "", is false,
// iterates as empty; reading an attribute of it, or adding to it, is an
// error, as in Jinja2's default Undefined).
#ifndef DJINN_COMMON_JINJA_INTERPRETER_H_
#define DJINN_COMMON_JINJA_INTERPRETER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "common/jinja/ast.h"
#include "common/jinja/value.h"

namespace djinn::jinja {

// `globals` are the template's variables (messages, bos_token …); `now` is
// what strftime_now() formats. raise_exception("…") in the template is
// INVALID_ARGUMENT whose message is exactly the template's text; other
// errors are INVALID_ARGUMENT "… (line N)".
absl::StatusOr<std::string> Render(const Body& body, const Dict& globals, absl::CivilSecond now);

// The status raise_exception() produced carries this payload, so that
// callers can tell the template's own refusals from other errors.
inline constexpr char kRaisedPayloadUrl[] = "djinn.jinja/raise_exception";

}  // namespace djinn::jinja

#endif  // DJINN_COMMON_JINJA_INTERPRETER_H_
