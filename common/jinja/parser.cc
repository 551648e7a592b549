#include "common/jinja/parser.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <initializer_list>
#include <set>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"
#include "common/jinja/builtins.h"

namespace djinn::jinja {
namespace {

using T = Token::Type;

// Jinja2 statements outside the subset: refused by name rather than as a
// syntax error, so the message says what the template needs.
const std::set<absl::string_view>& KnownUnsupportedStatements() {
  static const auto* names = new std::set<absl::string_view>{
      "macro", "call",  "filter", "include", "import",     "from",          "extends", "block",
      "with",  "raw",   "do",     "autoescape", "trans",   "print"};
  return *names;
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  absl::StatusOr<Body> ParseTemplate() {
    Body body;
    std::string end_tag;
    if (absl::Status s = ParseBody({}, &body, &end_tag); !s.ok()) return s;
    return body;
  }

 private:
  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Peek(size_t ahead = 1) const {
    return tokens_[pos_ + ahead < tokens_.size() ? pos_ + ahead : tokens_.size() - 1];
  }
  void Next() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool IsOp(absl::string_view op) const { return Cur().type == T::kOperator && Cur().value == op; }
  bool IsName(absl::string_view name) const { return Cur().type == T::kName && Cur().value == name; }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " (line ", Cur().line, ")"));
  }
  absl::Status Expected(absl::string_view what) const {
    std::string got = Cur().type == T::kEnd ? "end of template" : absl::StrCat("'", Cur().value, "'");
    return Error(absl::StrCat("syntax error: expected ", what, ", got ", got));
  }
  absl::Status ExpectOp(absl::string_view op) {
    if (!IsOp(op)) return Expected(absl::StrCat("'", op, "'"));
    Next();
    return absl::OkStatus();
  }
  absl::Status ExpectBlockEnd() {
    if (Cur().type != T::kBlockEnd) return Expected("'%}'");
    Next();
    return absl::OkStatus();
  }

  // Statements until a block tag whose name is in `ends` (left in
  // *end_tag, the tag's "%}" consumed) or, with no ends, the template's end.
  absl::Status ParseBody(const std::set<absl::string_view>& ends, Body* body, std::string* end_tag) {
    while (true) {
      const Token& token = Cur();
      if (token.type == T::kEnd) {
        if (ends.empty()) return absl::OkStatus();
        std::string names;
        for (absl::string_view end : ends) absl::StrAppend(&names, names.empty() ? "" : " or ", end);
        return Error(absl::StrCat("syntax error: template ended, expected {% ", names, " %}"));
      }
      if (token.type == T::kText) {
        StmtPtr stmt = MakeStmt(Stmt::Kind::kText, token.line);
        stmt->text = token.value;
        body->push_back(std::move(stmt));
        Next();
        continue;
      }
      if (token.type == T::kVariableBegin) {
        StmtPtr stmt = MakeStmt(Stmt::Kind::kOutput, token.line);
        Next();
        absl::StatusOr<ExprPtr> expr = ParseTuple(true);
        if (!expr.ok()) return expr.status();
        stmt->expr = *std::move(expr);
        if (Cur().type != T::kVariableEnd) return Expected("'}}'");
        Next();
        body->push_back(std::move(stmt));
        continue;
      }
      if (token.type != T::kBlockBegin) return Expected("text, {{ or {%");
      Next();
      if (Cur().type != T::kName) return Expected("a statement name");
      std::string name = Cur().value;
      if (ends.count(name) != 0) {
        *end_tag = name;
        Next();
        return absl::OkStatus();
      }
      absl::StatusOr<StmtPtr> stmt = ParseStatement(name);
      if (!stmt.ok()) return stmt.status();
      body->push_back(*std::move(stmt));
    }
  }

  // Nesting of statements and expressions, bounded so that a pathological
  // template is refused instead of overflowing the stack.
  static constexpr int kMaxDepth = 200;
  struct DepthGuard {
    explicit DepthGuard(int* depth) : depth(depth) { ++*depth; }
    ~DepthGuard() { --*depth; }
    int* depth;
  };
  absl::Status CheckDepth() const {
    if (depth_ > kMaxDepth) return Error(absl::StrCat("nesting deeper than ", kMaxDepth, " levels"));
    return absl::OkStatus();
  }

  absl::StatusOr<StmtPtr> ParseStatement(const std::string& name) {
    DepthGuard guard(&depth_);
    if (absl::Status s = CheckDepth(); !s.ok()) return s;
    if (name == "if") return ParseIf();
    if (name == "for") return ParseFor();
    if (name == "set") return ParseSet();
    if (name == "generation") return ParseGeneration();
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) return Error(absl::StrCat("syntax error: '", name, "' outside a for loop"));
      StmtPtr stmt = MakeStmt(name == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, Cur().line);
      Next();
      if (absl::Status s = ExpectBlockEnd(); !s.ok()) return s;
      return stmt;
    }
    if (KnownUnsupportedStatements().count(name) != 0) {
      return Error(absl::StrCat("statement \"", name, "\" is not supported"));
    }
    return Error(absl::StrCat("unknown statement \"", name, "\""));
  }

  // transformers' {% generation %} … {% endgeneration %} marks the
  // assistant's tokens for return_assistant_tokens_mask; rendering is the
  // body as it is.
  absl::StatusOr<StmtPtr> ParseGeneration() {
    StmtPtr stmt = MakeStmt(Stmt::Kind::kIf, Cur().line);
    Next();  // generation
    if (absl::Status s = ExpectBlockEnd(); !s.ok()) return s;
    Body body;
    std::string end;
    if (absl::Status s = ParseBody({"endgeneration"}, &body, &end); !s.ok()) return s;
    if (absl::Status s = ExpectBlockEnd(); !s.ok()) return s;
    stmt->conditions.push_back(Literal(Value::Bool(true), stmt->line));
    stmt->bodies.push_back(std::move(body));
    return stmt;
  }

  absl::StatusOr<StmtPtr> ParseIf() {
    StmtPtr stmt = MakeStmt(Stmt::Kind::kIf, Cur().line);
    Next();  // if
    while (true) {
      absl::StatusOr<ExprPtr> condition = ParseTuple(true);
      if (!condition.ok()) return condition.status();
      if (absl::Status s = ExpectBlockEnd(); !s.ok()) return s;
      Body body;
      std::string end;
      if (absl::Status s = ParseBody({"elif", "else", "endif"}, &body, &end); !s.ok()) return s;
      stmt->conditions.push_back(*std::move(condition));
      stmt->bodies.push_back(std::move(body));
      if (end == "elif") continue;
      if (end == "else") {
        if (absl::Status s = ExpectBlockEnd(); !s.ok()) return s;
        if (absl::Status s = ParseBody({"endif"}, &stmt->else_body, &end); !s.ok()) return s;
      }
      if (absl::Status s = ExpectBlockEnd(); !s.ok()) return s;
      return stmt;
    }
  }

  absl::Status ParseTargets(std::vector<std::string>* targets) {
    while (true) {
      if (Cur().type != T::kName) return Expected("a variable name");
      targets->push_back(Cur().value);
      Next();
      if (!IsOp(",")) return absl::OkStatus();
      Next();
    }
  }

  absl::StatusOr<StmtPtr> ParseFor() {
    StmtPtr stmt = MakeStmt(Stmt::Kind::kFor, Cur().line);
    Next();  // for
    if (absl::Status s = ParseTargets(&stmt->targets); !s.ok()) return s;
    if (!IsName("in")) return Expected("'in'");
    Next();
    // The iterable has no `a if b else c`: a trailing `if` filters the loop.
    absl::StatusOr<ExprPtr> iterable = ParseTuple(false);
    if (!iterable.ok()) return iterable.status();
    stmt->expr = *std::move(iterable);
    if (IsName("if")) {
      Next();
      absl::StatusOr<ExprPtr> condition = ParseExpression(true);
      if (!condition.ok()) return condition.status();
      stmt->condition = *std::move(condition);
    }
    if (IsName("recursive")) return Error("for loop \"recursive\" is not supported");
    if (absl::Status s = ExpectBlockEnd(); !s.ok()) return s;
    Body body;
    std::string end;
    ++loop_depth_;
    absl::Status s = ParseBody({"else", "endfor"}, &body, &end);
    --loop_depth_;
    if (!s.ok()) return s;
    stmt->bodies.push_back(std::move(body));
    if (end == "else") {
      if (absl::Status e = ExpectBlockEnd(); !e.ok()) return e;
      if (absl::Status e = ParseBody({"endfor"}, &stmt->else_body, &end); !e.ok()) return e;
    }
    if (absl::Status e = ExpectBlockEnd(); !e.ok()) return e;
    return stmt;
  }

  absl::StatusOr<StmtPtr> ParseSet() {
    StmtPtr stmt = MakeStmt(Stmt::Kind::kSet, Cur().line);
    Next();  // set
    if (Cur().type == T::kName && Peek().type == T::kOperator && Peek().value == ".") {
      stmt->targets.push_back(Cur().value);
      Next();
      Next();
      if (Cur().type != T::kName) return Expected("an attribute name");
      stmt->namespace_attribute = Cur().value;
      Next();
    } else if (absl::Status s = ParseTargets(&stmt->targets); !s.ok()) {
      return s;
    }
    if (Cur().type == T::kBlockEnd) return Error("statement \"set\" with a body ({% endset %}) is not supported");
    if (absl::Status s = ExpectOp("="); !s.ok()) return s;
    absl::StatusOr<ExprPtr> value = ParseTuple(true);
    if (!value.ok()) return value.status();
    stmt->expr = *std::move(value);
    if (absl::Status s = ExpectBlockEnd(); !s.ok()) return s;
    return stmt;
  }

  StmtPtr MakeStmt(Stmt::Kind kind, int line) {
    auto stmt = std::make_unique<Stmt>();
    stmt->kind = kind;
    stmt->line = line;
    return stmt;
  }

  ExprPtr MakeExpr(Expr::Kind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  // An expression, or a tuple of them ("a, b").
  absl::StatusOr<ExprPtr> ParseTuple(bool with_condition) {
    int line = Cur().line;
    absl::StatusOr<ExprPtr> first = ParseExpression(with_condition);
    if (!first.ok() || !IsOp(",")) return first;
    ExprPtr tuple = MakeExpr(Expr::Kind::kTuple, line);
    tuple->items.push_back(*std::move(first));
    while (IsOp(",")) {
      Next();
      if (Cur().type == T::kBlockEnd || Cur().type == T::kVariableEnd || IsName("if")) break;
      absl::StatusOr<ExprPtr> item = ParseExpression(with_condition);
      if (!item.ok()) return item.status();
      tuple->items.push_back(*std::move(item));
    }
    return tuple;
  }

  absl::StatusOr<ExprPtr> ParseExpression(bool with_condition) {
    absl::StatusOr<ExprPtr> expr = ParseOr();
    if (!expr.ok() || !with_condition) return expr;
    while (IsName("if")) {
      int line = Cur().line;
      Next();
      absl::StatusOr<ExprPtr> condition = ParseOr();
      if (!condition.ok()) return condition.status();
      ExprPtr node = MakeExpr(Expr::Kind::kCondition, line);
      node->a = *std::move(expr);
      node->b = *std::move(condition);
      if (IsName("else")) {
        Next();
        absl::StatusOr<ExprPtr> otherwise = ParseExpression(true);
        if (!otherwise.ok()) return otherwise.status();
        node->c = *std::move(otherwise);
      }
      expr = std::move(node);
    }
    return expr;
  }

  absl::StatusOr<ExprPtr> Binary(std::string op, ExprPtr left, absl::StatusOr<ExprPtr> right, int line) {
    if (!right.ok()) return right.status();
    ExprPtr node = MakeExpr(Expr::Kind::kBinary, line);
    node->name = std::move(op);
    node->a = std::move(left);
    node->b = *std::move(right);
    return node;
  }

  // One precedence level of left-associative binary operators: operands
  // from `parse_operand` (the next level up), joined while the current token
  // is one of `ops` (an operator, or a word such as "and").
  template <typename ParseOperand>
  absl::StatusOr<ExprPtr> ParseBinaryLevel(std::initializer_list<absl::string_view> ops, ParseOperand parse_operand) {
    absl::StatusOr<ExprPtr> left = parse_operand();
    while (left.ok()) {
      const auto op =
          std::find_if(ops.begin(), ops.end(), [this](absl::string_view o) { return IsOp(o) || IsName(o); });
      if (op == ops.end()) break;
      int line = Cur().line;
      Next();
      left = Binary(std::string(*op), *std::move(left), parse_operand(), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseOr() { return ParseBinaryLevel({"or"}, [this] { return ParseAnd(); }); }
  absl::StatusOr<ExprPtr> ParseAnd() { return ParseBinaryLevel({"and"}, [this] { return ParseNot(); }); }

  absl::StatusOr<ExprPtr> ParseNot() {
    DepthGuard guard(&depth_);
    if (absl::Status s = CheckDepth(); !s.ok()) return s;
    if (IsName("not")) {
      int line = Cur().line;
      Next();
      absl::StatusOr<ExprPtr> operand = ParseNot();
      if (!operand.ok()) return operand.status();
      ExprPtr node = MakeExpr(Expr::Kind::kNot, line);
      node->a = *std::move(operand);
      return node;
    }
    return ParseCompare();
  }

  absl::StatusOr<ExprPtr> ParseCompare() {
    absl::StatusOr<ExprPtr> left = ParseMath1();
    while (left.ok()) {
      int line = Cur().line;
      std::string op;
      if (Cur().type == T::kOperator &&
          (Cur().value == "==" || Cur().value == "!=" || Cur().value == "<" || Cur().value == ">" ||
           Cur().value == "<=" || Cur().value == ">=")) {
        op = Cur().value;
        Next();
      } else if (IsName("in")) {
        op = "in";
        Next();
      } else if (IsName("not") && Peek().type == T::kName && Peek().value == "in") {
        op = "not in";
        Next();
        Next();
      } else {
        break;
      }
      left = Binary(op, *std::move(left), ParseMath1(), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseMath1() { return ParseBinaryLevel({"+", "-"}, [this] { return ParseConcat(); }); }
  absl::StatusOr<ExprPtr> ParseConcat() { return ParseBinaryLevel({"~"}, [this] { return ParseMath2(); }); }
  absl::StatusOr<ExprPtr> ParseMath2() {
    return ParseBinaryLevel({"*", "/", "//", "%"}, [this] { return ParsePow(); });
  }
  absl::StatusOr<ExprPtr> ParsePow() { return ParseBinaryLevel({"**"}, [this] { return ParseUnary(true); }); }

  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    DepthGuard guard(&depth_);
    if (absl::Status s = CheckDepth(); !s.ok()) return s;
    int line = Cur().line;
    absl::StatusOr<ExprPtr> node;
    if (IsOp("-") || IsOp("+")) {
      bool negate = IsOp("-");
      Next();
      absl::StatusOr<ExprPtr> operand = ParseUnary(false);
      if (!operand.ok()) return operand.status();
      if (negate) {
        ExprPtr neg = MakeExpr(Expr::Kind::kNegate, line);
        neg->a = *std::move(operand);
        node = std::move(neg);
      } else {
        node = std::move(operand);
      }
    } else {
      node = ParsePrimary();
    }
    if (!node.ok()) return node;
    node = ParsePostfix(*std::move(node));
    if (node.ok() && with_filter) node = ParseFilterExpr(*std::move(node));
    return node;
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    const Token& token = Cur();
    int line = token.line;
    switch (token.type) {
      case T::kName: {
        std::string name = token.value;
        Next();
        if (name == "true" || name == "True") return Literal(Value::Bool(true), line);
        if (name == "false" || name == "False") return Literal(Value::Bool(false), line);
        if (name == "none" || name == "None") return Literal(Value::None(), line);
        ExprPtr node = MakeExpr(Expr::Kind::kName, line);
        node->name = name;
        return node;
      }
      case T::kString: {
        std::string text = token.value;
        Next();
        while (Cur().type == T::kString) {  // "a" "b" is "ab", as in Python
          text += Cur().value;
          Next();
        }
        return Literal(Value::String(std::move(text)), line);
      }
      case T::kInteger: {
        int64_t value = 0;
        auto [ptr, ec] = std::from_chars(token.value.data(), token.value.data() + token.value.size(), value);
        if (ec != std::errc()) return Error(absl::StrCat("integer literal ", token.value, " out of range"));
        Next();
        return Literal(Value::Int(value), line);
      }
      case T::kFloat: {
        double value = std::strtod(token.value.c_str(), nullptr);
        Next();
        return Literal(Value::Float(value), line);
      }
      case T::kOperator:
        if (token.value == "(") {
          Next();
          if (IsOp(")")) {
            Next();
            return MakeExpr(Expr::Kind::kTuple, line);
          }
          absl::StatusOr<ExprPtr> inner = ParseTuple(true);
          if (!inner.ok()) return inner;
          if (absl::Status s = ExpectOp(")"); !s.ok()) return s;
          return inner;
        }
        if (token.value == "[") return ParseList(line);
        if (token.value == "{") return ParseDict(line);
        break;
      default:
        break;
    }
    return Expected("an expression");
  }

  ExprPtr Literal(Value value, int line) {
    ExprPtr node = MakeExpr(Expr::Kind::kLiteral, line);
    node->literal = std::move(value);
    return node;
  }

  // The comma-separated items inside brackets, the opening one consumed:
  // `parse_item` reads each, up to `close`, which is consumed too. A trailing
  // comma is allowed, as in Python: `[a, b,]`, `{k: v,}`, `f(a, k=v,)`.
  template <typename ParseItem>
  absl::Status ParseItemsUntil(absl::string_view close, ParseItem parse_item) {
    for (bool first = true; !IsOp(close); first = false) {
      if (!first) {
        if (absl::Status s = ExpectOp(","); !s.ok()) return s;
        if (IsOp(close)) break;
      }
      if (absl::Status s = parse_item(); !s.ok()) return s;
    }
    Next();
    return absl::OkStatus();
  }

  absl::StatusOr<ExprPtr> ParseList(int line) {
    Next();  // [
    ExprPtr node = MakeExpr(Expr::Kind::kList, line);
    absl::Status items = ParseItemsUntil("]", [&]() -> absl::Status {
      absl::StatusOr<ExprPtr> item = ParseExpression(true);
      if (!item.ok()) return item.status();
      node->items.push_back(*std::move(item));
      return absl::OkStatus();
    });
    if (!items.ok()) return items;
    return node;
  }

  absl::StatusOr<ExprPtr> ParseDict(int line) {
    Next();  // {
    ExprPtr node = MakeExpr(Expr::Kind::kDict, line);
    absl::Status items = ParseItemsUntil("}", [&]() -> absl::Status {
      absl::StatusOr<ExprPtr> key = ParseExpression(true);
      if (!key.ok()) return key.status();
      if (absl::Status s = ExpectOp(":"); !s.ok()) return s;
      absl::StatusOr<ExprPtr> value = ParseExpression(true);
      if (!value.ok()) return value.status();
      node->items.push_back(*std::move(key));
      node->items.push_back(*std::move(value));
      return absl::OkStatus();
    });
    if (!items.ok()) return items;
    return node;
  }

  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      int line = Cur().line;
      if (IsOp(".")) {
        Next();
        if (Cur().type == T::kName) {
          ExprPtr attr = MakeExpr(Expr::Kind::kGetAttr, line);
          attr->name = Cur().value;
          attr->a = std::move(node);
          node = std::move(attr);
          Next();
        } else if (Cur().type == T::kInteger) {  // a.0 is a[0]
          ExprPtr item = MakeExpr(Expr::Kind::kGetItem, line);
          item->a = std::move(node);
          item->b = Literal(Value::Int(std::stoll(Cur().value)), line);
          node = std::move(item);
          Next();
        } else {
          return Expected("an attribute name");
        }
      } else if (IsOp("[")) {
        Next();
        absl::StatusOr<ExprPtr> subscript = ParseSubscript(std::move(node), line);
        if (!subscript.ok()) return subscript;
        node = *std::move(subscript);
      } else if (IsOp("(")) {
        absl::StatusOr<ExprPtr> call = ParseCall(std::move(node), line);
        if (!call.ok()) return call;
        node = *std::move(call);
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr object, int line) {
    ExprPtr parts[3];
    int colons = 0;
    while (true) {
      if (IsOp(":")) {
        if (++colons > 2) return Expected("']'");
        Next();
        continue;
      }
      if (IsOp("]")) break;
      if (parts[colons]) return Expected("':' or ']'");
      absl::StatusOr<ExprPtr> part = ParseExpression(true);
      if (!part.ok()) return part.status();
      parts[colons] = *std::move(part);
    }
    Next();  // ]
    if (colons == 0) {
      if (!parts[0]) return Error("syntax error: empty subscript");
      ExprPtr item = MakeExpr(Expr::Kind::kGetItem, line);
      item->a = std::move(object);
      item->b = std::move(parts[0]);
      return item;
    }
    ExprPtr slice = MakeExpr(Expr::Kind::kSlice, line);
    slice->a = std::move(object);
    for (ExprPtr& part : parts) slice->items.push_back(std::move(part));
    return slice;
  }

  absl::Status ParseArgs(std::vector<ExprPtr>* args, Kwargs* kwargs) {
    Next();  // (
    return ParseItemsUntil(")", [&]() -> absl::Status {
      if (IsOp("*") || IsOp("**")) return Error("argument unpacking (* / **) is not supported");
      if (Cur().type == T::kName && Peek().type == T::kOperator && Peek().value == "=") {
        std::string key = Cur().value;
        Next();
        Next();
        absl::StatusOr<ExprPtr> value = ParseExpression(true);
        if (!value.ok()) return value.status();
        kwargs->emplace_back(std::move(key), *std::move(value));
        return absl::OkStatus();
      }
      if (!kwargs->empty()) return Error("syntax error: positional argument after keyword argument");
      absl::StatusOr<ExprPtr> value = ParseExpression(true);
      if (!value.ok()) return value.status();
      args->push_back(*std::move(value));
      return absl::OkStatus();
    });
  }

  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee, int line) {
    if (callee->kind == Expr::Kind::kName) {
      if (!IsSupportedFunction(callee->name)) {
        return Error(absl::StrCat("function \"", callee->name, "\" is not supported"));
      }
    } else if (callee->kind == Expr::Kind::kGetAttr) {
      if (!IsSupportedMethod(callee->name)) {
        return Error(absl::StrCat("method \"", callee->name, "\" is not supported"));
      }
    } else {
      return Error("calling a computed value is not supported");
    }
    ExprPtr call = MakeExpr(Expr::Kind::kCall, line);
    call->a = std::move(callee);
    if (absl::Status s = ParseArgs(&call->items, &call->kwargs); !s.ok()) return s;
    return call;
  }

  // select/reject("test"), selectattr/rejectattr("attr", "test") and
  // map("filter") name a test or filter in a string: checked here too when
  // the string is a literal (a computed one is checked when it runs).
  absl::Status CheckNamedArgument(const Expr& filter) const {
    size_t index = 0;
    bool is_test = true;
    if (filter.name == "select" || filter.name == "reject") {
      index = 0;
    } else if (filter.name == "selectattr" || filter.name == "rejectattr") {
      index = 1;
    } else if (filter.name == "map") {
      is_test = false;
    } else {
      return absl::OkStatus();
    }
    if (filter.items.size() <= index || filter.items[index]->kind != Expr::Kind::kLiteral ||
        !filter.items[index]->literal.is_string()) {
      return absl::OkStatus();
    }
    const std::string& name = filter.items[index]->literal.as_string();
    if (is_test && !IsSupportedTest(name)) {
      return Error(absl::StrCat("test \"", name, "\" is not supported"));
    }
    if (!is_test && !IsSupportedFilter(name)) {
      return Error(absl::StrCat("filter \"", name, "\" is not supported"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node) {
    while (true) {
      int line = Cur().line;
      if (IsOp("|")) {
        Next();
        if (Cur().type != T::kName) return Expected("a filter name");
        std::string name = Cur().value;
        Next();
        while (IsOp(".") && Peek().type == T::kName) {  // dotted filter names
          Next();
          name += "." + Cur().value;
          Next();
        }
        if (!IsSupportedFilter(name)) return Error(absl::StrCat("filter \"", name, "\" is not supported"));
        ExprPtr filter = MakeExpr(Expr::Kind::kFilter, line);
        filter->name = name;
        filter->a = std::move(node);
        if (IsOp("(")) {
          if (absl::Status s = ParseArgs(&filter->items, &filter->kwargs); !s.ok()) return s;
        }
        if (absl::Status s = CheckNamedArgument(*filter); !s.ok()) return s;
        node = std::move(filter);
      } else if (IsName("is")) {
        Next();
        bool negated = false;
        if (IsName("not")) {
          negated = true;
          Next();
        }
        if (Cur().type != T::kName) return Expected("a test name");
        std::string name = Cur().value;
        Next();
        if (!IsSupportedTest(name)) return Error(absl::StrCat("test \"", name, "\" is not supported"));
        ExprPtr test = MakeExpr(Expr::Kind::kTest, line);
        test->name = name;
        test->negated = negated;
        test->a = std::move(node);
        if (IsOp("(")) {
          if (absl::Status s = ParseArgs(&test->items, &test->kwargs); !s.ok()) return s;
          if (!test->kwargs.empty()) return Error("keyword arguments to a test are not supported");
        } else if ((Cur().type == T::kName && !IsName("else") && !IsName("or") && !IsName("and")) ||
                   Cur().type == T::kString || Cur().type == T::kInteger || Cur().type == T::kFloat ||
                   IsOp("(") || IsOp("[") || IsOp("{")) {
          // Jinja2: `x is divisibleby 3`, one argument without parentheses.
          absl::StatusOr<ExprPtr> arg = ParsePrimary();
          if (!arg.ok()) return arg.status();
          absl::StatusOr<ExprPtr> full = ParsePostfix(*std::move(arg));
          if (!full.ok()) return full.status();
          test->items.push_back(*std::move(full));
        }
        node = std::move(test);
      } else if (IsOp("(")) {
        absl::StatusOr<ExprPtr> call = ParseCall(std::move(node), line);
        if (!call.ok()) return call;
        node = *std::move(call);
      } else {
        return node;
      }
    }
  }

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int loop_depth_ = 0;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<Body> Parse(const std::vector<Token>& tokens) { return Parser(tokens).ParseTemplate(); }

}  // namespace djinn::jinja
