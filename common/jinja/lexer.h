// Splits a template into tokens the way Jinja2's lexer does with the
// options transformers renders chat templates under (trim_blocks=True,
// lstrip_blocks=True, keep_trailing_newline=False): text between tags, the
// tag delimiters, and the names, literals and operators inside tags.
// Whitespace control ({%- -%}, {{- -}}, {#- -#}, {%+ +%}) is applied here,
// to the text tokens, and comments are dropped.
#ifndef DJINN_COMMON_JINJA_LEXER_H_
#define DJINN_COMMON_JINJA_LEXER_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace djinn::jinja {

struct Token {
  enum class Type {
    kText,           // template text, emitted as it is
    kBlockBegin,     // {%
    kBlockEnd,       // %}
    kVariableBegin,  // {{
    kVariableEnd,    // }}
    kName,           // identifiers and keywords (if, for, and, not, true …)
    kInteger,
    kFloat,
    kString,    // value: the literal with its escapes resolved
    kOperator,  // value: "+", "//", "==", "(", "|" …
    kEnd,       // end of the template
  };
  Type type;
  std::string value;
  int line = 1;  // 1-based line of the token's start in the template
};

// INVALID_ARGUMENT "… (line N)" for an unterminated tag, comment or string
// or a character that is no token.
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source);

}  // namespace djinn::jinja

#endif  // DJINN_COMMON_JINJA_LEXER_H_
