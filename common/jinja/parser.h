// Parses a token stream (lexer.h) into statements (ast.h) with Jinja2's
// grammar and operator precedence. Everything outside Djinn's subset is
// refused here, at parse time, naming the construct and its line:
//   statement "macro" is not supported (line 3)
//   filter "wordcount" is not supported (line 3)
// so a template Djinn cannot run fails when the model loads.
#ifndef DJINN_COMMON_JINJA_PARSER_H_
#define DJINN_COMMON_JINJA_PARSER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/jinja/ast.h"
#include "common/jinja/lexer.h"

namespace djinn::jinja {

absl::StatusOr<Body> Parse(const std::vector<Token>& tokens);

}  // namespace djinn::jinja

#endif  // DJINN_COMMON_JINJA_PARSER_H_
