// The parsed form of a template: statements (text, output, if, for, set,
// break, continue) and the expressions inside them. Built by the parser,
// walked by the interpreter; immutable after parsing.
#ifndef DJINN_COMMON_JINJA_AST_H_
#define DJINN_COMMON_JINJA_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/jinja/value.h"

namespace djinn::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;
using Kwargs = std::vector<std::pair<std::string, ExprPtr>>;

struct Expr {
  enum class Kind {
    kLiteral,    // literal
    kName,       // name
    kList,       // items
    kTuple,      // items (evaluated as a list)
    kDict,       // items: key, value, key, value …
    kGetAttr,    // a.name
    kGetItem,    // a[b]
    kSlice,      // a[items[0]:items[1]:items[2]], an item nullptr when omitted
    kCall,       // a(items, kwargs): a is a kName (a global function) or a kGetAttr (a method)
    kFilter,     // a | name(items, kwargs)
    kTest,       // a is [not] name(items)
    kNot,        // not a
    kNegate,     // -a
    kBinary,     // a op b
    kCondition,  // a if b else c (c may be null: undefined)
  };
  Kind kind;
  int line = 0;
  Value literal;
  std::string name;  // variable, attribute, function, method, filter or test name; operator for kBinary
  bool negated = false;
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;
  Kwargs kwargs;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // conditions[i] -> bodies[i]; else_body
    kFor,       // for targets in expr [if condition]: body; else_body
    kSet,       // set targets = expr, or set expr_target.attribute = expr (namespace)
    kBreak,
    kContinue,
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;                       // output, for iterable, set value
  ExprPtr condition;                  // for's loop filter
  std::vector<ExprPtr> conditions;    // if / elif
  std::vector<Body> bodies;           // if / elif bodies; for: bodies[0]
  Body else_body;                     // if's else, for's else (no iteration)
  std::vector<std::string> targets;   // for / set names
  std::string namespace_attribute;    // set ns.attr: targets[0] is ns
};

}  // namespace djinn::jinja

#endif  // DJINN_COMMON_JINJA_AST_H_
